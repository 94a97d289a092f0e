//! Decoding a data record with its template into a canonical [`FlowRecord`]: the
//! general field walk (any template, variable-length fields included) and the
//! straight-line decoder for fixed layouts where each used field appears once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{OptionsInfo, SamplingState, Template, TimeBase, VARLEN};
use crate::ie::{self, Target};
use crate::record::FlowRecord;
use crate::wire::{u16_at, u32_at, uint};

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
                    SrcV4 => x.a.src4 = Some(Ipv4Addr::from(u32_at(v, 0))),
                    DstV4 => x.a.dst4 = Some(Ipv4Addr::from(u32_at(v, 0))),
                    SrcV6 => x.a.src6 = Some(v6(v)),
                    DstV6 => x.a.dst6 = Some(v6(v)),
                    SrcMask => x.a.src_mask4 = Some(uint(v) as u8),
                    DstMask => x.a.dst_mask4 = Some(uint(v) as u8),
                    SrcMask6 => x.a.src_mask6 = Some(uint(v) as u8),
                    DstMask6 => x.a.dst_mask6 = Some(uint(v) as u8),
                    IpVersion => x.a.ip_version = Some(uint(v) as u8),
                    InIf => out.input_if = uint(v) as u32,
                    OutIf => out.output_if = uint(v) as u32,
                    NextHopV4 => x.a.nh4 = Some(Ipv4Addr::from(u32_at(v, 0))),
                    NextHopV6 => x.a.nh6 = Some(v6(v)),
                    BgpNextHopV4 => out.bgp_next_hop = IpAddr::V4(Ipv4Addr::from(u32_at(v, 0))),
                    // All zero: not sent (the record's convention is 0.0.0.0).
                    BgpNextHopV6 if v6(v).is_unspecified() => {}
                    BgpNextHopV6 => out.bgp_next_hop = IpAddr::V6(v6(v)),
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
            o.interval = Some(packet_interval(pi, ps));
        }
        o
    }
}

#[derive(Default)]
struct Times {
    first: Option<u64>,
    last: Option<u64>,
}

/// (offset, length) of each target's field in a fixed-length record.
pub(super) type Layout = [Option<(u16, u16)>; ie::TARGETS];

/// A record's address fields, settled in [`Addrs::settle`]: templates may carry
/// both families (Cisco IOS-XR/IOS-XE MPLS templates, Procera), the absent one as
/// zeros, so neither decoder lets one field overwrite the other.
#[derive(Default)]
struct Addrs {
    src4: Option<Ipv4Addr>,
    dst4: Option<Ipv4Addr>,
    nh4: Option<Ipv4Addr>,
    src6: Option<Ipv6Addr>,
    dst6: Option<Ipv6Addr>,
    nh6: Option<Ipv6Addr>,
    src_mask4: Option<u8>,
    dst_mask4: Option<u8>,
    src_mask6: Option<u8>,
    dst_mask6: Option<u8>,
    ip_version: Option<u8>,
}

impl Addrs {
    /// The flow's family is the one ipVersion (IE 60) names when it says 4 or 6;
    /// otherwise IPv4 when an IPv4 source or destination is non-zero, else IPv6 when
    /// an IPv6 one is non-zero or the template has no IPv4 address field. The
    /// source, destination and masks take that family when the template has both;
    /// the next hop takes the non-zero one (an IPv6 flow can have an IPv4 next
    /// hop), the flow's family when both or neither are.
    fn settle(&self, out: &mut FlowRecord) {
        let nz4 = |a: Option<Ipv4Addr>| a.is_some_and(|a| !a.is_unspecified());
        let nz6 = |a: Option<Ipv6Addr>| a.is_some_and(|a| !a.is_unspecified());
        let v6 = match self.ip_version {
            Some(4) => false,
            Some(6) => true,
            _ => {
                !(nz4(self.src4) || nz4(self.dst4))
                    && (nz6(self.src6)
                        || nz6(self.dst6)
                        || (self.src4.is_none() && self.dst4.is_none()))
            }
        };
        if let Some(a) = pick(self.src4, self.src6, v6) {
            out.src_addr = a;
        }
        if let Some(a) = pick(self.dst4, self.dst6, v6) {
            out.dst_addr = a;
        }
        let nh_v6 = match (nz4(self.nh4), nz6(self.nh6)) {
            (true, false) => false,
            (false, true) => true,
            _ => v6,
        };
        if let Some(a) = pick(self.nh4, self.nh6, nh_v6) {
            out.next_hop = a;
        }
        let mask = |m4: Option<u8>, m6: Option<u8>| if v6 { m6.or(m4) } else { m4.or(m6) };
        if let Some(m) = mask(self.src_mask4, self.src_mask6) {
            out.src_mask = m;
        }
        if let Some(m) = mask(self.dst_mask4, self.dst_mask6) {
            out.dst_mask = m;
        }
    }
}

/// One address from a template's IPv4 and IPv6 fields: the family `v6` names when
/// it has both.
#[inline]
fn pick(a4: Option<Ipv4Addr>, a6: Option<Ipv6Addr>, v6: bool) -> Option<IpAddr> {
    match (a4, a6) {
        (Some(a), Some(b)) => Some(if v6 { IpAddr::V6(b) } else { IpAddr::V4(a) }),
        (Some(a), None) => Some(IpAddr::V4(a)),
        (None, Some(b)) => Some(IpAddr::V6(b)),
        (None, None) => None,
    }
}

/// What a record's fields say beyond the direct assignments, settled in `finish`.
#[derive(Default)]
struct Scratch {
    a: Addrs,
    t: Times,
    icmp: Option<(u8, u8)>,
    icmp_t: Option<u8>,
    icmp_c: Option<u8>,
    sampler: Option<u32>,
    sp_interval: u64,
    sp_space: u64,
}

impl Scratch {
    fn finish(self, tb: &TimeBase, sampling: &SamplingState, out: &mut FlowRecord) {
        self.a.settle(out);
        out.first_ms = self.t.first.or(self.t.last).unwrap_or(tb.export_ms);
        out.last_ms = self.t.last.or(self.t.first).unwrap_or(tb.export_ms);
        if out.sampling_interval == 0 && self.sp_interval > 0 {
            out.sampling_interval = packet_interval(self.sp_interval, self.sp_space);
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
pub(super) fn fast_layout(plan: &[(u16, u16, Target)]) -> Option<Box<Layout>> {
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
    // Addresses and masks are settled in `Scratch::finish`, as in the field walk.
    x.a.src4 = get(SrcV4).map(|v| Ipv4Addr::from(u32_at(v, 0)));
    x.a.dst4 = get(DstV4).map(|v| Ipv4Addr::from(u32_at(v, 0)));
    x.a.nh4 = get(NextHopV4).map(|v| Ipv4Addr::from(u32_at(v, 0)));
    x.a.src6 = get(SrcV6).map(v6);
    x.a.dst6 = get(DstV6).map(v6);
    x.a.nh6 = get(NextHopV6).map(v6);
    x.a.src_mask4 = num(SrcMask).map(|v| v as u8);
    x.a.dst_mask4 = num(DstMask).map(|v| v as u8);
    x.a.src_mask6 = num(SrcMask6).map(|v| v as u8);
    x.a.dst_mask6 = num(DstMask6).map(|v| v as u8);
    x.a.ip_version = num(IpVersion).map(|v| v as u8);
    if let Some(v) = num(InIf) {
        out.input_if = v as u32;
    }
    if let Some(v) = num(OutIf) {
        out.output_if = v as u32;
    }
    if let Some(v) = get(BgpNextHopV4) {
        out.bgp_next_hop = IpAddr::V4(Ipv4Addr::from(u32_at(v, 0)));
    }
    if let Some(v) = get(BgpNextHopV6).map(v6) {
        if !v.is_unspecified() {
            out.bgp_next_hop = IpAddr::V6(v);
        }
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

/// The 1-in-N interval of systematic count-based sampling (RFC 5475 §5.1):
/// `interval` packets selected out of every `interval + space`, i.e.
/// (interval + space) / interval = 1 + space / interval, computed without overflow.
/// An interval beyond `u32::MAX` saturates to `u32::MAX`. `interval` must be > 0.
fn packet_interval(interval: u64, space: u64) -> u32 {
    let n = (space / interval).saturating_add(1);
    u32::try_from(n).unwrap_or(u32::MAX)
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
