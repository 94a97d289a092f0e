//! Three network namespaces wired in a line, for tests that need addresses that
//! are not this host's (`preserve_source.rs`): a router's, octoflow's, a
//! receiver's. Made by the test (`ip netns`, veth pairs), deleted with every
//! process started in them, killed by PID, when the [`Lab`] is dropped.
//!
//! ```text
//!  router ns "r"             octoflow ns "x"                      receiver ns "c"
//!  10.77.1.2  ── veth ──  10.77.1.1 | 10.77.2.1  ── veth ──  10.77.2.2
//!  fd77:1::2              fd77:1::1 | fd77:2::1              fd77:2::2
//! ```

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::BIN;

/// The namespaces and the processes started in them: dropping it kills each
/// process by its PID and deletes the namespaces.
pub struct Lab {
    pub ns: Vec<String>,
    pub procs: Vec<std::process::Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for n in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// Run `ip ARGS…`; it must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running ip {args:?}: {e} (install iproute2)"));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lab {
    /// The three namespaces wired as in the module doc; `None` (after saying why)
    /// where this kernel or user may not make namespaces.
    pub fn build() -> Option<Lab> {
        let pid = std::process::id();
        let mut lab = Lab {
            ns: Vec::new(),
            procs: Vec::new(),
        };
        for role in ["r", "x", "c"] {
            let name = format!("of-{role}-{pid}");
            let out = Command::new("ip")
                .args(["netns", "add", &name])
                .output()
                .expect("running ip (install iproute2)");
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                if err.contains("Permission denied") || err.contains("Operation not permitted") {
                    eprintln!(
                        "skipped: network namespaces cannot be made here ({}): preserve_source is tested as root on a kernel that allows them",
                        err.trim()
                    );
                    return None;
                }
                panic!("ip netns add {name}: {err}");
            }
            lab.ns.push(name);
        }
        let (r, x, c) = (lab.r(), lab.x(), lab.c());
        ip(&[
            "-n", &r, "link", "add", "vr", "type", "veth", "peer", "name", "vx1", "netns", &x,
        ]);
        ip(&[
            "-n", &x, "link", "add", "vx2", "type", "veth", "peer", "name", "vc", "netns", &c,
        ]);
        for (ns, dev, v4, v6) in [
            (&r, "vr", "10.77.1.2/24", "fd77:1::2/64"),
            (&x, "vx1", "10.77.1.1/24", "fd77:1::1/64"),
            (&x, "vx2", "10.77.2.1/24", "fd77:2::1/64"),
            (&c, "vc", "10.77.2.2/24", "fd77:2::2/64"),
        ] {
            ip(&["-n", ns, "addr", "add", v4, "dev", dev]);
            // No duplicate address detection: the address is usable at once.
            ip(&["-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        for ns in [&r, &x, &c] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // The router reaches the receiver's side through octoflow's namespace and
        // the receiver the router's (UDP needs no way back; set anyway so reverse
        // path filtering accepts the router's address on the receiver's link).
        ip(&["-n", &r, "route", "add", "default", "via", "10.77.1.1"]);
        ip(&[
            "-n",
            &r,
            "-6",
            "route",
            "add",
            "default",
            "via",
            "fd77:1::1",
        ]);
        ip(&["-n", &c, "route", "add", "default", "via", "10.77.2.1"]);
        ip(&[
            "-n",
            &c,
            "-6",
            "route",
            "add",
            "default",
            "via",
            "fd77:2::1",
        ]);
        // Resolve the neighbours first: a burst sent before that waits in the
        // kernel's small queue of unresolved packets, and some are dropped.
        for (ns, to) in [
            (&r, "10.77.1.1"),
            (&r, "fd77:1::1"),
            (&x, "10.77.2.2"),
            (&x, "fd77:2::2"),
        ] {
            lab.resolve(ns, to);
        }
        Some(lab)
    }

    /// Send one datagram from `ns` to `to` (discard port) and wait until the
    /// neighbour's link address is known.
    pub fn resolve(&self, ns: &str, to: &str) {
        let _ = Command::new("ip")
            .args(["netns", "exec", ns, "bash", "-c"])
            .arg(format!("echo probe > /dev/udp/{to}/9"))
            .status();
        for _ in 0..100 {
            let out = Command::new("ip")
                .args(["-n", ns, "neigh", "show", to])
                .output()
                .expect("ip neigh");
            if String::from_utf8_lossy(&out.stdout).contains("lladdr") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{to} does not answer neighbour resolution from {ns}: the namespaces are not wired");
    }

    pub fn r(&self) -> String {
        self.ns[0].clone()
    }
    pub fn x(&self) -> String {
        self.ns[1].clone()
    }
    pub fn c(&self) -> String {
        self.ns[2].clone()
    }

    /// Start `octoflow ARGS…` in namespace `ns`, its output into `out` (stdout)
    /// and `out`.err; returns its index in `procs`.
    pub fn spawn(&mut self, ns: &str, args: &[&str], out: &Path) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, BIN])
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(out).expect("stdout file"))
            .stderr(std::fs::File::create(out.with_extension("err")).expect("stderr file"))
            .spawn()
            .expect("ip netns exec");
        self.procs.push(child);
        self.procs.len() - 1
    }

    /// Wait (at most `limit`) for process `i` to exit by itself; it must succeed.
    pub fn wait(&mut self, i: usize, limit: Duration, what: &Path) {
        let t = Instant::now();
        loop {
            if let Some(st) = self.procs[i].try_wait().expect("try_wait") {
                let err = std::fs::read_to_string(what.with_extension("err")).unwrap_or_default();
                assert!(st.success(), "{} exited with {st}:\n{err}", what.display());
                return;
            }
            assert!(
                t.elapsed() < limit,
                "{} still running after {limit:?}",
                what.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until `n` UDP sockets listen on `port` in namespace `ns`.
    pub fn wait_udp(&self, ns: &str, port: u16, n: usize) {
        for _ in 0..200 {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "ss", "-Hlun"])
                .arg(format!("sport = :{port}"))
                .output()
                .expect("ss");
            if String::from_utf8_lossy(&out.stdout).lines().count() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("fewer than {n} sockets listen on udp/{port} in {ns}");
    }

    /// `/status` of the server in namespace `ns` (its endpoint is on that
    /// namespace's loopback).
    pub fn status(&self, ns: &str, port: u16) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "bash", "-c"])
            .arg(format!(
                "exec 3<>/dev/tcp/127.0.0.1/{port}; printf 'GET /status HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' >&3; cat <&3"
            ))
            .output()
            .expect("status over /dev/tcp");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    }
}
