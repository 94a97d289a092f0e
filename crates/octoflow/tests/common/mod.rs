//! Helpers shared by the integration tests: processes killed by PID, free ports,
//! waiting for a peer's socket, temporary folders, the fixtures' ground truth;
//! `flows` (feeding and configuring `octoflow server`) and `receivers` (the peers
//! it sends to, and the flows they got) for the server tests; `servers` (real
//! databases: Kafka-protocol broker, ClickHouse, PostgreSQL, Redis) for the sinks' tests;
//! `console` (the console tests' server, users and requests); `replay` (real exporters' captures sent to a collector, what `dump` reads in them,
//! waiting on a sink's counters); `webdriver` (headless Chromium through chromedriver, for the console).
#![allow(dead_code)]

pub mod console;
pub mod duckdb;
pub mod flows;
pub mod goflow;
pub mod netns;
pub mod pcap;
pub mod receivers;
pub mod replay;
pub mod servers;
pub mod webdriver;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_octoflow");

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A child process killed (by its PID) when dropped.
pub struct Child(pub std::process::Child);

impl Child {
    pub fn spawn(cmd: &mut Command) -> Child {
        Child(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| {
            panic!("starting {cmd:?}: {e} (the README test command installs nfdump, nfdump-sflow, tshark, softflowd, pmacct)")
        }))
    }
    /// SIGTERM and wait, so the peer flushes what it has.
    pub fn term(mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 now (collectors take UDP,
/// metrics endpoints and the databases the tests start take TCP).
pub fn free_port() -> u16 {
    loop {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn wait_udp(port: u16) {
    wait_udp_sockets(port, 1);
}

/// Wait until `n` sockets listen on udp/`port` (SO_REUSEPORT groups: a port that
/// is listed may still be waiting for its second process).
pub fn wait_udp_sockets(port: u16, n: usize) {
    for _ in 0..100 {
        let out = Command::new("ss")
            .args(["-Hlun", &format!("sport = :{port}")])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).lines().count() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("fewer than {n} sockets listen on udp/{port}");
}

pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("octoflow-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The fixtures' ground truth: `src,dst,sport,dport,proto` → (packets, bytes).
pub fn truth(v4_only: bool) -> BTreeMap<String, (u64, u64)> {
    truth_file("truth.csv", v4_only)
}

/// A ground-truth CSV from tests/fixtures (`truth-fprobe.csv` is truth.csv's IPv4
/// flows mapped into 127/8, see capture-fprobe.sh).
pub fn truth_file(name: &str, v4_only: bool) -> BTreeMap<String, (u64, u64)> {
    let mut m = BTreeMap::new();
    for l in std::fs::read_to_string(root().join("tests/fixtures").join(name))
        .unwrap()
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = l.split(',').collect();
        if v4_only && f[0].contains(':') {
            continue;
        }
        m.insert(
            f[..5].join(","),
            (f[5].parse().unwrap(), f[6].parse().unwrap()),
        );
    }
    m
}

pub struct Server {
    pub dir: PathBuf,
    pub child: Child,
    pub metrics: u16,
    log: PathBuf,
}

impl Server {
    pub fn start(dir: &Path, yaml: &str, collector_ports: &[u16]) -> Server {
        let conf = dir.join("octoflow.yaml");
        // Every test server gets its own control socket.
        let yaml = if yaml.contains("supervisor:") {
            yaml.to_string()
        } else {
            format!(
                "supervisor: {{unix_socket: {}/octoflow.sock}}\n{yaml}",
                dir.display()
            )
        };
        std::fs::write(&conf, yaml.as_bytes()).expect("config");
        let log = dir.join("octoflow.log");
        let metrics = yaml
            .split("metrics_listen: 127.0.0.1:")
            .nth(1)
            .map(|s| {
                s.chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect::<String>()
            })
            .and_then(|p| p.parse().ok())
            .expect("config has metrics_listen");
        let child = Child(
            Command::new(BIN)
                .args(["server", "--config-file"])
                .arg(&conf)
                // Templates persist by default (in $STATE_DIRECTORY, else
                // /var/lib/octoflow): each test server keeps its own.
                .env("STATE_DIRECTORY", dir.join("state"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log"))
                .spawn()
                .expect("octoflow server"),
        );
        for p in collector_ports {
            wait_udp(*p);
        }
        Server {
            dir: dir.to_path_buf(),
            child,
            metrics,
            log,
        }
    }

    pub fn status(&self) -> String {
        http_get(self.metrics, "/status")
    }

    /// `/status` just before a graceful stop.
    pub fn stop_status(self) -> String {
        let st = self.status();
        self.stop();
        st
    }

    /// SIGTERM: the server flushes its queues and exits 0.
    pub fn stop(self) -> String {
        let _ = Command::new("kill")
            .arg(self.child.0.id().to_string())
            .status();
        let mut c = self.child;
        let st = c.0.wait().expect("wait");
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(st.success(), "octoflow server exited with {st}:\n{log}");
        log
    }
}

pub fn http_get(port: u16, path: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let mut r = String::new();
    s.read_to_string(&mut r).expect("read");
    r.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
}

/// A counter from `/status` JSON: `"<name>":{... "<key>":N`.
pub fn counter(json: &str, name: &str, key: &str) -> u64 {
    let at = json
        .find(&format!("\"{name}\":{{"))
        .unwrap_or_else(|| panic!("{name} in {json}"));
    let rest = &json[at..];
    let k = rest
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} of {name} in {json}"));
    rest[k + key.len() + 3..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .expect("number")
}

/// Start nfcapd (or sfcapd) writing into `dir`, listening on 127.0.0.1:`port`.
pub fn start_nfcapd(daemon: &str, port: u16, dir: &Path) -> Child {
    std::fs::create_dir_all(dir).expect("dir");
    let c = Child::spawn(
        Command::new(daemon)
            .args([
                "-b",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-B",
                "8388608",
                "-w",
            ])
            .arg(dir),
    );
    wait_udp(port);
    c
}

/// The number of flow records nfcapd/sfcapd stored in `dir` (stop it first).
pub fn nfdump_records(dir: &Path) -> u64 {
    let out = Command::new("nfdump")
        .arg("-R")
        .arg(dir)
        .args(["-q", "-N", "-o", "fmt:%sa"])
        .output()
        .expect("nfdump");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64
}

/// Run `octoflow gen ARGS…`; it must succeed. Returns what it printed.
pub fn run_gen(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("gen")
        .args(args)
        .output()
        .expect("gen");
    assert!(
        out.status.success(),
        "gen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `key=N` value from gen's report (`flows`, `datagrams`, …).
pub fn report(text: &str, key: &str) -> u64 {
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key}= in {text}"))
}

/// `octoflow client --config-file CONF ARGS…`: its exit code and what it printed.
pub fn client(conf: &Path, args: &[&str]) -> (i32, String) {
    let out: std::process::Output = Command::new(BIN)
        .args(["client", "--config-file"])
        .arg(conf)
        .args(args)
        .output()
        .expect("octoflow client");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}
