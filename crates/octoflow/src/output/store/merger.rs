//! The store's second thread: merges an ended interval's parts into its file,
//! then applies retention. Merging copies the whole interval (gigabytes at
//! millions of flows a second), so it must not run on the output's thread,
//! which would stop taking shipments meanwhile and let its queue overflow.
//! Jobs run in order; the writer goes on with the next interval.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parquet::file::properties::WriterProperties;

use super::config::StoreConfig;
use super::{files, retention};
use crate::telemetry::metrics::OutputMetrics;
use crate::util::RateLimit;

enum Job {
    /// Merge these parts of interval `stamp`, then apply retention at `now_ms`.
    Merge {
        stamp: String,
        parts: Vec<PathBuf>,
        now_ms: u64,
    },
    /// Apply retention at `now_ms`.
    Retain(u64),
    /// Answer when every job before it is done.
    Barrier(Sender<()>),
}

/// The merging thread of one store; dropping it waits for its jobs.
pub struct Merger {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Merger {
    pub fn start(
        cfg: StoreConfig,
        props: Arc<WriterProperties>,
        m: Arc<OutputMetrics>,
    ) -> Result<Merger, String> {
        let (tx, rx) = channel::<Job>();
        let name = format!("m:{}", m.id);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let mut log = RateLimit::new(Duration::from_secs(60));
                let mut fail = |what: String| {
                    m.store_write_errors.fetch_add(1, Relaxed);
                    if log.ready() {
                        tracing::warn!(store = %cfg.path.display(), "{what}; check free space and permissions (parts stay in .parts/ and are merged at the next start)");
                    }
                };
                for job in rx {
                    let now_ms = match job {
                        Job::Barrier(done) => {
                            let _ = done.send(());
                            continue;
                        }
                        Job::Retain(now_ms) => now_ms,
                        Job::Merge {
                            stamp,
                            parts,
                            now_ms,
                        } => {
                            match files::merge(&cfg.path, &stamp, &parts, &props) {
                                Ok(written) => {
                                    for (path, bytes, rows) in written {
                                        m.store_files.fetch_add(1, Relaxed);
                                        m.store_bytes.fetch_add(bytes, Relaxed);
                                        tracing::debug!(file = %path.display(), bytes, rows, "store file written");
                                    }
                                }
                                Err(e) => fail(e),
                            }
                            now_ms
                        }
                    };
                    match retention::apply(
                        &cfg.path,
                        cfg.rotate_secs,
                        cfg.max_age_secs,
                        cfg.max_bytes,
                        now_ms / 1000,
                    ) {
                        Ok(d) => {
                            m.store_files_deleted.fetch_add(d.files, Relaxed);
                            m.store_bytes_deleted.fetch_add(d.bytes, Relaxed);
                        }
                        Err(e) => fail(format!("retention could not delete old files: {e}")),
                    }
                }
            })
            .map_err(|e| format!("starting the store's merging thread: {e}"))?;
        Ok(Merger {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn send(&self, j: Job) {
        if let Some(tx) = &self.tx {
            // The thread only ends when `tx` is dropped: a send cannot fail
            // before, and after a panic there is nobody left to tell.
            let _ = tx.send(j);
        }
    }

    /// Merge `parts` of interval `stamp` (then apply retention).
    pub fn merge(&self, stamp: String, parts: Vec<PathBuf>, now_ms: u64) {
        self.send(Job::Merge {
            stamp,
            parts,
            now_ms,
        });
    }

    /// Apply retention.
    pub fn retain(&self, now_ms: u64) {
        self.send(Job::Retain(now_ms));
    }

    /// Wait until every job sent so far is done.
    pub fn wait(&self) {
        let (tx, rx) = channel();
        self.send(Job::Barrier(tx));
        let _ = rx.recv();
    }
}

impl Drop for Merger {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
