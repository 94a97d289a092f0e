//! What validating a configuration asks of the machine it runs on: systemd's
//! `$STATE_DIRECTORY`, whether a directory can be written, what a host name
//! resolves to. [`System`] asks the machine; [`Offline`] answers without touching
//! the environment, the file system or the network (for fuzzing the loader).

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

pub trait Environment {
    /// `$STATE_DIRECTORY`, as systemd sets it.
    fn state_directory(&self) -> Option<OsString>;
    /// Whether `dir` can be written, or created and written.
    fn writable(&self, dir: &Path) -> bool;
    /// The first address `host` resolves to (`Ok(None)`: to none).
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Option<SocketAddr>>;
    /// Whether `file` can be opened for reading (`Err`: why not).
    fn readable(&self, file: &Path) -> Result<(), String>;
}

/// The machine's own answers.
pub struct System;

impl Environment for System {
    fn state_directory(&self) -> Option<OsString> {
        std::env::var_os("STATE_DIRECTORY")
    }

    /// A probe file is made and removed in `dir` (or in its parent when it does
    /// not exist yet).
    fn writable(&self, dir: &Path) -> bool {
        let at = if dir.is_dir() {
            dir
        } else {
            match dir.parent() {
                Some(p) if p.is_dir() => p,
                _ => return false,
            }
        };
        let probe = at.join(format!(".octoflow-probe-{}", std::process::id()));
        let ok = std::fs::File::create(&probe).is_ok();
        let _ = std::fs::remove_file(&probe);
        ok
    }

    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Option<SocketAddr>> {
        Ok((host, port).to_socket_addrs()?.next())
    }

    fn readable(&self, file: &Path) -> Result<(), String> {
        std::fs::File::open(file)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// Answers for a machine with nothing on it: no `$STATE_DIRECTORY`, nothing
/// writable, and every non-empty host name resolving to 192.0.2.1 (TEST-NET-1),
/// so that validation goes on past the name.
pub struct Offline;

impl Environment for Offline {
    fn state_directory(&self) -> Option<OsString> {
        None
    }

    fn writable(&self, _dir: &Path) -> bool {
        false
    }

    fn readable(&self, _file: &Path) -> Result<(), String> {
        Ok(())
    }

    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Option<SocketAddr>> {
        if host.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty host name",
            ));
        }
        Ok(Some(SocketAddr::new(IpAddr::from([192, 0, 2, 1]), port)))
    }
}
