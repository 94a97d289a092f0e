//! The `store` output kind: the tenant's flows as Parquet files (zstd) in one
//! folder, one file per `rotate_secs` interval as nfcapd keeps them, readable
//! by any Parquet reader (DuckDB, pyarrow, Spark, ClickHouse).
//!
//! [`config`] holds its keys; [`schema`] derives the columns from the shared
//! field schema; [`rowgroup`] encodes records into the open row group as they
//! come; [`writer`] turns row groups into parts ([`files`]: names and the
//! write-then-rename moves); [`merger`], a second thread, turns an ended
//! interval's parts into its file and applies [`retention`]; [`run`] is the
//! output's thread.

pub mod config;
pub mod files;
pub mod merger;
pub mod reader;
pub mod retention;
pub mod rowgroup;
pub mod run;
pub mod schema;
pub mod writer;

use std::sync::Arc;

use crate::fanout::queue::QueueRx;
use crate::instance::Thread;
use crate::output::Output;
use crate::telemetry::metrics::OutputMetrics;
use config::StoreConfig;

/// Start a `store` output's thread. The folder is created here, so a path
/// that cannot be written fails the start (and `--status` says why).
pub fn build(
    out: &Output,
    s: &StoreConfig,
    rx: QueueRx,
    m: Arc<OutputMetrics>,
) -> Result<Thread<()>, String> {
    std::fs::create_dir_all(s.path.join(files::PARTS)).map_err(|e| {
        format!(
            "cannot create store folder {}: {e} (give a path octoflow may write)",
            s.path.display()
        )
    })?;
    let (id, s) = (out.id.clone(), s.clone());
    Thread::spawn(format!("x:{}", out.id), move |ctl| {
        run::run(id, s, rx, m, ctl)
    })
}
