//! The console's tests' setup: a server with three stores, three profiles (an
//! admin's and two tenants') and a console, fed by gen; `octoflow console`
//! alone on its files; plain HTTP requests with Basic credentials.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use super::flows::{gen, settle};
use super::*;

pub const USERS: [(&str, &str); 3] = [("noc", "noc-pw"), ("foo", "foo pw ü"), ("bar", "bar-pw")];

pub fn octoflow(args: &[&str], stdin: Option<&str>) -> String {
    let mut c = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("octoflow");
    if let Some(s) = stdin {
        c.stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write");
    }
    drop(c.stdin.take());
    let out = c.wait_with_output().expect("octoflow");
    assert!(
        out.status.success(),
        "octoflow {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The server's configuration: every flow in `all`; 10.0.1.0/24 (foo) and
/// 10.0.2.0/24 (bar) in their own stores; a profile on each; the console.
pub fn config(dir: &Path, cp: u16, pm: u16, wp: u16) -> String {
    let hashes: Vec<String> = USERS
        .iter()
        .map(|(_, pw)| {
            octoflow(&["console", "hash-password"], Some(&format!("{pw}\n")))
                .trim()
                .to_string()
        })
        .collect();
    let d = dir.display();
    format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}
collectors:
  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [all, foo-st, bar-st]}}
exporters:
  - {{id: all, type: store, path: {d}/all, flush_secs: 1}}
  - {{id: foo-st, type: store, path: {d}/foo, flush_secs: 1, filters: ['10.0.1.0/24']}}
  - {{id: bar-st, type: store, path: {d}/bar, flush_secs: 1, filters: ['10.0.2.0/24']}}
profiles:
  - id: noc
    store: all
    channels:
      - {{name: tcp, filter: 'proto tcp', colour: '#4e79a7'}}
      - {{name: udp, filter: 'proto udp'}}
      - {{name: foo, filter: 'net 10.0.1.0/24', sign: '-'}}
  - id: foo
    store: foo-st
    channels:
      - {{name: web, filter: 'proto tcp'}}
      - {{name: other, filter: 'not proto tcp'}}
  - id: bar
    store: bar-st
    channels:
      - {{name: everything, filter: any}}
console:
  listen: 127.0.0.1:{wp}
  users:
    - {{name: noc, role: admin, password_hash: '{}'}}
    - {{name: foo, profiles: [foo], password_hash: '{}'}}
    - {{name: bar, profiles: [bar], password_hash: '{}'}}
",
        hashes[0], hashes[1], hashes[2]
    )
}

/// A server run: gen's flows from three prefixes into the collector, then a
/// stop (which writes the profiles' open slots). `during` runs while it is up.
pub fn run_server(dir: &Path, during: impl FnOnce(u16)) -> (PathBuf, u16) {
    let [cp, pm, wp] = [(); 3].map(|_| free_port());
    let yaml = config(dir, cp, pm, wp);
    let srv = Server::start(dir, &yaml, &[cp]);
    wait_tcp(wp);
    gen(
        "ipfix",
        cp,
        300,
        3000,
        &[
            "--prefix",
            "10.0.1.0/24",
            "--prefix",
            "10.0.2.0/24",
            "--prefix",
            "172.16.0.0/12",
        ],
    );
    settle(&srv, "edge", 300);
    during(wp);
    srv.stop();
    (dir.join("octoflow.yaml"), wp)
}

pub fn wait_tcp(port: u16) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `octoflow console` alone on the stopped server's files.
pub fn console_alone(conf: &Path, port: u16) -> Child {
    let c = Child(
        Command::new(BIN)
            .args(["console", "--config-file"])
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("octoflow console"),
    );
    wait_tcp(port);
    c
}

pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request; `user`: Basic credentials of one of [`USERS`] (or a raw header).
pub fn request(port: u16, method: &str, path: &str, headers: &str, body: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("console");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    Answer {
        status: head[9..12].parse().expect("status"),
        head: head.to_string(),
        body: body.to_string(),
    }
}

pub fn basic(user: &str) -> String {
    let pw = USERS
        .iter()
        .find(|(u, _)| *u == user)
        .map_or("wrong", |(_, p)| p);
    format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

pub fn get(port: u16, user: &str, path: &str) -> Answer {
    request(port, "GET", path, &basic(user), "")
}

/// Total flows `octoflow query` finds in a store with `filter`.
pub fn query_total(store: &Path, filter: &str) -> u64 {
    let out = octoflow(
        &[
            "query",
            "-R",
            store.to_str().expect("utf-8"),
            "-n",
            "1",
            "-s",
            "proto/flows",
            filter,
        ],
        None,
    );
    let at = out.find("total flows: ").expect("summary") + 13;
    out[at..]
        .split(',')
        .next()
        .expect("n")
        .parse()
        .expect("number")
}

/// A window covering the whole run (receive times are the last minutes).
pub fn window() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    format!("from={}&to={}", now - 3600, now + 600)
}
