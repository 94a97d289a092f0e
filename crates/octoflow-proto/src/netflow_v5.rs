//! NetFlow v5: a 24-byte header and up to 30 fixed 48-byte IPv4 records
//! (Cisco's "NetFlow Export Datagram Format", v5 section).

use std::net::{IpAddr, Ipv4Addr};

use crate::batch::{Batch, RawRef, Version};
use crate::error::{DecodeError, EncodeError};
use crate::record::{v4, FlowRecord};
use crate::template_cache::{ScopeKey, TemplateCache};
use crate::wire::{need, u16_at, u32_at, Writer};

pub const HEADER_LEN: usize = 24;
pub const RECORD_LEN: usize = 48;
pub const MAX_RECORDS: usize = 30;

/// The fields of a v5 header the encoder needs from its caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct V5Header {
    pub sys_uptime_ms: u32,
    pub unix_ms: u64,
    /// Sequence of the first flow in this datagram (total flows sent before it).
    pub flow_sequence: u32,
    pub engine_type: u8,
    pub engine_id: u8,
    /// 1-in-N; the header keeps 14 bits, mode 01 (deterministic) when set.
    pub sampling_interval: u16,
}

pub(crate) fn decode(
    cache: &mut TemplateCache,
    exporter: IpAddr,
    d: &[u8],
    out: &mut Batch,
) -> Result<(), DecodeError> {
    need(d, HEADER_LEN, "NetFlow v5 header")?;
    let count = u16_at(d, 2) as usize;
    let room = (d.len() - HEADER_LEN) / RECORD_LEN;
    if count == 0 || count > MAX_RECORDS || count > room {
        return Err(DecodeError::BadRecordCount {
            count,
            room: room.min(MAX_RECORDS),
        });
    }
    let uptime = u32_at(d, 4);
    let export_ms = u32_at(d, 8) as u64 * 1000 + u32_at(d, 12) as u64 / 1_000_000;
    let seq = u32_at(d, 16);
    let engine = u16_at(d, 20) as u32;
    // Top two bits: sampling mode; low 14: interval.
    let sampling = u16_at(d, 22) & 0x3fff;
    out.domain = engine;
    out.sequence = seq;
    out.export_ms = export_ms;
    out.uptime_ms = uptime;
    out.v5_sampling = sampling;
    let key = ScopeKey {
        exporter,
        version: Version::V5.scope_version(),
        domain: engine,
    };
    out.sequence_gap = cache.scope_mut(key)?.check_sequence(seq, count as u32);
    for i in 0..count {
        let off = HEADER_LEN + i * RECORD_LEN;
        let b = &d[off..off + RECORD_LEN];
        let at = |t: u32| export_ms.wrapping_sub(uptime.wrapping_sub(t) as u64);
        let mut r = FlowRecord {
            src_addr: IpAddr::V4(Ipv4Addr::from(u32_at(b, 0))),
            dst_addr: IpAddr::V4(Ipv4Addr::from(u32_at(b, 4))),
            next_hop: IpAddr::V4(Ipv4Addr::from(u32_at(b, 8))),
            input_if: u16_at(b, 12) as u32,
            output_if: u16_at(b, 14) as u32,
            packets: u32_at(b, 16) as u64,
            bytes: u32_at(b, 20) as u64,
            first_ms: at(u32_at(b, 24)),
            last_ms: at(u32_at(b, 28)),
            src_port: u16_at(b, 32),
            dst_port: u16_at(b, 34),
            tcp_flags: b[37],
            proto: b[38],
            tos: b[39],
            src_as: u16_at(b, 40) as u32,
            dst_as: u16_at(b, 42) as u32,
            src_mask: b[44],
            dst_mask: b[45],
            sampling_interval: sampling as u32,
            exporter,
            domain: engine,
            ..FlowRecord::default()
        };
        if r.is_icmp() {
            let (t, c) = icmp_from_ports(r.src_port, r.dst_port);
            r.set_icmp(t, c);
        }
        out.records.push(r);
        out.raw.push(RawRef::new(off, RECORD_LEN, false));
    }
    Ok(())
}

/// ICMP type and code from a v5 record's ports. The common convention (Cisco,
/// softflowd, pmacct) is `dst_port = type * 256 + code` with `src_port = 0`; fprobe 1.1
/// writes the type into `src_port` and the code into `dst_port`. A non-zero source
/// port below 256 next to a destination port below 256 can only be the latter.
fn icmp_from_ports(src_port: u16, dst_port: u16) -> (u8, u8) {
    if src_port != 0 && src_port < 256 && dst_port < 256 {
        (src_port as u8, dst_port as u8)
    } else {
        ((dst_port >> 8) as u8, dst_port as u8)
    }
}

/// Whether `r` can be written as NetFlow v5 (IPv4 only).
pub fn convertible(r: &FlowRecord) -> Result<(), EncodeError> {
    if r.is_ipv4() {
        Ok(())
    } else {
        Err(EncodeError::Unconvertible(
            "IPv6 flow cannot be expressed in NetFlow v5",
        ))
    }
}

/// Builds one v5 datagram in a caller-provided buffer (at least 24 + 48 bytes).
pub struct V5Writer<'a> {
    w: Writer<'a>,
    h: V5Header,
    count: usize,
}

impl<'a> V5Writer<'a> {
    pub fn new(buf: &'a mut [u8], h: V5Header) -> Result<Self, EncodeError> {
        let mut w = Writer::new(buf);
        w.zeros(HEADER_LEN)?;
        Ok(V5Writer { w, h, count: 0 })
    }

    /// Records written so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Append a record: `Unconvertible` for IPv6, `MessageFull` after 30 records,
    /// `BufferTooSmall` when the buffer is full.
    pub fn push(&mut self, r: &FlowRecord) -> Result<(), EncodeError> {
        convertible(r)?;
        if self.count == MAX_RECORDS {
            return Err(EncodeError::MessageFull);
        }
        let h = &self.h;
        let up = |abs: u64| {
            h.sys_uptime_ms
                .wrapping_sub(h.unix_ms.wrapping_sub(abs) as u32)
        };
        let a = |x: IpAddr| v4(x).unwrap_or(Ipv4Addr::UNSPECIFIED).octets();
        // 2-byte AS numbers: RFC 6793 §9 AS_TRANS for 4-byte ones.
        let as16 = |x: u32| if x > 0xffff { 23456u16 } else { x as u16 };
        let sat32 = |x: u64| x.min(u32::MAX as u64) as u32;
        let sat16 = |x: u32| x.min(0xffff) as u16;
        // The record is built on the stack and copied once (one bounds check).
        let mut b = [0u8; RECORD_LEN];
        b[0..4].copy_from_slice(&a(r.src_addr));
        b[4..8].copy_from_slice(&a(r.dst_addr));
        b[8..12].copy_from_slice(&a(r.next_hop));
        b[12..14].copy_from_slice(&sat16(r.input_if).to_be_bytes());
        b[14..16].copy_from_slice(&sat16(r.output_if).to_be_bytes());
        b[16..20].copy_from_slice(&sat32(r.packets).to_be_bytes());
        b[20..24].copy_from_slice(&sat32(r.bytes).to_be_bytes());
        b[24..28].copy_from_slice(&up(r.first_ms).to_be_bytes());
        b[28..32].copy_from_slice(&up(r.last_ms).to_be_bytes());
        b[32..34].copy_from_slice(&r.src_port.to_be_bytes());
        b[34..36].copy_from_slice(&r.dst_port.to_be_bytes());
        // b[36]: pad1
        b[37] = r.tcp_flags;
        b[38] = r.proto;
        b[39] = r.tos;
        b[40..42].copy_from_slice(&as16(r.src_as).to_be_bytes());
        b[42..44].copy_from_slice(&as16(r.dst_as).to_be_bytes());
        b[44] = r.src_mask;
        b[45] = r.dst_mask;
        // b[46..48]: pad2
        self.w.put(&b)?;
        self.count += 1;
        Ok(())
    }

    /// Append a 48-byte record copied from another v5 datagram, byte for byte (its
    /// times stay relative to that datagram's sysUptime: give this writer the same
    /// header times).
    pub fn push_raw(&mut self, rec: &[u8]) -> Result<(), EncodeError> {
        if rec.len() != RECORD_LEN {
            return Err(EncodeError::Unconvertible("a v5 record is 48 bytes"));
        }
        if self.count == MAX_RECORDS {
            return Err(EncodeError::MessageFull);
        }
        self.w.room(RECORD_LEN)?;
        self.w.put(rec)?;
        self.count += 1;
        Ok(())
    }

    /// Write the header; returns the datagram length.
    pub fn finish(self) -> usize {
        let h = self.h;
        let len = self.w.pos;
        let b = &mut self.w.buf[..HEADER_LEN];
        b[0..2].copy_from_slice(&5u16.to_be_bytes());
        b[2..4].copy_from_slice(&(self.count as u16).to_be_bytes());
        b[4..8].copy_from_slice(&h.sys_uptime_ms.to_be_bytes());
        b[8..12].copy_from_slice(&((h.unix_ms / 1000) as u32).to_be_bytes());
        b[12..16].copy_from_slice(&(((h.unix_ms % 1000) * 1_000_000) as u32).to_be_bytes());
        b[16..20].copy_from_slice(&h.flow_sequence.to_be_bytes());
        b[20] = h.engine_type;
        b[21] = h.engine_id;
        let s = if h.sampling_interval > 1 {
            0x4000 | (h.sampling_interval & 0x3fff)
        } else {
            0
        };
        b[22..24].copy_from_slice(&s.to_be_bytes());
        len
    }
}

#[cfg(test)]
mod tests {
    use super::icmp_from_ports;

    #[test]
    fn icmp_type_and_code_in_either_port_convention() {
        // Cisco/softflowd/pmacct: echo request 8/0 as dst_port 0x0800.
        assert_eq!(icmp_from_ports(0, 0x0800), (8, 0));
        // Port unreachable 3/3.
        assert_eq!(icmp_from_ports(0, 0x0303), (3, 3));
        // Echo reply 0/0 is the same in both.
        assert_eq!(icmp_from_ports(0, 0), (0, 0));
        // fprobe 1.1: type in src_port, code in dst_port.
        assert_eq!(icmp_from_ports(8, 0), (8, 0));
        assert_eq!(icmp_from_ports(3, 1), (3, 1));
        // Anything else falls back to the common convention.
        assert_eq!(icmp_from_ports(40000, 0x0b00), (11, 0));
    }
}
