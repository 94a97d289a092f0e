//! The counters and gauges `/metrics` and `/status` show, with their help
//! texts: one table per kind of instance, read by [`super::Registry`].

use std::sync::atomic::Ordering::Relaxed;

use super::{CollectorMetrics, OutputMetrics};

pub(super) type CounterFn<T> = fn(&T) -> u64;

pub(super) const COLLECTOR_COUNTERS: &[(&str, &str, CounterFn<CollectorMetrics>)] = &[
    ("datagrams", "Export datagrams received", |m| {
        m.datagrams.load(Relaxed)
    }),
    ("bytes", "Bytes of export datagrams received", |m| {
        m.bytes.load(Relaxed)
    }),
    ("flows", "Flow records decoded", |m| m.flows.load(Relaxed)),
    (
        "rejected_version",
        "Datagrams of a version the collector does not accept",
        |m| m.rejected_version.load(Relaxed),
    ),
    (
        "not_allowed",
        "Datagrams from senders outside the collector's allow list, turned away before decoding",
        |m| m.not_allowed.load(Relaxed),
    ),
    (
        "rate_limited",
        "Datagrams over a sender's rate_limit, turned away before decoding",
        |m| m.rate_limited.load(Relaxed),
    ),
    (
        "flows_outside_networks",
        "allow_from: flows dropped because neither address is in their sender's networks",
        |m| m.flows_outside_networks.load(Relaxed),
    ),
    (
        "allow_from_reads",
        "allow_from: successful reads of the senders from Redis",
        |m| m.allow_from_reads.load(Relaxed),
    ),
    (
        "allow_from_errors",
        "allow_from: failed reads of the senders from Redis (the last list read stays in force)",
        |m| m.allow_from_errors.load(Relaxed),
    ),
    (
        "template_misses",
        "Data sets that arrived before their template",
        |m| m.template_misses.load(Relaxed),
    ),
    (
        "sets_skipped",
        "Malformed v9 flowsets and IPFIX sets skipped (the rest of the datagram decoded)",
        |m| m.sets_skipped.load(Relaxed),
    ),
    (
        "templates_learnt",
        "Templates and options templates received",
        |m| m.templates_learnt.load(Relaxed),
    ),
    ("receive_errors", "Socket receive errors", |m| {
        m.receive_errors.load(Relaxed)
    }),
    (
        "templates_withdrawn",
        "Templates withdrawn by their router (IPFIX)",
        |m| m.cache.templates_withdrawn.load(Relaxed),
    ),
    (
        "templates_expired",
        "Templates forgotten after not being refreshed within the timeout",
        |m| m.cache.templates_expired.load(Relaxed),
    ),
    (
        "templates_evicted",
        "Templates evicted to make room (a full scope, or template_memory)",
        |m| m.cache.templates_evicted.load(Relaxed),
    ),
    (
        "template_overflow",
        "Templates refused: larger than the whole template_memory",
        |m| m.cache.template_overflow.load(Relaxed),
    ),
    (
        "scope_overflow",
        "Router scopes (address, version, domain) refused by the template cache",
        |m| m.cache.scope_overflow.load(Relaxed),
    ),
    (
        "scopes_expired",
        "Router scopes forgotten after being idle",
        |m| m.cache.scopes_expired.load(Relaxed),
    ),
    (
        "scopes_evicted",
        "Router scopes evicted for another (their address was over its fair share)",
        |m| m.cache.scopes_evicted.load(Relaxed),
    ),
    ("held", "Data sets held until their template arrives", |m| {
        m.cache.held.load(Relaxed)
    }),
    (
        "held_released",
        "Held data sets decoded once their template arrived",
        |m| m.cache.held_released.load(Relaxed),
    ),
    (
        "held_dropped",
        "Held data sets dropped (too old, too many, too many bytes)",
        |m| m.cache.held_dropped.load(Relaxed),
    ),
];

/// Collector gauges: what the template cache holds now.
pub(super) const COLLECTOR_GAUGES: &[(&str, &str, CounterFn<CollectorMetrics>)] = &[
    ("templates", "Templates in the template cache", |m| {
        m.cache.templates.load(Relaxed)
    }),
    (
        "template_bytes",
        "Bytes the cached templates occupy (bounded by template_memory)",
        |m| m.cache.template_bytes.load(Relaxed),
    ),
    (
        "template_scopes",
        "Router scopes in the template cache",
        |m| m.cache.scopes.load(Relaxed),
    ),
];

pub(super) const EXPORTER_COUNTERS: &[(&str, &str, CounterFn<OutputMetrics>)] = &[
    (
        "flows_matched",
        "Flow records that passed the tenant filter",
        |m| m.flows_matched.load(Relaxed),
    ),
    ("flows_sent", "Flow records sent to the receiver", |m| {
        m.flows_sent.load(Relaxed)
    }),
    ("datagrams_sent", "Datagrams (messages) sent", |m| {
        m.datagrams_sent.load(Relaxed)
    }),
    ("bytes_sent", "Bytes sent", |m| m.bytes_sent.load(Relaxed)),
    (
        "send_errors",
        "Send errors (refused, unreachable, TCP write failures)",
        |m| m.send_errors.load(Relaxed),
    ),
    (
        "queue_drops",
        "Input datagrams dropped because the exporter queue was full (queue_datagrams)",
        |m| m.queue_drops.load(Relaxed),
    ),
    (
        "queue_drop_flows",
        "Flow records in datagrams dropped at the full queue",
        |m| m.queue_drop_flows.load(Relaxed),
    ),
    (
        "disconnected_drops",
        "Datagrams not sent while the TCP receiver was down",
        |m| m.disconnected_drops.load(Relaxed),
    ),
    (
        "unconvertible",
        "Matching flows the output version cannot express (IPv6 to v5)",
        |m| m.unconvertible.load(Relaxed),
    ),
    (
        "too_large",
        "Records or samples larger than a datagram at this MTU",
        |m| m.too_large.load(Relaxed),
    ),
    (
        "streams_expired",
        "Output streams (one per router and domain) dropped after an hour unused",
        |m| m.streams_expired.load(Relaxed),
    ),
    (
        "datagrams_source_preserved",
        "UDP datagrams sent with the router's address and port as their source (preserve_source)",
        |m| m.datagrams_source_preserved.load(Relaxed),
    ),
    (
        "datagrams_source_own",
        "UDP datagrams sent from octoflow's own address (all of them without preserve_source; re-encoded ones with it)",
        |m| m.datagrams_source_own.load(Relaxed),
    ),
    (
        "source_family_mismatch",
        "Router datagrams preserve_source sent from octoflow's own address because the router and the receiver are of different address families",
        |m| m.source_family_mismatch.load(Relaxed),
    ),
    (
        "source_too_big",
        "Router datagrams preserve_source dropped because they exceed the MTU of the route to the receiver (raw sockets do not fragment)",
        |m| m.source_too_big.load(Relaxed),
    ),
    (
        "templates_forgotten",
        "Router templates dropped from the output's state after the template cache dropped them (given to the receiver again if used again)",
        |m| m.templates_forgotten.load(Relaxed),
    ),
];
