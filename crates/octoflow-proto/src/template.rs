//! Templates (RFC 3954 §5.2–5.3, RFC 7011 §3.4) and the decoding of the data
//! records they describe into canonical [`FlowRecord`]s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{DecodeError, EncodeError};
use crate::ie::{self, Target};
use crate::record::FlowRecord;
use crate::wire::{u16_at, u32_at, uint, Writer};

/// IPFIX variable-length marker (RFC 7011 §7).
pub const VARLEN: u16 = 65535;

/// One field of a template: information element id, length on the wire, and
/// enterprise number (0 = IANA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldSpec {
    pub id: u16,
    pub len: u16,
    pub enterprise: u32,
}

impl FieldSpec {
    pub const fn iana(id: u16, len: u16) -> Self {
        FieldSpec {
            id,
            len,
            enterprise: 0,
        }
    }
}

/// Whether a template was a NetFlow v9 or an IPFIX one: scope fields of v9
/// options templates use their own type space (RFC 3954 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    V9,
    Ipfix,
}

/// A learnt (or octoflow's own) template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub id: u16,
    pub dialect: Dialect,
    /// Number of leading scope fields; 0 for data templates, ≥ 1 for options templates.
    pub scope_field_count: u16,
    pub fields: Vec<FieldSpec>,
    targets: Vec<Target>,
    /// For fixed-length templates: (offset, length, target) of every field the
    /// canonical record uses, so decoding jumps straight to them.
    plan: Vec<(u16, u16, Target)>,
    /// For fixed-length templates where each used field appears once (the usual
    /// case): (offset, length) per target, so a record decodes in straight-line
    /// code with no per-field dispatch.
    layout: Option<Box<Layout>>,
    /// `Some(ipv6)` when the fields are exactly octoflow's own data template's
    /// (`message::own_fields`): records are then encoded in straight-line code.
    own: Option<bool>,
    /// Smallest possible record length (variable-length fields count 1 byte).
    pub min_record_len: usize,
    /// Record length when no field is variable-length.
    pub fixed_len: Option<usize>,
}

/// Exporter-wide state that data records refer to: sampling from options data, and
/// the IPFIX system init time for sysUpTime-relative timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptionsInfo {
    pub sampler_id: Option<u32>,
    pub interval: Option<u32>,
    pub system_init_ms: Option<u64>,
}

/// How a message's header anchors record timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeBase {
    /// Export time of the message, Unix ms.
    pub export_ms: u64,
    /// NetFlow v9: the header's sysUptime (ms) at `export_ms`.
    pub uptime_ms: Option<u32>,
    /// IPFIX: systemInitTimeMilliseconds learnt from options data.
    pub system_init_ms: Option<u64>,
}

impl TimeBase {
    fn at_uptime(&self, t: u32) -> u64 {
        match (self.uptime_ms, self.system_init_ms) {
            // RFC 3954 §8: FIRST/LAST_SWITCHED are sysUptime at the flow's first/last packet.
            (Some(up), _) => self.export_ms.wrapping_sub(up.wrapping_sub(t) as u64),
            (None, Some(init)) => init.wrapping_add(t as u64),
            (None, None) => self.export_ms,
        }
    }
}

/// Sampling known for one exporter scope (from options data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamplingState {
    /// The interval of the most recent options record without a sampler id.
    pub default_interval: u32,
    /// (sampler id, interval), most recent first; bounded.
    pub by_id: Vec<(u32, u32)>,
}

impl SamplingState {
    const MAX_SAMPLERS: usize = 32;

    pub(crate) fn learn(&mut self, o: &OptionsInfo) {
        let Some(iv) = o.interval else { return };
        match o.sampler_id {
            Some(id) => {
                self.by_id.retain(|&(i, _)| i != id);
                if self.by_id.len() == Self::MAX_SAMPLERS {
                    self.by_id.pop();
                }
                self.by_id.insert(0, (id, iv));
                if self.default_interval == 0 {
                    self.default_interval = iv;
                }
            }
            None => self.default_interval = iv,
        }
    }

    pub(crate) fn lookup(&self, sampler: Option<u32>) -> u32 {
        if let Some(id) = sampler {
            if let Some(&(_, iv)) = self.by_id.iter().find(|&&(i, _)| i == id) {
                return iv;
            }
        }
        self.default_interval
    }
}

/// Iterator over a record's used fields (see [`Template::values`]): straight from
/// the precomputed plan for fixed-length templates, walking variable-length fields
/// otherwise.
struct Values<'a> {
    t: &'a Template,
    rec: &'a [u8],
    i: usize,
    pos: usize,
}

impl<'a> Iterator for Values<'a> {
    type Item = (Target, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(Target, &'a [u8])> {
        if self.t.fixed_len.is_some() {
            let &(off, len, t) = self.t.plan.get(self.i)?;
            self.i += 1;
            let (off, len) = (off as usize, len as usize);
            // record_len() vouched for the length; `get` keeps it panic-free anyway.
            return self.rec.get(off..off + len).map(|v| (t, v));
        }
        loop {
            let spec = self.t.fields.get(self.i)?;
            let t = self.t.targets[self.i];
            self.i += 1;
            let pos = self.pos;
            let (start, len) = if spec.len == VARLEN {
                // RFC 7011 §7: one length byte, or 255 and two more.
                let l0 = *self.rec.get(pos)? as usize;
                if l0 < 255 {
                    (pos + 1, l0)
                } else {
                    (pos + 3, u16_at(self.rec.get(pos..pos + 3)?, 1) as usize)
                }
            } else {
                (pos, spec.len as usize)
            };
            let v = self.rec.get(start..start + len)?;
            self.pos = start + len;
            if t != Target::Ignore {
                return Some((t, v));
            }
        }
    }
}

impl Template {
    /// Build and validate a template. `scope_field_count` is 0 for data templates.
    pub fn new(
        id: u16,
        dialect: Dialect,
        scope_field_count: u16,
        fields: Vec<FieldSpec>,
    ) -> Result<Template, DecodeError> {
        if id < 256 {
            return Err(DecodeError::BadTemplateId(id));
        }
        if fields.is_empty() {
            return Err(DecodeError::ZeroFieldCount { template_id: id });
        }
        if scope_field_count as usize > fields.len() {
            return Err(DecodeError::BadScopeCount { template_id: id });
        }
        let mut min = 0usize;
        let mut fixed = true;
        let mut targets = Vec::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            if f.len == 0 || (f.len == VARLEN && dialect == Dialect::V9) {
                return Err(DecodeError::BadFieldLength {
                    template_id: id,
                    field: f.id,
                    len: f.len,
                });
            }
            if f.len == VARLEN {
                fixed = false;
                min += 1;
            } else {
                min += f.len as usize;
            }
            let in_v9_scope = dialect == Dialect::V9 && i < scope_field_count as usize;
            targets.push(if f.enterprise != 0 || in_v9_scope {
                Target::Ignore
            } else {
                ie::target(f.id, f.len)
            });
        }
        if min > 65535 {
            return Err(DecodeError::TemplateTooLarge { template_id: id });
        }
        let mut plan = Vec::new();
        if fixed {
            let mut off = 0u16;
            for (f, &t) in fields.iter().zip(&targets) {
                if t != Target::Ignore {
                    plan.push((off, f.len, t));
                }
                off = off.wrapping_add(f.len);
            }
        }
        let layout = if fixed { fast_layout(&plan) } else { None };
        let own = [false, true].into_iter().find(|&v6| {
            scope_field_count == 0 && fields[..] == crate::message::own_fields(dialect, v6)
        });
        Ok(Template {
            id,
            dialect,
            scope_field_count,
            fields,
            targets,
            plan,
            layout,
            own,
            min_record_len: min,
            fixed_len: fixed.then_some(min),
        })
    }

    /// True for options templates.
    pub fn is_options(&self) -> bool {
        self.scope_field_count > 0
    }

    /// Length of the record at the start of `data`, or `None` when what is left is
    /// shorter than a record (padding, RFC 7011 §3.3.1) or malformed.
    #[inline]
    pub fn record_len(&self, data: &[u8]) -> Option<usize> {
        if let Some(l) = self.fixed_len {
            return (data.len() >= l).then_some(l);
        }
        let mut pos = 0usize;
        for f in &self.fields {
            if f.len == VARLEN {
                // RFC 7011 §7: one length byte, or 255 followed by a 2-byte length.
                let l0 = *data.get(pos)? as usize;
                if l0 < 255 {
                    pos += 1 + l0;
                } else {
                    if data.len() < pos + 3 {
                        return None;
                    }
                    pos += 3 + u16_at(data, pos + 1) as usize;
                }
            } else {
                pos += f.len as usize;
            }
            if pos > data.len() {
                return None;
            }
        }
        Some(pos)
    }

    /// Each used field's target and value in a record of exactly `record_len` bytes.
    fn values<'a>(&'a self, rec: &'a [u8]) -> Values<'a> {
        Values {
            t: self,
            rec,
            i: 0,
            pos: 0,
        }
    }

    /// Visit each field's value in a record of exactly `record_len` bytes.
    fn for_each_value(&self, rec: &[u8], mut f: impl FnMut(Target, &[u8])) {
        for (t, v) in self.values(rec) {
            f(t, v);
        }
    }

    /// Decode one data record (bytes as measured by [`Template::record_len`]).
    pub(crate) fn decode_data(
        &self,
        rec: &[u8],
        tb: &TimeBase,
        sampling: &SamplingState,
        out: &mut FlowRecord,
    ) {
        let mut x = Scratch::default();
        if let Some(lay) = &self.layout {
            decode_fast(lay, rec, tb, &mut x, out);
        } else {
            for (target, v) in self.values(rec) {
                use Target::*;
                match target {
                    Bytes => out.bytes = uint(v),
                    Packets => out.packets = uint(v),
                    BytesTotal => {
                        if out.bytes == 0 {
                            out.bytes = uint(v)
                        }
                    }
                    PacketsTotal => {
                        if out.packets == 0 {
                            out.packets = uint(v)
                        }
                    }
                    Proto => out.proto = uint(v) as u8,
                    Tos => out.tos = uint(v) as u8,
                    TcpFlags => out.tcp_flags = uint(v) as u8,
                    SrcPort => out.src_port = uint(v) as u16,
                    DstPort => out.dst_port = uint(v) as u16,
                    SrcV4 => out.src_addr = IpAddr::V4(Ipv4Addr::from(u32_at(v, 0))),
                    DstV4 => out.dst_addr = IpAddr::V4(Ipv4Addr::from(u32_at(v, 0))),
                    SrcV6 => out.src_addr = IpAddr::V6(v6(v)),
                    DstV6 => out.dst_addr = IpAddr::V6(v6(v)),
                    SrcMask => out.src_mask = uint(v) as u8,
                    DstMask => out.dst_mask = uint(v) as u8,
                    InIf => out.input_if = uint(v) as u32,
                    OutIf => out.output_if = uint(v) as u32,
                    NextHopV4 => out.next_hop = IpAddr::V4(Ipv4Addr::from(u32_at(v, 0))),
                    NextHopV6 => out.next_hop = IpAddr::V6(v6(v)),
                    BgpNextHopV4 => x.bgp_nh = Some(IpAddr::V4(Ipv4Addr::from(u32_at(v, 0)))),
                    SrcAs => out.src_as = uint(v) as u32,
                    DstAs => out.dst_as = uint(v) as u32,
                    FirstUptime => x.t.first = Some(tb.at_uptime(uint(v) as u32)),
                    LastUptime => x.t.last = Some(tb.at_uptime(uint(v) as u32)),
                    FirstSecs => x.t.first = Some(uint(v).saturating_mul(1000)),
                    LastSecs => x.t.last = Some(uint(v).saturating_mul(1000)),
                    FirstMs => x.t.first = Some(uint(v)),
                    LastMs => x.t.last = Some(uint(v)),
                    FirstNtpUs => x.t.first = Some(ntp_to_unix_ms(uint(v))),
                    LastNtpUs => x.t.last = Some(ntp_to_unix_ms(uint(v))),
                    FirstDeltaUs => x.t.first = Some(tb.export_ms.saturating_sub(uint(v) / 1000)),
                    LastDeltaUs => x.t.last = Some(tb.export_ms.saturating_sub(uint(v) / 1000)),
                    IcmpTypeCode => {
                        let tc = uint(v) as u16;
                        x.icmp = Some(((tc >> 8) as u8, tc as u8));
                    }
                    IcmpType => x.icmp_t = Some(uint(v) as u8),
                    IcmpCode => x.icmp_c = Some(uint(v) as u8),
                    SamplingInterval | SamplerRandomInterval => {
                        out.sampling_interval = uint(v) as u32
                    }
                    SamplingPacketInterval => x.sp_interval = uint(v),
                    SamplingPacketSpace => x.sp_space = uint(v),
                    SamplerId => x.sampler = Some(uint(v) as u32),
                    SrcMac => out.src_mac.copy_from_slice(v),
                    DstMac => out.dst_mac.copy_from_slice(v),
                    SrcVlan => out.src_vlan = uint(v) as u16,
                    DstVlan => out.dst_vlan = uint(v) as u16,
                    Direction => {
                        out.direction = match uint(v) {
                            0 => crate::record::Direction::Ingress,
                            1 => crate::record::Direction::Egress,
                            _ => crate::record::Direction::Unknown,
                        }
                    }
                    Ignore | SystemInitMs => {}
                }
            }
        }
        x.finish(tb, sampling, out);
    }

    /// Read the exporter-wide facts an options data record carries.
    pub(crate) fn decode_options(&self, rec: &[u8]) -> OptionsInfo {
        let mut o = OptionsInfo::default();
        let (mut pi, mut ps) = (0u64, 0u64);
        self.for_each_value(rec, |t, v| match t {
            Target::SamplingInterval | Target::SamplerRandomInterval => {
                o.interval = Some(uint(v) as u32)
            }
            Target::SamplingPacketInterval => pi = uint(v),
            Target::SamplingPacketSpace => ps = uint(v),
            Target::SamplerId => o.sampler_id = Some(uint(v) as u32),
            Target::SystemInitMs => o.system_init_ms = Some(uint(v)),
            _ => {}
        });
        if o.interval.is_none() && pi > 0 {
            o.interval = Some(((pi + ps) / pi) as u32);
        }
        o
    }

    /// Bytes this template takes in a v9 template flowset or IPFIX template set.
    pub fn wire_len(&self) -> usize {
        match self.dialect {
            Dialect::V9 => 4 + 4 * self.fields.len() + if self.is_options() { 2 } else { 0 },
            Dialect::Ipfix => {
                4 + if self.is_options() { 2 } else { 0 }
                    + self
                        .fields
                        .iter()
                        .map(|f| if f.enterprise != 0 { 8 } else { 4 })
                        .sum::<usize>()
            }
        }
    }

    /// Write the template record exactly as an exporter sends it (without the set header).
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.room(self.wire_len())?;
        w.u16(self.id)?;
        match self.dialect {
            Dialect::V9 if self.is_options() => {
                // RFC 3954 §6.1: option scope length and option length, in bytes.
                let scope = self.scope_field_count as usize;
                w.u16((4 * scope) as u16)?;
                w.u16((4 * (self.fields.len() - scope)) as u16)?;
            }
            Dialect::V9 => w.u16(self.fields.len() as u16)?,
            Dialect::Ipfix => {
                w.u16(self.fields.len() as u16)?;
                if self.is_options() {
                    w.u16(self.scope_field_count)?;
                }
            }
        }
        for f in &self.fields {
            if f.enterprise != 0 {
                w.u16(f.id | 0x8000)?;
                w.u16(f.len)?;
                w.u32(f.enterprise)?;
            } else {
                w.u16(f.id)?;
                w.u16(f.len)?;
            }
        }
        Ok(())
    }

    /// Encode a canonical record with this template's fields (octoflow's own templates).
    /// `tb.uptime_ms` set selects sysUptime-relative times (NetFlow v9).
    pub(crate) fn encode_record(
        &self,
        r: &FlowRecord,
        tb: &TimeBase,
        w: &mut Writer<'_>,
    ) -> Result<(), EncodeError> {
        let len = self
            .fixed_len
            .ok_or(EncodeError::Unconvertible("variable-length template"))?;
        w.room(len)?;
        if let Some(v6) = self.own {
            encode_own(self.dialect, v6, r, tb, &mut w.buf[w.pos..w.pos + len]);
            w.pos += len;
            return Ok(());
        }
        self.encode_fields(r, tb, w)
    }

    /// The general encoder: field by field, for any fixed-length template.
    fn encode_fields(
        &self,
        r: &FlowRecord,
        tb: &TimeBase,
        w: &mut Writer<'_>,
    ) -> Result<(), EncodeError> {
        for (f, &t) in self.fields.iter().zip(&self.targets) {
            let n = f.len as usize;
            use Target::*;
            match t {
                SrcV4 | DstV4 | NextHopV4 => {
                    let a = match t {
                        SrcV4 => r.src_addr,
                        DstV4 => r.dst_addr,
                        _ => r.next_hop,
                    };
                    let v = crate::record::v4(a).unwrap_or(Ipv4Addr::UNSPECIFIED);
                    w.put(&v.octets())?
                }
                SrcV6 | DstV6 | NextHopV6 => {
                    let a = match t {
                        SrcV6 => r.src_addr,
                        DstV6 => r.dst_addr,
                        _ => r.next_hop,
                    };
                    let v = match a {
                        IpAddr::V6(x) => x,
                        IpAddr::V4(x) if x.is_unspecified() => Ipv6Addr::UNSPECIFIED,
                        IpAddr::V4(x) => x.to_ipv6_mapped(),
                    };
                    w.put(&v.octets())?
                }
                SrcMac => w.put(&r.src_mac)?,
                DstMac => w.put(&r.dst_mac)?,
                FirstUptime | LastUptime => {
                    let abs = if t == FirstUptime {
                        r.first_ms
                    } else {
                        r.last_ms
                    };
                    let up = tb.uptime_ms.unwrap_or(0);
                    // uptime at `abs` = uptime now - (now - abs), modulo 2^32.
                    let v = up.wrapping_sub(tb.export_ms.wrapping_sub(abs) as u32);
                    w.uint(v as u64, n)?
                }
                _ => {
                    let v: u64 = match t {
                        Bytes | BytesTotal => r.bytes,
                        Packets | PacketsTotal => r.packets,
                        Proto => r.proto as u64,
                        Tos => r.tos as u64,
                        TcpFlags => r.tcp_flags as u64,
                        SrcPort => r.src_port as u64,
                        DstPort => r.dst_port as u64,
                        SrcMask => r.src_mask as u64,
                        DstMask => r.dst_mask as u64,
                        InIf => r.input_if as u64,
                        OutIf => r.output_if as u64,
                        SrcAs => r.src_as as u64,
                        DstAs => r.dst_as as u64,
                        FirstSecs => r.first_ms / 1000,
                        LastSecs => r.last_ms / 1000,
                        FirstMs => r.first_ms,
                        LastMs => r.last_ms,
                        IcmpTypeCode => ((r.icmp_type as u64) << 8) | r.icmp_code as u64,
                        IcmpType => r.icmp_type as u64,
                        IcmpCode => r.icmp_code as u64,
                        SamplingInterval | SamplerRandomInterval => r.sampling_interval as u64,
                        SrcVlan => r.src_vlan as u64,
                        DstVlan => r.dst_vlan as u64,
                        Direction => match r.direction {
                            crate::record::Direction::Ingress => 0,
                            crate::record::Direction::Egress => 1,
                            crate::record::Direction::Unknown => 0xff,
                        },
                        _ => 0,
                    };
                    w.uint(v, n.min(8))?;
                    if n > 8 {
                        w.zeros(n - 8)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Times {
    first: Option<u64>,
    last: Option<u64>,
}

/// (offset, length) of each target's field in a fixed-length record.
type Layout = [Option<(u16, u16)>; ie::TARGETS];

/// What a record's fields say beyond the direct assignments, settled in `finish`.
#[derive(Default)]
struct Scratch {
    t: Times,
    icmp: Option<(u8, u8)>,
    icmp_t: Option<u8>,
    icmp_c: Option<u8>,
    sampler: Option<u32>,
    sp_interval: u64,
    sp_space: u64,
    bgp_nh: Option<IpAddr>,
}

impl Scratch {
    fn finish(self, tb: &TimeBase, sampling: &SamplingState, out: &mut FlowRecord) {
        if out.next_hop == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
            if let Some(nh) = self.bgp_nh {
                out.next_hop = nh;
            }
        }
        out.first_ms = self.t.first.or(self.t.last).unwrap_or(tb.export_ms);
        out.last_ms = self.t.last.or(self.t.first).unwrap_or(tb.export_ms);
        if out.sampling_interval == 0 && self.sp_interval > 0 {
            out.sampling_interval = ((self.sp_interval + self.sp_space) / self.sp_interval) as u32;
        }
        if out.sampling_interval == 0 {
            out.sampling_interval = sampling.lookup(self.sampler);
        }
        if out.is_icmp() {
            let (ty, code) = match (self.icmp, self.icmp_t) {
                (Some(tc), _) => tc,
                (None, Some(ty)) => (ty, self.icmp_c.unwrap_or(0)),
                // Many exporters (softflowd, pmacct) put type*256+code in the port.
                (None, None) => ((out.dst_port >> 8) as u8, out.dst_port as u8),
            };
            out.set_icmp(ty, code);
        }
    }
}

/// The straight-line layout of a plan, when every used target appears once and no
/// two fields compete for one canonical value (where field order would decide).
fn fast_layout(plan: &[(u16, u16, Target)]) -> Option<Box<Layout>> {
    use Target::*;
    let mut lay = Box::new([None; ie::TARGETS]);
    for &(off, len, t) in plan {
        let slot = &mut lay[t as usize];
        if slot.is_some() {
            return None;
        }
        *slot = Some((off, len));
    }
    let has = |t: Target| lay[t as usize].is_some();
    let count = |ts: &[Target]| ts.iter().filter(|&&t| has(t)).count();
    let competing = [
        &[Bytes, BytesTotal][..],
        &[Packets, PacketsTotal],
        &[SrcV4, SrcV6],
        &[DstV4, DstV6],
        &[NextHopV4, NextHopV6],
        &[SamplingInterval, SamplerRandomInterval],
        &[FirstUptime, FirstSecs, FirstMs, FirstNtpUs, FirstDeltaUs],
        &[LastUptime, LastSecs, LastMs, LastNtpUs, LastDeltaUs],
    ];
    if competing.iter().any(|ts| count(ts) > 1) {
        return None;
    }
    Some(lay)
}

/// Decode with a [`fast_layout`]: each target's value read from its fixed offset.
/// Written out field by field on purpose: folding the repeated shapes into a macro
/// and closures made decoding 25–40 % slower in `benches/codec.rs`.
#[inline]
fn decode_fast(lay: &Layout, rec: &[u8], tb: &TimeBase, x: &mut Scratch, out: &mut FlowRecord) {
    use Target::*;
    let get =
        |t: Target| lay[t as usize].and_then(|(o, l)| rec.get(o as usize..o as usize + l as usize));
    // An integer of 1..=8 bytes with at least 8 bytes of record from its start: one
    // 8-byte load and a shift, no dispatch on the width.
    let num = |t: Target| {
        let (o, l) = lay[t as usize]?;
        let (o, l) = (o as usize, l as usize);
        match rec.get(o..o + 8) {
            Some(b) if l <= 8 => {
                let w = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                Some(w >> (8 * (8 - l)))
            }
            _ => rec.get(o..o + l).map(uint),
        }
    };
    if let Some(v) = num(Bytes).or_else(|| num(BytesTotal)) {
        out.bytes = v;
    }
    if let Some(v) = num(Packets).or_else(|| num(PacketsTotal)) {
        out.packets = v;
    }
    if let Some(v) = num(Proto) {
        out.proto = v as u8;
    }
    if let Some(v) = num(Tos) {
        out.tos = v as u8;
    }
    if let Some(v) = num(TcpFlags) {
        out.tcp_flags = v as u8;
    }
    if let Some(v) = num(SrcPort) {
        out.src_port = v as u16;
    }
    if let Some(v) = num(DstPort) {
        out.dst_port = v as u16;
    }
    if let Some(v) = get(SrcV4) {
        out.src_addr = IpAddr::V4(Ipv4Addr::from(u32_at(v, 0)));
    } else if let Some(v) = get(SrcV6) {
        out.src_addr = IpAddr::V6(v6(v));
    }
    if let Some(v) = get(DstV4) {
        out.dst_addr = IpAddr::V4(Ipv4Addr::from(u32_at(v, 0)));
    } else if let Some(v) = get(DstV6) {
        out.dst_addr = IpAddr::V6(v6(v));
    }
    if let Some(v) = num(SrcMask) {
        out.src_mask = v as u8;
    }
    if let Some(v) = num(DstMask) {
        out.dst_mask = v as u8;
    }
    if let Some(v) = num(InIf) {
        out.input_if = v as u32;
    }
    if let Some(v) = num(OutIf) {
        out.output_if = v as u32;
    }
    if let Some(v) = get(NextHopV4) {
        out.next_hop = IpAddr::V4(Ipv4Addr::from(u32_at(v, 0)));
    } else if let Some(v) = get(NextHopV6) {
        out.next_hop = IpAddr::V6(v6(v));
    }
    if let Some(v) = get(BgpNextHopV4) {
        x.bgp_nh = Some(IpAddr::V4(Ipv4Addr::from(u32_at(v, 0))));
    }
    if let Some(v) = num(SrcAs) {
        out.src_as = v as u32;
    }
    if let Some(v) = num(DstAs) {
        out.dst_as = v as u32;
    }
    x.t.first = num(FirstUptime)
        .map(|v| tb.at_uptime(v as u32))
        .or_else(|| num(FirstSecs).map(|v| v.saturating_mul(1000)))
        .or_else(|| num(FirstMs))
        .or_else(|| num(FirstNtpUs).map(ntp_to_unix_ms))
        .or_else(|| num(FirstDeltaUs).map(|v| tb.export_ms.saturating_sub(v / 1000)));
    x.t.last = num(LastUptime)
        .map(|v| tb.at_uptime(v as u32))
        .or_else(|| num(LastSecs).map(|v| v.saturating_mul(1000)))
        .or_else(|| num(LastMs))
        .or_else(|| num(LastNtpUs).map(ntp_to_unix_ms))
        .or_else(|| num(LastDeltaUs).map(|v| tb.export_ms.saturating_sub(v / 1000)));
    if let Some(v) = num(IcmpTypeCode) {
        x.icmp = Some(((v >> 8) as u8, v as u8));
    }
    x.icmp_t = num(IcmpType).map(|v| v as u8);
    x.icmp_c = num(IcmpCode).map(|v| v as u8);
    if let Some(v) = num(SamplingInterval).or_else(|| num(SamplerRandomInterval)) {
        out.sampling_interval = v as u32;
    }
    x.sp_interval = num(SamplingPacketInterval).unwrap_or(0);
    x.sp_space = num(SamplingPacketSpace).unwrap_or(0);
    x.sampler = num(SamplerId).map(|v| v as u32);
    if let Some(v) = get(SrcMac) {
        out.src_mac.copy_from_slice(v);
    }
    if let Some(v) = get(DstMac) {
        out.dst_mac.copy_from_slice(v);
    }
    if let Some(v) = num(SrcVlan) {
        out.src_vlan = v as u16;
    }
    if let Some(v) = num(DstVlan) {
        out.dst_vlan = v as u16;
    }
    if let Some(v) = num(Direction) {
        out.direction = match v {
            0 => crate::record::Direction::Ingress,
            1 => crate::record::Direction::Egress,
            _ => crate::record::Direction::Unknown,
        }
    }
}

#[inline]
fn v6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

/// A record in octoflow's own data template (`message::own_fields`, in that order),
/// written out field by field into `b` (exactly the record's length). Agrees with
/// [`Template::encode_fields`] byte for byte (tested).
fn encode_own(dialect: Dialect, v6: bool, r: &FlowRecord, tb: &TimeBase, b: &mut [u8]) {
    struct Put<'a>(&'a mut [u8], usize);
    impl Put<'_> {
        #[inline(always)]
        fn n<const N: usize>(&mut self, v: [u8; N]) {
            self.0[self.1..self.1 + N].copy_from_slice(&v);
            self.1 += N;
        }
    }
    let mut p = Put(b, 0);
    for a in [r.src_addr, r.dst_addr, r.next_hop] {
        if v6 {
            p.n(match a {
                IpAddr::V6(x) => x.octets(),
                IpAddr::V4(x) if x.is_unspecified() => [0; 16],
                IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
            });
        } else {
            p.n(crate::record::v4(a)
                .unwrap_or(Ipv4Addr::UNSPECIFIED)
                .octets());
        }
    }
    p.n(r.input_if.to_be_bytes());
    p.n(r.output_if.to_be_bytes());
    p.n(r.packets.to_be_bytes());
    p.n(r.bytes.to_be_bytes());
    match dialect {
        Dialect::V9 => {
            // uptime at `abs` = uptime now - (now - abs), modulo 2^32.
            let up = tb.uptime_ms.unwrap_or(0);
            let at = |abs: u64| up.wrapping_sub(tb.export_ms.wrapping_sub(abs) as u32);
            p.n(at(r.first_ms).to_be_bytes());
            p.n(at(r.last_ms).to_be_bytes());
        }
        Dialect::Ipfix => {
            p.n(r.first_ms.to_be_bytes());
            p.n(r.last_ms.to_be_bytes());
        }
    }
    p.n(r.src_port.to_be_bytes());
    p.n(r.dst_port.to_be_bytes());
    p.n([r.tcp_flags, r.proto, r.tos, r.src_mask, r.dst_mask]);
    p.n([match r.direction {
        crate::record::Direction::Ingress => 0,
        crate::record::Direction::Egress => 1,
        crate::record::Direction::Unknown => 0xff,
    }]);
    p.n(r.src_as.to_be_bytes());
    p.n(r.dst_as.to_be_bytes());
    p.n(r.src_vlan.to_be_bytes());
    p.n(r.dst_vlan.to_be_bytes());
    p.n([r.icmp_type, r.icmp_code]);
    p.n(r.src_mac);
    p.n(r.dst_mac);
    p.n(r.sampling_interval.to_be_bytes());
    debug_assert_eq!(p.1, p.0.len());
}

/// NTP timestamp (RFC 5905 §6, 32.32 fixed point from 1900) to Unix milliseconds
/// (RFC 7011 §6.1.9–6.1.10 dateTimeMicroseconds/Nanoseconds).
fn ntp_to_unix_ms(v: u64) -> u64 {
    const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
    let secs = (v >> 32).saturating_sub(NTP_UNIX_OFFSET);
    let frac_ms = ((v & 0xffff_ffff) * 1000) >> 32;
    secs * 1000 + frac_ms
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use crate::message::{own_template, MessageHeader, MessageWriter};
    use crate::{Batch, Decoder, Limits};

    /// The straight-line decoder and the field-by-field one agree, for octoflow's
    /// own templates (every canonical field, IPv4 and IPv6, v9 and IPFIX).
    #[test]
    fn fast_layout_decodes_like_the_field_walk() {
        for dialect in [Dialect::V9, Dialect::Ipfix] {
            for v6 in [false, true] {
                let t = own_template(dialect, v6);
                assert!(t.layout.is_some(), "own templates take the fast path");
                let mut slow = t.clone();
                slow.layout = None;
                let r = FlowRecord {
                    src_addr: if v6 {
                        "2001:db8::1".parse().expect("ip")
                    } else {
                        "10.0.0.1".parse().expect("ip")
                    },
                    dst_addr: if v6 {
                        "2001:db8::2".parse().expect("ip")
                    } else {
                        "10.0.0.2".parse().expect("ip")
                    },
                    src_port: 1234,
                    dst_port: 80,
                    proto: 6,
                    tos: 3,
                    tcp_flags: 0x1b,
                    packets: 7,
                    bytes: 7000,
                    first_ms: 1_767_225_590_000,
                    last_ms: 1_767_225_599_000,
                    input_if: 4,
                    output_if: 5,
                    src_as: 64512,
                    dst_as: 64513,
                    src_mask: 24,
                    dst_mask: 16,
                    src_vlan: 10,
                    dst_vlan: 20,
                    src_mac: [2, 0, 0, 0, 0, 1],
                    dst_mac: [2, 0, 0, 0, 0, 2],
                    sampling_interval: 100,
                    ..FlowRecord::default()
                };
                let mut buf = vec![0u8; 2048];
                let h = MessageHeader {
                    unix_ms: 1_767_225_600_000,
                    sys_uptime_ms: 3_600_000,
                    sequence: 0,
                    domain: 1,
                };
                let mut w = MessageWriter::new(&mut buf, dialect, h).expect("writer");
                w.add_template(&t).expect("template");
                w.add_record(&t, &r).expect("record");
                let n = w.finish();
                let mut b = Batch::default();
                Decoder::new(Limits::default())
                    .decode(
                        "192.0.2.1".parse().expect("ip"),
                        &buf[..n],
                        h.unix_ms,
                        &mut b,
                    )
                    .expect("decodes");
                let rec = b.bytes(&buf[..n], b.raw[0]);
                let tb = TimeBase {
                    export_ms: h.unix_ms,
                    uptime_ms: (dialect == Dialect::V9).then_some(h.sys_uptime_ms),
                    system_init_ms: None,
                };
                let (mut a, mut c) = (FlowRecord::default(), FlowRecord::default());
                t.decode_data(rec, &tb, &SamplingState::default(), &mut a);
                slow.decode_data(rec, &tb, &SamplingState::default(), &mut c);
                assert_eq!(a, c, "{dialect:?} v6={v6}");
                assert_eq!(a.src_addr, r.src_addr);
                assert_eq!(a.bytes, r.bytes);
                assert_eq!(a.first_ms, r.first_ms);
                assert_eq!(a.sampling_interval, 100);
            }
        }
    }

    /// The straight-line encoder of octoflow's own templates writes what the
    /// field-by-field encoder writes, for varied records (IPv4 in IPv6 templates and
    /// the reverse, every direction, extreme counters and times).
    #[test]
    fn own_template_encoder_agrees_with_the_field_walk() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for dialect in [Dialect::V9, Dialect::Ipfix] {
            for v6 in [false, true] {
                let t = own_template(dialect, v6);
                assert_eq!(t.own, Some(v6), "own template recognised");
                let len = t.fixed_len.expect("fixed");
                for i in 0..500 {
                    let a = |v: u64| -> IpAddr {
                        match v % 3 {
                            0 => IpAddr::from(Ipv4Addr::from((v >> 8) as u32)),
                            1 => IpAddr::from(Ipv6Addr::from(((v as u128) << 64) | v as u128)),
                            _ => IpAddr::from(Ipv4Addr::from((v >> 8) as u32).to_ipv6_mapped()),
                        }
                    };
                    let r = FlowRecord {
                        src_addr: a(rnd()),
                        dst_addr: a(rnd()),
                        next_hop: if i % 5 == 0 {
                            IpAddr::from([0u8; 4])
                        } else {
                            a(rnd())
                        },
                        src_port: rnd() as u16,
                        dst_port: rnd() as u16,
                        proto: rnd() as u8,
                        tos: rnd() as u8,
                        tcp_flags: rnd() as u8,
                        packets: rnd(),
                        bytes: rnd() >> (i % 64),
                        first_ms: rnd() >> 20,
                        last_ms: rnd() >> 20,
                        input_if: rnd() as u32,
                        output_if: rnd() as u32,
                        src_as: rnd() as u32,
                        dst_as: rnd() as u32,
                        src_mask: rnd() as u8,
                        dst_mask: rnd() as u8,
                        src_vlan: rnd() as u16,
                        dst_vlan: rnd() as u16,
                        src_mac: [rnd() as u8; 6],
                        dst_mac: [rnd() as u8, 1, 2, 3, 4, 5],
                        icmp_type: rnd() as u8,
                        icmp_code: rnd() as u8,
                        sampling_interval: rnd() as u32,
                        direction: match i % 3 {
                            0 => crate::record::Direction::Ingress,
                            1 => crate::record::Direction::Egress,
                            _ => crate::record::Direction::Unknown,
                        },
                        ..FlowRecord::default()
                    };
                    let tb = TimeBase {
                        export_ms: rnd() >> 20,
                        uptime_ms: (dialect == Dialect::V9).then_some(rnd() as u32),
                        system_init_ms: None,
                    };
                    let (mut fast, mut slow) = (vec![0u8; len], vec![0u8; len]);
                    t.encode_record(&r, &tb, &mut Writer::new(&mut fast))
                        .expect("fast");
                    t.encode_fields(&r, &tb, &mut Writer::new(&mut slow))
                        .expect("slow");
                    assert_eq!(fast, slow, "{dialect:?} v6={v6} {r:?}");
                }
            }
        }
    }

    #[test]
    fn competing_fields_fall_back_to_the_field_walk() {
        use crate::ie::id::*;
        let t = Template::new(
            300,
            Dialect::Ipfix,
            0,
            vec![
                FieldSpec::iana(OCTET_DELTA_COUNT, 8),
                FieldSpec::iana(FLOW_START_MILLISECONDS, 8),
                FieldSpec::iana(FLOW_START_SYS_UP_TIME, 4),
            ],
        )
        .expect("template");
        assert!(t.layout.is_none());
    }
}
