//! PostgreSQL rows in the binary `COPY` format
//! (https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format"),
//! for the GoFlow flow-pipeline's inserter table ([`FLOW_PIPELINE`]).
//!
//! A COPY stream is [`HEADER`], then per row an int16 field count and per
//! field an int32 byte length and the value in the type's binary send format
//! (big-endian), then [`TRAILER`]. The server checks each value against its
//! column's type, so the types here are exactly the table's: `integer` is 4
//! bytes, `bigint` 8, `timestamp` an int64 of microseconds since
//! 2000-01-01 00:00 (UTC here), `inet` family (2 IPv4, 3 IPv6), prefix bits,
//! is-cidr 0, address length, address.

use std::net::IpAddr;

use octoflow_proto::FlowRecord;

use crate::goflow::flow_type;
use crate::{etype, Meta};

/// The stream's start: signature, flags (no OIDs), no header extension.
pub const HEADER: [u8; 19] = *b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The stream's end: a field count of -1.
pub const TRAILER: [u8; 2] = [0xff, 0xff];

/// The flow-pipeline inserter's columns (but its `id bigserial`, which the
/// server numbers), in the order [`flow_pipeline`] writes, with their types.
pub const FLOW_PIPELINE: &[(&str, &str)] = &[
    ("date_inserted", "timestamp"),
    ("time_flow", "timestamp"),
    ("type", "integer"),
    ("sampling_rate", "integer"),
    ("src_as", "bigint"),
    ("dst_as", "bigint"),
    ("src_ip", "inet"),
    ("dst_ip", "inet"),
    ("bytes", "bigint"),
    ("packets", "bigint"),
    ("etype", "integer"),
    ("proto", "integer"),
    ("src_port", "integer"),
    ("dst_port", "integer"),
];

/// Unix ms of PostgreSQL's epoch, 2000-01-01T00:00:00Z.
const PG_EPOCH_MS: i64 = 946_684_800_000;

/// Append `r` as one row of [`FLOW_PIPELINE`]: `date_inserted` is when the
/// collector received the datagram, `time_flow` the flow's start, `type`
/// goflow's flow type (1 sFlow, 2 NetFlow v5, 3 v9, 4 IPFIX); counters
/// unscaled, as the inserter wrote them. Values beyond a column's range (a
/// sampling rate past 2^31, a counter past 2^63) are that range's end.
pub fn flow_pipeline(r: &FlowRecord, m: &Meta, out: &mut Vec<u8>) {
    out.extend_from_slice(&(FLOW_PIPELINE.len() as i16).to_be_bytes());
    timestamp(out, m.received_ms);
    timestamp(out, r.first_ms);
    int4(out, flow_type(m.version) as i32);
    int4(out, i32::try_from(r.sampling_interval).unwrap_or(i32::MAX));
    int8(out, i64::from(r.src_as));
    int8(out, i64::from(r.dst_as));
    inet(out, r.src_addr);
    inet(out, r.dst_addr);
    int8(out, i64::try_from(r.bytes).unwrap_or(i64::MAX));
    int8(out, i64::try_from(r.packets).unwrap_or(i64::MAX));
    int4(out, i32::from(etype(r.src_addr)));
    int4(out, i32::from(r.proto));
    int4(out, i32::from(r.src_port));
    int4(out, i32::from(r.dst_port));
}

/// An `integer` field.
#[inline]
pub fn int4(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&4i32.to_be_bytes());
    out.extend_from_slice(&v.to_be_bytes());
}

/// A `bigint` field.
#[inline]
pub fn int8(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&v.to_be_bytes());
}

/// A `timestamp` (or `timestamptz`) field from Unix ms.
#[inline]
pub fn timestamp(out: &mut Vec<u8>, unix_ms: u64) {
    let ms = i64::try_from(unix_ms).unwrap_or(i64::MAX);
    int8(out, ms.saturating_sub(PG_EPOCH_MS).saturating_mul(1000));
}

/// An `inet` field holding one host address. IPv4-mapped IPv6 is written as
/// IPv4, so PostgreSQL shows `192.0.2.1`, not `::ffff:192.0.2.1`, and IPv4
/// operators (`<<`) match it.
#[inline]
pub fn inet(out: &mut Vec<u8>, a: IpAddr) {
    let a = match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    };
    match a {
        IpAddr::V4(v4) => {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&[2, 32, 0, 4]);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.extend_from_slice(&20i32.to_be_bytes());
            out.extend_from_slice(&[3, 128, 0, 16]);
            out.extend_from_slice(&v6.octets());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use octoflow_proto::{FlowRecord, Version};

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn the_header_and_trailer_are_postgresqls() {
        let mut want = b"PGCOPY\n".to_vec();
        want.extend_from_slice(&[0xff, b'\r', b'\n', 0]);
        want.extend_from_slice(&0u32.to_be_bytes()); // flags
        want.extend_from_slice(&0u32.to_be_bytes()); // extension length
        assert_eq!(HEADER.to_vec(), want);
        assert_eq!(TRAILER, (-1i16).to_be_bytes());
    }

    #[test]
    fn timestamps_are_microseconds_since_2000() {
        let mut out = Vec::new();
        timestamp(&mut out, 946_684_800_000);
        timestamp(&mut out, 946_684_800_001);
        timestamp(&mut out, 0);
        let mut want = Vec::new();
        for v in [0i64, 1000, -946_684_800_000_000] {
            want.extend_from_slice(&8i32.to_be_bytes());
            want.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(out, want);
    }

    #[test]
    fn inet_is_family_bits_cidr_length_address_and_mapped_ipv4_is_ipv4() {
        let mut out = Vec::new();
        inet(&mut out, ip("192.0.2.1"));
        assert_eq!(out, [0, 0, 0, 8, 2, 32, 0, 4, 192, 0, 2, 1]);
        out.clear();
        inet(&mut out, ip("::ffff:192.0.2.1"));
        assert_eq!(out, [0, 0, 0, 8, 2, 32, 0, 4, 192, 0, 2, 1]);
        out.clear();
        inet(&mut out, ip("2001:db8::1"));
        let mut want = vec![0, 0, 0, 20, 3, 128, 0, 16, 0x20, 0x01, 0x0d, 0xb8];
        want.extend_from_slice(&[0; 11]);
        want.push(1);
        assert_eq!(out, want);
    }

    #[test]
    fn a_flow_pipeline_row_is_its_field_count_then_each_field_big_endian() {
        let r = FlowRecord {
            src_addr: ip("10.0.1.10"),
            dst_addr: ip("2001:db8::5"),
            src_port: 31300,
            dst_port: 25,
            proto: 6,
            packets: 4,
            bytes: 346,
            first_ms: 946_684_801_500,
            src_as: 65000,
            dst_as: 4_200_000_000,
            sampling_interval: u32::MAX,
            ..FlowRecord::default()
        };
        let m = Meta {
            version: Version::V9,
            received_ms: 946_684_802_000,
            sequence: 7,
        };
        let mut out = Vec::new();
        flow_pipeline(&r, &m, &mut out);
        let mut want = 14i16.to_be_bytes().to_vec();
        let mut field = |b: &[u8]| {
            want.extend_from_slice(&(b.len() as i32).to_be_bytes());
            want.extend_from_slice(b);
        };
        field(&2_000_000i64.to_be_bytes()); // date_inserted
        field(&1_500_000i64.to_be_bytes()); // time_flow
        field(&3i32.to_be_bytes()); // type: NetFlow v9
        field(&i32::MAX.to_be_bytes()); // sampling_rate, saturated
        field(&65000i64.to_be_bytes());
        field(&4_200_000_000i64.to_be_bytes());
        field(&[2, 32, 0, 4, 10, 0, 1, 10]);
        let mut v6 = vec![3, 128, 0, 16, 0x20, 0x01, 0x0d, 0xb8];
        v6.extend_from_slice(&[0; 11]);
        v6.push(5);
        field(&v6);
        field(&346i64.to_be_bytes());
        field(&4i64.to_be_bytes());
        field(&0x0800i32.to_be_bytes()); // etype of the source
        field(&6i32.to_be_bytes());
        field(&31300i32.to_be_bytes());
        field(&25i32.to_be_bytes());
        assert_eq!(out, want);
    }
}
