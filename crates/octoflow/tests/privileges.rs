//! The privilege drop (README "Privileges"): started as root with
//! `general.user: nobody`, every thread of the server runs as nobody/nogroup with
//! only `CAP_NET_BIND_SERVICE`, flows go through a collector on a port below 1024,
//! a reload that adds another such collector works, and the template cache's
//! folder is still written. Needs root (skipped, saying so, otherwise).

mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::flows::gen;
use common::{tmpdir, Server, BIN};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:\t0\t")))
        .unwrap_or(false)
}

/// `nobody`'s uid and `nogroup`'s gid, from the system's files.
fn id_of(file: &str, name: &str) -> u32 {
    std::fs::read_to_string(file)
        .expect(file)
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == name).then(|| f[2].parse().expect("id"))
        })
        .unwrap_or_else(|| panic!("{name} in {file}"))
}

/// A UDP port below 1024 that is free on 127.0.0.1 (other than `not`).
fn low_port(not: u16) -> u16 {
    let start = 700 + (std::process::id() % 200) as u16;
    (0..300)
        .map(|i| 700 + (start - 700 + i) % 300)
        .find(|&p| p != not && UdpSocket::bind(("127.0.0.1", p)).is_ok())
        .expect("a free UDP port below 1024")
}

/// Each thread's `/proc/PID/task/TID/status` lines that say who it is and what
/// it may do.
fn threads(pid: u32) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let t = t.expect("task").path();
        let status = std::fs::read_to_string(t.join("status")).expect("status");
        let fields = status
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                )
            })
            .collect::<BTreeMap<_, _>>();
        let name = format!("{} ({})", fields["Name"], t.display());
        out.insert(name, fields);
    }
    out
}

/// Datagrams that reach `rx` within a few seconds.
fn received(rx: &UdpSocket) -> usize {
    let mut buf = [0u8; 65536];
    let (mut n, t) = (0, Instant::now());
    while t.elapsed() < Duration::from_secs(3) {
        if rx.recv(&mut buf).is_ok() {
            n += 1;
        } else if n > 0 {
            break;
        }
    }
    n
}

fn yaml(metrics: u16, collectors: &[(&str, u16)], rx: u16) -> String {
    let mut y = format!(
        "general: {{user: nobody, group: nogroup, metrics_listen: 127.0.0.1:{metrics}}}\ncollectors:\n"
    );
    for (id, port) in collectors {
        y.push_str(&format!(
            "  - {{id: {id}, listen_host: 127.0.0.1, listen_port: {port}, nf_version: auto, mux_to: [out]}}\n"
        ));
    }
    y.push_str(&format!(
        "exporters:\n  - {{id: out, collector_host: 127.0.0.1, collector_port: {rx}, collector_version: 9}}\n"
    ));
    y
}

fn reload(conf: &Path) -> String {
    let out = Command::new(BIN)
        .args(["client", "--config-file"])
        .arg(conf)
        .arg("--reload")
        .output()
        .expect("octoflow client");
    assert!(out.status.success(), "reload: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dropped_to_nobody_every_thread_keeps_only_cap_net_bind_service_and_low_ports_still_work() {
    if !is_root() {
        eprintln!("skipped: dropping privileges needs root (run the test as root)");
        return;
    }
    let (uid, gid) = (
        id_of("/etc/passwd", "nobody"),
        id_of("/etc/group", "nogroup"),
    );
    let dir = tmpdir("privileges");
    let rx = UdpSocket::bind("127.0.0.1:0").expect("receiver");
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let rx_port = rx.local_addr().expect("addr").port();
    let low = low_port(0);
    let metrics = common::free_port();
    let s = Server::start(&dir, &yaml(metrics, &[("low", low)], rx_port), &[low]);
    let pid = s.child.0.id();

    let ts = threads(pid);
    assert!(
        ts.len() >= 5,
        "main, control, signals, http, collector, exporter: {ts:?}"
    );
    let ids = |n: u32| format!("{n} {n} {n} {n}");
    for (name, f) in &ts {
        let got = |k: &str| f.get(k).map(String::as_str).unwrap_or("?");
        assert_eq!(
            got("Uid"),
            ids(uid),
            "{name}: real, effective, saved, fs uid"
        );
        assert_eq!(got("Gid"), ids(gid), "{name}: gids");
        assert_eq!(
            got("Groups"),
            gid.to_string(),
            "{name}: supplementary groups"
        );
        // Bit 10: CAP_NET_BIND_SERVICE, and nothing else.
        for set in ["CapPrm", "CapEff", "CapBnd"] {
            assert_eq!(got(set), "0000000000000400", "{name}: {set}");
        }
        for set in ["CapInh", "CapAmb"] {
            assert_eq!(got(set), "0000000000000000", "{name}: {set}");
        }
        assert_eq!(got("NoNewPrivs"), "1", "{name}");
    }

    assert!(gen("v9", low, 50, 5000, &[]) > 0);
    assert!(
        received(&rx) > 0,
        "nothing came through the collector on udp/{low}"
    );

    // A reload adds a collector on another port below 1024: it binds (with the
    // kept capability) and its flows go through.
    let low2 = low_port(low);
    let conf = dir.join("octoflow.yaml");
    let y = std::fs::read_to_string(&conf).expect("conf").replace(
        "collectors:\n",
        &format!("collectors:\n  - {{id: low2, listen_host: 127.0.0.1, listen_port: {low2}, nf_version: auto, mux_to: [out]}}\n"),
    );
    std::fs::write(&conf, y).expect("conf");
    let r = reload(&conf);
    assert!(r.contains("low2_collector: started"), "{r}");
    common::wait_udp(low2);
    assert!(gen("ipfix", low2, 50, 5000, &[]) > 0);
    assert!(
        received(&rx) > 0,
        "nothing came through the collector added on udp/{low2}"
    );
    let st = s.status();
    assert!(common::counter(&st, "low2", "flows") > 0, "{st}");
    for (name, f) in threads(pid) {
        assert_eq!(f["CapEff"], "0000000000000400", "{name} after the reload");
    }

    let log = s.stop();
    assert!(
        log.contains(&format!(
            "dropped privileges to user nobody (uid {uid}, gid {gid} nogroup), keeping capabilities CAP_NET_BIND_SERVICE"
        )),
        "{log}"
    );
    // The template cache's folder was given to nobody, who saved into it.
    use std::os::unix::fs::MetadataExt;
    for f in ["low.templates", "low2.templates"] {
        let md = std::fs::metadata(dir.join("state").join(f))
            .unwrap_or_else(|e| panic!("{f} saved after the drop: {e}\n{log}"));
        assert_eq!((md.uid(), md.gid()), (uid, gid), "{f}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_not_started_as_root_nor_as_general_user_refuses_to_start() {
    if !is_root() {
        eprintln!("skipped: needs root to start the server as another user");
        return;
    }
    // Started as nobody, told to be `daemon`: it cannot switch, and says why.
    let dir = tmpdir("privileges-refused");
    let conf = dir.join("octoflow.yaml");
    std::fs::write(
        &conf,
        format!(
            "general: {{user: daemon, template_cache_dir: 'off'}}\nsupervisor: {{unix_socket: {}/nobody/o.sock}}\n",
            dir.display()
        ),
    )
    .expect("conf");
    let sock_dir = dir.join("nobody");
    std::fs::create_dir_all(&sock_dir).expect("dir");
    let nobody = id_of("/etc/passwd", "nobody");
    std::os::unix::fs::chown(&sock_dir, Some(nobody), None).expect("chown");
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN])
        .args(["server", "--config-file"])
        .arg(&conf)
        .output()
        .expect("setpriv (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "general.user: \"daemon\": octoflow runs as uid {nobody}, not as root, so it cannot become daemon"
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn started_as_general_user_already_the_server_runs_without_dropping() {
    if !is_root() {
        eprintln!("skipped: needs root to start the server as another user");
        return;
    }
    // As systemd's User= does: started as nobody, told to be nobody.
    let dir = tmpdir("privileges-already");
    let sock_dir = dir.join("nobody");
    std::fs::create_dir_all(&sock_dir).expect("dir");
    let nobody = id_of("/etc/passwd", "nobody");
    std::os::unix::fs::chown(&sock_dir, Some(nobody), None).expect("chown");
    let conf = dir.join("octoflow.yaml");
    std::fs::write(
        &conf,
        format!(
            "general: {{user: nobody, template_cache_dir: 'off'}}\nsupervisor: {{unix_socket: {}/o.sock}}\n",
            sock_dir.display()
        ),
    )
    .expect("conf");
    let log = dir.join("log");
    let child = common::Child(
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN])
            .args(["server", "--config-file"])
            .arg(&conf)
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("setpriv (util-linux)"),
    );
    let want = format!("running as user nobody (uid {nobody}) already: no privileges to drop");
    let t = Instant::now();
    let mut text = String::new();
    while t.elapsed() < Duration::from_secs(10) && !text.contains("octoflow server running") {
        std::thread::sleep(Duration::from_millis(50));
        text = std::fs::read_to_string(&log).unwrap_or_default();
    }
    assert!(text.contains(&want), "{text}");
    assert!(text.contains("octoflow server running"), "{text}");
    child.term();
    let _ = std::fs::remove_dir_all(&dir);
}
