//! systemd integration: readiness notification (`sd_notify` protocol, written out
//! here: one datagram to `$NOTIFY_SOCKET`) and the service unit that
//! `octoflow install-systemd` writes.

use std::fmt::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use crate::config::run_as::names;
use crate::config::Config;

/// Send `state` (e.g. `READY=1`) to the service manager, if there is one.
/// Returns false when not run by systemd (no `NOTIFY_SOCKET`) or on error.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    let p = path.to_string_lossy();
    let sent = if let Some(name) = p.strip_prefix('@') {
        // An abstract socket (sd_notify(3)).
        use std::os::linux::net::SocketAddrExt;
        match std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()) {
            Ok(a) => sock.send_to_addr(state.as_bytes(), &a).is_ok(),
            Err(_) => false,
        }
    } else {
        sock.send_to(state.as_bytes(), Path::new(&*p)).is_ok()
    };
    if !sent {
        tracing::debug!("sd_notify to {p} failed");
    }
    sent
}

/// `RELOADING=1` with the monotonic timestamp systemd (≥ 253) wants beside it.
pub fn reloading() -> bool {
    let usec = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0);
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"))
}

/// The service unit for `cfg` with `exe` as the binary.
pub fn unit(cfg: &Config, exe: &Path) -> String {
    let conf = cfg.path.canonicalize().unwrap_or_else(|_| cfg.path.clone());
    // Writable paths: the control socket's folder, the log's, the template cache.
    let mut rw: Vec<PathBuf> = Vec::new();
    let mut add = |p: Option<&Path>| {
        if let Some(p) = p {
            if !rw.iter().any(|x| x == p) {
                rw.push(p.to_path_buf());
            }
        }
    };
    add(cfg.supervisor.unix_socket.parent());
    add(cfg.supervisor.logfile.as_deref().and_then(Path::parent));
    add(cfg.general.template_cache_dir.as_deref());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Written by `octoflow install-systemd --config-file {}`.",
        conf.display()
    );
    s.push_str(
        "[Unit]\n\
         Description=octoflow flow router (NetFlow/IPFIX/sFlow collector, filter, replicator)\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=notify\n\
         NotifyAccess=main\n",
    );
    let _ = writeln!(
        s,
        "ExecStartPre={} check --config-file {}",
        exe.display(),
        conf.display()
    );
    let _ = writeln!(
        s,
        "ExecStart={} server --config-file {}",
        exe.display(),
        conf.display()
    );
    s.push_str(
        "ExecReload=/bin/kill -HUP $MAINPID\n\
         Restart=on-failure\n\
         RestartSec=2s\n\
         TimeoutStopSec=30s\n",
    );
    // systemd starts it as the user (general.user when set) with the
    // capabilities the server would keep after dropping root itself.
    let (user, group) = match &cfg.general.run_as {
        Some(r) => (r.user.as_str(), r.group.as_str()),
        None => ("octoflow", "octoflow"),
    };
    let caps = names(&cfg.capabilities());
    let _ = write!(
        s,
        "User={user}\n\
         Group={group}\n\
         RuntimeDirectory=octoflow\n\
         StateDirectory=octoflow\n\
         LogsDirectory=octoflow\n\
         AmbientCapabilities={caps}\n\
         CapabilityBoundingSet={caps}\n"
    );
    s.push_str(
        "NoNewPrivileges=yes\n\
         ProtectSystem=strict\n\
         ProtectHome=yes\n\
         ProtectKernelTunables=yes\n\
         ProtectKernelModules=yes\n\
         ProtectControlGroups=yes\n\
         RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n\
         RestrictNamespaces=yes\n\
         LockPersonality=yes\n\
         MemoryDenyWriteExecute=yes\n\
         SystemCallArchitectures=native\n\
         LimitNOFILE=65536\n",
    );
    if !rw.is_empty() {
        let paths: Vec<String> = rw.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(s, "ReadWritePaths=-{}", paths.join(" -"));
    }
    s.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    s
}

/// `octoflow install-systemd`: write the unit into `general.systemd_path`.
pub fn install(cfg: &Config, exe: &Path) -> Result<String, String> {
    let dir = &cfg.general.systemd_path;
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("general.systemd_path: cannot create {}: {e}", dir.display()))?;
    let path = dir.join("octoflow.service");
    std::fs::write(&path, unit(cfg, exe))
        .map_err(|e| format!("general.systemd_path: cannot write {}: {e}", path.display()))?;
    let mut msg = format!("wrote {}\nnext:\n", path.display());
    let user_exists = std::fs::read_to_string("/etc/passwd")
        .map(|p| p.lines().any(|l| l.starts_with("octoflow:")))
        .unwrap_or(false);
    if !user_exists {
        msg.push_str("  useradd --system --no-create-home --home-dir /var/lib/octoflow --shell /usr/sbin/nologin octoflow\n");
    }
    msg.push_str("  systemctl daemon-reload\n  systemctl enable --now octoflow\n  systemctl status octoflow\n");
    if cfg.supervisor.unix_socket.starts_with("/tmp") {
        msg.push_str("note: supervisor.unix_socket is under /tmp; /run/octoflow/octoflow.sock suits a service better\n");
    }
    Ok(msg)
}
