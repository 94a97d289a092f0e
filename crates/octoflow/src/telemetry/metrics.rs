//! Every counter the daemon keeps, in one place: its Prometheus name, help text and
//! JSON key are defined here next to the field, so `/metrics`, `/status` and the
//! logs cannot drift apart.
//!
//! Counters are relaxed atomics owned by the component that bumps them (a collector
//! or an exporter thread); the HTTP thread only reads them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use octoflow_proto::{DecodeError, TemplateCache};

use super::denied::{Denied, DeniedCount};

/// Per exporting device (router/switch) as a collector sees it.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeviceStats {
    pub datagrams: u64,
    pub flows: u64,
    /// Units (v5 flows, v9 packets, IPFIX records, sFlow datagrams) missing from
    /// the device's sequence numbers: loss upstream of octoflow.
    pub sequence_gaps: u64,
    /// Templates of this device the template cache evicted to stay in its bounds.
    pub templates_evicted: u64,
}

#[derive(Debug, Default)]
pub struct CollectorMetrics {
    pub id: String,
    pub datagrams: AtomicU64,
    pub bytes: AtomicU64,
    pub flows: AtomicU64,
    /// Datagrams of a version this collector does not accept (`nf_version`).
    pub rejected_version: AtomicU64,
    /// Datagrams turned away: sender not in `allow`, or over `rate_limit`
    /// (per sender in `denied`, which the collector updates once a second).
    pub not_allowed: AtomicU64,
    pub rate_limited: AtomicU64,
    /// `allow_from`: flows dropped for having neither address in their
    /// sender's networks; reads of the senders from Redis, and failed reads.
    pub flows_outside_networks: AtomicU64,
    pub allow_from_reads: AtomicU64,
    pub allow_from_errors: AtomicU64,
    pub decode_errors: [AtomicU64; DecodeError::REASONS.len()],
    pub template_misses: AtomicU64,
    /// Malformed v9 flowsets / IPFIX sets skipped in datagrams that otherwise decoded.
    pub sets_skipped: AtomicU64,
    pub templates_learnt: AtomicU64,
    pub receive_errors: AtomicU64,
    /// The template cache's own counters and sizes, copied from the collector's
    /// cache once a second ([`CollectorMetrics::set_cache`]).
    pub cache: CacheMetrics,
    pub devices: Mutex<BTreeMap<IpAddr, DeviceStats>>,
    /// Datagrams turned away by `allow` and `rate_limit`, per sender.
    pub denied: Mutex<Denied>,
}

/// What a collector's template cache did and holds (`octoflow_proto::CacheStats`).
#[derive(Debug, Default)]
pub struct CacheMetrics {
    pub templates_withdrawn: AtomicU64,
    pub templates_expired: AtomicU64,
    pub templates_evicted: AtomicU64,
    pub template_overflow: AtomicU64,
    pub scope_overflow: AtomicU64,
    pub scopes_expired: AtomicU64,
    pub scopes_evicted: AtomicU64,
    pub held: AtomicU64,
    pub held_released: AtomicU64,
    pub held_dropped: AtomicU64,
    pub templates: AtomicU64,
    pub template_bytes: AtomicU64,
    pub scopes: AtomicU64,
}

impl CollectorMetrics {
    pub fn new(id: &str) -> Arc<CollectorMetrics> {
        Arc::new(CollectorMetrics {
            id: id.to_string(),
            ..Default::default()
        })
    }

    pub fn decode_error(&self, e: &DecodeError) {
        let r = e.reason();
        if let Some(i) = DecodeError::REASONS.iter().position(|&x| x == r) {
            self.decode_errors[i].fetch_add(1, Relaxed);
        }
    }

    /// Copy the template cache's counters, sizes and evictions per device.
    pub fn set_cache(&self, cache: &TemplateCache) {
        let st = &cache.stats;
        let m = &self.cache;
        for (a, v) in [
            (&m.templates_withdrawn, st.templates_withdrawn),
            (&m.templates_expired, st.templates_expired),
            (&m.templates_evicted, st.templates_evicted),
            (&m.template_overflow, st.template_overflow),
            (&m.scope_overflow, st.scope_overflow),
            (&m.scopes_expired, st.scopes_expired),
            (&m.scopes_evicted, st.scopes_evicted),
            (&m.held, st.held),
            (&m.held_released, st.released),
            (&m.held_dropped, st.held_dropped),
            (&m.templates, cache.template_count() as u64),
            (&m.template_bytes, cache.template_bytes() as u64),
            (&m.scopes, cache.scope_count() as u64),
        ] {
            a.store(v, Relaxed);
        }
        if let Ok(mut d) = self.devices.lock() {
            for (addr, n) in cache.evictions_by_device() {
                d.entry(addr).or_default().templates_evicted = n;
            }
        }
    }

    /// Add what the collector's gate turned away since its last report.
    pub fn denied(&self, d: &Denied) {
        if let Ok(mut all) = self.denied.lock() {
            all.merge(d);
        }
    }

    pub fn device(&self, addr: IpAddr, flows: u64, gap: u32) {
        if let Ok(mut d) = self.devices.lock() {
            let e = d.entry(addr).or_default();
            e.datagrams += 1;
            e.flows += flows;
            e.sequence_gaps += gap as u64;
        }
    }
}

impl CollectorMetrics {
    /// The denied table as rows, senders in address order, `other` last.
    fn denied_rows(&self) -> Vec<(String, DeniedCount)> {
        let Ok(d) = self.denied.lock() else {
            return Vec::new();
        };
        let mut rows: Vec<(IpAddr, DeniedCount)> =
            d.by_sender.iter().map(|(a, c)| (*a, *c)).collect();
        rows.sort_by_key(|r| r.0);
        let mut rows: Vec<(String, DeniedCount)> =
            rows.into_iter().map(|(a, c)| (a.to_string(), c)).collect();
        if d.other != DeniedCount::default() {
            rows.push(("other".into(), d.other));
        }
        rows
    }
}

#[derive(Debug, Default)]
pub struct OutputMetrics {
    pub id: String,
    /// Flow records that passed the tenant filter.
    pub flows_matched: AtomicU64,
    pub flows_sent: AtomicU64,
    pub datagrams_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub send_errors: AtomicU64,
    /// Input datagrams dropped because this exporter's queue was full.
    pub queue_drops: AtomicU64,
    /// Flow records in those datagrams.
    pub queue_drop_flows: AtomicU64,
    /// Datagrams built but not sent because the TCP receiver was not connected.
    pub disconnected_drops: AtomicU64,
    pub unconvertible: AtomicU64,
    pub too_large: AtomicU64,
    /// Output streams (one per router and domain) dropped after an hour unused.
    pub streams_expired: AtomicU64,
    /// Router templates dropped from the output's state once the collector's
    /// template cache no longer held them.
    pub templates_forgotten: AtomicU64,
    /// 1 while a TCP connection is up (always 1 for UDP).
    pub connected: AtomicU64,
    /// UDP datagrams sent with the router's address and port (`preserve_source`).
    pub datagrams_source_preserved: AtomicU64,
    /// UDP datagrams sent from octoflow's own socket.
    pub datagrams_source_own: AtomicU64,
    /// Router datagrams `preserve_source` sent from octoflow's own address: the
    /// router and the receiver are of different address families.
    pub source_family_mismatch: AtomicU64,
    /// Router datagrams `preserve_source` dropped: over the route's MTU (a raw
    /// socket's datagrams are not fragmented).
    pub source_too_big: AtomicU64,
    /// Which kind-specific counters it shows (a store's, a sink's).
    pub class: Class,
    /// Stream and database outputs' counters.
    pub sink: SinkCounters,
    /// `store` outputs: rows in part files (safe on disk).
    pub store_rows: AtomicU64,
    /// Interval files written, and their bytes.
    pub store_files: AtomicU64,
    pub store_bytes: AtomicU64,
    /// Interval files deleted by retention, and their bytes.
    pub store_files_deleted: AtomicU64,
    pub store_bytes_deleted: AtomicU64,
    /// Failed writes (disk full, permissions), and the rows they lost.
    pub store_write_errors: AtomicU64,
    pub store_rows_lost: AtomicU64,
}

impl OutputMetrics {
    pub fn new(id: &str) -> Arc<OutputMetrics> {
        Arc::new(OutputMetrics {
            id: id.to_string(),
            ..Default::default()
        })
    }
}

/// All components' metrics, for the HTTP endpoints.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    pub collectors: Vec<Arc<CollectorMetrics>>,
    pub outputs: Vec<Arc<OutputMetrics>>,
}

use tables::{CounterFn, COLLECTOR_COUNTERS, COLLECTOR_GAUGES, EXPORTER_COUNTERS};

use kinds::{class_counters, output_counters};
pub use kinds::{Class, SinkCounters};

impl Registry {
    /// Prometheus text exposition format 0.0.4.
    pub fn prometheus(&self) -> String {
        let mut s = String::new();
        for (name, help, f) in COLLECTOR_COUNTERS {
            let _ = writeln!(s, "# HELP octoflow_collector_{name}_total {help}");
            let _ = writeln!(s, "# TYPE octoflow_collector_{name}_total counter");
            for c in &self.collectors {
                let _ = writeln!(
                    s,
                    "octoflow_collector_{name}_total{{collector=\"{}\"}} {}",
                    c.id,
                    f(c)
                );
            }
        }
        for (name, help, f) in COLLECTOR_GAUGES {
            let _ = writeln!(s, "# HELP octoflow_collector_{name} {help}");
            let _ = writeln!(s, "# TYPE octoflow_collector_{name} gauge");
            for c in &self.collectors {
                let _ = writeln!(
                    s,
                    "octoflow_collector_{name}{{collector=\"{}\"}} {}",
                    c.id,
                    f(c)
                );
            }
        }
        let _ = writeln!(s, "# HELP octoflow_collector_decode_errors_total Datagrams refused as malformed, by reason");
        let _ = writeln!(s, "# TYPE octoflow_collector_decode_errors_total counter");
        for c in &self.collectors {
            for (i, r) in DecodeError::REASONS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "octoflow_collector_decode_errors_total{{collector=\"{}\",reason=\"{r}\"}} {}",
                    c.id,
                    c.decode_errors[i].load(Relaxed)
                );
            }
        }
        type DevFn = fn(&DeviceStats) -> u64;
        let dev: [(&str, &str, DevFn); 4] = [
            ("device_datagrams", "Datagrams per exporting device", |d| {
                d.datagrams
            }),
            ("device_flows", "Flow records per exporting device", |d| {
                d.flows
            }),
            (
                "device_sequence_gaps",
                "Units missing from each device's sequence numbers (loss upstream)",
                |d| d.sequence_gaps,
            ),
            (
                "device_templates_evicted",
                "Templates of each device evicted by the template cache",
                |d| d.templates_evicted,
            ),
        ];
        for (name, help, f) in dev {
            let _ = writeln!(s, "# HELP octoflow_collector_{name}_total {help}");
            let _ = writeln!(s, "# TYPE octoflow_collector_{name}_total counter");
            for c in &self.collectors {
                if let Ok(d) = c.devices.lock() {
                    for (a, st) in d.iter() {
                        let _ = writeln!(
                            s,
                            "octoflow_collector_{name}_total{{collector=\"{}\",device=\"{a}\"}} {}",
                            c.id,
                            f(st)
                        );
                    }
                }
            }
        }
        let _ = writeln!(s, "# HELP octoflow_collector_denied_datagrams_total Datagrams turned away before decoding, by sender and reason (allow: not in the allow list; rate_limit: over the sender's rate; sender \"other\" past 1024 senders)");
        let _ = writeln!(
            s,
            "# TYPE octoflow_collector_denied_datagrams_total counter"
        );
        for c in &self.collectors {
            for (sender, n) in c.denied_rows() {
                for (reason, v) in [("allow", n.not_allowed), ("rate_limit", n.rate_limited)] {
                    let _ = writeln!(
                        s,
                        "octoflow_collector_denied_datagrams_total{{collector=\"{}\",sender=\"{sender}\",reason=\"{reason}\"}} {v}",
                        c.id
                    );
                }
            }
        }
        let own = [Class::STORE, Class::SINK]
            .into_iter()
            .flat_map(|c| class_counters(c).iter().map(move |k| (Some(c), k)));
        for (class, (name, help, f)) in EXPORTER_COUNTERS.iter().map(|k| (None, k)).chain(own) {
            let _ = writeln!(s, "# HELP octoflow_exporter_{name}_total {help}");
            let _ = writeln!(s, "# TYPE octoflow_exporter_{name}_total counter");
            for e in self
                .outputs
                .iter()
                .filter(|e| class.is_none_or(|c| e.class.get() == c))
            {
                let _ = writeln!(
                    s,
                    "octoflow_exporter_{name}_total{{exporter=\"{}\"}} {}",
                    e.id,
                    f(e)
                );
            }
        }
        let _ = writeln!(s, "# HELP octoflow_exporter_sink_buffer_bytes Streams and databases: bytes of rows waiting for the server");
        let _ = writeln!(s, "# TYPE octoflow_exporter_sink_buffer_bytes gauge");
        for e in self.outputs.iter().filter(|e| e.class.get() == Class::SINK) {
            let _ = writeln!(
                s,
                "octoflow_exporter_sink_buffer_bytes{{exporter=\"{}\"}} {}",
                e.id,
                e.sink.buffer_bytes.load(Relaxed)
            );
        }
        let _ = writeln!(s, "# HELP octoflow_exporter_connected 1 while the receiver's TCP connection (or a stream's or database's) is up (UDP: always 1)");
        let _ = writeln!(s, "# TYPE octoflow_exporter_connected gauge");
        for e in &self.outputs {
            let _ = writeln!(
                s,
                "octoflow_exporter_connected{{exporter=\"{}\"}} {}",
                e.id,
                e.connected.load(Relaxed)
            );
        }
        s
    }

    /// The same numbers as one JSON document (ids are validated to plain
    /// characters, so no escaping is needed beyond quoting).
    pub fn status_json(&self) -> String {
        let mut s = String::from("{\"collectors\":{");
        for (i, c) in self.collectors.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "\"{}\":{{", c.id);
            for (name, _, f) in COLLECTOR_COUNTERS.iter().chain(COLLECTOR_GAUGES) {
                let _ = write!(s, "\"{name}\":{},", f(c));
            }
            s.push_str("\"decode_errors\":{");
            let mut first = true;
            for (j, r) in DecodeError::REASONS.iter().enumerate() {
                let n = c.decode_errors[j].load(Relaxed);
                if n > 0 {
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    let _ = write!(s, "\"{r}\":{n}");
                }
            }
            s.push_str("},\"devices\":{");
            if let Ok(d) = c.devices.lock() {
                for (k, (a, st)) in d.iter().enumerate() {
                    if k > 0 {
                        s.push(',');
                    }
                    let _ = write!(
                        s,
                        "\"{a}\":{{\"datagrams\":{},\"flows\":{},\"sequence_gaps\":{},\"templates_evicted\":{}}}",
                        st.datagrams, st.flows, st.sequence_gaps, st.templates_evicted
                    );
                }
            }
            s.push_str("},\"denied\":{");
            for (k, (sender, n)) in c.denied_rows().into_iter().enumerate() {
                if k > 0 {
                    s.push(',');
                }
                let _ = write!(
                    s,
                    "\"{sender}\":{{\"not_allowed\":{},\"rate_limited\":{}}}",
                    n.not_allowed, n.rate_limited
                );
            }
            s.push_str("}}");
        }
        s.push_str("},\"exporters\":{");
        for (i, e) in self.outputs.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "\"{}\":{{", e.id);
            for (name, _, f) in output_counters(e) {
                let _ = write!(s, "\"{name}\":{},", f(e));
            }
            if e.class.get() == Class::SINK {
                let _ = write!(
                    s,
                    "\"sink_buffer_bytes\":{},",
                    e.sink.buffer_bytes.load(Relaxed)
                );
            }
            let _ = write!(s, "\"connected\":{}}}", e.connected.load(Relaxed) == 1);
        }
        s.push_str("}}");
        s
    }
}

mod kinds;
mod tables;
#[cfg(test)]
mod tests;
