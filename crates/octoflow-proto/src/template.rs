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
        Ok(Template {
            id,
            dialect,
            scope_field_count,
            fields,
            targets,
            plan,
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
        let mut t = Times::default();
        let mut icmp: Option<(u8, u8)> = None;
        let (mut icmp_t, mut icmp_c) = (None, None);
        let mut sampler = None;
        let mut sp_interval = 0u64;
        let mut sp_space = 0u64;
        let mut bgp_nh = None;
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
                BgpNextHopV4 => bgp_nh = Some(IpAddr::V4(Ipv4Addr::from(u32_at(v, 0)))),
                SrcAs => out.src_as = uint(v) as u32,
                DstAs => out.dst_as = uint(v) as u32,
                FirstUptime => t.first = Some(tb.at_uptime(uint(v) as u32)),
                LastUptime => t.last = Some(tb.at_uptime(uint(v) as u32)),
                FirstSecs => t.first = Some(uint(v) * 1000),
                LastSecs => t.last = Some(uint(v) * 1000),
                FirstMs => t.first = Some(uint(v)),
                LastMs => t.last = Some(uint(v)),
                FirstNtpUs => t.first = Some(ntp_to_unix_ms(uint(v))),
                LastNtpUs => t.last = Some(ntp_to_unix_ms(uint(v))),
                FirstDeltaUs => t.first = Some(tb.export_ms.saturating_sub(uint(v) / 1000)),
                LastDeltaUs => t.last = Some(tb.export_ms.saturating_sub(uint(v) / 1000)),
                IcmpTypeCode => {
                    let x = uint(v) as u16;
                    icmp = Some(((x >> 8) as u8, x as u8));
                }
                IcmpType => icmp_t = Some(uint(v) as u8),
                IcmpCode => icmp_c = Some(uint(v) as u8),
                SamplingInterval | SamplerRandomInterval => out.sampling_interval = uint(v) as u32,
                SamplingPacketInterval => sp_interval = uint(v),
                SamplingPacketSpace => sp_space = uint(v),
                SamplerId => sampler = Some(uint(v) as u32),
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
        if out.next_hop == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
            if let Some(nh) = bgp_nh {
                out.next_hop = nh;
            }
        }
        out.first_ms = t.first.or(t.last).unwrap_or(tb.export_ms);
        out.last_ms = t.last.or(t.first).unwrap_or(tb.export_ms);
        if out.sampling_interval == 0 && sp_interval > 0 {
            out.sampling_interval = ((sp_interval + sp_space) / sp_interval) as u32;
        }
        if out.sampling_interval == 0 {
            out.sampling_interval = sampling.lookup(sampler);
        }
        if out.is_icmp() {
            let (ty, code) = match (icmp, icmp_t) {
                (Some(tc), _) => tc,
                (None, Some(ty)) => (ty, icmp_c.unwrap_or(0)),
                // Many exporters (softflowd, pmacct) put type*256+code in the port.
                (None, None) => ((out.dst_port >> 8) as u8, out.dst_port as u8),
            };
            out.set_icmp(ty, code);
        }
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

#[inline]
fn v6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

/// NTP timestamp (RFC 5905 §6, 32.32 fixed point from 1900) to Unix milliseconds
/// (RFC 7011 §6.1.9–6.1.10 dateTimeMicroseconds/Nanoseconds).
fn ntp_to_unix_ms(v: u64) -> u64 {
    const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
    let secs = (v >> 32).saturating_sub(NTP_UNIX_OFFSET);
    let frac_ms = ((v & 0xffff_ffff) * 1000) >> 32;
    secs * 1000 + frac_ms
}
