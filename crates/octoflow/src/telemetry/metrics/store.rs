//! The counters only `store` outputs have, and which counters an output shows.

use std::sync::atomic::Ordering::Relaxed;

use super::{CounterFn, OutputMetrics, EXPORTER_COUNTERS};

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

/// The counters an output has: every output's, and a store's own.
pub(super) fn output_counters(
    e: &OutputMetrics,
) -> impl Iterator<Item = &'static (&'static str, &'static str, CounterFn<OutputMetrics>)> {
    let store: &'static [_] = if e.is_store.load(Relaxed) {
        STORE_COUNTERS
    } else {
        &[]
    };
    EXPORTER_COUNTERS.iter().chain(store)
}
