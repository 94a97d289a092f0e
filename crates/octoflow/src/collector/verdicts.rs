//! Where tenant filters are applied: each record's verdict word, every output's
//! filter at once (one longest-prefix match per address, [`Verdicts`]), computed
//! on the collector thread while the record is still in this core's cache. An
//! output then reads one word per record and touches only its own records; the
//! encoder never filters.

use octoflow_prefix::Verdicts;
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
