//! sFlow v5 (sflow.org "sFlow Version 5", XDR encoded): a datagram header (agent
//! address, sub-agent, sequence, uptime), then samples. Flow samples (format 1) and
//! expanded flow samples (format 3) become one canonical record each; counter samples
//! (2 and 4) are kept as raw samples. Unknown samples and records are skipped by
//! their length.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use crate::batch::SflowHeader;

use crate::batch::{Batch, RawRef, Version};
use crate::error::{DecodeError, EncodeError};
use crate::packet;
use crate::record::FlowRecord;
use crate::template_cache::{ScopeKey, TemplateCache};
use crate::wire::{u32_at, Reader, Writer};

pub const FLOW_SAMPLE: u32 = 1;
pub const COUNTER_SAMPLE: u32 = 2;
pub const FLOW_SAMPLE_EXPANDED: u32 = 3;
pub const COUNTER_SAMPLE_EXPANDED: u32 = 4;

pub const RECORD_RAW_HEADER: u32 = 1;
pub const RECORD_SAMPLED_IPV4: u32 = 3;
pub const RECORD_SAMPLED_IPV6: u32 = 4;
pub const RECORD_EXTENDED_SWITCH: u32 = 1001;
pub const RECORD_EXTENDED_ROUTER: u32 = 1002;
pub const RECORD_EXTENDED_GATEWAY: u32 = 1003;

fn address(r: &mut Reader<'_>) -> Result<IpAddr, DecodeError> {
    match r.u32("address type")? {
        1 => Ok(IpAddr::V4(Ipv4Addr::from(r.u32("IPv4 address")?))),
        2 => {
            let b = r.bytes(16, "IPv6 address")?;
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Ok(IpAddr::V6(Ipv6Addr::from(a)))
        }
        0 => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), // "unknown" address type
        t => Err(DecodeError::BadAddressType(t)),
    }
}

/// Parse the datagram header; returns it and the offset of the first sample.
pub fn parse_header(d: &[u8]) -> Result<(SflowHeader, usize), DecodeError> {
    let mut r = Reader::new(d);
    let v = r.u32("sFlow header")?;
    if v != 5 {
        return Err(DecodeError::UnknownVersion(v));
    }
    let agent = address(&mut r)?;
    let sub_agent = r.u32("sFlow header")?;
    let sequence = r.u32("sFlow header")?;
    let uptime_ms = r.u32("sFlow header")?;
    let samples = r.u32("sFlow header")?;
    Ok((
        SflowHeader {
            agent,
            sub_agent,
            sequence,
            uptime_ms,
            samples,
        },
        r.pos,
    ))
}

pub(crate) fn decode(
    cache: &mut TemplateCache,
    d: &[u8],
    now_ms: u64,
    out: &mut Batch,
) -> Result<(), DecodeError> {
    let (h, mut pos) = parse_header(d).map_err(|e| match e {
        DecodeError::LengthPastEnd { what, .. } => DecodeError::Truncated {
            what,
            need: 28,
            have: d.len(),
        },
        e => e,
    })?;
    out.sflow = Some(h);
    out.domain = h.sub_agent;
    out.sequence = h.sequence;
    out.uptime_ms = h.uptime_ms;
    out.export_ms = now_ms;
    let key = ScopeKey {
        exporter: h.agent,
        version: Version::Sflow.scope_version(),
        domain: h.sub_agent,
    };
    out.sequence_gap = cache.scope_mut(key)?.check_sequence(h.sequence, 1);
    for _ in 0..h.samples {
        let mut r = Reader { buf: d, pos };
        let tag = r.u32("sample header")?;
        let len = r.u32("sample header")? as usize;
        let body = r.bytes(len, "sample")?;
        let raw = RawRef::new(pos, 8 + len, false);
        // Enterprise 0 only: the top 20 bits are the enterprise.
        match tag {
            FLOW_SAMPLE | FLOW_SAMPLE_EXPANDED => {
                let mut rec = FlowRecord {
                    exporter: h.agent,
                    domain: h.sub_agent,
                    first_ms: now_ms,
                    last_ms: now_ms,
                    packets: 1,
                    ..FlowRecord::default()
                };
                if flow_sample(body, tag == FLOW_SAMPLE_EXPANDED, &mut rec)? {
                    out.records.push(rec);
                    out.raw.push(raw);
                } else {
                    out.skipped += 1;
                }
            }
            COUNTER_SAMPLE | COUNTER_SAMPLE_EXPANDED => out.counter_samples.push(raw),
            _ => {}
        }
        pos = r.pos;
    }
    Ok(())
}

/// Decode one flow sample body into `rec`; false when it held no IP packet.
fn flow_sample(b: &[u8], expanded: bool, rec: &mut FlowRecord) -> Result<bool, DecodeError> {
    let mut r = Reader::new(b);
    let _seq = r.u32("flow sample")?;
    let (input, output);
    if expanded {
        let _src_type = r.u32("flow sample")?;
        let _src_index = r.u32("flow sample")?;
        rec.sampling_interval = r.u32("flow sample")?;
        let _pool = r.u32("flow sample")?;
        let _drops = r.u32("flow sample")?;
        let in_fmt = r.u32("flow sample")?;
        let in_val = r.u32("flow sample")?;
        let out_fmt = r.u32("flow sample")?;
        let out_val = r.u32("flow sample")?;
        input = if in_fmt == 0 { in_val } else { 0 };
        output = if out_fmt == 0 { out_val } else { 0 };
    } else {
        let _source = r.u32("flow sample")?;
        rec.sampling_interval = r.u32("flow sample")?;
        let _pool = r.u32("flow sample")?;
        let _drops = r.u32("flow sample")?;
        let i = r.u32("flow sample")?;
        let o = r.u32("flow sample")?;
        // Top two bits are the format: 0 = ifIndex, 1 = discarded, 2 = multiple.
        input = if i >> 30 == 0 { i & 0x3fff_ffff } else { 0 };
        output = if o >> 30 == 0 { o & 0x3fff_ffff } else { 0 };
    }
    rec.input_if = input;
    rec.output_if = output;
    let n = r.u32("flow sample")?;
    let mut have_ip = false;
    for _ in 0..n {
        let fmt = r.u32("flow record")?;
        let len = r.u32("flow record")? as usize;
        let body = r.bytes(len, "flow record")?;
        match fmt {
            RECORD_RAW_HEADER => {
                let mut h = Reader::new(body);
                let proto = h.u32("raw header")?;
                let _frame_len = h.u32("raw header")?;
                let _stripped = h.u32("raw header")?;
                let hlen = h.u32("raw header")? as usize;
                let hdr = h.bytes(hlen, "raw header")?;
                let ok = match proto {
                    packet::HEADER_PROTO_ETHERNET => packet::parse_ethernet(hdr, rec),
                    packet::HEADER_PROTO_IPV4 => packet::parse_ipv4(hdr, rec),
                    packet::HEADER_PROTO_IPV6 => packet::parse_ipv6(hdr, rec),
                    _ => false,
                };
                have_ip |= ok;
            }
            RECORD_SAMPLED_IPV4 | RECORD_SAMPLED_IPV6 if !have_ip => {
                let mut h = Reader::new(body);
                rec.bytes = h.u32("sampled IP")? as u64;
                rec.proto = h.u32("sampled IP")? as u8;
                if fmt == RECORD_SAMPLED_IPV4 {
                    rec.src_addr = IpAddr::V4(Ipv4Addr::from(h.u32("sampled IPv4")?));
                    rec.dst_addr = IpAddr::V4(Ipv4Addr::from(h.u32("sampled IPv4")?));
                } else {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(h.bytes(16, "sampled IPv6")?);
                    rec.src_addr = IpAddr::V6(Ipv6Addr::from(a));
                    a.copy_from_slice(h.bytes(16, "sampled IPv6")?);
                    rec.dst_addr = IpAddr::V6(Ipv6Addr::from(a));
                }
                rec.src_port = h.u32("sampled IP")? as u16;
                rec.dst_port = h.u32("sampled IP")? as u16;
                rec.tcp_flags = h.u32("sampled IP")? as u8;
                rec.tos = h.u32("sampled IP")? as u8;
                if rec.is_icmp() {
                    // The spec puts ICMP type and code in the port fields.
                    rec.set_icmp(rec.src_port as u8, rec.dst_port as u8);
                }
                have_ip = true;
            }
            RECORD_EXTENDED_SWITCH => {
                let mut h = Reader::new(body);
                rec.src_vlan = h.u32("extended switch")? as u16;
                let _ = h.u32("extended switch")?;
                rec.dst_vlan = h.u32("extended switch")? as u16;
            }
            RECORD_EXTENDED_ROUTER => {
                let mut h = Reader::new(body);
                rec.next_hop = address(&mut h)?;
                rec.src_mask = h.u32("extended router")? as u8;
                rec.dst_mask = h.u32("extended router")? as u8;
            }
            RECORD_EXTENDED_GATEWAY => {
                let mut h = Reader::new(body);
                let nh = address(&mut h)?;
                if rec.next_hop == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
                    rec.next_hop = nh;
                }
                let _router_as = h.u32("extended gateway")?;
                rec.src_as = h.u32("extended gateway")?;
                let _peer_as = h.u32("extended gateway")?;
                // dst_as_path: segments of (type, count, ASNs); the last ASN is the origin.
                let segs = h.u32("extended gateway")?;
                for _ in 0..segs {
                    let _ty = h.u32("AS path segment")?;
                    let cnt = h.u32("AS path segment")? as usize;
                    let asns = h.bytes(
                        cnt.checked_mul(4).ok_or(DecodeError::LengthPastEnd {
                            what: "AS path segment",
                            len: usize::MAX,
                            remaining: h.remaining(),
                        })?,
                        "AS path segment",
                    )?;
                    if cnt > 0 {
                        rec.dst_as = u32_at(asns, (cnt - 1) * 4);
                    }
                }
            }
            _ => {} // skipped by its length
        }
    }
    Ok(have_ip)
}

/// Builds an sFlow v5 datagram: from whole samples of another datagram (filtered
/// sFlow → sFlow, agent kept) or from canonical records (one flow sample each).
pub struct DatagramWriter<'a> {
    w: Writer<'a>,
    count_at: usize,
    samples: u32,
}

impl<'a> DatagramWriter<'a> {
    pub fn new(buf: &'a mut [u8], h: &SflowHeader) -> Result<Self, EncodeError> {
        let mut w = Writer::new(buf);
        w.u32(5)?;
        match h.agent {
            IpAddr::V4(a) => {
                w.u32(1)?;
                w.put(&a.octets())?;
            }
            IpAddr::V6(a) => {
                w.u32(2)?;
                w.put(&a.octets())?;
            }
        }
        w.u32(h.sub_agent)?;
        w.u32(h.sequence)?;
        w.u32(h.uptime_ms)?;
        let count_at = w.pos;
        w.u32(0)?;
        Ok(DatagramWriter {
            w,
            count_at,
            samples: 0,
        })
    }

    pub fn samples(&self) -> u32 {
        self.samples
    }

    pub fn len(&self) -> usize {
        self.w.pos
    }

    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    /// Copy a whole sample (format, length and body) unchanged.
    pub fn add_raw_sample(&mut self, sample: &[u8]) -> Result<(), EncodeError> {
        self.w.put(sample)?;
        self.samples += 1;
        Ok(())
    }

    /// Add a flow sample (format 1) for `r`: a raw Ethernet/IP header record, plus
    /// extended switch/router/gateway records when the flow has VLANs, a next hop or
    /// masks, or AS numbers. `sample_seq` and `source_id` are the caller's.
    pub fn add_flow(
        &mut self,
        r: &FlowRecord,
        sample_seq: u32,
        source_id: u32,
    ) -> Result<(), EncodeError> {
        let mut hdr = [0u8; 128];
        let hlen = packet::build_header(r, &mut hdr);
        let hpad = (hlen + 3) & !3;
        let has_switch = r.src_vlan != 0 || r.dst_vlan != 0;
        let has_router =
            r.next_hop != IpAddr::V4(Ipv4Addr::UNSPECIFIED) || r.src_mask != 0 || r.dst_mask != 0;
        let has_gw = r.src_as != 0 || r.dst_as != 0;
        let addr_len = |a: IpAddr| if matches!(a, IpAddr::V6(_)) { 20 } else { 8 };
        let nh_len = addr_len(r.next_hop);
        let mut len = 32 + (8 + 16 + hpad);
        let mut nrec = 1;
        if has_switch {
            len += 8 + 16;
            nrec += 1;
        }
        if has_router {
            len += 8 + nh_len + 8;
            nrec += 1;
        }
        if has_gw {
            len += 8 + nh_len + 12 + 4 + if r.dst_as != 0 { 12 } else { 0 } + 8;
            nrec += 1;
        }
        self.w.room(8 + len)?;
        let w = &mut self.w;
        w.u32(FLOW_SAMPLE)?;
        w.u32(len as u32)?;
        w.u32(sample_seq)?;
        w.u32(source_id)?;
        w.u32(r.sampling_interval.max(1))?;
        w.u32(sample_seq)?; // sample pool
        w.u32(0)?; // drops
        w.u32(r.input_if & 0x3fff_ffff)?;
        w.u32(r.output_if & 0x3fff_ffff)?;
        w.u32(nrec)?;
        w.u32(RECORD_RAW_HEADER)?;
        w.u32((16 + hpad) as u32)?;
        w.u32(packet::HEADER_PROTO_ETHERNET)?;
        let l2 = 14 + if r.src_vlan != 0 { 4 } else { 0 };
        w.u32((r.bytes + l2 + 4).min(u32::MAX as u64) as u32)?; // frame length with FCS
        w.u32(4)?; // stripped: the FCS
        w.u32(hlen as u32)?;
        w.put(&hdr[..hlen])?;
        w.zeros(hpad - hlen)?;
        let put_addr = |w: &mut Writer<'_>, a: IpAddr| -> Result<(), EncodeError> {
            match a {
                IpAddr::V4(x) => {
                    w.u32(1)?;
                    w.put(&x.octets())
                }
                IpAddr::V6(x) => {
                    w.u32(2)?;
                    w.put(&x.octets())
                }
            }
        };
        if has_switch {
            w.u32(RECORD_EXTENDED_SWITCH)?;
            w.u32(16)?;
            w.u32(r.src_vlan as u32)?;
            w.u32(0)?;
            w.u32(r.dst_vlan as u32)?;
            w.u32(0)?;
        }
        if has_router {
            w.u32(RECORD_EXTENDED_ROUTER)?;
            w.u32((nh_len + 8) as u32)?;
            put_addr(w, r.next_hop)?;
            w.u32(r.src_mask as u32)?;
            w.u32(r.dst_mask as u32)?;
        }
        if has_gw {
            let path = if r.dst_as != 0 { 12 } else { 0 };
            w.u32(RECORD_EXTENDED_GATEWAY)?;
            w.u32((nh_len + 12 + 4 + path + 8) as u32)?;
            put_addr(w, r.next_hop)?;
            w.u32(0)?; // router's own AS
            w.u32(r.src_as)?;
            w.u32(0)?; // peer AS
            if r.dst_as != 0 {
                w.u32(1)?; // one segment
                w.u32(2)?; // AS_SEQUENCE
                w.u32(1)?;
                w.u32(r.dst_as)?;
            } else {
                w.u32(0)?;
            }
            w.u32(0)?; // communities
            w.u32(0)?; // local pref
        }
        self.samples += 1;
        Ok(())
    }

    /// Patch the sample count; returns the datagram length.
    pub fn finish(mut self) -> usize {
        let n = self.samples;
        self.w.patch_u32(self.count_at, n);
        self.w.pos
    }
}
