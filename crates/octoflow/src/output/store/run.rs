//! A `store` output's thread: takes shipments from its queue, writes the
//! tenant's records into the store, flushes and rotates on time. A failed write
//! (a full or unwritable disk) costs the rows not yet on disk, is counted and
//! logged at most once a minute, and the thread goes on: the router never stops
//! for a store.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::Duration;

use super::config::StoreConfig;
use super::writer::Store;
use crate::fanout::queue::QueueRx;
use crate::instance::ThreadCtl;
use crate::telemetry::metrics::OutputMetrics;
use crate::util::{now_ms, RateLimit};

/// How long the thread waits for a shipment before it looks at the clock
/// (flushes and rotations are due at most this late).
const IDLE: Duration = Duration::from_millis(200);

/// Run until asked to stop, writing what is already queued first.
pub fn run(id: String, cfg: StoreConfig, rx: QueueRx, m: Arc<OutputMetrics>, ctl: ThreadCtl) {
    ctl.started();
    let dir = cfg.path.clone();
    let mut store = match Store::open(cfg, m.clone(), now_ms()) {
        Ok(s) => s,
        Err(e) => {
            m.store_write_errors.fetch_add(1, Relaxed);
            tracing::error!(exporter = %id, "store cannot start: {e}");
            return;
        }
    };
    tracing::info!(exporter = %id, path = %dir.display(), "store running");
    let mut log = RateLimit::new(Duration::from_secs(60));
    let mut fail = |store: &mut Store, e: String| {
        m.store_write_errors.fetch_add(1, Relaxed);
        let lost = store.discard();
        m.store_rows_lost.fetch_add(lost, Relaxed);
        if log.ready() {
            tracing::warn!(
                exporter = %id,
                lost,
                "store write failed, flows not yet on disk dropped: {e}; check free space and permissions of {} (the store keeps trying; store_write_errors counts failures)",
                store.dir().display()
            );
        }
    };
    loop {
        let shipment = if ctl.stopping() {
            rx.try_recv()
        } else {
            match rx.recv_timeout(IDLE) {
                Ok(s) => Some(s),
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = store.tick(now_ms()) {
                        fail(&mut store, e);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => None,
            }
        };
        let Some(s) = shipment else { break };
        let now = now_ms();
        match store.add(&s, now) {
            Ok(n) => {
                m.flows_matched.fetch_add(n, Relaxed);
            }
            Err(e) => fail(&mut store, e),
        }
        drop(s);
        if let Err(e) = store.tick(now) {
            fail(&mut store, e);
        }
    }
    if let Err(e) = store.close(now_ms()) {
        fail(&mut store, e);
    }
    tracing::info!(exporter = %id, "store stopped");
}
