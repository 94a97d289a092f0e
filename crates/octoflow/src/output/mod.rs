//! Outputs: where a tenant's flows go. Each `exporters[]` entry is an output of a
//! kind (`type`, default `netflow`); every kind gets its records from a bounded
//! queue (`crate::fanout::queue`) fed by collectors, and runs as one supervised instance.
//!
//! Kinds:
//! - [`netflow`]: datagrams in the receiver's NetFlow/IPFIX/sFlow version, over
//!   UDP or TCP (encoded by `octoflow-encode`).
//!
//! Adding a kind: a module here with its config struct (validated beside it), a
//! builder that starts its thread from a `QueueRx`, and one entry in
//! [`OutputKind`] and in [`instance::OutputInstance`]'s `spawn`.

pub mod instance;
pub mod netflow;

use std::sync::Arc;

use octoflow_prefix::Filter;

use netflow::config::NetflowConfig;

/// One `exporters[]` entry: an output of some kind. `id`, `filters` and
/// `queue_datagrams` are every kind's; the rest is the kind's own.
#[derive(Debug, Clone)]
pub struct Output {
    pub id: String,
    /// The tenant: which flows this output gets (empty: all of them).
    pub filter: Arc<Filter>,
    /// Most datagrams waiting in the output's queue; past it, datagrams are
    /// dropped for this output only, and counted.
    pub queue_datagrams: usize,
    pub kind: OutputKind,
}

/// The output kinds (`exporters[].type`). A new kind is a module here with its
/// config struct, validation and builder, and one entry in this enum (and in
/// [`instance::OutputInstance`]'s `spawn` and the validator's dispatch).
#[derive(Debug, Clone, PartialEq)]
pub enum OutputKind {
    /// NetFlow v5/v9, IPFIX or sFlow datagrams to a receiver (the default).
    Netflow(NetflowConfig),
}

impl OutputKind {
    /// The names `type` takes.
    pub const NAMES: &'static [&'static str] = &["netflow"];
}

impl PartialEq for Output {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id
            && self.filter.entries() == o.filter.entries()
            && self.queue_datagrams == o.queue_datagrams
            && self.kind == o.kind
    }
}

impl Output {
    pub fn instance_name(&self) -> String {
        format!("{}_exporter", self.id)
    }

    /// The `netflow` kind's settings, if it is one.
    pub fn netflow(&self) -> Option<&NetflowConfig> {
        match &self.kind {
            OutputKind::Netflow(n) => Some(n),
        }
    }
}
