//! The `netflow` output kind: the tenant's flows as NetFlow v5/v9, IPFIX or sFlow
//! datagrams to one receiver. [`config`] holds its settings and their
//! validation, [`build`] starts it: [`run`] takes shipments from the queue, lets
//! the sans-IO encoder (`octoflow-encode`) make the receiver's datagrams, and
//! [`send`] ships them over UDP (GSO runs, `sendmmsg`) or TCP; with
//! `preserve_source`, [`preserve`] sends the router's own datagrams from the
//! router's address.

pub mod config;
pub mod preserve;
pub mod run;
pub mod send;

use std::sync::Arc;

use crate::fanout::queue::QueueRx;
use crate::instance::Thread;
use crate::output::Output;
use crate::telemetry::metrics::OutputMetrics;
use config::NetflowConfig;

/// Start a `netflow` output's thread.
pub fn build(
    out: &Output,
    n: &NetflowConfig,
    rx: QueueRx,
    m: Arc<OutputMetrics>,
) -> Result<Thread<()>, String> {
    let (id, n, unfiltered) = (out.id.clone(), n.clone(), out.filter.is_empty());
    // Opened here, not in the thread: without the privilege the output does not
    // start, and says why.
    let preserve = if n.preserve_source {
        Some(preserve::open(out.index, &out.id, n.target)?)
    } else {
        None
    };
    Thread::spawn(format!("x:{}", out.id), move |ctl| {
        run::run(id, n, unfiltered, preserve, rx, m, ctl)
    })
}
