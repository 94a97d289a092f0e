//! Real database servers for the tests, no mocks: a Kafka-protocol broker (tansu),
//! ClickHouse 18.16, PostgreSQL 15 and Redis 7, each started by `scripts/servers.sh` on
//! 127.0.0.1 and free ports, in a folder of the test's, and stopped by its PID. Plus the
//! real clients (`psql`, `curl`, `redis-cli`, `kcat`) to look at what they hold.
//! `scripts/servers.sh install` (run by scripts/test.sh) installs them.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Kafka,
    ClickHouse,
    Postgres,
    Redis,
}

impl Kind {
    /// The name servers.sh knows it by (also the subfolder and the .pid file's name).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Kafka => "kafka",
            Kind::ClickHouse => "clickhouse",
            Kind::Postgres => "postgres",
            Kind::Redis => "redis",
        }
    }
}

/// A running server, stopped (gracefully, by PID) when dropped.
pub struct Db {
    pub kind: Kind,
    /// `DIR/<kind>` for the `dir` given to `start`: data, config, `<kind>.pid`, `<kind>.out`.
    pub dir: PathBuf,
    /// The port clients use: the broker's, PostgreSQL's, Redis's; ClickHouse's HTTP port.
    pub port: u16,
    /// ClickHouse only (0 for the others): the HTTP port (= `port`) and the native one.
    pub http_port: u16,
    pub tcp_port: u16,
    /// The server's PID while it runs (0 after `stop` or `kill`).
    pub pid: u32,
}

fn script() -> PathBuf {
    super::root().join("scripts/servers.sh")
}

/// `n` distinct free TCP ports on 127.0.0.1 (bound together, so distinct, then released).
fn free_tcp_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Run `cmd` (stdin `input`, or none), panic with what it printed unless it succeeds.
fn run(cmd: &mut Command, input: Option<&[u8]>) -> Output {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e} (run scripts/servers.sh install)"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        // on a thread: the child may fill its stdout before it has read all its input
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        text(&out)
    );
    out
}

fn trimmed(out: Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .trim_end_matches('\n')
        .to_string()
}

/// Whether `pid` is running. A zombie is not: a server that exited stays one until PID 1
/// reaps it (its parent, servers.sh, is long gone), with its ports already closed.
pub fn alive(pid: u32) -> bool {
    // the state follows "(comm) ", and comm may hold spaces or parentheses
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

impl Db {
    /// Start a server of `kind` in `dir/<kind>` on free port(s); panics with servers.sh's
    /// output if it does not get ready (within 30 s). A port taken between our pick and
    /// the server's bind (exit code 3) is picked again.
    pub fn start(kind: Kind, dir: &Path) -> Db {
        let mut last = String::new();
        for _ in 0..5 {
            let ports = free_tcp_ports(if kind == Kind::ClickHouse { 2 } else { 1 });
            let (http_port, tcp_port) = if kind == Kind::ClickHouse {
                (ports[0], ports[1])
            } else {
                (0, 0)
            };
            let mut db = Db {
                kind,
                dir: dir.join(kind.name()),
                port: ports[0],
                http_port,
                tcp_port,
                pid: 0,
            };
            match db.try_start() {
                Ok(()) => return db,
                Err((Some(3), out)) => last = out,
                Err((code, out)) => panic!(
                    "servers.sh start {} {} failed ({code:?}):\n{out}",
                    kind.name(),
                    db.dir.display()
                ),
            }
        }
        panic!(
            "servers.sh start {}: ports always taken:\n{last}",
            kind.name()
        );
    }

    fn try_start(&mut self) -> Result<(), (Option<i32>, String)> {
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .args(["start", self.kind.name()])
            .arg(&self.dir)
            .arg(self.port.to_string());
        if self.kind == Kind::ClickHouse {
            cmd.arg(self.tcp_port.to_string());
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .expect("bash scripts/servers.sh");
        if !out.status.success() {
            return Err((out.status.code(), text(&out)));
        }
        // the last line of stdout is the PID (the rest went to stderr)
        self.pid = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no PID from servers.sh start:\n{}", text(&out)));
        Ok(())
    }

    /// `127.0.0.1:PORT` of `port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Whether the server process is still there (false after `stop` or `kill`, or if it
    /// died).
    pub fn running(&self) -> bool {
        self.pid != 0 && alive(self.pid)
    }

    fn signal(&mut self, how: &str) {
        if self.pid == 0 {
            return;
        }
        let out = Command::new("bash")
            .arg(script())
            .args([how, self.kind.name()])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("bash scripts/servers.sh");
        self.pid = 0;
        // a failure during a panic's unwinding (Drop) must not abort the test binary
        if !out.status.success() && !std::thread::panicking() {
            panic!(
                "servers.sh {how} {} {}: {}\n{}",
                self.kind.name(),
                self.dir.display(),
                out.status,
                text(&out)
            );
        }
    }

    /// Graceful stop (SIGTERM, PostgreSQL SIGINT; SIGKILL after 15–40 s); idempotent.
    pub fn stop(&mut self) {
        self.signal("stop");
    }

    /// SIGKILL the server, as a crash would: for the tests of a database dying mid-run.
    /// Returns once it is gone (PostgreSQL: its backends too). What it had committed
    /// stays on disk (ClickHouse, PostgreSQL); the broker and Redis keep nothing.
    pub fn kill(&mut self) {
        self.signal("kill");
    }

    /// Start it again (stopping it first if it runs) on the same port(s) and folder.
    pub fn restart(&mut self) {
        self.stop();
        if let Err((code, out)) = self.try_start() {
            panic!(
                "servers.sh start {} {} again on port {} failed ({code:?}):\n{out}",
                self.kind.name(),
                self.dir.display(),
                self.port
            );
        }
    }

    /// `psql -At -c SQL` as user postgres: rows one a line, columns split by `|`, the
    /// final newline removed. Panics on an SQL error.
    pub fn psql(&self, sql: &str) -> String {
        assert_eq!(self.kind, Kind::Postgres);
        trimmed(run(
            Command::new("psql")
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At"])
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", "-d", "postgres", "-c", sql])
                .env("PGCONNECT_TIMEOUT", "10"),
            None,
        ))
    }

    /// One statement POSTed to the HTTP interface; what it answered, final newline
    /// removed (TabSeparated unless the SQL says FORMAT). Panics on a server error.
    pub fn clickhouse_query(&self, sql: &str) -> String {
        assert_eq!(self.kind, Kind::ClickHouse);
        trimmed(run(
            Command::new("curl")
                .args(["-sS", "--fail-with-body", "--max-time", "60"])
                .arg(format!("http://127.0.0.1:{}/", self.http_port))
                .args(["--data-binary", "@-"]),
            Some(sql.as_bytes()),
        ))
    }

    /// `redis-cli ARGS…`: its answer, final newline removed (an error is text too).
    pub fn redis_cli(&self, args: &[&str]) -> String {
        assert_eq!(self.kind, Kind::Redis);
        trimmed(run(
            Command::new("timeout")
                .args(["60", "redis-cli", "-h", "127.0.0.1", "-p"])
                .arg(self.port.to_string())
                .args(args),
            None,
        ))
    }

    /// `kcat -b ADDR ARGS…` (librdkafka 2.16, see servers.sh), stdin empty: its raw
    /// stdout. Consumers: `-C -t T -o beginning -e` (the broker's "latest" offset is off).
    pub fn kcat(&self, args: &[&str]) -> Vec<u8> {
        self.kcat_stdin(args, None)
    }

    /// `kcat -b ADDR ARGS…` with `input` on stdin (`-P` sends a message a line).
    pub fn kcat_input(&self, args: &[&str], input: &[u8]) -> Vec<u8> {
        self.kcat_stdin(args, Some(input))
    }

    fn kcat_stdin(&self, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
        assert_eq!(self.kind, Kind::Kafka);
        run(
            Command::new("timeout")
                .args(["60", "bash"])
                .arg(script())
                .args(["kcat", "-b", &self.addr()])
                .args(args),
            input,
        )
        .stdout
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.stop();
    }
}
