//! Behaviour pinned to the RFCs: template scoping, withdrawal, held data, options
//! data (sampling), enterprise and variable-length fields, padding, sequence
//! tracking, malformed input — and the template cache's persistence.

mod common;
use common::*;

use octoflow_proto::template_cache::Limits;
use octoflow_proto::{Batch, DecodeError, Decoder, Dialect, FlowRecord, TemplateCache};

fn ipfix_msg(seq: u32, domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![0, 10, 0, 0];
    m.extend_from_slice(&1_767_225_600u32.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&domain.to_be_bytes());
    for s in sets {
        m.extend_from_slice(s);
    }
    let l = m.len() as u16;
    m[2..4].copy_from_slice(&l.to_be_bytes());
    m
}

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = id.to_be_bytes().to_vec();
    s.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    s.extend_from_slice(body);
    s
}

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
    for n in 0..saved.len() {
        let _ = TemplateCache::restore(&saved[..n], Limits::default());
    }
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
    // Template with zero fields in a v9 template flowset.
    let mut v9 = vec![0, 9, 0, 1];
    v9.extend_from_slice(&[0; 16]);
    v9.extend_from_slice(&set(0, &[1, 44, 0, 0, 0, 0, 0, 0])[..]);
    assert_eq!(err(&v9).reason(), "zero_field_count");
    // Template field of length 0.
    let m = ipfix_msg(0, 1, &[set(2, &[1, 44, 0, 1, 0, 8, 0, 0])]);
    assert_eq!(err(&m).reason(), "bad_field_length");
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
