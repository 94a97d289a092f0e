//! What one exporter makes of each received datagram: the tenant's flows, in the
//! receiver's version, with the receiver's own sequence numbers and templates.
//!
//! This is sans-IO like the codec: [`Encoder::encode`] takes a decoded datagram and
//! the time, and appends ready-to-send datagrams to an [`Out`]. The exporter thread
//! only moves bytes. One input datagram gives zero or more output datagrams; nothing
//! waits for a later input (no flush timer, no added latency).
//!
//! Paths (DESIGN.md "Protocol fidelity rules"):
//! - same version, no filter, options/counters forwarded: the datagram unchanged;
//! - v9→v9, IPFIX→IPFIX: the exporter's templates and the matching records byte for
//!   byte, in new messages that keep the original export time and sysUptime (record
//!   times stay right) under the receiver's own sequence numbers;
//! - v5→v5: matching 48-byte records copied under the original header times;
//! - sFlow→sFlow: matching flow samples copied whole, agent and sub-agent kept;
//! - anything else: canonical records re-encoded with octoflow's templates
//!   (v9/IPFIX) or as v5 (IPv6 flows counted as unconvertible).
//!
//! Each (exporting device, version, source id / observation domain) is one output
//! *stream* with its own sequence number and template schedule. Its domain is kept
//! unless two devices use the same one, in which case the later gets a free number,
//! so the receiver never mixes two routers' templates.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use octoflow_proto::message::{sampling_record, OWN_SAMPLING_TEMPLATE_ID};
use octoflow_proto::netflow_v5::{V5Header, V5Writer};
use octoflow_proto::sflow::{DatagramWriter, SflowHeader};
use octoflow_proto::{
    own_sampling_template, own_template, Batch, Dialect, EncodeError, FlowRecord, MessageHeader,
    MessageWriter, ScopeKey, Template, Version,
};

use crate::filter::Filter;

/// What an exporter's encoder needs from its configuration.
#[derive(Debug, Clone)]
pub struct EncoderConfig {
    pub version: Version,
    pub filter: Arc<Filter>,
    /// Largest datagram (message) to build.
    pub max_datagram: usize,
    pub refresh_ms: u64,
    pub refresh_packets: u32,
    /// Multiply counters by the sampling interval and announce 1-in-1.
    pub sampling_scaling: bool,
    pub forward_counters: bool,
    pub forward_options: bool,
}

/// Datagrams ready to send, back to back in one buffer.
#[derive(Debug, Default)]
pub struct Out {
    pub buf: Vec<u8>,
    pub datagrams: Vec<(usize, usize)>,
}

impl Out {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.datagrams.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.datagrams.iter().map(|&(s, n)| &self.buf[s..s + n])
    }

    fn begin(&mut self, max: usize) -> usize {
        let start = self.buf.len();
        self.buf.resize(start + max, 0);
        start
    }

    fn commit(&mut self, start: usize, len: usize) {
        self.buf.truncate(start + len);
        self.datagrams.push((start, len));
    }

    fn abort(&mut self, start: usize) {
        self.buf.truncate(start);
    }
}

/// How an encoder tells the tenant's records: its own filter, or the verdicts a
/// collector computed for all tenants (then a record that is not the tenant's is
/// never read).
#[derive(Clone, Copy)]
enum Select<'a> {
    Filter(&'a Filter),
    Verdicts(&'a [u64], u64),
}

impl Select<'_> {
    /// Whether record `i` (that is, `r`) is the tenant's.
    #[inline]
    fn keep(self, i: usize, r: &FlowRecord) -> bool {
        match self {
            Select::Filter(f) => f.flow(r),
            Select::Verdicts(v, bit) => v[i] & bit != 0,
        }
    }
}

/// Counts from [`Encoder::encode`] and [`Encoder::flush`] calls (added to the
/// exporter's metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EncodeStats {
    /// Flow records that passed the tenant filter.
    pub matched: u64,
    /// Flow records written into output datagrams.
    pub sent: u64,
    /// Matching flows that the output version cannot express (IPv6 → v5).
    pub unconvertible: u64,
    /// Items larger than an empty datagram (cannot be sent at this MTU).
    pub too_large: u64,
}

impl EncodeStats {
    pub fn add(&mut self, o: EncodeStats) {
        self.matched += o.matched;
        self.sent += o.sent;
        self.unconvertible += o.unconvertible;
        self.too_large += o.too_large;
    }
}

#[derive(Debug)]
struct Stream {
    key: ScopeKey,
    out_domain: u32,
    /// The output domain is the input's: whole datagrams may pass unchanged.
    identity: bool,
    sequence: u32,
    templates_ms: Option<u64>,
    since_templates: u32,
    /// Foreign templates this receiver has (same-version paths).
    sent: HashMap<u16, Arc<Template>>,
    /// The sampling interval last announced in options data (conversions).
    sampling: u32,
    /// Re-encoded records waiting to fill a datagram (conversions), sent when a
    /// datagram's worth is there or at [`Encoder::flush`].
    pending: Vec<FlowRecord>,
    /// Same-version items waiting to fill a message with the same header.
    open: Open,
}

/// How many messages' worth of same-version records a stream holds before it packs
/// and sends them (or sooner: another header, or the exporter's flush timer).
const HOLD_MESSAGES: usize = 8;

/// Same-version (v9→v9, IPFIX→IPFIX) items held to share output messages. Only
/// input datagrams whose header times are identical share one, so every record
/// keeps exactly the time base it was exported with.
#[derive(Debug, Default)]
struct Open {
    /// (export second, sysUptime ms) of the router headers the items came under.
    header: Option<(u64, u32)>,
    export_ms: u64,
    items: Vec<OwnedItem>,
    bytes: Vec<u8>,
    flows: u64,
    options: u64,
    size: usize,
}

#[derive(Debug)]
enum OwnedItem {
    Template(Arc<Template>),
    Raw(u16, usize, usize),
}

impl Open {
    fn template(&mut self, t: &Arc<Template>) {
        self.size += t.wire_len() + 4;
        self.items.push(OwnedItem::Template(t.clone()));
    }
    fn raw(&mut self, id: u16, b: &[u8]) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(b);
        self.size += b.len();
        // A new set: its header and, at worst, 3 bytes of padding.
        if !matches!(self.items.last(), Some(OwnedItem::Raw(last, _, _)) if *last == id) {
            self.size += 7;
        }
        self.items.push(OwnedItem::Raw(id, at, b.len()));
    }
    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Empty, keeping the buffers' capacity.
    fn reset(&mut self) {
        self.header = None;
        self.export_ms = 0;
        self.items.clear();
        self.bytes.clear();
        self.flows = 0;
        self.options = 0;
        self.size = 0;
    }
}

/// The per-exporter encoding state.
pub struct Encoder {
    cfg: EncoderConfig,
    /// Output streams, found through `index`; `last` skips the hash lookup while
    /// datagrams keep coming from one router (the usual case).
    streams: Vec<Stream>,
    index: HashMap<ScopeKey, usize>,
    last: Option<(ScopeKey, usize)>,
    used_domains: HashSet<u32>,
    started_ms: u64,
    own: Option<[Arc<Template>; 3]>,
    /// One input datagram's same-version part, collected before it joins the held
    /// message (kept to reuse its buffers).
    scratch: Open,
}

enum Item<'b> {
    Template(&'b Template),
    Raw(u16, &'b [u8]),
    Own(&'b Template, &'b FlowRecord),
    /// octoflow's sampling options data record.
    Sampling([u8; 9]),
}

enum V5Item<'b> {
    Raw(&'b [u8], u32),
    Rec(&'b FlowRecord),
}

impl Encoder {
    pub fn new(cfg: EncoderConfig, now_ms: u64) -> Encoder {
        let own = match cfg.version {
            Version::V9 => Some(Dialect::V9),
            Version::Ipfix => Some(Dialect::Ipfix),
            _ => None,
        }
        .map(|d| {
            [
                Arc::new(own_template(d, false)),
                Arc::new(own_template(d, true)),
                Arc::new(own_sampling_template(d)),
            ]
        });
        Encoder {
            cfg,
            streams: Vec::new(),
            index: HashMap::new(),
            last: None,
            used_domains: HashSet::new(),
            started_ms: now_ms,
            own,
            scratch: Open::default(),
        }
    }

    /// Forget every receiver-side state (a new TCP connection starts a new session:
    /// templates must be sent again).
    pub fn reset_templates(&mut self) {
        for s in self.streams.iter_mut() {
            s.templates_ms = None;
            s.sent.clear();
            s.sampling = 0;
        }
    }

    fn stream_key(batch: &Batch) -> ScopeKey {
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

    /// The index of `key`'s stream, made on first use.
    fn stream(&mut self, key: ScopeKey) -> usize {
        if let Some((k, i)) = self.last {
            if k == key {
                return i;
            }
        }
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let used = &mut self.used_domains;
                let out_domain = if used.insert(key.domain) {
                    key.domain
                } else {
                    let d = (1..).find(|d| !used.contains(d)).unwrap_or(0);
                    used.insert(d);
                    d
                };
                self.streams.push(Stream {
                    key,
                    out_domain,
                    identity: out_domain == key.domain,
                    sequence: 0,
                    templates_ms: None,
                    since_templates: 0,
                    sent: HashMap::new(),
                    sampling: 0,
                    pending: Vec::new(),
                    open: Open::default(),
                });
                self.index.insert(key, self.streams.len() - 1);
                self.streams.len() - 1
            }
        };
        self.last = Some((key, i));
        i
    }

    /// Encode the tenant's part of one decoded datagram into `out`.
    pub fn encode(
        &mut self,
        datagram: &[u8],
        batch: &Batch,
        now_ms: u64,
        out: &mut Out,
    ) -> EncodeStats {
        self.encode_selected(datagram, batch, None, now_ms, out)
    }

    /// [`Encoder::encode`] with the tenant's verdicts already computed: `mine` is
    /// one word per record of `batch` ([`crate::filter::Verdicts`]) and this
    /// tenant's bit in it; it must say what this encoder's own filter says.
    pub fn encode_selected(
        &mut self,
        datagram: &[u8],
        batch: &Batch,
        mine: Option<(&[u64], u64)>,
        now_ms: u64,
        out: &mut Out,
    ) -> EncodeStats {
        let mut st = EncodeStats::default();
        let vin = batch.version;
        let vout = self.cfg.version;
        let unfiltered = self.cfg.filter.is_empty();
        let key = Encoder::stream_key(batch);
        let whole_ok = vin == vout
            && unfiltered
            && self.cfg.forward_options
            && (vin != Version::Sflow || self.cfg.forward_counters)
            && datagram.len() <= self.cfg.max_datagram.max(65507);
        let si = self.stream(key);
        if whole_ok && self.streams[si].identity {
            let n = batch.records.len() as u64;
            st.matched = n;
            st.sent = n;
            let s = out.begin(datagram.len());
            out.buf[s..].copy_from_slice(datagram);
            out.commit(s, datagram.len());
            return st;
        }
        let filter = self.cfg.filter.clone();
        let filter = match mine {
            Some((v, bit)) if v.len() == batch.records.len() => Select::Verdicts(v, bit),
            _ => Select::Filter(&filter),
        };
        match (vin, vout) {
            (Version::V9, Version::V9) | (Version::Ipfix, Version::Ipfix) => {
                self.same_version(datagram, batch, si, filter, now_ms, out, &mut st)
            }
            (_, Version::V9) | (_, Version::Ipfix) => {
                self.convert(batch, si, filter, now_ms, out, &mut st)
            }
            (Version::V5, Version::V5) if !self.cfg.sampling_scaling => {
                self.v5_raw(datagram, batch, si, filter, out, &mut st)
            }
            (_, Version::V5) => self.convert(batch, si, filter, now_ms, out, &mut st),
            (Version::Sflow, Version::Sflow) => {
                self.sflow(datagram, batch, si, filter, out, &mut st)
            }
            // Refused by the configuration (sFlow is only made from sFlow).
            (_, Version::Sflow) => {}
        }
        st
    }

    fn templates_due(&self, s: &Stream, now_ms: u64) -> bool {
        match s.templates_ms {
            None => true,
            Some(t) => {
                now_ms.saturating_sub(t) >= self.cfg.refresh_ms
                    || s.since_templates >= self.cfg.refresh_packets
            }
        }
    }

    /// v9→v9, IPFIX→IPFIX: the router's templates and the tenant's records byte for
    /// byte, held until the message is full, a datagram with another header comes,
    /// or [`Encoder::flush`].
    #[allow(clippy::too_many_arguments)]
    fn same_version(
        &mut self,
        datagram: &[u8],
        batch: &Batch,
        si: usize,
        filter: Select<'_>,
        now_ms: u64,
        out: &mut Out,
        st: &mut EncodeStats,
    ) {
        let fwd_opts = self.cfg.forward_options;
        let max = self.cfg.max_datagram;
        let due = {
            let s = &self.streams[si];
            self.templates_due(s, now_ms)
        };
        let hdr = (
            batch.export_ms / 1000,
            if batch.version == Version::V9 {
                batch.uptime_ms
            } else {
                0
            },
        );
        if self.streams[si].open.header.is_some_and(|h| h != hdr) {
            self.emit_open(si, out, st);
        }
        let s = &mut self.streams[si];
        for id in &batch.withdrawn {
            s.sent.remove(id);
        }
        // This datagram's part, collected first so it can go into the held message
        // or, when it would overflow it, start the next one.
        let mut new = std::mem::take(&mut self.scratch);
        new.reset();
        if due {
            // The schedule's refresh: everything this receiver has been given.
            for t in s.sent.values() {
                if fwd_opts || !t.is_options() {
                    new.template(t);
                }
            }
            s.templates_ms = Some(now_ms);
            s.since_templates = 0;
        }
        // Templates the router sent now (its own refresh, or a change).
        for t in &batch.templates {
            if !fwd_opts && t.is_options() {
                continue;
            }
            let known = s.sent.get(&t.id).is_some_and(|x| same(x, t));
            if !known || !due {
                new.template(t);
            }
            s.sent.insert(t.id, t.clone());
        }
        if fwd_opts {
            for opt in &batch.options {
                if s.sent
                    .get(&opt.template.id)
                    .is_none_or(|x| !same(x, &opt.template))
                {
                    s.sent.insert(opt.template.id, opt.template.clone());
                    new.template(&opt.template);
                }
                new.raw(opt.template.id, batch.bytes(datagram, opt.raw));
                new.options += 1;
            }
        }
        for set in batch.sets.iter().filter(|x| !x.options) {
            let mut announced = false;
            for i in set.first..set.first + set.count {
                if !filter.keep(i, &batch.records[i]) {
                    continue;
                }
                if !announced {
                    if s.sent
                        .get(&set.template.id)
                        .is_none_or(|x| !same(x, &set.template))
                    {
                        s.sent.insert(set.template.id, set.template.clone());
                        new.template(&set.template);
                    }
                    announced = true;
                }
                new.raw(set.template.id, batch.bytes(datagram, batch.raw[i]));
                new.flows += 1;
                st.matched += 1;
            }
        }
        if new.is_empty() {
            self.scratch = new;
            return;
        }
        let o = &mut s.open;
        if o.header.is_none() {
            o.header = Some(hdr);
            o.export_ms = batch.export_ms;
        }
        let base = o.bytes.len();
        o.bytes.extend_from_slice(&new.bytes);
        for item in new.items.drain(..) {
            o.items.push(match item {
                OwnedItem::Raw(id, at, len) => OwnedItem::Raw(id, base + at, len),
                t => t,
            });
        }
        o.size += new.size;
        o.flows += new.flows;
        o.options += new.options;
        // Up to HOLD_MESSAGES messages' worth is held, then packed into full
        // messages (header and set overhead: 20 bytes of header, a few set
        // headers). All but the last come out the same size when the records are,
        // so they leave in one GSO send.
        let full = o.size + (24 + 64) * HOLD_MESSAGES >= max * HOLD_MESSAGES;
        self.scratch = new;
        if full {
            self.emit_open(si, out, st);
        }
    }

    /// Send a stream's held same-version items.
    fn emit_open(&mut self, si: usize, out: &mut Out, st: &mut EncodeStats) {
        let max = self.cfg.max_datagram;
        let Some(s) = self.streams.get_mut(si) else {
            return;
        };
        let o = std::mem::take(&mut s.open);
        let Some((_, uptime)) = o.header else {
            return;
        };
        let items: Vec<Item<'_>> = o
            .items
            .iter()
            .map(|i| match i {
                OwnedItem::Template(t) => Item::Template(t),
                OwnedItem::Raw(id, at, len) => Item::Raw(*id, &o.bytes[*at..at + len]),
            })
            .collect();
        let dialect = if s.key.version == 9 {
            Dialect::V9
        } else {
            Dialect::Ipfix
        };
        let h = MessageHeader {
            unix_ms: o.export_ms,
            sys_uptime_ms: uptime,
            sequence: s.sequence,
            domain: s.out_domain,
        };
        let (seq, n, written) = pack(out, max, dialect, h, &items, st);
        // Options data records count in IPFIX sequence numbers but are not flows.
        st.sent += written.saturating_sub(o.options);
        s.sequence = seq;
        s.since_templates = s.since_templates.saturating_add(n);
        // Keep the buffers' capacity for the next message.
        let (mut items_buf, mut bytes_buf) = (o.items, o.bytes);
        items_buf.clear();
        bytes_buf.clear();
        s.open.items = items_buf;
        s.open.bytes = bytes_buf;
    }

    /// Records per datagram worth building at once for re-encoded output.
    fn fill(&self) -> usize {
        match self.cfg.version {
            Version::V5 => octoflow_proto::netflow_v5::MAX_RECORDS,
            _ => {
                let per = self.own.as_ref().and_then(|o| o[0].fixed_len).unwrap_or(64);
                ((self.cfg.max_datagram.saturating_sub(40)) / per).max(1)
            }
        }
    }

    /// Queue the tenant's records of `batch` for re-encoding; encode full datagrams.
    fn convert(
        &mut self,
        batch: &Batch,
        si: usize,
        filter: Select<'_>,
        now_ms: u64,
        out: &mut Out,
        st: &mut EncodeStats,
    ) {
        let scaling = self.cfg.sampling_scaling;
        let v5 = self.cfg.version == Version::V5;
        let fill = self.fill();
        let s = &mut self.streams[si];
        for (i, r) in batch.records.iter().enumerate() {
            if !filter.keep(i, r) {
                continue;
            }
            st.matched += 1;
            if v5 && !r.is_ipv4() {
                st.unconvertible += 1;
                continue;
            }
            let mut r = *r;
            if scaling && r.sampling_interval > 1 {
                r.packets = r.scaled_packets();
                r.bytes = r.scaled_bytes();
                r.sampling_interval = 1;
            }
            s.pending.push(r);
        }
        if s.pending.len() >= fill {
            // Full datagrams now; the remainder waits for more.
            let full = s.pending.len() / fill * fill;
            self.emit(si, full, now_ms, out, st);
        }
    }

    /// Encode every record still waiting, in every stream.
    pub fn flush(&mut self, now_ms: u64, out: &mut Out) -> EncodeStats {
        let mut st = EncodeStats::default();
        for si in 0..self.streams.len() {
            if !self.streams[si].open.is_empty() {
                self.emit_open(si, out, &mut st);
            }
            let n = self.streams[si].pending.len();
            if n > 0 {
                self.emit(si, n, now_ms, out, &mut st);
            }
        }
        st
    }

    /// True when records wait for [`Encoder::flush`].
    pub fn has_pending(&self) -> bool {
        self.streams
            .iter()
            .any(|s| !s.pending.is_empty() || !s.open.is_empty())
    }

    /// Encode the first `n` waiting records of a stream.
    fn emit(&mut self, si: usize, n: usize, now_ms: u64, out: &mut Out, st: &mut EncodeStats) {
        let mut pending = match self.streams.get_mut(si) {
            Some(s) => std::mem::take(&mut s.pending),
            None => return,
        };
        let n = n.min(pending.len());
        if self.cfg.version == Version::V5 {
            let items: Vec<V5Item<'_>> = pending[..n].iter().map(V5Item::Rec).collect();
            let uptime = now_ms.wrapping_sub(self.started_ms) as u32;
            let (max, s) = (self.cfg.max_datagram, &mut self.streams[si]);
            emit_v5(out, max, s, &items, now_ms, uptime, st);
        } else {
            self.emit_own(si, &pending[..n], now_ms, out, st);
        }
        if let Some(s) = self.streams.get_mut(si) {
            // Give the buffer back (keeps its capacity) with what still waits.
            pending.drain(..n);
            s.pending = pending;
        }
    }

    /// Encode `records` with octoflow's templates (conversion to v9/IPFIX).
    fn emit_own(
        &mut self,
        si: usize,
        records: &[FlowRecord],
        now_ms: u64,
        out: &mut Out,
        st: &mut EncodeStats,
    ) {
        let Some(own) = self.own.clone() else { return };
        let due = {
            let s = &self.streams[si];
            self.templates_due(s, now_ms)
        };
        let s = &mut self.streams[si];
        let mut items: Vec<Item<'_>> = Vec::with_capacity(records.len() + 4);
        if due {
            items.push(Item::Template(&own[0]));
            items.push(Item::Template(&own[1]));
            items.push(Item::Template(&own[2]));
        }
        let mut announce = None;
        for r in records {
            let iv = r.sampling_interval;
            if iv > 1 && (iv != s.sampling || due) && announce.is_none() {
                announce = Some(iv);
            }
            let t = if r.is_ipv4() { &own[0] } else { &own[1] };
            items.push(Item::Own(t, r));
        }
        if let Some(iv) = announce {
            // Sampling options data right after the templates (RFC 7011 §3.4.2.2 /
            // RFC 3954 §6.2), so collectors that read sampling only from there see it.
            let at = if due { 3 } else { 0 };
            items.insert(at, Item::Sampling(sampling_record(iv, false)));
            s.sampling = iv;
        }
        let dialect = if self.cfg.version == Version::V9 {
            Dialect::V9
        } else {
            Dialect::Ipfix
        };
        let h = MessageHeader {
            unix_ms: now_ms,
            sys_uptime_ms: now_ms.wrapping_sub(self.started_ms) as u32,
            sequence: s.sequence,
            domain: s.out_domain,
        };
        let (seq, n, written) = pack(out, self.cfg.max_datagram, dialect, h, &items, st);
        // The sampling record is an options data record, not a flow.
        st.sent += written.saturating_sub(announce.map_or(0, |_| 1));
        s.sequence = seq;
        if due {
            s.templates_ms = Some(now_ms);
            s.since_templates = 0;
        }
        s.since_templates = s.since_templates.saturating_add(n);
    }

    /// v5 → v5: the tenant's 48-byte records copied under the router's header times.
    fn v5_raw(
        &mut self,
        datagram: &[u8],
        batch: &Batch,
        si: usize,
        filter: Select<'_>,
        out: &mut Out,
        st: &mut EncodeStats,
    ) {
        let max = self.cfg.max_datagram;
        let s = &mut self.streams[si];
        let mut items: Vec<V5Item<'_>> = Vec::with_capacity(batch.records.len());
        for (i, r) in batch.records.iter().enumerate() {
            if filter.keep(i, r) {
                st.matched += 1;
                items.push(V5Item::Raw(
                    batch.bytes(datagram, batch.raw[i]),
                    r.sampling_interval,
                ));
            }
        }
        emit_v5(out, max, s, &items, batch.export_ms, batch.uptime_ms, st);
    }

    fn sflow(
        &mut self,
        datagram: &[u8],
        batch: &Batch,
        si: usize,
        filter: Select<'_>,
        out: &mut Out,
        st: &mut EncodeStats,
    ) {
        let Some(hdr) = batch.sflow else { return };
        let fwd_counters = self.cfg.forward_counters;
        let max = self.cfg.max_datagram;
        let s = &mut self.streams[si];
        let mut samples: Vec<&[u8]> = Vec::with_capacity(batch.records.len());
        let mut last = None;
        for (i, r) in batch.records.iter().enumerate() {
            if !filter.keep(i, r) {
                continue;
            }
            st.matched += 1;
            let raw = batch.raw[i];
            if last != Some(raw.offset) {
                samples.push(batch.bytes(datagram, raw));
                last = Some(raw.offset);
            }
        }
        let flows = samples.len();
        if fwd_counters {
            for c in &batch.counter_samples {
                samples.push(batch.bytes(datagram, *c));
            }
        }
        if samples.is_empty() {
            return;
        }
        let mut i = 0;
        while i < samples.len() {
            let h = SflowHeader {
                sequence: s.sequence.wrapping_add(1),
                samples: 0,
                ..hdr
            };
            let start = out.begin(max);
            let Ok(mut w) = DatagramWriter::new(&mut out.buf[start..start + max], &h) else {
                out.abort(start);
                return;
            };
            let first = i;
            while i < samples.len() {
                match w.add_raw_sample(samples[i]) {
                    Ok(()) => i += 1,
                    Err(_) => break,
                }
            }
            if i == first {
                out.abort(start);
                st.too_large += 1;
                i += 1;
                continue;
            }
            st.sent += (i.min(flows) - first.min(flows)) as u64;
            let len = w.finish();
            out.commit(start, len);
            s.sequence = s.sequence.wrapping_add(1);
        }
    }
}

/// Write v5 datagrams of up to 30 records; a change of sampling interval starts a
/// new datagram (the header has one).
/// Whether the receiver's copy of a template is this one: usually the very same
/// `Arc` from the template cache, so the field comparison is rarely needed.
fn same(a: &Arc<Template>, b: &Arc<Template>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}

fn emit_v5(
    out: &mut Out,
    max: usize,
    s: &mut Stream,
    items: &[V5Item<'_>],
    unix_ms: u64,
    uptime: u32,
    st: &mut EncodeStats,
) {
    let mut i = 0;
    while i < items.len() {
        let iv = match &items[i] {
            V5Item::Raw(_, iv) => *iv,
            V5Item::Rec(r) => r.sampling_interval,
        };
        let h = V5Header {
            sys_uptime_ms: uptime,
            unix_ms,
            flow_sequence: s.sequence,
            engine_type: (s.out_domain >> 8) as u8,
            engine_id: s.out_domain as u8,
            sampling_interval: iv.min(0x3fff) as u16,
        };
        let start = out.begin(max);
        let Ok(mut w) = V5Writer::new(&mut out.buf[start..start + max], h) else {
            out.abort(start);
            st.too_large += (items.len() - i) as u64;
            return;
        };
        while i < items.len() {
            let r = match &items[i] {
                V5Item::Raw(_, x) if *x != iv => break,
                V5Item::Rec(r) if r.sampling_interval != iv => break,
                V5Item::Raw(b, _) => w.push_raw(b),
                V5Item::Rec(r) => w.push(r),
            };
            match r {
                Ok(()) => i += 1,
                Err(_) => break,
            }
        }
        let n = w.count() as u32;
        let len = w.finish();
        out.commit(start, len);
        st.sent += n as u64;
        s.sequence = s.sequence.wrapping_add(n);
    }
}

/// Pack `items` into as many v9/IPFIX messages as they need. Returns the next
/// sequence number, the number of messages and the number of data records written
/// (IPFIX sequence numbers count data records, RFC 7011 §3.1; v9 count packets,
/// RFC 3954 §5.1).
fn pack(
    out: &mut Out,
    max: usize,
    dialect: Dialect,
    mut h: MessageHeader,
    items: &[Item<'_>],
    st: &mut EncodeStats,
) -> (u32, u32, u64) {
    let mut i = 0;
    let mut messages = 0;
    let mut written = 0u64;
    while i < items.len() {
        let start = out.begin(max);
        let Ok(mut w) = MessageWriter::new(&mut out.buf[start..start + max], dialect, h) else {
            out.abort(start);
            break;
        };
        let first = i;
        while i < items.len() {
            let r = match &items[i] {
                Item::Template(t) => w.add_template(t),
                Item::Raw(id, b) => w.add_raw(*id, b),
                Item::Own(t, r) => w.add_record(t, r),
                Item::Sampling(b) => w.add_raw(OWN_SAMPLING_TEMPLATE_ID, b),
            };
            match r {
                Ok(()) => i += 1,
                Err(EncodeError::Unconvertible(_)) => {
                    st.unconvertible += 1;
                    i += 1
                }
                Err(_) => break,
            }
        }
        if w.is_empty() {
            out.abort(start);
            if i == first {
                st.too_large += 1;
                i += 1;
            }
            continue;
        }
        let dr = w.data_records();
        let len = w.finish();
        out.commit(start, len);
        messages += 1;
        written += dr as u64;
        h.sequence = match dialect {
            Dialect::V9 => h.sequence.wrapping_add(1),
            Dialect::Ipfix => h.sequence.wrapping_add(dr),
        };
    }
    (h.sequence, messages, written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Entry;
    use octoflow_proto::{Decoder, Limits};
    use std::net::{IpAddr, Ipv4Addr};

    const NOW: u64 = 1_700_000_000_000;

    fn flow(src: &str, dst: &str, sport: u16) -> FlowRecord {
        FlowRecord {
            src_addr: src.parse().expect("ip"),
            dst_addr: dst.parse().expect("ip"),
            src_port: sport,
            dst_port: 443,
            proto: 6,
            packets: 3,
            bytes: 300,
            first_ms: NOW - 5000,
            last_ms: NOW - 1000,
            ..FlowRecord::default()
        }
    }

    fn flows() -> Vec<FlowRecord> {
        vec![
            flow("10.0.1.1", "198.51.100.1", 1000),
            flow("10.0.1.254", "198.51.100.2", 1001),
            flow("198.51.100.3", "10.0.1.77", 1002),
            flow("172.20.0.1", "198.51.100.4", 1003),
            flow("2001:db8:1::1", "2001:db8:ff::1", 1004),
        ]
    }

    /// A v9 or IPFIX message from a "router" with its own template ids 300/301.
    fn message(
        dialect: Dialect,
        seq: u32,
        domain: u32,
        recs: &[FlowRecord],
        templates: bool,
    ) -> Vec<u8> {
        let mut t4 = own_template(dialect, false);
        let mut t6 = own_template(dialect, true);
        t4.id = 300;
        t6.id = 301;
        let mut buf = vec![0u8; 8192];
        let h = MessageHeader {
            unix_ms: NOW,
            sys_uptime_ms: 3_600_000,
            sequence: seq,
            domain,
        };
        let mut w = MessageWriter::new(&mut buf, dialect, h).expect("writer");
        if templates {
            w.add_template(&t4).expect("t4");
            w.add_template(&t6).expect("t6");
        }
        for r in recs {
            w.add_record(if r.is_ipv4() { &t4 } else { &t6 }, r)
                .expect("rec");
        }
        let n = w.finish();
        buf.truncate(n);
        buf
    }

    fn cfg(version: Version, filters: &[&str]) -> EncoderConfig {
        let e: Vec<Entry> = filters.iter().map(|s| s.parse().expect("entry")).collect();
        EncoderConfig {
            version,
            filter: Arc::new(Filter::new(&e)),
            max_datagram: 1472,
            refresh_ms: 20_000,
            refresh_packets: 100,
            sampling_scaling: false,
            forward_counters: e.is_empty(),
            forward_options: true,
        }
    }

    fn exporter() -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
    }

    /// Decode `d` as a router's datagram, encode it for `enc`, decode what comes out.
    fn run(
        enc: &mut Encoder,
        rx: &mut Decoder,
        dec: &mut Decoder,
        d: &[u8],
    ) -> (EncodeStats, Vec<Vec<u8>>, Vec<FlowRecord>) {
        let mut b = Batch::default();
        dec.decode(exporter(), d, NOW, &mut b)
            .expect("input decodes");
        let mut out = Out::default();
        let mut st = enc.encode(d, &b, NOW, &mut out);
        st.add(enc.flush(NOW, &mut out));
        let mut got = Vec::new();
        let mut dgs = Vec::new();
        for o in out.iter() {
            let mut ob = Batch::default();
            rx.decode("127.0.0.1".parse().expect("ip"), o, NOW, &mut ob)
                .expect("output decodes");
            got.extend(ob.records.iter().copied());
            dgs.push(o.to_vec());
        }
        (st, dgs, got)
    }

    fn key(r: &FlowRecord) -> (IpAddr, IpAddr, u16, u64, u64) {
        (r.src_addr, r.dst_addr, r.src_port, r.packets, r.bytes)
    }

    #[test]
    fn collector_verdicts_give_the_same_bytes_as_the_own_filter() {
        use crate::filter::Verdicts;
        let tenants: [&[&str]; 4] = [
            &["10.0.1.0/24", "!10.0.1.254"],
            &["172.16.0.0/12"],
            &["2001:db8:1::/48"],
            &[],
        ];
        let filters: Vec<Arc<Filter>> =
            tenants.iter().map(|t| cfg(Version::V9, t).filter).collect();
        let table = Verdicts::new(filters.clone()).expect("fits");
        let mut recs = flows();
        recs.extend(flows().iter().map(|r| FlowRecord {
            src_addr: r.dst_addr,
            dst_addr: r.src_addr,
            ..*r
        }));
        for (dialect, vin) in [(Dialect::V9, Version::V9), (Dialect::Ipfix, Version::Ipfix)] {
            let d = message(dialect, 0, 7, &recs, true);
            let mut b = Batch::default();
            Decoder::new(Limits::default())
                .decode(exporter(), &d, NOW, &mut b)
                .expect("input decodes");
            let words: Vec<u64> = b.records.iter().map(|r| table.flow(r)).collect();
            for vout in [vin, Version::V9, Version::Ipfix, Version::V5] {
                for (i, t) in tenants.iter().enumerate() {
                    let mut c = cfg(vout, t);
                    c.filter = filters[i].clone();
                    let bit = table.bit_of(&c.filter).expect("in the table");
                    let (mut own, mut sel) = (Encoder::new(c.clone(), NOW), Encoder::new(c, NOW));
                    let (mut a, mut z) = (Out::default(), Out::default());
                    let sa = own.encode(&d, &b, NOW, &mut a);
                    let sz = sel.encode_selected(&d, &b, Some((&words, bit)), NOW, &mut z);
                    let (fa, fz) = (own.flush(NOW, &mut a), sel.flush(NOW, &mut z));
                    assert_eq!((sa, fa), (sz, fz), "{vin:?}->{vout:?} tenant {i}");
                    let (a, z): (Vec<&[u8]>, Vec<&[u8]>) = (a.iter().collect(), z.iter().collect());
                    assert_eq!(a, z, "{vin:?}->{vout:?} tenant {i}");
                    assert!(
                        i == 3 || sa.matched < recs.len() as u64,
                        "tenant {i} must not get everything"
                    );
                }
            }
        }
    }

    #[test]
    fn unfiltered_same_version_forwards_the_datagram_unchanged() {
        let d = message(Dialect::Ipfix, 0, 7, &flows(), true);
        let mut enc = Encoder::new(cfg(Version::Ipfix, &[]), NOW);
        let (st, dgs, got) = run(
            &mut enc,
            &mut Decoder::new(Limits::default()),
            &mut Decoder::new(Limits::default()),
            &d,
        );
        assert_eq!(dgs, vec![d]);
        assert_eq!(got.len(), 5);
        assert_eq!((st.matched, st.sent), (5, 5));
    }

    #[test]
    fn filtered_v9_keeps_router_templates_and_record_bytes() {
        let d = message(Dialect::V9, 41, 7, &flows(), true);
        let mut enc = Encoder::new(cfg(Version::V9, &["10.0.1.0/24", "!10.0.1.254"]), NOW);
        let (mut dec, mut rx) = (
            Decoder::new(Limits::default()),
            Decoder::new(Limits::default()),
        );
        let (st, dgs, got) = run(&mut enc, &mut rx, &mut dec, &d);
        assert_eq!((st.matched, st.sent), (2, 2));
        let want: Vec<_> = [&flows()[0], &flows()[2]].iter().map(|r| key(r)).collect();
        assert_eq!(got.iter().map(key).collect::<Vec<_>>(), want);
        assert_eq!(got[0].first_ms, NOW - 5000, "record times stay right");
        // The router's template id is kept, its domain too, our sequence starts at 0.
        let o = &dgs[0];
        assert_eq!(u32::from_be_bytes(o[12..16].try_into().expect("4")), 0);
        assert_eq!(u32::from_be_bytes(o[16..20].try_into().expect("4")), 7);
        // Each forwarded record is a byte-for-byte copy of the router's.
        let mut b = Batch::default();
        Decoder::new(Limits::default())
            .decode(exporter(), &d, NOW, &mut b)
            .expect("decodes");
        let mut ob = Batch::default();
        Decoder::new(Limits::default())
            .decode(exporter(), o, NOW, &mut ob)
            .expect("decodes");
        assert_eq!(ob.sets[0].template.id, 300);
        for (k, i) in [0usize, 2].iter().enumerate() {
            assert_eq!(ob.bytes(o, ob.raw[k]), b.bytes(&d, b.raw[*i]));
        }
        // Next datagram without templates: no templates again, sequence continues.
        let d2 = message(Dialect::V9, 42, 7, &flows(), false);
        let (_, dgs2, got2) = run(&mut enc, &mut rx, &mut dec, &d2);
        assert_eq!(got2.len(), 2);
        assert_eq!(
            u32::from_be_bytes(dgs2[0][12..16].try_into().expect("4")),
            1
        );
        let mut ob2 = Batch::default();
        Decoder::new(Limits::default())
            .decode(exporter(), &dgs2[0], NOW, &mut ob2)
            .ok();
        assert!(ob2.templates.is_empty());
    }

    #[test]
    fn ipfix_sequence_counts_data_records_per_receiver() {
        let mut enc = Encoder::new(cfg(Version::Ipfix, &["10.0.1.0/24"]), NOW);
        let (mut dec, mut rx) = (
            Decoder::new(Limits::default()),
            Decoder::new(Limits::default()),
        );
        let mut expect = 0u32;
        for i in 0..5 {
            let d = message(Dialect::Ipfix, i * 5, 1, &flows(), i == 0);
            let (st, dgs, _) = run(&mut enc, &mut rx, &mut dec, &d);
            assert_eq!(
                u32::from_be_bytes(dgs[0][8..12].try_into().expect("4")),
                expect
            );
            expect += st.sent as u32;
        }
        assert_eq!(expect, 15);
    }

    #[test]
    fn conversion_to_v5_counts_ipv6_as_unconvertible() {
        let d = message(Dialect::Ipfix, 0, 1, &flows(), true);
        let mut enc = Encoder::new(cfg(Version::V5, &["0.0.0.0/0", "::/0"]), NOW);
        let (st, dgs, got) = run(
            &mut enc,
            &mut Decoder::new(Limits::default()),
            &mut Decoder::new(Limits::default()),
            &d,
        );
        assert_eq!((st.matched, st.sent, st.unconvertible), (5, 4, 1));
        assert_eq!(got.len(), 4);
        assert_eq!(dgs[0][0..2], [0, 5]);
        assert!(got.iter().all(|r| r.first_ms.abs_diff(NOW - 5000) < 1000));
    }

    #[test]
    fn conversion_to_ipfix_uses_own_templates_and_carries_sampling() {
        let mut recs = flows();
        for r in &mut recs {
            r.sampling_interval = 64;
        }
        let d = message(Dialect::V9, 0, 1, &recs, true);
        let mut enc = Encoder::new(
            cfg(Version::Ipfix, &["10.0.1.0/24", "2001:db8:1::/48"]),
            NOW,
        );
        let mut rx = Decoder::new(Limits::default());
        let (st, dgs, got) = run(&mut enc, &mut rx, &mut Decoder::new(Limits::default()), &d);
        assert_eq!(st.sent, 4);
        assert!(got.iter().all(|r| r.sampling_interval == 64));
        let mut ob = Batch::default();
        Decoder::new(Limits::default())
            .decode(exporter(), &dgs[0], NOW, &mut ob)
            .expect("decodes");
        let ids: Vec<u16> = ob.templates.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![256, 257, 258]);
        assert_eq!(ob.options.len(), 1, "sampling options record sent");
    }

    #[test]
    fn templates_are_refreshed_every_n_datagrams() {
        let mut c = cfg(Version::Ipfix, &["10.0.1.0/24"]);
        c.refresh_packets = 3;
        let mut enc = Encoder::new(c, NOW);
        let (mut dec, mut rx) = (
            Decoder::new(Limits::default()),
            Decoder::new(Limits::default()),
        );
        let mut with = Vec::new();
        for i in 0..7 {
            let d = message(Dialect::V9, i, 1, &flows(), i == 0);
            let (_, dgs, _) = run(&mut enc, &mut rx, &mut dec, &d);
            let mut ob = Batch::default();
            Decoder::new(Limits::default())
                .decode(exporter(), &dgs[0], NOW, &mut ob)
                .expect("decodes");
            with.push(!ob.templates.is_empty());
        }
        assert_eq!(with, vec![true, false, false, true, false, false, true]);
    }

    #[test]
    fn re_encoded_records_fill_datagrams_until_flushed() {
        let mut enc = Encoder::new(cfg(Version::V5, &["10.0.1.0/24"]), NOW);
        let mut dec = Decoder::new(Limits::default());
        let d = message(Dialect::Ipfix, 0, 1, &flows(), true);
        let mut out = Out::default();
        for _ in 0..16 {
            let mut b = Batch::default();
            dec.decode(exporter(), &d, NOW, &mut b).expect("decodes");
            enc.encode(&d, &b, NOW, &mut out);
        }
        // 16 × 3 matching flows: one full v5 datagram (30) so far, 18 waiting.
        assert_eq!(out.datagrams.len(), 1);
        assert!(enc.has_pending());
        let st = enc.flush(NOW, &mut out);
        assert_eq!(st.sent, 18);
        assert_eq!(out.datagrams.len(), 2);
        let mut rx = Decoder::new(Limits::default());
        let mut seqs = Vec::new();
        for o in out.iter() {
            let mut ob = Batch::default();
            rx.decode(exporter(), o, NOW, &mut ob).expect("v5 decodes");
            seqs.push((
                u32::from_be_bytes(o[16..20].try_into().expect("4")),
                ob.records.len(),
            ));
        }
        assert_eq!(seqs, vec![(0, 30), (30, 18)]);
    }

    #[test]
    fn same_version_records_share_a_message_only_under_identical_headers() {
        let mut enc = Encoder::new(cfg(Version::V9, &["10.0.1.0/24", "!10.0.1.254"]), NOW);
        let mut dec = Decoder::new(Limits::default());
        let mut out = Out::default();
        let mut feed = |d: &[u8], out: &mut Out| {
            let mut b = Batch::default();
            dec.decode(exporter(), d, NOW, &mut b).expect("decodes");
            enc.encode(d, &b, NOW, out);
        };
        let d1 = message(Dialect::V9, 0, 1, &flows(), true);
        let d2 = message(Dialect::V9, 1, 1, &flows(), false);
        let mut d3 = message(Dialect::V9, 2, 1, &flows(), false);
        d3[4..8].copy_from_slice(&3_600_005u32.to_be_bytes()); // 5 ms later
        feed(&d1, &mut out);
        feed(&d2, &mut out);
        assert!(
            out.datagrams.is_empty(),
            "held until the header changes or a flush"
        );
        feed(&d3, &mut out);
        assert_eq!(out.datagrams.len(), 1, "d1 and d2 share a message");
        let st = enc.flush(NOW, &mut out);
        assert_eq!(st.sent, 2);
        let mut rx = Decoder::new(Limits::default());
        let mut per = Vec::new();
        for o in out.iter() {
            let mut ob = Batch::default();
            rx.decode(exporter(), o, NOW, &mut ob).expect("decodes");
            per.push((
                u32::from_be_bytes(o[4..8].try_into().expect("4")),
                u32::from_be_bytes(o[12..16].try_into().expect("4")),
                ob.records.len(),
            ));
        }
        assert_eq!(per, vec![(3_600_000, 0, 4), (3_600_005, 1, 2)]);
    }

    #[test]
    fn two_routers_with_one_domain_get_distinct_output_domains() {
        let mut enc = Encoder::new(cfg(Version::Ipfix, &["10.0.1.0/24"]), NOW);
        let d = message(Dialect::Ipfix, 0, 5, &flows(), true);
        let mut domains = Vec::new();
        for ex in ["192.0.2.1", "192.0.2.2"] {
            let mut b = Batch::default();
            Decoder::new(Limits::default())
                .decode(ex.parse().expect("ip"), &d, NOW, &mut b)
                .expect("decodes");
            let mut out = Out::default();
            enc.encode(&d, &b, NOW, &mut out);
            enc.flush(NOW, &mut out);
            let o = out.iter().next().expect("one datagram");
            domains.push(u32::from_be_bytes(o[12..16].try_into().expect("4")));
        }
        assert_eq!(domains[0], 5);
        assert_ne!(domains[1], 5);
    }
}
