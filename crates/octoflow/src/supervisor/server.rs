//! The server: what it opens as root, the privilege drop, its threads (control
//! socket, metrics endpoint, signals) and the loop that hands their events to the
//! supervisor one at a time.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use super::Supervisor;
use crate::config::Config;
use crate::control::{self, Command, Event, Reply};
use crate::telemetry::http;
use crate::{privileges, systemd, util};

/// Run the server until SIGTERM/SIGINT or `shutdown`.
pub fn run(cfg: Config) -> Result<(), String> {
    use nix::sys::signal::{SigSet, Signal};
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    // Signals are taken by one thread with sigwait; block them before any thread
    // starts so every thread inherits the mask.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGHUP);
    signals
        .thread_block()
        .map_err(|e| format!("cannot block signals: {e}"))?;
    if let Some(d) = &cfg.general.template_cache_dir {
        std::fs::create_dir_all(d).map_err(|e| {
            format!(
                "general.template_cache_dir: cannot create {}: {e}",
                d.display()
            )
        })?;
    }
    let (tx, rx): (Sender<Event>, Receiver<Event>) = std::sync::mpsc::channel();
    let ctl = control::Listener::bind(&cfg.supervisor.unix_socket)?;
    let http_listener = match cfg.general.metrics_listen {
        Some(a) => Some(http::bind(a)?),
        None => None,
    };
    if let Some(a) = cfg.general.metrics_listen {
        if !a.ip().is_loopback() && cfg.general.metrics_token.is_none() {
            tracing::warn!("general.metrics_listen: {a} is reachable from other hosts and no general.metrics_token_file is set: anyone who reaches the port reads the counters");
        }
    }
    // The console's socket and TLS key too (it serves after the drop).
    let console = cfg
        .console
        .as_ref()
        .map(crate::console::serve::bind)
        .transpose()?;
    // Everything that needs root is open: drop to general.user before the first
    // thread starts, so no thread ever has more than the kept capabilities.
    privileges::drop_root(&cfg)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut sup = Supervisor::new(cfg);
    let ctl_thread = {
        let (tx, stop) = (tx.clone(), stop.clone());
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || ctl.serve(tx, stop))
            .map_err(|e| format!("cannot start the control thread: {e}"))?
    };
    let http_thread = http_listener.map(|l| {
        let (reg, stop) = (sup.registry.clone(), stop.clone());
        let token = sup
            .cfg
            .general
            .metrics_token
            .as_ref()
            .map(|(_, t)| t.clone());
        std::thread::spawn(move || http::run(l, reg, token, stop))
    });
    {
        let tx = tx.clone();
        // Detached: it ends with the process.
        let _ = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                while let Ok(sig) = signals.wait() {
                    if tx.send(Event::Signal(sig)).is_err() {
                        break;
                    }
                }
            });
    }
    sup.autostart();
    let console = console
        .map(|b| b.start(Arc::new(sup.cfg.clone())))
        .transpose()?;
    tracing::info!(
        instances = sup.instances.len(),
        socket = %sup.cfg.supervisor.unix_socket.display(),
        metrics = ?sup.cfg.general.metrics_listen,
        "octoflow server running"
    );
    let mut log = util::RateLimit::new(Duration::from_secs(60));
    let mut ready = false;
    loop {
        if !ready && sup.settled() {
            ready = true;
            systemd::notify(&format!("READY=1\nSTATUS={}", sup.summary()));
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Event::Signal(Signal::SIGHUP)) => {
                tracing::info!("SIGHUP: reloading the configuration");
                systemd::reloading();
                let mut r = Reply::default();
                sup.reload(&mut r);
                console_reloaded(console.as_ref(), &sup.cfg);
                ready = false;
                for l in &r.lines {
                    tracing::info!("reload: {l}");
                }
            }
            Ok(Event::Signal(sig)) => {
                tracing::info!("{sig}: shutting down");
                break;
            }
            Ok(Event::Command(line, reply)) => {
                tracing::info!(command = %line.trim(), "control command");
                let command = control::parse_command(&line);
                let reload = command == Ok(Command::Reload);
                if reload {
                    systemd::reloading();
                }
                let r = match &command {
                    Ok(c) => sup.command(c),
                    Err(usage) => Reply::usage(usage.as_str()),
                };
                if reload {
                    console_reloaded(console.as_ref(), &sup.cfg);
                    ready = false;
                }
                let _ = reply.send(r);
                if command == Ok(Command::Shutdown) {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if log.ready() {
                    tracing::error!("control channel closed");
                }
                break;
            }
        }
        sup.maintain();
    }
    systemd::notify("STOPPING=1\nSTATUS=stopping: sending what is queued");
    // Commands still queued get no answer: dropping them lets their connections go.
    drop(rx);
    sup.shutdown();
    if let Some(c) = console {
        c.stop();
    }
    stop.store(true, Relaxed);
    let _ = ctl_thread.join();
    if let Some(h) = http_thread {
        let _ = h.join();
    }
    tracing::info!("octoflow server stopped");
    Ok(())
}

/// After a reload: the console serves the new users, profiles and stores;
/// its address and TLS, and whether it runs at all, change at a restart.
fn console_reloaded(console: Option<&crate::console::serve::Running>, cfg: &Config) {
    match (console, &cfg.console) {
        (Some(c), Some(new)) => {
            if c.listen != new.listen || c.tls != new.tls {
                tracing::warn!(
                    "reload: console.listen and console.tls take effect at the next restart"
                );
            }
            c.app.replace(Arc::new(cfg.clone()));
        }
        (Some(c), None) => {
            tracing::warn!("reload: the console section is gone; the console answers 503 until the server restarts");
            c.app.replace(Arc::new(cfg.clone()));
        }
        (None, Some(_)) => {
            tracing::warn!("reload: a console section was added; it starts at the next restart")
        }
        (None, None) => {}
    }
}
