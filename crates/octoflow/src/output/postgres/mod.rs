//! The `postgres` output kind: every flow of the tenant as a row of the GoFlow
//! flow-pipeline inserter's table (`flows`, made when missing), written with
//! binary `COPY` in batches.
//!
//! [`config`] holds its keys; [`encode`] makes the rows (no I/O, with
//! `octoflow_rows::pgcopy`); [`schema`] the table; [`client`] copies them
//! with `tokio-postgres` on the delivering thread of [`crate::output::sink`],
//! which bounds what waits for a slow or absent server.

pub mod client;
pub mod config;
pub mod encode;
pub mod schema;

use std::sync::Arc;

use crate::fanout::queue::QueueRx;
use crate::instance::Thread;
use crate::output::{sink, Output};
use crate::telemetry::metrics::OutputMetrics;
use config::PostgresConfig;

/// Start a `postgres` output.
pub fn build(
    out: &Output,
    p: &PostgresConfig,
    rx: QueueRx,
    m: Arc<OutputMetrics>,
) -> Result<Thread<()>, String> {
    let dl = client::Copier::new(p.clone())?;
    sink::build(out, p.sink.clone(), encode::Rows, dl, rx, m)
}
