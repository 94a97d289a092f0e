//! Where tenant filters are applied: each record's verdict word, every output's
//! filter at once (one longest-prefix match per address, [`Verdicts`]), computed
//! on the collector thread while the record is still in this core's cache. An
//! output then reads one word per record and touches only its own records; the
//! encoder never filters.

use octoflow_prefix::{Filter, Verdicts};
use octoflow_proto::Batch;

/// Fill `words` with one verdict word per record of `batch`.
#[inline]
pub fn compute(table: &Verdicts, batch: &Batch, words: &mut Vec<u64>) {
    words.clear();
    words.extend(
        batch
            .records
            .iter()
            .map(|r| table.flow(r.src_addr, r.dst_addr)),
    );
}

/// `allow_from`: withhold from every output the records of `batch` with
/// neither address in `nets` (the sender's networks; `None`: it has none) by
/// clearing their verdict words (the route gives every output a bit, see
/// `Route::restricted`). Returns how many were withheld.
#[inline]
pub fn withhold_outside(nets: Option<&Filter>, batch: &Batch, words: &mut [u64]) -> u64 {
    let mut n = 0;
    for (r, w) in batch.records.iter().zip(words.iter_mut()) {
        if !nets.is_some_and(|f| f.flow(r.src_addr, r.dst_addr)) {
            *w = 0;
            n += 1;
        }
    }
    n
}
