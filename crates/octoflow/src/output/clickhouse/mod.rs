//! The `clickhouse` output kind: every flow of the tenant as a row of a
//! ClickHouse table, inserted in batches over the HTTP interface (RowBinary)
//! — the GoFlow flow-pipeline's `flows_raw` with its 5-minute `flows_5m`
//! view (`schema: flow-pipeline`), or a table of every field
//! (`schema: octoflow`). Tables are made when missing. Typed for ClickHouse
//! 18.16 and later (docs/databases.md: what each column holds, a cluster).
//!
//! [`config`] holds its keys; [`encode`] makes the rows (no I/O, with
//! `octoflow_rows::clickhouse`); [`schema`] the tables; [`http`] is the HTTP
//! client; [`client`] delivers on the delivering thread of
//! [`crate::output::sink`], which bounds what waits for a slow or absent
//! server.

pub mod client;
pub mod config;
pub mod encode;
pub mod http;
pub mod schema;

use std::sync::Arc;

use crate::fanout::queue::QueueRx;
use crate::instance::Thread;
use crate::output::{sink, Output};
use crate::telemetry::metrics::OutputMetrics;
use config::ClickhouseConfig;

/// Start a `clickhouse` output.
pub fn build(
    out: &Output,
    c: &ClickhouseConfig,
    rx: QueueRx,
    m: Arc<OutputMetrics>,
) -> Result<Thread<()>, String> {
    let dl = client::Inserter::new(c.clone());
    let enc = encode::Rows::new(c.schema);
    sink::build(out, c.sink.clone(), enc, dl, rx, m)
}
