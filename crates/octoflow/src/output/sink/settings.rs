//! The keys every stream and database output takes: how rows are batched
//! (`batch_rows`, `linger_ms`) and how much may wait for a slow or absent
//! server (`max_buffer_bytes`).

use crate::yaml::check::Validator;
use crate::yaml::raw::{RawExporter, Scalar};
use crate::yaml::units::parse_size;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkSettings {
    /// A batch is delivered once it holds this many rows…
    pub batch_rows: u64,
    /// …or its first row waited this long.
    pub linger_ms: u64,
    /// Most bytes of encoded rows waiting for the server; past it, new batches
    /// are dropped and counted.
    pub max_buffer_bytes: u64,
}

impl SinkSettings {
    pub const DEFAULT_BATCH_ROWS: u64 = 10_000;
    pub const DEFAULT_LINGER_MS: u64 = 200;
    pub const DEFAULT_MAX_BUFFER_BYTES: u64 = 64 << 20;

    /// As `octoflow check` prints it.
    pub fn describe(&self) -> String {
        format!(
            "batches of up to {} rows or {} ms, at most {} MiB waiting",
            self.batch_rows,
            self.linger_ms,
            self.max_buffer_bytes >> 20
        )
    }
}

impl Validator {
    /// `batch_rows`, `linger_ms` and `max_buffer_bytes` of `exporters[i]` (path `p`).
    pub fn sink_settings(&mut self, p: &str, e: &RawExporter) -> SinkSettings {
        let batch_rows = e.batch_rows.unwrap_or(SinkSettings::DEFAULT_BATCH_ROWS);
        if batch_rows == 0 || batch_rows > 1_000_000 {
            self.err(
                format!("{p}.batch_rows"),
                format!("{batch_rows} is out of range; give 1 to 1000000 rows"),
            );
        }
        let linger_ms = e.linger_ms.unwrap_or(SinkSettings::DEFAULT_LINGER_MS);
        if linger_ms == 0 || linger_ms > 60_000 {
            self.err(
                format!("{p}.linger_ms"),
                format!("{linger_ms} is out of range; give 1 to 60000 ms"),
            );
        }
        let max_buffer_bytes = match &e.max_buffer_bytes {
            None => SinkSettings::DEFAULT_MAX_BUFFER_BYTES,
            Some(Scalar(s)) => match parse_size(s) {
                Ok(b) if b >= 1 << 20 => b,
                Ok(b) => {
                    self.err(
                        format!("{p}.max_buffer_bytes"),
                        format!("{b} bytes is too small; give at least 1M"),
                    );
                    SinkSettings::DEFAULT_MAX_BUFFER_BYTES
                }
                Err(why) => {
                    self.err(format!("{p}.max_buffer_bytes"), format!("{s:?}: {why}"));
                    SinkSettings::DEFAULT_MAX_BUFFER_BYTES
                }
            },
        };
        SinkSettings {
            batch_rows,
            linger_ms,
            max_buffer_bytes,
        }
    }
}
