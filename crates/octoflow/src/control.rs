//! The control socket (`supervisor.unix_socket`) and its client.
//!
//! Protocol: the client sends one command line (`status all`, `stop foo_exporter`,
//! `reload`, …: a [`Command`], read by [`parse_command`]); the server answers with
//! text lines and a last line `.<code>`, the exit code the client should return,
//! then closes the connection.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

/// Exit codes of control commands (and so of `octoflow client`).
pub mod exit {
    pub const OK: i32 = 0;
    /// A command failed for an instance (no such instance, already started, …).
    pub const FAILED: i32 = 1;
    /// Bad usage or a configuration that does not load.
    pub const USAGE: i32 = 2;
    /// `status`: at least one listed instance is not RUNNING.
    pub const NOT_RUNNING: i32 = 3;
    /// No server answers on the control socket.
    pub const NO_SERVER: i32 = 4;
}

/// What a client can ask the server: one command line. An instance target is one
/// word: a name (`foo_exporter`), a bare id, `all`, `collectors` or `exporters`
/// (resolved by the supervisor, which knows the instances).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `status [TARGET]`: `all` when left out.
    Status(String),
    /// `start TARGET`.
    Start(String),
    /// `stop TARGET`.
    Stop(String),
    /// `restart TARGET`: stop, then start.
    Restart(String),
    /// `reread`: what the configuration file would change; applies nothing.
    Reread,
    /// `reload`: apply the configuration file.
    Reload,
    /// `shutdown`: stop the server.
    Shutdown,
    /// `rib show [--peer P] [PREFIX|ADDRESS]`: the BGP/BMP RIBs.
    RibShow {
        peer: Option<String>,
        what: Option<String>,
    },
}

/// The answer to a line that is no [`Command`].
const USAGE: &str =
    "status [NAME], start|stop|restart NAME|all|collectors|exporters|sessions, reread, reload, shutdown, rib show [--peer P] [PREFIX|ADDRESS]";

/// Read one command line: words separated by white space, the verb first. Words
/// after the ones a command takes are ignored (`status a b` is `status a`).
/// Pure: no I/O, no supervisor state; the error is the usage text to answer.
pub fn parse_command(line: &str) -> Result<Command, String> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("");
    if verb == "rib" {
        return rib_show(line, words);
    }
    let target = words.next().map(str::to_string);
    match (verb, target) {
        ("status", t) => Ok(Command::Status(t.unwrap_or_else(|| "all".into()))),
        ("start", Some(t)) => Ok(Command::Start(t)),
        ("stop", Some(t)) => Ok(Command::Stop(t)),
        ("restart", Some(t)) => Ok(Command::Restart(t)),
        ("reread", None) => Ok(Command::Reread),
        ("reload", None) => Ok(Command::Reload),
        ("shutdown", None) => Ok(Command::Shutdown),
        _ => Err(format!("unknown command {line:?}: {USAGE}")),
    }
}

/// `rib show [--peer P] [PREFIX|ADDRESS]`, after the verb.
fn rib_show<'a>(line: &str, mut words: impl Iterator<Item = &'a str>) -> Result<Command, String> {
    let bad = || format!("unknown command {line:?}: {USAGE}");
    if words.next() != Some("show") {
        return Err(bad());
    }
    let (mut peer, mut what) = (None, None);
    while let Some(w) = words.next() {
        match w {
            "--peer" => peer = Some(words.next().ok_or_else(bad)?.to_string()),
            _ if what.is_none() => what = Some(w.to_string()),
            _ => return Err(bad()),
        }
    }
    Ok(Command::RibShow { peer, what })
}

/// The command line a client sends: [`parse_command`] reads it back as the same
/// command.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Status(t) => write!(f, "status {t}"),
            Command::Start(t) => write!(f, "start {t}"),
            Command::Stop(t) => write!(f, "stop {t}"),
            Command::Restart(t) => write!(f, "restart {t}"),
            Command::Reread => f.write_str("reread"),
            Command::Reload => f.write_str("reload"),
            Command::Shutdown => f.write_str("shutdown"),
            Command::RibShow { peer, what } => {
                f.write_str("rib show")?;
                if let Some(p) = peer {
                    write!(f, " --peer {p}")?;
                }
                if let Some(w) = what {
                    write!(f, " {w}")?;
                }
                Ok(())
            }
        }
    }
}

/// What reaches the supervisor loop.
pub enum Event {
    Signal(nix::sys::signal::Signal),
    /// A control command line and where to send the reply.
    Command(String, Sender<Reply>),
}

/// A control command's answer: text lines and an exit code.
#[derive(Debug, Default)]
pub struct Reply {
    pub lines: Vec<String>,
    pub code: i32,
}

impl Reply {
    /// The answer to a line that is not a command: the usage, exit code 2.
    pub fn usage(text: impl Into<String>) -> Reply {
        Reply {
            lines: vec![text.into()],
            code: exit::USAGE,
        }
    }
    pub fn line(&mut self, l: impl Into<String>) {
        self.lines.push(l.into());
    }
    pub fn fail(&mut self, l: impl Into<String>) {
        self.lines.push(l.into());
        self.code = self.code.max(exit::FAILED);
    }
}

pub struct Listener {
    path: PathBuf,
    l: UnixListener,
}

impl Listener {
    /// Bind the socket, mode 0600. A socket file left by a crashed server is
    /// replaced; one a live server answers on is an error.
    pub fn bind(path: &Path) -> Result<Listener, String> {
        let shown = path.display();
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "supervisor.unix_socket: another octoflow server is running on {shown} (stop it first, or use another socket path)"
                ));
            }
            std::fs::remove_file(path).map_err(|e| {
                format!("supervisor.unix_socket: cannot remove the stale socket {shown}: {e}")
            })?;
            tracing::warn!(socket = %shown, "removed a stale control socket (a previous server did not stop cleanly)");
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                format!(
                    "supervisor.unix_socket: cannot create {}: {e}",
                    dir.display()
                )
            })?;
        }
        let l = UnixListener::bind(path)
            .map_err(|e| format!("supervisor.unix_socket: cannot listen on {shown}: {e}"))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("supervisor.unix_socket: cannot set mode 0600 on {shown}: {e}"))?;
        l.set_nonblocking(true)
            .map_err(|e| format!("supervisor.unix_socket: {e}"))?;
        Ok(Listener {
            path: path.to_path_buf(),
            l,
        })
    }

    /// Accept connections until `stop`; each command goes to the supervisor loop.
    /// Removes the socket file at the end.
    pub fn serve(self, tx: Sender<Event>, stop: Arc<AtomicBool>) {
        while !stop.load(Relaxed) {
            match self.l.accept() {
                Ok((s, _)) => {
                    if let Err(e) = handle(s, &tx) {
                        tracing::debug!("control connection: {e}");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    tracing::warn!("control socket accept: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn handle(s: UnixStream, tx: &Sender<Event>) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new((&s).take(4096)).read_line(&mut line)?;
    if line.trim().is_empty() {
        // A probe (e.g. another server checking for a live socket), not a command.
        return Ok(());
    }
    let (rtx, rrx) = std::sync::mpsc::channel();
    if tx
        .send(Event::Command(line.trim().to_string(), rtx))
        .is_err()
    {
        return Ok(());
    }
    // A reload that starts many instances can take a while; status is immediate.
    let reply = rrx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_default();
    let mut w = &s;
    for l in &reply.lines {
        writeln!(w, "{l}")?;
    }
    writeln!(w, ".{}", reply.code)?;
    w.flush()
}

/// Send `command` to the server behind `socket`: its answer's lines and exit
/// code; `Err`: there is no server to ask (what the connection said).
pub fn ask(socket: &Path, command: &str) -> Result<(Vec<String>, i32), String> {
    let url = format!("unix://{}", socket.display());
    let s = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{url} no such file"),
        std::io::ErrorKind::ConnectionRefused => format!("{url} refused connection"),
        std::io::ErrorKind::PermissionDenied => {
            format!("{url} permission denied (the socket is mode 0600: run as its owner)")
        }
        _ => format!("{url} {e}"),
    })?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(130)));
    let mut w = &s;
    if writeln!(w, "{command}").and_then(|_| w.flush()).is_err() {
        return Err(format!("{url} connection closed"));
    }
    let mut code = exit::NO_SERVER;
    let mut lines = Vec::new();
    for line in BufReader::new(&s).lines() {
        let Ok(line) = line else { break };
        if let Some(c) = line.strip_prefix('.') {
            code = c.trim().parse().unwrap_or(exit::FAILED);
            break;
        }
        lines.push(line);
    }
    Ok((lines, code))
}

/// Send `command` to the server behind `socket`; print its answer; return the
/// exit code.
pub fn client(socket: &Path, command: &str) -> i32 {
    match ask(socket, command) {
        Ok((lines, code)) => {
            for l in lines {
                println!("{l}");
            }
            code
        }
        Err(why) => {
            println!("{why}");
            exit::NO_SERVER
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, String> {
        parse_command(line)
    }

    #[test]
    fn each_command_is_read_with_its_target() {
        let t = |s: &str| s.to_string();
        assert_eq!(parse("status"), Ok(Command::Status(t("all"))));
        assert_eq!(parse("status all"), Ok(Command::Status(t("all"))));
        assert_eq!(
            parse("status collectors"),
            Ok(Command::Status(t("collectors")))
        );
        assert_eq!(
            parse("status foo-cacti_exporter"),
            Ok(Command::Status(t("foo-cacti_exporter")))
        );
        assert_eq!(parse("start exporters"), Ok(Command::Start(t("exporters"))));
        assert_eq!(parse("stop edge"), Ok(Command::Stop(t("edge"))));
        assert_eq!(parse("restart all"), Ok(Command::Restart(t("all"))));
        assert_eq!(parse("reread"), Ok(Command::Reread));
        assert_eq!(parse("reload"), Ok(Command::Reload));
        assert_eq!(parse("shutdown"), Ok(Command::Shutdown));
    }

    #[test]
    fn white_space_separates_words_and_extra_words_are_ignored() {
        assert_eq!(
            parse("  stop\t edge_collector \r\n"),
            Ok(Command::Stop("edge_collector".into()))
        );
        assert_eq!(parse("status a b"), Ok(Command::Status("a".into())));
        assert_eq!(parse("reload\n"), Ok(Command::Reload));
    }

    #[test]
    fn anything_else_is_answered_with_the_usage() {
        for line in [
            "",
            "   ",
            "start",
            "stop",
            "restart",
            "reread now",
            "reload all",
            "shutdown now",
            "STATUS",
            "frobnicate all",
            "status\u{0}",
        ] {
            let e = parse(line).expect_err(line);
            assert_eq!(e, format!("unknown command {line:?}: {USAGE}"));
        }
    }

    #[test]
    fn a_command_reads_back_from_its_line() {
        for c in [
            Command::Status("all".into()),
            Command::Status("foo_exporter".into()),
            Command::Start("collectors".into()),
            Command::Stop("edge".into()),
            Command::Restart("exporters".into()),
            Command::Reread,
            Command::Reload,
            Command::Shutdown,
        ] {
            assert_eq!(parse(&c.to_string()), Ok(c));
        }
    }

    #[test]
    fn usage_answers_exit_code_2() {
        let r = Reply::usage("nope");
        assert_eq!(r.lines, vec!["nope".to_string()]);
        assert_eq!(r.code, exit::USAGE);
    }
}
