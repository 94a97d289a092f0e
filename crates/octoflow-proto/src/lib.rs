//! # octoflow-proto
//!
//! The protocol core of octoflow: decoding and encoding of NetFlow v5, NetFlow v9
//! (RFC 3954), IPFIX (RFC 7011) and sFlow v5, and the per-exporter template cache.
//!
//! It is *sans-IO*, like `quinn-proto` and `rustls`: it never touches a socket, a
//! file, a thread or a clock. Callers pass datagrams in with the exporter's address
//! and the current time, and get [`Batch`]es of canonical [`FlowRecord`]s out;
//! encoders write into buffers the caller provides. That keeps it deterministic,
//! fuzzable and benchmarkable on its own.
//!
//! - [`Decoder`] detects the version of each datagram and decodes it, keeping
//!   templates per (exporter, source id / observation domain) in its
//!   [`TemplateCache`].
//! - [`Batch`] holds the records and, next to each, a [`RawRef`] to its exact bytes,
//!   so same-version forwarding can copy records byte for byte.
//! - [`netflow_v5::V5Writer`], [`message::MessageWriter`] (v9 and IPFIX) and
//!   [`sflow::DatagramWriter`] build datagrams.
//! - [`schema`] describes each field of [`FlowRecord`] once (name, kind, `--format`
//!   token, information elements, getter) for outputs to iterate over.
//!
//! Modules are layered, each using only modules of the layers before it (CI can
//! check with `scripts/module-cycles.py`):
//! `error`, `ie`, `record`, `route` → `schema`, `wire` → `packet`, `template` → `batch`,
//! `template_cache` → `data_set`, `netflow_v5`, `sflow` → `ipfix`, `netflow_v9` →
//! `decoder` (version dispatch), `message` (v9/IPFIX writer).
#![warn(unreachable_pub)]
#![deny(clippy::unwrap_used)]

pub mod batch;
pub mod civil;
pub mod data_set;
pub mod decoder;
pub mod error;
pub mod ie;
pub mod ipfix;
pub mod message;
pub mod netflow_v5;
pub mod netflow_v9;
pub mod packet;
pub mod record;
pub mod route;
pub mod schema;
pub mod sflow;
pub mod template;
pub mod template_cache;
mod wire;

pub use batch::{Batch, OptionsRecord, RawRef, SetRef, Version};
pub use decoder::Decoder;
pub use error::{DecodeError, EncodeError};
pub use message::{
    own_direction_template, own_sampling_template, own_template, MessageHeader, MessageWriter,
};
pub use record::{Direction, FlowRecord};
pub use route::{RouteAttrs, RouteOrigin, RouteParts};
pub use template::{Dialect, FieldSpec, Template};
pub use template_cache::{Limits, ScopeKey, TemplateCache};
