//! A collector: one UDP socket, one thread. It receives export datagrams
//! ([`socket`], batched by `octoflow-udp`), keeps only the versions it accepts,
//! decodes them with its own template cache (`octoflow-proto`; [`templates`]
//! keeps that cache across restarts), computes every output's verdict on each
//! record ([`verdicts`]) and hands each receive call's decoded datagrams to its
//! outputs' queues (`crate::fanout`). Before anything else, [`admission`]
//! turns away senders outside `allow` or over `rate_limit`. [`config`] is its configuration,
//! [`instance`] its life as a supervised instance.

pub mod admission;
pub mod config;
pub mod instance;
pub mod socket;
pub mod templates;
pub mod verdicts;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use octoflow_proto::{Decoder, Version};
use octoflow_udp::RecvBatch;

use crate::fanout::{Decoded, Origin, Pool, Route, Routes};
use crate::instance::ThreadCtl;
use crate::telemetry::metrics::CollectorMetrics;
use crate::util::{now_ms, Latest, RateLimit};
use admission::gate::{Gate, Verdict};
use admission::senders::{Refresher, Senders};
use admission::Admission;
use config::Collector;

/// Messages taken per receive call (each a datagram or, with UDP GRO, a run of
/// them).
const BATCH: usize = 64;

/// What a collector thread needs besides its socket and decoder.
pub struct Context {
    pub routes: Arc<Routes>,
    /// `enrichment`, loaded (AS numbers set on every record before verdicts).
    pub enricher: Option<crate::enrich::Enricher>,
    pub admission: Arc<Latest<Admission>>,
    pub metrics: Arc<CollectorMetrics>,
    pub cache_file: Option<PathBuf>,
}

/// Run until asked to stop; returns the decoder so its cache can be kept.
pub fn run(
    c: Collector,
    sock: UdpSocket,
    mut decoder: Decoder,
    cx: Context,
    ctl: ThreadCtl,
) -> Decoder {
    ctl.started();
    let Context {
        routes,
        mut enricher,
        admission,
        metrics: m,
        cache_file,
    } = cx;
    let mut seen = u64::MAX;
    // The route as the supervisor set it, and the one used: the same, or
    // with every output on a verdict bit when `allow_from` withholds flows.
    let mut given: Arc<Route> = Arc::default();
    let mut route: Arc<Route> = Arc::default();
    let mut admission_seen = u64::MAX;
    let mut gate = Gate::new(Arc::default());
    // `allow_from`: the thread reading the senders from Redis, and its table.
    let mut refresher: Option<Refresher> = None;
    let senders: Arc<Latest<Option<Arc<Senders>>>> = Arc::new(Latest::new(None));
    let mut senders_seen = u64::MAX;
    let mut denied_log = RateLimit::new(Duration::from_secs(60));
    let clock = Instant::now();
    let mut rb = RecvBatch::new(BATCH, 65536);
    let mut errors_log = RateLimit::new(Duration::from_secs(60));
    let mut version_log = RateLimit::new(Duration::from_secs(60));
    let mut last_tick = Instant::now();
    let mut saver = templates::Periodic::new(cache_file);
    let mut pool = Pool::default();
    let origin = Arc::new(Origin {
        collector: c.id.clone(),
        sources: c.sources.iter().map(|(n, _)| n.clone()).collect(),
    });
    // Looked up once per datagram, not per record.
    let source_of: std::collections::HashMap<std::net::IpAddr, u16> = c
        .sources
        .iter()
        .enumerate()
        .map(|(i, (_, a))| (*a, i as u16))
        .collect();
    tracing::info!(collector = %c.id, listen = %c.listen, accepts = %c.versions, "collector running");
    while !ctl.stopping() {
        let mut rerouted = false;
        if let Some(r) = routes.changed(&mut seen) {
            given = r;
            rerouted = true;
        }
        if let Some(a) = admission.changed(&mut admission_seen) {
            if refresher.as_ref().map(|r| &r.source) != a.from_redis.as_ref() {
                // Another source: nobody is admitted until it has been read.
                drop(refresher.take());
                senders.set(None);
                refresher = a
                    .from_redis
                    .clone()
                    .map(|src| Refresher::start(&c.id, src, senders.clone(), m.clone()));
            }
            gate.set(a);
            rerouted = true;
        }
        if rerouted {
            route = if refresher.is_some() {
                Arc::new(given.restricted())
            } else {
                given.clone()
            };
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            report_denied(&c.id, &mut gate, &m, &mut denied_log);
            decoder.cache.expire(now_ms());
            m.set_cache(&decoder.cache);
            saver.tick(&decoder, &c.id);
        }
        // Receive.
        let n = match rb.recv(&sock) {
            Ok(0) => {
                // Idle (the receive timed out): the per-sender table catches up.
                report_denied(&c.id, &mut gate, &m, &mut denied_log);
                continue;
            }
            Ok(n) => n,
            Err(e) => {
                m.receive_errors.fetch_add(1, Relaxed);
                if errors_log.ready() {
                    tracing::warn!(collector = %c.id, "receive error: {e}");
                }
                continue;
            }
        };
        // After the receive, which may have waited: a table read meanwhile
        // applies to these datagrams already.
        if let Some(s) = senders.changed(&mut senders_seen) {
            gate.set_senders((*s).clone());
        }
        let mut shipment: Vec<Arc<Decoded>> = Vec::with_capacity(n);
        let mut flows = 0u64;
        let gated = !gate.open();
        let now_us = clock.elapsed().as_micros() as u64;
        for i in 0..n {
            let (d, from) = rb.get(i);
            let Some(from) = from else { continue };
            m.datagrams.fetch_add(1, Relaxed);
            m.bytes.fetch_add(d.len() as u64, Relaxed);
            // Admit: a sender turned away costs no copy and no decode.
            if gated {
                match gate.check(from, now_us) {
                    Verdict::Admit => {}
                    Verdict::NotAllowed => {
                        m.not_allowed.fetch_add(1, Relaxed);
                        continue;
                    }
                    Verdict::RateLimited => {
                        m.rate_limited.fetch_add(1, Relaxed);
                        continue;
                    }
                }
            }
            match Version::detect(d) {
                Ok(v) if !c.versions.contains(v) => {
                    m.rejected_version.fetch_add(1, Relaxed);
                    if version_log.ready() {
                        tracing::warn!(collector = %c.id, from = %from, "dropping {} datagrams: this collector accepts {} (nf_version)", octoflow_encode::version_label(v), c.versions);
                    }
                    continue;
                }
                _ => {}
            }
            // Decode.
            let device = crate::util::unmap(from.ip());
            let mut shared = pool.take();
            let Some(r) = Arc::get_mut(&mut shared) else {
                // Not reachable: the pool only hands out buffers nobody else holds.
                continue;
            };
            r.from = std::net::SocketAddr::new(device, from.port());
            r.datagram.clear();
            r.datagram.extend_from_slice(d);
            r.received_ms = now_ms();
            if let Err(e) = decoder.decode(device, d, r.received_ms, &mut r.batch) {
                m.decode_error(&e);
                if errors_log.ready() {
                    tracing::warn!(collector = %c.id, from = %from, reason = e.reason(), "malformed datagram skipped: {e}");
                }
                pool.give(shared);
                continue;
            }
            // Enrich, then the verdicts (which read only addresses). Routes
            // are the exporting device's (sFlow: the agent's).
            let agent = crate::util::unmap(r.batch.sflow.map(|h| h.agent).unwrap_or(device));
            match &mut enricher {
                Some(e) => {
                    e.apply(agent, &mut r.batch.records, &mut r.routes, &mut r.nets);
                    r.networks = e.networks().cloned();
                }
                None => {
                    r.routes.clear();
                    r.nets.clear();
                }
            }
            match &route.table {
                Some(t) => verdicts::compute(t, &r.batch, &mut r.verdicts),
                None => r.verdicts.clear(),
            }
            if let Some(nets) = gate.networks(from) {
                let out = verdicts::withhold_outside(nets, &r.batch, &mut r.verdicts);
                m.flows_outside_networks.fetch_add(out, Relaxed);
            }
            let f = r.batch.records.len() as u64;
            flows += f;
            m.flows.fetch_add(f, Relaxed);
            m.template_misses
                .fetch_add(r.batch.template_misses as u64, Relaxed);
            m.templates_learnt
                .fetch_add(r.batch.templates.len() as u64, Relaxed);
            m.sets_skipped
                .fetch_add(r.batch.sets_skipped.len() as u64, Relaxed);
            let agent = r.batch.sflow.map(|h| h.agent).unwrap_or(device);
            m.device(agent, f, r.batch.sequence_gap);
            let agent = crate::util::unmap(agent);
            r.source = source_of.get(&agent).copied();
            // The pool keeps a handle to reuse the buffer once the outputs are done.
            pool.give(shared.clone());
            shipment.push(shared);
        }
        // Fan out.
        if !shipment.is_empty() {
            route.ship(&origin, shipment, flows);
        }
    }
    report_denied(&c.id, &mut gate, &m, &mut denied_log);
    tracing::info!(collector = %c.id, "collector stopped");
    decoder
}

/// Publish what the gate turned away since the last call, and say so in the log
/// at most once a minute.
fn report_denied(id: &str, gate: &mut Gate, m: &CollectorMetrics, log: &mut RateLimit) {
    let d = gate.take_denied();
    if d.is_empty() {
        return;
    }
    m.denied(&d);
    if let Some((from, why)) = gate.last_denied.take() {
        if log.ready() {
            let t = d.total();
            let reason = match why {
                Verdict::NotAllowed => "not in the collector's allow list",
                _ => "over the collector's rate_limit",
            };
            tracing::warn!(
                collector = %id,
                "turning senders away: {from} is {reason}; {} datagrams not allowed and {} over the rate limit from {} senders in the last second (per sender in /metrics and /status)",
                t.not_allowed,
                t.rate_limited,
                d.by_sender.len() + usize::from(d.other != Default::default()),
            );
        }
    }
}
