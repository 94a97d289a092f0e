//! A `netflow` output's thread: takes shipments from its queue, lets the sans-IO
//! encoder make the receiver's datagrams from the records that are the tenant's
//! (by the verdict bit the collector's route gave it), and sends them.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use octoflow_encode::{EncodeStats, Encoder, Out, Select};

use super::config::NetflowConfig;
use super::send::Transport;
use crate::fanout::queue::QueueRx;
use crate::instance::ThreadCtl;
use crate::telemetry::metrics::OutputMetrics;
use crate::util::now_ms;

/// Run until asked to stop, sending what is already queued first.
///
/// Each shipment (a collector's receive call) is encoded as a whole and its
/// datagrams sent together (GSO runs, else `sendmmsg`). Records wait up to `FLUSH_EVERY` (20 ms) to fill a
/// datagram, so heavy traffic goes out in full datagrams and light traffic is
/// delayed by at most that.
pub fn run(
    id: String,
    e: NetflowConfig,
    unfiltered: bool,
    preserve: Option<octoflow_udp::raw::RawSocket>,
    rx: QueueRx,
    m: Arc<OutputMetrics>,
    ctl: ThreadCtl,
) {
    ctl.started();
    let mut encoder = Encoder::new(e.encoder_config(unfiltered), now_ms());
    let mut tx = Transport::new(&id, &e, m.clone(), preserve);
    let mut out = Out::default();
    let mut last_flush = Instant::now();
    tracing::info!(
        exporter = %id,
        target = %e.target,
        version = octoflow_encode::version_label(e.version),
        preserve_source = e.preserve_source,
        "exporter running"
    );
    loop {
        let shipment = if ctl.stopping() {
            // Stopping: send what is queued, then exit.
            rx.try_recv()
        } else {
            let wait = if encoder.has_pending() {
                FLUSH_EVERY
            } else {
                Duration::from_millis(100)
            };
            match rx.recv_timeout(wait) {
                Ok(r) => Some(r),
                Err(RecvTimeoutError::Timeout) => {
                    if tx.idle() {
                        // A new TCP session: templates before any data.
                        encoder.reset_templates();
                    }
                    // Also when nothing waits: a flush expires unused streams.
                    out.clear();
                    last_flush = Instant::now();
                    let st = encoder.flush(now_ms(), &mut out);
                    m.streams_expired.fetch_add(st.streams_expired, Relaxed);
                    m.templates_forgotten
                        .fetch_add(st.templates_forgotten, Relaxed);
                    if tx.send_all(&out) {
                        m.flows_sent.fetch_add(st.sent, Relaxed);
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
        for d in shipment.datagrams.iter() {
            let sel = match shipment.bit {
                Some(bit) => Select::Bit(&d.verdicts, bit),
                None => Select::All,
            };
            st.add(encoder.encode(d.from, &d.datagram, &d.batch, sel, now, &mut out));
        }
        drop(shipment);
        if last_flush.elapsed() >= FLUSH_EVERY {
            st.add(encoder.flush(now, &mut out));
            last_flush = Instant::now();
        }
        m.flows_matched.fetch_add(st.matched, Relaxed);
        m.unconvertible.fetch_add(st.unconvertible, Relaxed);
        m.too_large.fetch_add(st.too_large, Relaxed);
        m.streams_expired.fetch_add(st.streams_expired, Relaxed);
        m.templates_forgotten
            .fetch_add(st.templates_forgotten, Relaxed);
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
    tracing::info!(exporter = %id, "exporter stopped");
}

/// Records wait at most about this long to fill a datagram.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
