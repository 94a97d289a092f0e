//! Behaviour pinned to the RFCs: template scoping, withdrawal, held data, options
//! data (sampling), enterprise and variable-length fields, padding, sequence
//! tracking, malformed input — and the template cache's persistence.

mod common;
use common::*;

use octoflow_proto::template_cache::Limits;
use octoflow_proto::{Batch, DecodeError, Decoder, Dialect, FlowRecord, TemplateCache};

/// Template 300: sourceIPv4Address, destinationIPv4Address, an enterprise field
/// (PEN 9, id 1, 4 bytes), a variable-length field (PEN 9, id 2), octetDeltaCount.
fn enterprise_template() -> Vec<u8> {
    let mut b = vec![];
    for x in [300u16, 5, 8, 4, 12, 4, 0x8001, 4] {
        b.extend_from_slice(&x.to_be_bytes());
    }
    b.extend_from_slice(&9u32.to_be_bytes());
    b.extend_from_slice(&0x8002u16.to_be_bytes());
    b.extend_from_slice(&65535u16.to_be_bytes());
    b.extend_from_slice(&9u32.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&8u16.to_be_bytes());
    set(2, &b)
}

fn enterprise_record(varlen: &[u8]) -> Vec<u8> {
    let mut r = vec![
        10,
        0,
        1,
        1,
        10,
        0,
        2,
        2,
        0xde,
        0xad,
        0xbe,
        0xef,
        varlen.len() as u8,
    ];
    r.extend_from_slice(varlen);
    r.extend_from_slice(&1234u64.to_be_bytes());
    r
}

#[test]
fn ipfix_enterprise_and_variable_length_fields_are_kept_byte_for_byte() {
    let rec1 = enterprise_record(b"hello");
    let rec2 = enterprise_record(b"");
    let mut data = rec1.clone();
    data.extend_from_slice(&rec2);
    data.extend_from_slice(&[0, 0]); // padding shorter than a record
    let m = ipfix_msg(0, 1, &[enterprise_template(), set(300, &data)]);
    let b = decode_all(&mut decoder(), &m);
    assert_eq!(b.records.len(), 2);
    assert_eq!(b.records[0].bytes, 1234);
    assert_eq!(b.records[0].src_addr.to_string(), "10.0.1.1");
    assert_eq!(b.bytes(&m, b.raw[0]), &rec1[..]);
    assert_eq!(b.bytes(&m, b.raw[1]), &rec2[..]);
    assert_eq!(b.sets[0].template.id, 300);
    assert_eq!(b.sets[0].template.fields[2].enterprise, 9);
}

#[test]
fn ipfix_data_before_template_is_held_then_decoded() {
    let mut dec = decoder();
    let data = set(300, &enterprise_record(b"x"));
    let m1 = ipfix_msg(0, 1, std::slice::from_ref(&data));
    let b1 = decode_all(&mut dec, &m1);
    assert_eq!(b1.records.len(), 0);
    assert_eq!(b1.template_misses, 1);
    let m2 = ipfix_msg(1, 1, &[enterprise_template()]);
    let b2 = decode_all(&mut dec, &m2);
    assert_eq!(
        b2.records.len(),
        1,
        "held data decoded when its template arrives"
    );
    assert!(b2.raw[0].held);
    assert_eq!(b2.bytes(&m2, b2.raw[0]), &enterprise_record(b"x")[..]);
    assert_eq!(dec.cache.stats.released, 1);
}

#[test]
fn held_data_is_bounded_and_expires() {
    let limits = Limits {
        max_held_per_scope: 2,
        max_held_age_ms: 1000,
        ..Limits::default()
    };
    let mut dec = Decoder::new(limits);
    let data = set(300, &enterprise_record(b"x"));
    let mut b = Batch::default();
    for i in 0..5 {
        dec.decode(
            exporter(),
            &ipfix_msg(i, 1, std::slice::from_ref(&data)),
            NOW_MS,
            &mut b,
        )
        .unwrap();
    }
    assert_eq!(dec.cache.stats.held, 5);
    assert_eq!(dec.cache.stats.held_dropped, 3);
    // Two seconds later the held sets are too old to release.
    dec.decode(
        exporter(),
        &ipfix_msg(9, 1, &[enterprise_template()]),
        NOW_MS + 2000,
        &mut b,
    )
    .unwrap();
    assert_eq!(b.records.len(), 0);
    assert_eq!(dec.cache.stats.held_dropped, 5);
}

#[test]
fn ipfix_template_withdrawal_removes_template() {
    let mut dec = decoder();
    let data = set(300, &enterprise_record(b"x"));
    decode_all(&mut dec, &ipfix_msg(0, 1, &[enterprise_template()]));
    let withdraw = set(2, &[1, 44, 0, 0]); // template 300, field count 0 (RFC 7011 §8.1)
    let b = decode_all(&mut dec, &ipfix_msg(0, 1, &[withdraw]));
    assert_eq!(b.withdrawn, vec![300]);
    let b = decode_all(&mut dec, &ipfix_msg(0, 1, &[data]));
    assert_eq!(b.records.len(), 0);
    assert_eq!(b.template_misses, 1);
}

/// RFC 7011 §8.1: template id 2 in a template set withdraws every data template,
/// id 3 in an options template set every options template; any other id below
/// 256 is no template and withdraws nothing.
#[test]
fn ipfix_all_withdrawals_remove_only_their_kind_and_invalid_ids_nothing() {
    // Options template 400: scope observationDomainId, then samplingInterval.
    let opt_t = set(3, &[1, 144, 0, 2, 0, 1, 0, 149, 0, 4, 0, 34, 0, 4]);
    let opt_d = set(400, &[0, 0, 0, 1, 0, 0, 0, 64]);
    let data = set(300, &enterprise_record(b"x"));
    let known = |dec: &mut Decoder| {
        let b = decode_all(dec, &ipfix_msg(0, 1, &[data.clone(), opt_d.clone()]));
        (b.records.len() == 1, b.options.len() == 1)
    };
    let mut dec = decoder();
    let learn = |dec: &mut Decoder| {
        decode_all(
            dec,
            &ipfix_msg(0, 1, &[enterprise_template(), opt_t.clone()]),
        );
    };
    learn(&mut dec);
    assert_eq!(known(&mut dec), (true, true));
    let b = decode_all(&mut dec, &ipfix_msg(0, 1, &[set(3, &[0, 3, 0, 0])]));
    assert_eq!(b.withdrawn, vec![3]);
    assert_eq!(
        known(&mut dec),
        (true, false),
        "id 3 withdraws options templates only"
    );
    learn(&mut dec);
    decode_all(&mut dec, &ipfix_msg(0, 1, &[set(2, &[0, 2, 0, 0])]));
    assert_eq!(
        known(&mut dec),
        (false, true),
        "id 2 withdraws data templates only"
    );
    learn(&mut dec);
    let b = decode_all(
        &mut dec,
        &ipfix_msg(0, 1, &[set(2, &[0, 4, 0, 0]), set(3, &[0, 2, 0, 0])]),
    );
    assert!(b.withdrawn.is_empty(), "{:?}", b.withdrawn);
    assert_eq!(
        known(&mut dec),
        (true, true),
        "invalid ids withdraw nothing"
    );
}

#[test]
fn templates_are_scoped_per_exporter_and_domain() {
    let mut dec = decoder();
    decode_all(&mut dec, &ipfix_msg(0, 1, &[enterprise_template()]));
    let data = set(300, &enterprise_record(b"x"));
    // Same exporter, other observation domain: unknown template.
    let b = decode_all(&mut dec, &ipfix_msg(0, 2, std::slice::from_ref(&data)));
    assert_eq!(b.template_misses, 1);
    // Other exporter, same domain: unknown too.
    let mut b = Batch::default();
    dec.decode(
        "192.0.2.99".parse().unwrap(),
        &ipfix_msg(0, 1, std::slice::from_ref(&data)),
        NOW_MS,
        &mut b,
    )
    .unwrap();
    assert_eq!(b.template_misses, 1);
    let b = decode_all(&mut dec, &ipfix_msg(0, 1, &[data]));
    assert_eq!(b.records.len(), 1);
}

#[test]
fn v9_options_data_sampling_reaches_records() {
    use octoflow_proto::message::{
        own_sampling_template, own_template, sampling_record, MessageHeader, MessageWriter,
    };
    for dialect in [Dialect::V9, Dialect::Ipfix] {
        let mut buf = vec![0u8; 1500];
        let mut w = MessageWriter::new(
            &mut buf,
            dialect,
            MessageHeader {
                unix_ms: NOW_MS,
                ..Default::default()
            },
        )
        .unwrap();
        let st = own_sampling_template(dialect);
        let t = own_template(dialect, false);
        w.add_template(&st).unwrap();
        w.add_template(&t).unwrap();
        w.add_raw(st.id, &sampling_record(512, false)).unwrap();
        let r = FlowRecord {
            src_addr: "10.0.0.1".parse().unwrap(),
            dst_addr: "10.0.0.2".parse().unwrap(),
            ..FlowRecord::default()
        };
        w.add_record(&t, &r).unwrap();
        let n = w.finish();
        let b = decode_all(&mut decoder(), &buf[..n]);
        assert_eq!(b.options.len(), 1, "{dialect:?}");
        assert_eq!(
            b.records[0].sampling_interval, 512,
            "{dialect:?}: sampling from options data"
        );
        assert_eq!(b.templates.len(), 2);
    }
}

#[test]
fn sequence_gaps_count_lost_units_per_version() {
    let r = FlowRecord {
        src_addr: "10.0.0.1".parse().unwrap(),
        dst_addr: "10.0.0.2".parse().unwrap(),
        ..FlowRecord::default()
    };
    let recs = vec![r; 10];
    // v5 counts flows, v9 packets, IPFIX data records, sFlow datagrams.
    let mut dec = decoder();
    decode_all(&mut dec, &encode_v5(&recs, 0));
    assert_eq!(decode_all(&mut dec, &encode_v5(&recs, 10)).sequence_gap, 0);
    assert_eq!(decode_all(&mut dec, &encode_v5(&recs, 50)).sequence_gap, 30);
    decode_all(&mut dec, &encode_v9_or_ipfix(Dialect::V9, &recs, 0));
    assert_eq!(
        decode_all(&mut dec, &encode_v9_or_ipfix(Dialect::V9, &recs, 1)).sequence_gap,
        0
    );
    assert_eq!(
        decode_all(&mut dec, &encode_v9_or_ipfix(Dialect::V9, &recs, 5)).sequence_gap,
        3
    );
    decode_all(&mut dec, &encode_v9_or_ipfix(Dialect::Ipfix, &recs, 0));
    assert_eq!(
        decode_all(&mut dec, &encode_v9_or_ipfix(Dialect::Ipfix, &recs, 10)).sequence_gap,
        0
    );
    assert_eq!(
        decode_all(&mut dec, &encode_v9_or_ipfix(Dialect::Ipfix, &recs, 25)).sequence_gap,
        5
    );
    decode_all(&mut dec, &encode_sflow(&recs, 1));
    assert_eq!(
        decode_all(&mut dec, &encode_sflow(&recs, 2)).sequence_gap,
        0
    );
    assert_eq!(
        decode_all(&mut dec, &encode_sflow(&recs, 4)).sequence_gap,
        1
    );
}

#[test]
fn template_cache_survives_a_restart() {
    let mut dec = decoder();
    let b = decode_all(&mut dec, &ipfix_msg(0, 1, &[enterprise_template()]));
    assert_eq!(b.templates.len(), 1);
    decode_all(&mut dec, &encode_v9_or_ipfix(Dialect::V9, &[], 0));
    let saved = dec.cache.save();
    let restored = TemplateCache::restore(&saved, Limits::default()).unwrap();
    assert_eq!(restored.template_count(), 5);
    assert_eq!(restored.save(), saved);
    let mut dec2 = Decoder::with_cache(restored);
    let b = decode_all(
        &mut dec2,
        &ipfix_msg(1, 1, &[set(300, &enterprise_record(b"y"))]),
    );
    assert_eq!(
        b.records.len(),
        1,
        "data decodes with the restored template"
    );
}

#[test]
fn damaged_cache_file_is_an_error_not_a_panic() {
    let mut dec = decoder();
    decode_all(&mut dec, &ipfix_msg(0, 1, &[enterprise_template()]));
    let saved = dec.cache.save();
    // Every truncation of the file is refused, none restores a partial cache.
    for n in 0..saved.len() {
        assert!(
            TemplateCache::restore(&saved[..n], Limits::default()).is_err(),
            "a cache file cut at {n} of {} bytes is refused",
            saved.len()
        );
    }
    assert!(TemplateCache::restore(&saved, Limits::default()).is_ok());
    assert!(TemplateCache::restore(b"garbage!garbage!", Limits::default()).is_err());
}

fn err(d: &[u8]) -> DecodeError {
    let mut b = Batch::default();
    decoder().decode(exporter(), d, NOW_MS, &mut b).unwrap_err()
}

#[test]
fn malformed_input_gives_typed_errors() {
    assert_eq!(err(&[0, 9]).reason(), "truncated");
    assert_eq!(err(&[0, 7, 0, 0]).reason(), "unknown_version");
    // v9 header then a flowset of length 2.
    let mut v9 = vec![0, 9, 0, 1];
    v9.extend_from_slice(&[0; 16]);
    v9.extend_from_slice(&[1, 0, 0, 2]);
    assert_eq!(err(&v9).reason(), "set_length_too_short");
    // IPFIX set longer than the message.
    let mut m = ipfix_msg(0, 1, &[set(300, &[0; 8])]);
    let l = m.len();
    m[18..20].copy_from_slice(&200u16.to_be_bytes());
    assert_eq!(err(&m[..l]).reason(), "length_past_end");
    // Malformed sets are skipped and counted, not errors of the datagram. A template
    // with zero fields in a v9 template flowset:
    let mut v9 = vec![0, 9, 0, 1];
    v9.extend_from_slice(&[0; 16]);
    v9.extend_from_slice(&set(0, &[1, 44, 0, 0, 0, 0, 0, 0])[..]);
    assert_eq!(reasons(&decode_ok(&v9)), ["zero_field_count"]);
    // A template id below 256 in an IPFIX template set.
    let m = ipfix_msg(0, 1, &[set(2, &[0, 255, 0, 1, 0, 8, 0, 4])]);
    assert_eq!(reasons(&decode_ok(&m)), ["bad_template_id"]);
    // IPFIX message length beyond the datagram.
    let mut m = ipfix_msg(0, 1, &[]);
    m[2..4].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(err(&m).reason(), "bad_message_length");
    // v5 claiming 30 records with room for 1.
    let r = FlowRecord {
        src_addr: "10.0.0.1".parse().unwrap(),
        dst_addr: "10.0.0.2".parse().unwrap(),
        ..FlowRecord::default()
    };
    let mut v5 = encode_v5(&[r], 0);
    v5[3] = 30;
    assert_eq!(err(&v5).reason(), "bad_record_count");
    // sFlow agent address type 7.
    let mut s = encode_sflow(&[r], 0);
    s[7] = 7;
    assert_eq!(err(&s).reason(), "bad_address_type");
    // sFlow sample longer than the datagram.
    let s = encode_sflow(&[r], 0);
    assert_eq!(err(&s[..s.len() - 4]).reason(), "length_past_end");
}

#[test]
fn a_bad_datagram_yields_no_records_and_later_ones_decode() {
    let mut dec = decoder();
    let r = FlowRecord {
        src_addr: "10.0.0.1".parse().unwrap(),
        dst_addr: "10.0.0.2".parse().unwrap(),
        ..FlowRecord::default()
    };
    let good = encode_v9_or_ipfix(Dialect::V9, &[r; 3], 0);
    let mut bad = good.clone();
    bad.extend_from_slice(&[1, 0, 0, 200]); // a data flowset running past the end
    let mut b = Batch::default();
    assert!(dec.decode(exporter(), &bad, NOW_MS, &mut b).is_err());
    assert!(b.records.is_empty());
    dec.decode(exporter(), &good, NOW_MS, &mut b).unwrap();
    assert_eq!(b.records.len(), 3);
}

#[test]
fn truncations_and_bit_flips_of_real_exports_never_panic() {
    let mut rng = 0x1234_5678_9abc_def0u64;
    for name in FIXTURES {
        for (_, d) in pcap_udp_payloads(&fixture(name)) {
            let mut dec = decoder();
            let mut b = Batch::default();
            for n in 0..d.len() {
                let _ = dec.decode(exporter(), &d[..n], NOW_MS, &mut b);
            }
            for _ in 0..200 {
                let mut m = d.clone();
                for _ in 0..4 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let i = (rng as usize) % m.len();
                    m[i] ^= (rng >> 32) as u8 | 1;
                }
                let _ = dec.decode(exporter(), &m, NOW_MS, &mut b);
            }
        }
    }
}

/// Found by fuzzing: flowStartSeconds/flowEndSeconds (IEs 150/151, dateTimeSeconds)
/// sent in 8 bytes with huge values must not overflow when turned into milliseconds,
/// neither in the field walk (a template where an IE repeats) nor in the fixed layout.
#[test]
fn huge_seconds_timestamps_saturate() {
    for repeat in [false, true] {
        let mut t = vec![];
        let fields: &[(u16, u16)] = if repeat {
            &[(8, 4), (150, 8), (151, 8), (151, 8)]
        } else {
            &[(8, 4), (150, 8), (151, 8)]
        };
        for x in [400u16, fields.len() as u16] {
            t.extend_from_slice(&x.to_be_bytes());
        }
        for (id, len) in fields {
            t.extend_from_slice(&id.to_be_bytes());
            t.extend_from_slice(&len.to_be_bytes());
        }
        let mut r = vec![10, 0, 0, 1];
        for _ in 1..fields.len() {
            r.extend_from_slice(&u64::MAX.to_be_bytes());
        }
        let m = ipfix_msg(1, 1, &[set(2, &t), set(400, &r)]);
        let mut b = Batch::default();
        decoder().decode(exporter(), &m, NOW_MS, &mut b).unwrap();
        assert_eq!(b.records.len(), 1);
        assert_eq!(b.records[0].first_ms, u64::MAX);
        assert_eq!(b.records[0].last_ms, u64::MAX);
    }
}

/// A NetFlow v9 packet (RFC 3954 §5.1): version, count, sysUptime, UNIX secs,
/// sequence, source id, then the flowsets.
fn v9_msg(uptime_ms: u32, unix_secs: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![0, 9];
    m.extend_from_slice(&(sets.len() as u16).to_be_bytes());
    m.extend_from_slice(&uptime_ms.to_be_bytes());
    m.extend_from_slice(&unix_secs.to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes());
    m.extend_from_slice(&7u32.to_be_bytes());
    for s in sets {
        m.extend_from_slice(s);
    }
    m
}

/// A template record body: id, field count, then (id, length) pairs (RFC 3954
/// §5.2, RFC 7011 §3.4.1 without enterprise bits).
fn template_record(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut t = id.to_be_bytes().to_vec();
    t.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (f, l) in fields {
        t.extend_from_slice(&f.to_be_bytes());
        t.extend_from_slice(&l.to_be_bytes());
    }
    t
}

fn decode_ok(d: &[u8]) -> Batch {
    let mut b = Batch::default();
    decoder()
        .decode(exporter(), d, NOW_MS, &mut b)
        .unwrap_or_else(|e| panic!("decodes: {e}"));
    b
}

/// Cisco exporters send LAST_SWITCHED a few ms after the header's sysUptime; the
/// difference is a signed 32-bit one (as nfdump reads it), not 49.7 days ago.
#[test]
fn a_v9_switched_time_just_after_sys_uptime_is_in_the_present() {
    let uptime = 3_600_000u32;
    let unix_secs = 1_767_225_600u32;
    let t = template_record(300, &[(8, 4), (22, 4), (21, 4)]);
    let mut r = vec![10, 0, 0, 1];
    r.extend_from_slice(&(uptime - 1000).to_be_bytes()); // FIRST: 1 s before
    r.extend_from_slice(&(uptime + 5).to_be_bytes()); // LAST: 5 ms after
    let b = decode_ok(&v9_msg(uptime, unix_secs, &[set(0, &t), set(300, &r)]));
    let export_ms = unix_secs as u64 * 1000;
    assert_eq!(b.records[0].first_ms, export_ms - 1000);
    assert_eq!(b.records[0].last_ms, export_ms + 5);
    // Across a sysUptime wrap (49.7 days) the difference is still small.
    let mut r = vec![10, 0, 0, 1];
    r.extend_from_slice(&(u32::MAX - 99).to_be_bytes()); // 100 ms before the wrap
    r.extend_from_slice(&(u32::MAX - 99).to_be_bytes());
    let b = decode_ok(&v9_msg(100, unix_secs, &[set(0, &t), set(300, &r)]));
    assert_eq!(b.records[0].first_ms, export_ms - 200);
}

/// samplingPacketInterval/Space (IEs 305/306, RFC 7011 via IANA): the interval is
/// (interval + space) / interval, computed without overflow; a value beyond u32
/// saturates to u32::MAX.
#[test]
fn huge_sampling_packet_interval_and_space_saturate() {
    let cases: &[(u64, u64, u32)] = &[
        (1, 99, 100),
        (u64::MAX, u64::MAX, 2),
        (1, u64::MAX, u32::MAX),
        (1, 1 << 32, u32::MAX),
        (3, 7, 3),
    ];
    for &(pi, ps, want) in cases {
        let t = template_record(400, &[(8, 4), (305, 8), (306, 8)]);
        let mut r = vec![10, 0, 0, 1];
        r.extend_from_slice(&pi.to_be_bytes());
        r.extend_from_slice(&ps.to_be_bytes());
        // In a data record (the fixed layout and the field walk, with a repeat) and
        // in options data.
        let b = decode_ok(&ipfix_msg(1, 1, &[set(2, &t), set(400, &r)]));
        assert_eq!(b.records[0].sampling_interval, want, "data {pi} {ps}");
        let t2 = template_record(401, &[(8, 4), (305, 8), (306, 8), (8, 4)]);
        let mut r2 = r.clone();
        r2.extend_from_slice(&[10, 0, 0, 1]);
        let b = decode_ok(&ipfix_msg(1, 1, &[set(2, &t2), set(401, &r2)]));
        assert_eq!(b.records[0].sampling_interval, want, "walk {pi} {ps}");
        let mut ot = 402u16.to_be_bytes().to_vec();
        ot.extend_from_slice(&[0, 3, 0, 1]);
        for (f, l) in [(302u16, 4u16), (305, 8), (306, 8)] {
            ot.extend_from_slice(&f.to_be_bytes());
            ot.extend_from_slice(&l.to_be_bytes());
        }
        let mut orec = 9u32.to_be_bytes().to_vec();
        orec.extend_from_slice(&pi.to_be_bytes());
        orec.extend_from_slice(&ps.to_be_bytes());
        let t3 = template_record(403, &[(8, 4), (302, 4)]);
        let mut r3 = vec![10, 0, 0, 1];
        r3.extend_from_slice(&9u32.to_be_bytes());
        let b = decode_ok(&ipfix_msg(
            1,
            1,
            &[set(3, &ot), set(2, &t3), set(402, &orec), set(403, &r3)],
        ));
        assert_eq!(b.records[0].sampling_interval, want, "options {pi} {ps}");
    }
}

/// RFC 3954 §6.1: an options flowset's padding is at its end only; several options
/// templates in one flowset follow each other with no padding between them.
#[test]
fn v9_options_templates_in_one_flowset_are_padded_only_at_its_end() {
    // Two options templates of 6 + 12 = 18 bytes each: scope System (1), 4 bytes;
    // 500: SAMPLING_INTERVAL (34) 4, SAMPLING_ALGORITHM (35) 1;
    // 501: FLOW_SAMPLER_ID (48) 1, FLOW_SAMPLER_RANDOM_INTERVAL (50) 4.
    let mut body = vec![];
    for (id, opts) in [
        (500u16, [(34u16, 4u16), (35, 1)]),
        (501, [(48, 1), (50, 4)]),
    ] {
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(&4u16.to_be_bytes());
        body.extend_from_slice(&8u16.to_be_bytes());
        for (f, l) in [(1u16, 4u16)].into_iter().chain(opts) {
            body.extend_from_slice(&f.to_be_bytes());
            body.extend_from_slice(&l.to_be_bytes());
        }
    }
    body.extend_from_slice(&[0, 0, 0, 0]); // 36 bytes + 4 = 40: aligned; pad anyway
    let b = decode_ok(&v9_msg(1000, 1_767_225_600, &[set(1, &body)]));
    let ids: Vec<u16> = b.templates.iter().map(|t| t.id).collect();
    assert_eq!(ids, [500, 501]);
    assert!(b
        .templates
        .iter()
        .all(|t| t.is_options() && t.fields.len() == 3));
    assert!(b.sets_skipped.is_empty());
    // The second template's data decodes and its interval reaches records.
    let mut opt = 1u32.to_be_bytes().to_vec();
    opt.extend_from_slice(&[3]);
    opt.extend_from_slice(&250u32.to_be_bytes());
    opt.extend_from_slice(&[0, 0, 0]);
    let t = template_record(300, &[(8, 4), (48, 1)]);
    let b = decode_ok(&v9_msg(
        1000,
        1_767_225_600,
        &[
            set(1, &body),
            set(0, &t),
            set(501, &opt),
            set(300, &[10, 0, 0, 1, 3]),
        ],
    ));
    assert_eq!(b.records[0].sampling_interval, 250);
}

/// H3C sends its VRF name (IE 236) with length 65535 in NetFlow v9: read as a
/// variable-length field with the RFC 7011 §7 encoding, as in IPFIX.
#[test]
fn a_v9_field_of_length_65535_is_variable_length() {
    let t = template_record(300, &[(8, 4), (236, 65535), (1, 4)]);
    let mut r = vec![10, 0, 0, 1, 3, b'v', b'p', b'n'];
    r.extend_from_slice(&1500u32.to_be_bytes());
    r.extend_from_slice(&[10, 0, 0, 2, 255, 0, 1, b'x']); // long form, 1 byte
    r.extend_from_slice(&40u32.to_be_bytes());
    let m = v9_msg(1000, 1_767_225_600, &[set(0, &t), set(300, &r)]);
    let b = decode_ok(&m);
    assert_eq!(b.templates[0].fixed_len, None);
    assert_eq!(b.records.len(), 2);
    assert_eq!(b.records[0].bytes, 1500);
    assert_eq!(b.records[1].bytes, 40);
    assert_eq!(b.bytes(&m, b.raw[1]), &r[12..]);
}

/// Cisco IOS-XR/IOS-XE MPLS templates and Procera send IPv4 and IPv6 address fields
/// (IEs 8/12, 27/28, next hops 15/62, masks 9/13, 29/30) in one template, the
/// other family as zeros: the record takes the family that is present, or the one
/// ipVersion (IE 60) names.
#[test]
fn a_template_with_both_address_families_takes_the_one_present() {
    let fields = [
        (8, 4),
        (12, 4),
        (15, 4),
        (9, 1),
        (13, 1),
        (27, 16),
        (28, 16),
        (62, 16),
        (29, 1),
        (30, 1),
        (1, 4),
    ];
    let with_version: Vec<(u16, u16)> = fields.iter().copied().chain([(60, 1)]).collect();
    let v4 = |ver: Option<u8>| {
        let mut r = vec![10, 0, 0, 1, 10, 0, 0, 2, 10, 0, 0, 254, 24, 16];
        r.extend_from_slice(&[0; 50]);
        r.extend_from_slice(&100u32.to_be_bytes());
        r.extend(ver);
        r
    };
    let six = |last: u8| {
        let mut a = [0u8; 16];
        a[0] = 0x20;
        a[1] = 0x01;
        a[15] = last;
        a
    };
    let v6 = |ver: Option<u8>| {
        let mut r = vec![0; 14];
        for x in [1, 2, 254] {
            r.extend_from_slice(&six(x));
        }
        r.extend_from_slice(&[48, 64]);
        r.extend_from_slice(&100u32.to_be_bytes());
        r.extend(ver);
        r
    };
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    for dialect in [Dialect::V9, Dialect::Ipfix] {
        for ver in [None, Some(4u8)] {
            for (rec, want) in [
                (v4(ver), ("10.0.0.1", "10.0.0.2", "10.0.0.254", 24, 16)),
                (
                    v6(ver.map(|_| 6)),
                    ("2001::1", "2001::2", "2001::fe", 48, 64),
                ),
            ] {
                let f = if ver.is_some() {
                    &with_version[..]
                } else {
                    &fields[..]
                };
                let t = template_record(300, f);
                let sets = [
                    set(if dialect == Dialect::V9 { 0 } else { 2 }, &t),
                    set(300, &rec),
                ];
                let m = match dialect {
                    Dialect::V9 => v9_msg(1000, 1_767_225_600, &sets),
                    Dialect::Ipfix => ipfix_msg(1, 1, &sets),
                };
                let r = &decode_ok(&m).records[0];
                let got = (r.src_addr, r.dst_addr, r.next_hop, r.src_mask, r.dst_mask);
                let want = (ip(want.0), ip(want.1), ip(want.2), want.3, want.4);
                assert_eq!(got, want, "{dialect:?} ipVersion {ver:?}");
            }
        }
    }
    // ipVersion decides when both families carry something.
    let mut r = v4(Some(6));
    r[14..30].copy_from_slice(&six(1));
    r[30..46].copy_from_slice(&six(2));
    let m = ipfix_msg(
        1,
        1,
        &[set(2, &template_record(300, &with_version)), set(300, &r)],
    );
    let r = &decode_ok(&m).records[0];
    assert_eq!((r.src_addr, r.dst_addr), (ip("2001::1"), ip("2001::2")));
}

fn reasons(b: &Batch) -> Vec<&'static str> {
    b.sets_skipped.iter().map(|e| e.reason()).collect()
}

/// Juniper SRX options templates and IGMP flows carry fields of length 0: the field
/// is absent from the records, and the template and its data decode (v9 and IPFIX).
#[test]
fn a_zero_length_field_is_treated_as_absent() {
    let t = template_record(300, &[(8, 4), (4, 0), (12, 4), (1, 4)]);
    let mut r = vec![10, 0, 0, 1, 10, 0, 0, 2];
    r.extend_from_slice(&77u32.to_be_bytes());
    // A v9 options template (§6.1) with a zero-length option field.
    let mut ot = 301u16.to_be_bytes().to_vec();
    ot.extend_from_slice(&[0, 4, 0, 8, 0, 1, 0, 4, 0, 35, 0, 0, 0, 34, 0, 4]);
    let mut orec = 0u32.to_be_bytes().to_vec();
    orec.extend_from_slice(&64u32.to_be_bytes());
    let v9 = v9_msg(
        1000,
        1_767_225_600,
        &[set(1, &ot), set(0, &t), set(301, &orec), set(300, &r)],
    );
    let ipfix = ipfix_msg(1, 1, &[set(2, &t), set(300, &r)]);
    for m in [v9, ipfix] {
        let b = decode_ok(&m);
        assert_eq!(reasons(&b), Vec::<&str>::new());
        assert_eq!(b.records.len(), 1);
        let rec = &b.records[0];
        assert_eq!(rec.src_addr.to_string(), "10.0.0.1");
        assert_eq!(rec.dst_addr.to_string(), "10.0.0.2");
        assert_eq!((rec.proto, rec.bytes), (0, 77));
        assert_eq!(b.bytes(&m, b.raw[0]), &r[..]);
    }
    assert_eq!(
        decode_ok(&ipfix_msg(1, 1, &[set(2, &t)])).templates[0].fixed_len,
        Some(12)
    );
}

/// A malformed set is skipped and counted with its reason; the datagram's other
/// sets decode, before and after it (v9 and IPFIX).
#[test]
fn a_malformed_set_is_skipped_and_counted_and_the_others_decode() {
    let t = template_record(300, &[(8, 4), (12, 4), (1, 4)]);
    let r = [10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 9];
    // A template with zero fields (v9), an options template with no scope (IPFIX).
    let bad_v9 = set(0, &template_record(301, &[]));
    let bad_ipfix = set(3, &[1, 45, 0, 1, 0, 0, 0, 8, 0, 4]);
    let v9 = v9_msg(
        1000,
        1_767_225_600,
        &[set(0, &t), set(300, &r), bad_v9, set(300, &r)],
    );
    let ipfix = ipfix_msg(1, 1, &[set(2, &t), set(300, &r), bad_ipfix, set(300, &r)]);
    for (m, why) in [(v9, "zero_field_count"), (ipfix, "bad_scope_count")] {
        let b = decode_ok(&m);
        assert_eq!(b.records.len(), 2, "{why}");
        assert_eq!(reasons(&b), [why]);
    }
    // A bad message header, or a set length that breaks the framing, still rejects
    // the whole datagram.
    let mut m = ipfix_msg(1, 1, &[set(2, &t), set(300, &r)]);
    m[0] = 1;
    assert_eq!(err(&m).reason(), "unknown_version");
    let mut m = ipfix_msg(1, 1, &[set(2, &t), set(300, &r)]);
    let l = m.len();
    m[l - 14..l - 12].copy_from_slice(&3u16.to_be_bytes());
    assert_eq!(err(&m).reason(), "set_length_too_short");
}

/// RFC 7011 §3.3.2: set ids 4–255 are reserved; such a set is skipped by its length
/// and counted, and the rest of the message decodes.
#[test]
fn a_reserved_ipfix_set_id_is_skipped_and_counted() {
    let t = template_record(300, &[(8, 4), (12, 4), (1, 4)]);
    let r = [10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 9];
    let m = ipfix_msg(1, 1, &[set(2, &t), set(100, &[1, 2, 3, 4]), set(300, &r)]);
    let b = decode_ok(&m);
    assert_eq!(b.records.len(), 1);
    assert_eq!(reasons(&b), ["reserved_set_id"]);
    assert_eq!(b.sets_skipped, [DecodeError::ReservedSetId(100)]);
}

/// Palo Alto 8.1 pads v9 packets with zeros after the last flowset: trailing zero
/// bytes, shorter than a flowset header or not, are ignored.
#[test]
fn zero_bytes_after_the_last_v9_flowset_are_ignored() {
    let t = template_record(300, &[(8, 4), (12, 4), (1, 4)]);
    let r = [10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 9];
    for pad in [1, 3, 4, 8, 100] {
        let mut m = v9_msg(1000, 1_767_225_600, &[set(0, &t), set(300, &r)]);
        m.extend(std::iter::repeat_n(0u8, pad));
        let b = decode_ok(&m);
        assert_eq!(
            (b.records.len(), b.sets_skipped.len()),
            (1, 0),
            "{pad} bytes"
        );
    }
}

/// RFC 7011 §3.3.1 (RFC 3954 §5.3 likewise): padding is shorter than the shortest
/// record; bytes left in a set that could hold another record are a record, and
/// if they do not parse as one the set is malformed (skipped and counted whole).
#[test]
fn set_padding_is_shorter_than_the_shortest_record() {
    // Fixed length: 8 bytes a record.
    let t = template_record(300, &[(8, 4), (1, 4)]);
    let rec = [10, 0, 0, 1, 0, 0, 0, 5];
    for (extra, want) in [(0, 2), (7, 2), (8, 3), (15, 3)] {
        let mut body = [rec, rec].concat();
        body.extend(std::iter::repeat_n(0u8, extra));
        let b = decode_ok(&ipfix_msg(1, 1, &[set(2, &t), set(300, &body)]));
        assert_eq!(b.records.len(), want, "fixed + {extra}");
        assert!(b.sets_skipped.is_empty());
    }
    // Variable length: 4 bytes and a variable-length field, 5 bytes at least.
    let t = template_record(301, &[(8, 4), (82, 65535)]);
    let rec = [10, 0, 0, 1, 2, b'e', b't'];
    for (extra, want) in [
        (&[][..], Ok(2)),
        (&[0, 0, 0, 0][..], Ok(2)),
        (&[0, 0, 0, 0, 0][..], Ok(3)),
        (&[10, 0, 0, 2, 1, b'x'][..], Ok(3)),
        (&[0, 0, 0, 0, 200, 0][..], Err("truncated_record")),
        (&[0, 0, 0, 0, 255, 0][..], Err("truncated_record")),
    ] {
        let mut body = [rec, rec].concat();
        body.extend_from_slice(extra);
        let b = decode_ok(&ipfix_msg(1, 1, &[set(2, &t), set(301, &body)]));
        match want {
            Ok(n) => {
                assert_eq!(b.records.len(), n, "varlen + {extra:?}");
                assert!(b.sets_skipped.is_empty());
            }
            Err(why) => {
                assert_eq!(b.records.len(), 0, "a malformed set is skipped whole");
                assert!(b.sets.is_empty());
                assert_eq!(reasons(&b), [why]);
            }
        }
    }
}
