//! `octoflow server`: config → topology → running threads, until SIGTERM/SIGINT.
//!
//! Threads: one per collector (receive, decode, fan out), one per exporter (filter,
//! encode, send), one for the metrics endpoint; the main thread waits for signals.
//! Shutdown order keeps what was received: collectors stop first and save their
//! template caches, which closes the exporters' queues; each exporter sends what is
//! still queued and exits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::sys::signal::{SigSet, Signal};
use octoflow_proto::{Decoder, Limits, TemplateCache};

use crate::collector::{self, Feed};
use crate::config::Config;
use crate::metrics::{CollectorMetrics, ExporterMetrics, Registry};
use crate::{exporter, http};

fn cache_file(dir: &Path, collector: &str) -> PathBuf {
    dir.join(format!("{collector}.templates"))
}

/// Restore a collector's template cache; a missing file is normal, a bad one is
/// reported and ignored (the routers will resend their templates).
fn restore(dir: Option<&Path>, id: &str) -> Decoder {
    let Some(dir) = dir else {
        return Decoder::new(Limits::default());
    };
    let f = cache_file(dir, id);
    match std::fs::read(&f) {
        Ok(bytes) => match TemplateCache::restore(&bytes, Limits::default()) {
            Ok(c) => {
                tracing::info!(collector = %id, file = %f.display(), templates = c.template_count(), "template cache restored");
                Decoder::with_cache(c)
            }
            Err(e) => {
                tracing::warn!(collector = %id, file = %f.display(), "template cache not restored ({e}); starting empty");
                Decoder::new(Limits::default())
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Decoder::new(Limits::default()),
        Err(e) => {
            tracing::warn!(collector = %id, file = %f.display(), "cannot read the template cache: {e}");
            Decoder::new(Limits::default())
        }
    }
}

pub fn run(cfg: Config) -> Result<(), String> {
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    // Signals are taken by the main thread with sigwait; block them before any
    // thread starts so every thread inherits the mask.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGHUP);
    signals
        .thread_block()
        .map_err(|e| format!("cannot block signals: {e}"))?;

    let cache_dir = cfg.general.template_cache_dir.clone();
    if let Some(d) = &cache_dir {
        std::fs::create_dir_all(d).map_err(|e| {
            format!(
                "general.template_cache_dir: cannot create {}: {e}",
                d.display()
            )
        })?;
    }

    // Bind every socket before starting anything, so a taken port fails the start
    // with nothing half-running.
    let mut sockets = Vec::new();
    for c in &cfg.collectors {
        sockets.push(collector::bind(c)?);
    }
    let http_listener = match cfg.general.metrics_listen {
        Some(a) => Some(http::bind(a)?),
        None => None,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let mut registry = Registry::default();
    let mut feeds: HashMap<String, (std::sync::mpsc::SyncSender<_>, Arc<ExporterMetrics>)> =
        HashMap::new();
    let mut exporters: Vec<JoinHandle<()>> = Vec::new();
    for e in &cfg.exporters {
        let (tx, rx) = sync_channel(e.queue_datagrams);
        let m = ExporterMetrics::new(&e.id);
        registry.exporters.push(m.clone());
        feeds.insert(e.id.clone(), (tx, m.clone()));
        let e = e.clone();
        let h = std::thread::Builder::new()
            .name(format!("x:{}", e.id))
            .spawn(move || exporter::run(e, rx, m))
            .map_err(|err| format!("cannot start an exporter thread: {err}"))?;
        exporters.push(h);
    }
    let mut collectors: Vec<(String, JoinHandle<Decoder>)> = Vec::new();
    for (c, sock) in cfg.collectors.iter().zip(sockets) {
        let m = CollectorMetrics::new(&c.id);
        registry.collectors.push(m.clone());
        let my_feeds: Vec<Feed> = c
            .mux_to
            .iter()
            .filter_map(|id| feeds.get(id))
            .map(|(tx, m)| Feed {
                tx: tx.clone(),
                metrics: m.clone(),
            })
            .collect();
        let decoder = restore(cache_dir.as_deref(), &c.id);
        let file = cache_dir.as_deref().map(|d| cache_file(d, &c.id));
        let (c2, stop2) = (c.clone(), stop.clone());
        let h = std::thread::Builder::new()
            .name(format!("c:{}", c.id))
            .spawn(move || collector::run(c2, sock, decoder, my_feeds, m, stop2, file))
            .map_err(|err| format!("cannot start a collector thread: {err}"))?;
        collectors.push((c.id.clone(), h));
    }
    // Only the collectors hold senders now: when they stop, the queues close.
    drop(feeds);
    let http = http_listener.map(|l| {
        let (reg, stop2) = (registry.clone(), stop.clone());
        std::thread::spawn(move || http::run(l, reg, stop2))
    });
    tracing::info!(
        collectors = cfg.collectors.len(),
        exporters = cfg.exporters.len(),
        metrics = ?cfg.general.metrics_listen,
        "octoflow server running"
    );

    loop {
        match signals.wait() {
            Ok(Signal::SIGHUP) => {
                tracing::warn!("SIGHUP: live reload is not available in this version; restart the server to apply a new configuration");
            }
            Ok(sig) => {
                tracing::info!("{sig}: shutting down");
                break;
            }
            Err(e) => return Err(format!("waiting for signals failed: {e}")),
        }
    }
    stop.store(true, Relaxed);
    for (id, h) in collectors {
        match h.join() {
            Ok(dec) => {
                if let Some(d) = &cache_dir {
                    let f = cache_file(d, &id);
                    match collector::save_cache(&f, &dec) {
                        Ok(()) => {
                            tracing::info!(collector = %id, file = %f.display(), "template cache saved")
                        }
                        Err(e) => {
                            tracing::warn!(collector = %id, file = %f.display(), "cannot save the template cache: {e}")
                        }
                    }
                }
            }
            Err(_) => tracing::error!(collector = %id, "collector thread panicked"),
        }
    }
    for h in exporters {
        let _ = h.join();
    }
    if let Some(h) = http {
        let _ = h.join();
    }
    for m in &registry.exporters {
        tracing::info!(
            exporter = %m.id,
            matched = m.flows_matched.load(Relaxed),
            sent = m.flows_sent.load(Relaxed),
            datagrams = m.datagrams_sent.load(Relaxed),
            drops = m.queue_drops.load(Relaxed),
            "final counts"
        );
    }
    tracing::info!("octoflow server stopped");
    Ok(())
}
