//! An exporter: one tenant's receiver. A thread takes decoded datagrams from its
//! bounded queue, lets the sans-IO [`encode::Encoder`] make the tenant's datagrams,
//! and sends them over UDP or TCP ([`transport`]). It never blocks a collector: the
//! collector only ever `try_send`s into the queue.

pub mod encode;
pub mod transport;

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use crate::collector::Received;
use crate::config::Exporter;
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
pub fn run(
    e: Exporter,
    rx: Receiver<Arc<Received>>,
    m: Arc<ExporterMetrics>,
    stop: Arc<AtomicBool>,
    tid: Arc<AtomicI32>,
) {
    tid.store(nix::unistd::gettid().as_raw(), Relaxed);
    let mut encoder = Encoder::new(encoder_config(&e), now_ms());
    let mut tx = Transport::new(&e, m.clone());
    let mut out = Out::default();
    tracing::info!(
        exporter = %e.id,
        target = %e.target,
        version = crate::config::version_label(e.version),
        "exporter running"
    );
    loop {
        let r = if stop.load(Relaxed) {
            // Stopping: send what is queued, then exit.
            match rx.try_recv() {
                Ok(r) => r,
                Err(_) => break,
            }
        } else {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => {
                    tx.idle();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        };
        if tx.prepare() {
            // A new TCP session: the receiver has no templates yet.
            encoder.reset_templates();
        }
        out.clear();
        let st: EncodeStats = encoder.encode(&r.datagram, &r.batch, now_ms(), &mut out);
        drop(r);
        m.flows_matched.fetch_add(st.matched, Relaxed);
        m.unconvertible.fetch_add(st.unconvertible, Relaxed);
        m.too_large.fetch_add(st.too_large, Relaxed);
        let mut all = true;
        for d in out.iter() {
            all &= tx.send(d);
        }
        if all {
            m.flows_sent.fetch_add(st.sent, Relaxed);
        }
    }
    tx.close();
    tracing::info!(exporter = %e.id, "exporter stopped");
}
