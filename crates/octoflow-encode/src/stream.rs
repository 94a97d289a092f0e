//! Output streams: one per (exporting device, version, source id / observation
//! domain) per receiver, each with its own sequence numbers and template schedule.
//!
//! A stream's output domain is its input's unless two devices use the same one,
//! or the output version cannot state it (v5 has 16 bits: engine type and engine
//! id); then the stream gets a free number the version can state, so the receiver
//! never mixes two routers' templates or flows.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use octoflow_proto::{Batch, FlowRecord, ScopeKey, Template, Version};

use crate::same_version::Open;
use crate::sequence::Sequence;

#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) key: ScopeKey,
    pub(crate) out_domain: u32,
    /// The output domain is the input's: whole datagrams may pass unchanged.
    pub(crate) identity: bool,
    /// Its datagrams reach the receiver from the router's own address
    /// (`preserve_source`): its domain is its own, not taken from the others.
    pub(crate) own_scope: bool,
    pub(crate) sequence: Sequence,
    /// When templates were last sent (`None`: never, or the receiver forgot them).
    pub(crate) templates_ms: Option<u64>,
    /// Datagrams sent since the templates were.
    pub(crate) since_templates: u32,
    /// Foreign templates this receiver has (same-version paths).
    pub(crate) sent: HashMap<u16, Arc<Template>>,
    /// Ids of templates this receiver was given and [`Streams::forget_unshared`]
    /// dropped from `sent`, with whether each was an options template: over a
    /// session with withdrawals, a later definition of the id is withdrawn first.
    pub(crate) forgotten: HashMap<u16, bool>,
    /// The sampling interval last announced in options data (conversions).
    pub(crate) sampling: u32,
    /// Re-encoded records waiting to fill a datagram (conversions), sent when a
    /// datagram's worth is there or at [`crate::Encoder::flush`].
    pub(crate) pending: Vec<FlowRecord>,
    /// Same-version items waiting to fill a message with the same header.
    pub(crate) open: Open,
    /// When input last came for this stream (for [`Streams::expire`]).
    pub(crate) used_ms: u64,
    /// The address and port the stream's latest input datagram came from: the
    /// origin of its same-version datagrams ([`crate::Origin::Router`]).
    pub(crate) source: SocketAddr,
}

impl Stream {
    /// Whether templates are due: never sent, or the refresh time or datagram
    /// count has passed.
    pub(crate) fn templates_due(&self, now_ms: u64, refresh_ms: u64, refresh_packets: u32) -> bool {
        match self.templates_ms {
            None => true,
            Some(t) => {
                now_ms.saturating_sub(t) >= refresh_ms || self.since_templates >= refresh_packets
            }
        }
    }

    /// Templates went out now.
    pub(crate) fn templates_sent(&mut self, now_ms: u64) {
        self.templates_ms = Some(now_ms);
        self.since_templates = 0;
    }

    /// `n` more datagrams went out.
    pub(crate) fn datagrams_sent(&mut self, n: u32) {
        self.since_templates = self.since_templates.saturating_add(n);
    }
}

/// Every output stream of one receiver.
#[derive(Debug)]
pub(crate) struct Streams {
    /// Found through `index`; `last` skips the hash lookup while datagrams keep
    /// coming from one router (the usual case).
    pub(crate) all: Vec<Stream>,
    index: HashMap<ScopeKey, usize>,
    last: Option<(ScopeKey, usize)>,
    used_domains: HashSet<u32>,
    /// The largest output domain the output version can state.
    max_domain: u32,
}

impl Streams {
    /// No streams yet, for a receiver of version `out`.
    pub(crate) fn new(out: Version) -> Streams {
        Streams {
            all: Vec::new(),
            index: HashMap::new(),
            last: None,
            used_domains: HashSet::new(),
            // v5: engine type (8 bits) and engine id (8 bits).
            max_domain: if out == Version::V5 { 0xffff } else { u32::MAX },
        }
    }

    /// The stream a decoded datagram belongs to: its device (an sFlow agent, else
    /// the sending address), version and domain.
    pub(crate) fn key(batch: &Batch) -> ScopeKey {
        match (batch.version, &batch.sflow) {
            (Version::Sflow, Some(h)) => ScopeKey {
                exporter: h.agent,
                version: 0x105,
                domain: h.sub_agent,
            },
            (v, _) => ScopeKey {
                exporter: batch.exporter,
                version: match v {
                    Version::V5 => 5,
                    Version::V9 => 9,
                    Version::Ipfix => 10,
                    Version::Sflow => 0x105,
                },
                domain: batch.domain,
            },
        }
    }

    /// Drop the streams unused for `idle_ms` (their held items must have been
    /// sent): a router that went away, or changed its domain, no longer costs
    /// memory, and its output domain is free again. Returns how many went.
    pub(crate) fn expire(&mut self, now_ms: u64, idle_ms: u64) -> u64 {
        let before = self.all.len();
        self.all
            .retain(|s| now_ms.saturating_sub(s.used_ms) < idle_ms);
        let gone = before - self.all.len();
        if gone > 0 {
            self.index = self
                .all
                .iter()
                .enumerate()
                .map(|(i, s)| (s.key, i))
                .collect();
            self.used_domains = self
                .all
                .iter()
                .filter(|s| !s.own_scope)
                .map(|s| s.out_domain)
                .collect();
            self.last = None;
        }
        gone as u64
    }

    /// Drop from every stream the templates nothing else holds any more: the
    /// template cache evicted, expired or replaced them. So a router's template
    /// flood cannot grow an output's memory past the cache's byte budget; a
    /// template the router uses again is given to the receiver again. With
    /// `remember` (a session with withdrawals) the ids are kept, 3 bytes each, so
    /// a new definition is still withdrawn first. Returns how many went.
    pub(crate) fn forget_unshared(&mut self, remember: bool) -> u64 {
        let mut gone = 0u64;
        for s in &mut self.all {
            let before = s.sent.len();
            s.sent.retain(|&id, t| {
                let keep = Arc::strong_count(t) > 1;
                if !keep && remember {
                    s.forgotten.insert(id, t.is_options());
                }
                keep
            });
            let n = before - s.sent.len();
            if n > 0 {
                gone += n as u64;
                if s.sent.capacity() > 4 * s.sent.len().max(8) {
                    s.sent.shrink_to_fit();
                }
            }
        }
        gone
    }

    /// The index of `key`'s stream, made on first use. With `own_scope` (its
    /// datagrams go out from the router's own address) a new stream keeps its
    /// domain whatever the others use, and takes none from them.
    pub(crate) fn find(&mut self, key: ScopeKey, own_scope: bool) -> usize {
        if let Some((k, i)) = self.last {
            if k == key {
                return i;
            }
        }
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let (used, max) = (&mut self.used_domains, self.max_domain);
                let fits = key.domain <= max;
                // An own-scope stream neither needs a free domain nor takes one.
                let out_domain = if fits && (own_scope || used.insert(key.domain)) {
                    key.domain
                } else {
                    // When all 65535 v5 engines are taken, the streams share 0.
                    let d = (1..=max).find(|d| !used.contains(d)).unwrap_or(0);
                    used.insert(d);
                    d
                };
                self.all.push(Stream {
                    key,
                    out_domain,
                    identity: out_domain == key.domain,
                    own_scope: own_scope && out_domain == key.domain,
                    sequence: Sequence::default(),
                    templates_ms: None,
                    since_templates: 0,
                    sent: HashMap::new(),
                    forgotten: HashMap::new(),
                    sampling: 0,
                    pending: Vec::new(),
                    open: Open::default(),
                    used_ms: 0,
                    source: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                });
                self.index.insert(key, self.all.len() - 1);
                self.all.len() - 1
            }
        };
        self.last = Some((key, i));
        i
    }
}
