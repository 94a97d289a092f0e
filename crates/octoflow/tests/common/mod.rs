//! Helpers shared by the integration tests: processes killed by PID, free ports,
//! waiting for a peer's socket, temporary folders, the fixtures' ground truth.
#![allow(dead_code)]

use std::collections::BTreeMap;
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

pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_udp(port: u16) {
    for _ in 0..100 {
        let out = Command::new("ss")
            .args(["-Hlun", &format!("sport = :{port}")])
            .output()
            .unwrap();
        if !out.stdout.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on udp/{port}");
}

pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("octoflow-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The fixtures' ground truth: `src,dst,sport,dport,proto` → (packets, bytes).
pub fn truth(v4_only: bool) -> BTreeMap<String, (u64, u64)> {
    let mut m = BTreeMap::new();
    for l in std::fs::read_to_string(root().join("tests/fixtures/truth.csv"))
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
