//! What the stream and database outputs (`kafka`, `clickhouse`, `postgres`,
//! `redis`) share: records are encoded into batches on the output's thread
//! ([`Encode`], no I/O), and a second thread delivers the batches ([`Deliver`])
//! with reconnects and backoff. Between the two, batches wait in a buffer
//! bounded in bytes (`max_buffer_bytes`): when the server is slow or away the
//! buffer fills and further batches are dropped and counted — the output never
//! pushes back on the collector, and no other output notices.
//!
//! A kind is its `Encode` (rows in the server's format), its `Deliver` (the
//! client), and its config; [`build`] runs them ([`run`]).

pub mod deadline;
pub mod run;
pub mod settings;

use std::sync::Arc;

use octoflow_proto::FlowRecord;
use octoflow_rows::Meta;

use crate::fanout::queue::QueueRx;
use crate::fanout::Decoded;
use crate::instance::Thread;
use crate::output::Output;
use crate::telemetry::metrics::OutputMetrics;
pub use settings::SinkSettings;

/// Rows in the server's format, without I/O.
pub trait Encode: Send + 'static {
    type Batch: Send + 'static;
    /// An empty batch.
    fn batch(&mut self) -> Self::Batch;
    /// Add one of the output's records (`d`: its datagram).
    fn add(&mut self, b: &mut Self::Batch, d: &Decoded, r: &FlowRecord);
    /// Rows in `b`.
    fn rows(b: &Self::Batch) -> u64;
    /// Bytes `b` holds (what counts against `max_buffer_bytes`).
    fn bytes(b: &Self::Batch) -> u64;
}

/// Why a delivery failed.
#[derive(Debug)]
pub enum Failure {
    /// The server is away or broke the connection: reconnect and retry the
    /// same batch after a backoff.
    Down(String),
    /// The server refused this batch (a schema mismatch, a value it will not
    /// take): retrying would fail again, so its rows are counted and dropped.
    Rejected(String),
}

/// Delivers batches to the server; owns the connection.
pub trait Deliver: Send + 'static {
    type Batch: Send + 'static;
    /// Connect (and prepare: create tables or topics) if not connected.
    fn connect(&mut self) -> Result<(), Failure>;
    /// Deliver one batch, connecting first if needed.
    fn deliver(&mut self, b: &mut Self::Batch) -> Result<(), Failure>;
    /// Forget the connection after a failure; the next call reconnects.
    fn reset(&mut self);
    /// Where it delivers, for log lines (`kafka 127.0.0.1:9092 topic flows`).
    fn target(&self) -> String;
}

/// The metadata a row needs from its datagram.
pub fn meta(d: &Decoded) -> Meta {
    Meta {
        version: d.batch.version,
        received_ms: d.received_ms,
        sequence: d.batch.sequence,
    }
}

/// Start a stream or database output: the encoding thread (the instance's
/// thread) and, beside it, the delivering thread.
pub fn build<E, D>(
    out: &Output,
    settings: SinkSettings,
    enc: E,
    dl: D,
    rx: QueueRx,
    m: Arc<OutputMetrics>,
) -> Result<Thread<()>, String>
where
    E: Encode,
    D: Deliver<Batch = E::Batch>,
{
    let id = out.id.clone();
    Thread::spawn(format!("x:{}", out.id), move |ctl| {
        run::run(id, settings, enc, dl, rx, m, ctl)
    })
}
