//! What one output makes of each decoded datagram: the tenant's flows, in the
//! receiver's version, with the receiver's own sequence numbers and templates.
//!
//! Sans-IO, like the codec (as `quinn-proto` is to `quinn`): [`Encoder::encode`]
//! takes a decoded datagram, which of its records are the tenant's, and the time,
//! and appends ready-to-send datagrams to an [`Out`]. The caller moves the bytes.
//! Records may wait to fill a datagram until [`Encoder::flush`], which the caller
//! calls on its own timer; the encoder keeps no clock.
//!
//! The encoder never filters: the collector computed every tenant's verdict on
//! each record ([`Select::Bit`]), or the output takes everything
//! ([`Select::All`]).
//!
//! The paths ([`Path`]), one module each:
//! - `Path::Whole`: the datagram unchanged;
//! - [`same_version`]: v9→v9, IPFIX→IPFIX, the router's templates and records
//!   byte for byte under the router's header times, packed into full messages;
//! - [`convert`]: canonical records re-encoded with octoflow's templates, or as v5;
//! - [`v5`]: v5→v5 records copied, and v5 datagrams written;
//! - [`sflow`]: sFlow→sFlow flow samples copied whole;
//! - [`pack`]: items packed into v9/IPFIX messages.
//!
//! Per output stream ([`stream`]), [`sequence`] is the one place sequence numbers
//! advance.
#![warn(unreachable_pub)]

mod convert;
mod out;
mod pack;
mod path;
mod same_version;
mod sequence;
mod sflow;
mod stream;
mod v5;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use octoflow_proto::{
    own_direction_template, own_sampling_template, own_template, Batch, Dialect, Template, Version,
};

pub use out::{Origin, Out};
pub use path::{label as version_label, Path};

use same_version::Open;
use stream::Streams;

/// What an output's encoder needs from its configuration.
#[derive(Debug, Clone)]
pub struct EncoderConfig {
    pub version: Version,
    /// The output has no tenant filter: it takes every record.
    pub unfiltered: bool,
    /// Largest datagram (message) to build.
    pub max_datagram: usize,
    pub refresh_ms: u64,
    pub refresh_packets: u32,
    /// Multiply counters by the sampling interval and announce 1-in-1.
    pub sampling_scaling: bool,
    pub forward_counters: bool,
    pub forward_options: bool,
    /// The receiver is a session (IPFIX over TCP): template withdrawals are
    /// forwarded to it, and a template id the router redefines is withdrawn before
    /// the new definition (RFC 7011 §8.1). Never over UDP (RFC 7011 §8.4).
    pub withdrawals: bool,
    /// `preserve_source`: on the paths where [`Path::preserves_source`], the
    /// receiver gets each router's datagrams from the router's own address when
    /// the router is of the receiver's family ([`EncoderConfig::receiver_ipv6`]).
    /// Such streams keep their domain even when another router uses it: the
    /// receiver tells them apart by address, as it would without octoflow.
    pub preserve_source: bool,
    /// The receiver's address is IPv6.
    pub receiver_ipv6: bool,
}

/// Which records of a decoded datagram are the tenant's.
#[derive(Debug, Clone, Copy)]
pub enum Select<'a> {
    /// Every record (an output with no filter).
    All,
    /// Those whose verdict word (one per record, computed by the collector) has
    /// this output's bit set.
    Bit(&'a [u64], u64),
}

impl Select<'_> {
    /// Whether record `i` is the tenant's.
    #[inline]
    pub(crate) fn keep(self, i: usize) -> bool {
        match self {
            Select::All => true,
            Select::Bit(v, bit) => v.get(i).is_some_and(|w| w & bit != 0),
        }
    }
}

/// Counts from [`Encoder::encode`] and [`Encoder::flush`] calls (added to the
/// output's metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EncodeStats {
    /// Flow records that are the tenant's.
    pub matched: u64,
    /// Flow records written into output datagrams.
    pub sent: u64,
    /// Matching flows that the output version cannot express (IPv6 → v5).
    pub unconvertible: u64,
    /// Items larger than an empty datagram (cannot be sent at this MTU).
    pub too_large: u64,
    /// Output streams dropped after [`STREAM_IDLE_MS`] unused.
    pub streams_expired: u64,
    /// Templates dropped from the output's state because the template cache no
    /// longer has them (at most once per [`FORGET_EVERY_MS`], in `flush`).
    pub templates_forgotten: u64,
}

impl EncodeStats {
    pub fn add(&mut self, o: EncodeStats) {
        self.matched += o.matched;
        self.sent += o.sent;
        self.unconvertible += o.unconvertible;
        self.too_large += o.too_large;
        self.streams_expired += o.streams_expired;
        self.templates_forgotten += o.templates_forgotten;
    }
}

/// The per-output encoding state.
pub struct Encoder {
    cfg: EncoderConfig,
    /// The path of each input version (indexed by [`version_index`]).
    paths: [Path; 4],
    streams: Streams,
    /// The pretended boot time of the synthetic sysUptime of re-encoded v9 and
    /// v5 headers: [`UPTIME_AT_START_MS`] before the encoder started.
    started_ms: u64,
    /// octoflow's own templates in the output dialect, for conversions to
    /// v9/IPFIX: IPv4, IPv6, sampling options, then IPv4 and IPv6 with
    /// flowDirection (for flows whose direction is known).
    own: Option<[Arc<Template>; 5]>,
    /// One input datagram's same-version part, collected before it joins the held
    /// message (kept to reuse its buffers).
    scratch: Open,
    /// When [`Encoder::flush`] next drops the templates the cache no longer has.
    next_forget_ms: u64,
}

/// How often [`Encoder::flush`] looks for templates only this output still holds.
pub const FORGET_EVERY_MS: u64 = 1000;

/// The synthetic sysUptime of re-encoded v9 and v5 headers at the encoder's start.
///
/// Records carry their times as sysUptime stamps (RFC 3954 §8 FIRST_SWITCHED /
/// LAST_SWITCHED; the v5 record's First/Last), and collectors such as nfdump take
/// boot time = export time − sysUptime and add the stamp without wrapping, so a
/// flow that ended before the pretended boot comes out 49.7 days in the future.
/// Pretending the exporter booted a day before the output started keeps every
/// flow time positive that is up to a day old when the output starts or is
/// reloaded: far beyond any router's active timeout (minutes to an hour) plus
/// queueing and held data (seconds). It leaves 48.7 days before the 32-bit
/// uptime wraps, as it would on a real exporter.
pub const UPTIME_AT_START_MS: u64 = 24 * 3_600_000;

/// An output stream unused this long is dropped at the next flush.
pub const STREAM_IDLE_MS: u64 = 3_600_000;

/// The largest sampling interval a v5 header can state (14 bits).
const V5_MAX_INTERVAL: u32 = 0x3fff;

/// The length of the message that starts `datagram`, when the version states it:
/// IPFIX's header length (RFC 7011 §3.1), v5's 24 + 48 × count. Bytes after it are
/// not part of the message (nor, over TCP, of the next one: RFC 7011 §10.4).
fn message_len(v: Version, datagram: &[u8]) -> usize {
    let len = match v {
        Version::Ipfix if datagram.len() >= 4 => {
            u16::from_be_bytes([datagram[2], datagram[3]]) as usize
        }
        Version::V5 if datagram.len() >= 4 => {
            let count = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
            octoflow_proto::netflow_v5::HEADER_LEN + octoflow_proto::netflow_v5::RECORD_LEN * count
        }
        // v9 (RFC 3954 §5.1) and sFlow state no length: the datagram is the message.
        _ => datagram.len(),
    };
    len.min(datagram.len())
}

fn version_index(v: Version) -> usize {
    match v {
        Version::V5 => 0,
        Version::V9 => 1,
        Version::Ipfix => 2,
        Version::Sflow => 3,
    }
}

/// octoflow's own templates in `d` (IPv4, IPv6, sampling options, IPv4 and IPv6
/// with flowDirection): the same for every encoder, so built once per process and
/// shared.
fn own_templates(d: Dialect) -> [Arc<Template>; 5] {
    static V9: OnceLock<[Arc<Template>; 5]> = OnceLock::new();
    static IPFIX: OnceLock<[Arc<Template>; 5]> = OnceLock::new();
    let cell = match d {
        Dialect::V9 => &V9,
        Dialect::Ipfix => &IPFIX,
    };
    cell.get_or_init(|| {
        [
            Arc::new(own_template(d, false)),
            Arc::new(own_template(d, true)),
            Arc::new(own_sampling_template(d)),
            Arc::new(own_direction_template(d, false)),
            Arc::new(own_direction_template(d, true)),
        ]
    })
    .clone()
}

impl Encoder {
    pub fn new(cfg: EncoderConfig, now_ms: u64) -> Encoder {
        let own = match cfg.version {
            Version::V9 => Some(Dialect::V9),
            Version::Ipfix => Some(Dialect::Ipfix),
            _ => None,
        }
        .map(own_templates);
        let paths =
            [Version::V5, Version::V9, Version::Ipfix, Version::Sflow].map(|v| Path::of(v, &cfg));
        let streams = Streams::new(cfg.version);
        Encoder {
            cfg,
            paths,
            streams,
            started_ms: now_ms.wrapping_sub(UPTIME_AT_START_MS),
            own,
            scratch: Open::default(),
            next_forget_ms: now_ms.saturating_add(FORGET_EVERY_MS),
        }
    }

    /// Forget every receiver-side state (a new TCP connection starts a new session:
    /// templates must be sent again).
    pub fn reset_templates(&mut self) {
        for s in self.streams.all.iter_mut() {
            s.templates_ms = None;
            s.sent.clear();
            s.forgotten.clear();
            s.sampling = 0;
        }
    }

    /// Encode the tenant's part (`select`) of one decoded datagram, received from
    /// `from` (the router's address and port), into `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        batch: &Batch,
        select: Select<'_>,
        now_ms: u64,
        out: &mut Out,
    ) -> EncodeStats {
        let mut st = EncodeStats::default();
        let vin = batch.version;
        // Sent from the router's address: the receiver scopes it by that address.
        let own_scope = self.cfg.preserve_source
            && self.paths[version_index(vin)].preserves_source()
            && from.ip().to_canonical().is_ipv6() == self.cfg.receiver_ipv6;
        let si = self.streams.find(Streams::key(batch), own_scope);
        self.streams.all[si].used_ms = now_ms;
        if self.streams.all[si].source != from {
            // A held message goes out with the source of the datagrams it holds.
            if !self.streams.all[si].open.is_empty() {
                self.emit_open(si, out, &mut st);
            }
            self.streams.all[si].source = from;
        }
        let mut path = self.paths[version_index(vin)];
        if path == Path::Whole {
            let msg = &datagram[..message_len(vin, datagram)];
            if self.streams.all[si].identity && msg.len() <= self.cfg.max_datagram.max(65507) {
                let n = batch.records.len() as u64;
                st.matched = n;
                st.sent = n;
                out.from(Origin::Router(from));
                let s = out.begin(msg.len());
                out.buf[s..].copy_from_slice(msg);
                out.commit(s, msg.len());
                return st;
            }
            path = Path::records(vin, &self.cfg);
        }
        match path {
            Path::SameVersion => {
                self.same_version(datagram, batch, si, select, now_ms, out, &mut st)
            }
            Path::Convert => self.convert(batch, si, select, now_ms, out, &mut st),
            Path::V5Copy => self.v5_copy(datagram, batch, si, select, out, &mut st),
            Path::SflowCopy => self.sflow(datagram, batch, si, select, out, &mut st),
            Path::Whole | Path::Unsupported => {}
        }
        st
    }

    /// Encode every record still waiting, in every stream; then drop the streams
    /// unused for [`STREAM_IDLE_MS`].
    pub fn flush(&mut self, now_ms: u64, out: &mut Out) -> EncodeStats {
        let mut st = EncodeStats::default();
        for si in 0..self.streams.all.len() {
            if !self.streams.all[si].open.is_empty() {
                self.emit_open(si, out, &mut st);
            }
            let n = self.streams.all[si].pending.len();
            if n > 0 {
                self.emit(si, n, now_ms, out, &mut st);
            }
        }
        st.streams_expired = self.streams.expire(now_ms, STREAM_IDLE_MS);
        if now_ms >= self.next_forget_ms {
            self.next_forget_ms = now_ms.saturating_add(FORGET_EVERY_MS);
            st.templates_forgotten = self.streams.forget_unshared(self.cfg.withdrawals);
        }
        st
    }

    /// True when records wait for [`Encoder::flush`].
    pub fn has_pending(&self) -> bool {
        self.streams
            .all
            .iter()
            .any(|s| !s.pending.is_empty() || !s.open.is_empty())
    }

    /// Whether stream `si` is due its templates.
    fn templates_due(&self, si: usize, now_ms: u64) -> bool {
        self.streams.all[si].templates_due(now_ms, self.cfg.refresh_ms, self.cfg.refresh_packets)
    }
}
