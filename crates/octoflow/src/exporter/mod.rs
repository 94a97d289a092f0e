//! An exporter: one tenant's receiver. A thread takes decoded datagrams from its
//! bounded queue, lets the sans-IO [`encode::Encoder`] make the tenant's datagrams,
//! and sends them over UDP or TCP ([`transport`]). It never blocks a collector: the
//! collector only ever `try_send`s into the queue.

pub mod encode;
pub mod transport;

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::collector::Shipment;
use crate::config::Exporter;
use crate::filter::Verdicts;
use crate::metrics::ExporterMetrics;
use crate::util::now_ms;
use encode::{EncodeStats, Encoder, EncoderConfig, Out};
use transport::Transport;

pub fn encoder_config(e: &Exporter) -> EncoderConfig {
    EncoderConfig {
        version: e.version,
        filter: e.filter.clone(),
        max_datagram: e.max_datagram(),
        refresh_ms: e.template_refresh.as_millis() as u64,
        refresh_packets: e.template_refresh_packets,
        sampling_scaling: e.sampling_scaling,
        forward_counters: e.forward_counters,
        forward_options: e.forward_options,
    }
}

/// Run until `stop` is set or every sender of `rx` is gone, sending what is
/// already queued first.
///
/// Each receive batch from the collector is encoded as a whole and its datagrams
/// sent with one `sendmmsg`. Records wait up to `FLUSH_EVERY` (20 ms) to fill a
/// datagram, so heavy traffic goes out in full datagrams and light traffic is
/// delayed by at most that.
pub fn run(
    e: Exporter,
    rx: Receiver<Shipment>,
    m: Arc<ExporterMetrics>,
    stop: Arc<AtomicBool>,
    tid: Arc<AtomicI32>,
) {
    tid.store(nix::unistd::gettid().as_raw(), Relaxed);
    let mut encoder = Encoder::new(encoder_config(&e), now_ms());
    let mut tx = Transport::new(&e, m.clone());
    let mut out = Out::default();
    let mut last_flush = Instant::now();
    // This tenant's bit in the collectors' verdict tables, by table (a table is
    // made per routing change, so this is looked up again rarely).
    let mut mine: Option<(Arc<Verdicts>, Option<u64>)> = None;
    tracing::info!(
        exporter = %e.id,
        target = %e.target,
        version = crate::config::version_label(e.version),
        "exporter running"
    );
    loop {
        let shipment = if stop.load(Relaxed) {
            // Stopping: send what is queued, then exit.
            rx.try_recv().ok()
        } else {
            let wait = if encoder.has_pending() {
                FLUSH_EVERY
            } else {
                Duration::from_millis(100)
            };
            match rx.recv_timeout(wait) {
                Ok(r) => Some(r),
                Err(RecvTimeoutError::Timeout) => {
                    tx.idle();
                    if encoder.has_pending() {
                        out.clear();
                        last_flush = Instant::now();
                        let st = encoder.flush(now_ms(), &mut out);
                        if tx.send_all(&out) {
                            m.flows_sent.fetch_add(st.sent, Relaxed);
                        }
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => None,
            }
        };
        let Some(shipment) = shipment else { break };
        if tx.prepare() {
            // A new TCP session: the receiver has no templates yet.
            encoder.reset_templates();
        }
        out.clear();
        let now = now_ms();
        let mut st = EncodeStats::default();
        let bit = shipment.verdicts.as_ref().and_then(|t| {
            if !mine.as_ref().is_some_and(|(m, _)| Arc::ptr_eq(m, t)) {
                mine = Some((t.clone(), t.bit_of(&e.filter)));
            }
            mine.as_ref().and_then(|(_, b)| *b)
        });
        for r in shipment.items.iter() {
            let sel = bit.map(|b| (&r.verdicts[..], b));
            st.add(encoder.encode_selected(&r.datagram, &r.batch, sel, now, &mut out));
        }
        drop(shipment);
        if encoder.has_pending() && last_flush.elapsed() >= FLUSH_EVERY {
            st.add(encoder.flush(now, &mut out));
            last_flush = Instant::now();
        }
        m.flows_matched.fetch_add(st.matched, Relaxed);
        m.unconvertible.fetch_add(st.unconvertible, Relaxed);
        m.too_large.fetch_add(st.too_large, Relaxed);
        if tx.send_all(&out) {
            m.flows_sent.fetch_add(st.sent, Relaxed);
        }
    }
    out.clear();
    let st = encoder.flush(now_ms(), &mut out);
    if tx.send_all(&out) {
        m.flows_sent.fetch_add(st.sent, Relaxed);
    }
    tx.close();
    tracing::info!(exporter = %e.id, "exporter stopped");
}

/// Records wait at most about this long to fill a datagram.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
