//! The counters only some output kinds have (stores; streams and databases),
//! and which counters an output shows.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicU8};

use super::{CounterFn, OutputMetrics, EXPORTER_COUNTERS};

/// Which kind-specific counters an output shows ([`OutputMetrics::class`]).
#[derive(Debug, Default)]
pub struct Class(AtomicU8);

impl Class {
    pub const RECEIVER: u8 = 0;
    pub const STORE: u8 = 1;
    pub const SINK: u8 = 2;

    pub fn set(&self, c: u8) {
        self.0.store(c, Relaxed);
    }

    pub fn get(&self) -> u8 {
        self.0.load(Relaxed)
    }
}

/// Counters of the stream and database outputs (`kafka`, `clickhouse`,
/// `postgres`, `redis`): rows wait in a bounded buffer while the server is
/// slow or away.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Rows the server acknowledged.
    pub rows_delivered: AtomicU64,
    /// Batches the server acknowledged.
    pub batches: AtomicU64,
    /// Rows dropped: the buffer (`max_buffer_bytes`) was full, or they were
    /// still waiting when the output stopped.
    pub rows_dropped: AtomicU64,
    /// Rows of batches the server refused outright (not retried).
    pub rows_rejected: AtomicU64,
    /// Failed attempts to connect or deliver (each is retried with backoff).
    pub errors: AtomicU64,
    /// Bytes of encoded rows waiting for the server (a gauge).
    pub buffer_bytes: AtomicU64,
}

/// Only for `store` outputs (a receiver has no files).
pub(super) const STORE_COUNTERS: &[(&str, &str, CounterFn<OutputMetrics>)] = &[
    (
        "store_rows",
        "Store: flow rows written to disk (in part files, flushed every flush_secs)",
        |m| m.store_rows.load(Relaxed),
    ),
    ("store_files", "Store: interval files written", |m| {
        m.store_files.load(Relaxed)
    }),
    (
        "store_bytes",
        "Store: bytes of interval files written",
        |m| m.store_bytes.load(Relaxed),
    ),
    (
        "store_files_deleted",
        "Store: interval files deleted by retention (max_age, max_bytes)",
        |m| m.store_files_deleted.load(Relaxed),
    ),
    (
        "store_bytes_deleted",
        "Store: bytes of files deleted by retention",
        |m| m.store_bytes_deleted.load(Relaxed),
    ),
    (
        "store_write_errors",
        "Store: failed writes (disk full, permissions)",
        |m| m.store_write_errors.load(Relaxed),
    ),
    (
        "store_rows_lost",
        "Store: flow rows lost to failed writes",
        |m| m.store_rows_lost.load(Relaxed),
    ),
];

/// Only for stream and database outputs.
pub(super) const SINK_COUNTERS: &[(&str, &str, CounterFn<OutputMetrics>)] = &[
    (
        "sink_rows_delivered",
        "Streams and databases: flow rows the server acknowledged",
        |m| m.sink.rows_delivered.load(Relaxed),
    ),
    (
        "sink_batches",
        "Streams and databases: batches the server acknowledged",
        |m| m.sink.batches.load(Relaxed),
    ),
    (
        "sink_rows_dropped",
        "Streams and databases: flow rows dropped (buffer full at max_buffer_bytes, or still waiting at stop)",
        |m| m.sink.rows_dropped.load(Relaxed),
    ),
    (
        "sink_rows_rejected",
        "Streams and databases: flow rows in batches the server refused (not retried)",
        |m| m.sink.rows_rejected.load(Relaxed),
    ),
    (
        "sink_errors",
        "Streams and databases: failed connections or deliveries (retried with backoff)",
        |m| m.sink.errors.load(Relaxed),
    ),
];

/// The kind-specific counters of outputs of class `c`.
pub(super) fn class_counters(
    c: u8,
) -> &'static [(&'static str, &'static str, CounterFn<OutputMetrics>)] {
    match c {
        Class::STORE => STORE_COUNTERS,
        Class::SINK => SINK_COUNTERS,
        _ => &[],
    }
}

/// The counters an output has: every output's, and its kind's own.
pub(super) fn output_counters(
    e: &OutputMetrics,
) -> impl Iterator<Item = &'static (&'static str, &'static str, CounterFn<OutputMetrics>)> {
    EXPORTER_COUNTERS
        .iter()
        .chain(class_counters(e.class.get()))
}
