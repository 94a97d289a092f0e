//! The template cache's own rules: held data stays with the router that sent it,
//! the cache is bounded (scopes, templates, bytes) without locking anyone out, and
//! what it learnt survives a restart.

mod common;
use common::*;

use std::net::IpAddr;

use octoflow_proto::template_cache::{Limits, ScopeKey};
use octoflow_proto::{Batch, Decoder, TemplateCache};

/// Template record `id`: sourceIPv4Address, destinationIPv4Address, octetDeltaCount.
fn template_record(id: u16) -> Vec<u8> {
    let mut b = vec![];
    for x in [id, 3, 8, 4, 12, 4, 1, 8] {
        b.extend_from_slice(&x.to_be_bytes());
    }
    b
}

/// A template record of `n` fields (ids 1000.., 4 bytes each: unknown to octoflow).
fn big_template_record(id: u16, n: u16) -> Vec<u8> {
    let mut b = vec![];
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&n.to_be_bytes());
    for i in 0..n {
        b.extend_from_slice(&(1000 + i).to_be_bytes());
        b.extend_from_slice(&4u16.to_be_bytes());
    }
    b
}

fn data_record(bytes: u64) -> Vec<u8> {
    let mut r = vec![10, 0, 1, 1, 10, 0, 2, 2];
    r.extend_from_slice(&bytes.to_be_bytes());
    r
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn decode_from(dec: &mut Decoder, from: IpAddr, d: &[u8], now_ms: u64) -> Batch {
    let mut b = Batch::default();
    dec.decode(from, d, now_ms, &mut b).unwrap();
    b
}

#[test]
fn held_data_is_released_only_in_the_scope_that_held_it() {
    let mut dec = decoder();
    let a = addr("192.0.2.1");
    let b = addr("192.0.2.2");
    // Router A: data before its template is held.
    let held = decode_from(
        &mut dec,
        a,
        &ipfix_msg(0, 1, &[set(300, &data_record(7))]),
        NOW_MS,
    );
    assert_eq!(held.template_misses, 1);
    // Router A: a template set that learns 300, then fails part-way (a record
    // announcing 5 fields and carrying none).
    let mut body = template_record(300);
    body.extend_from_slice(&[1, 45, 0, 5]);
    // The malformed set is skipped and counted (the datagram's framing is
    // intact); the template learnt before the fault releases A's held flow, in A's
    // scope.
    let mut out = Batch::default();
    dec.decode(a, &ipfix_msg(1, 1, &[set(2, &body)]), NOW_MS, &mut out)
        .expect("a malformed set does not reject the datagram");
    assert_eq!(out.sets_skipped.len(), 1);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].exporter, a);
    assert_eq!(out.records[0].bytes, 7);
    // Router B, same domain and template id: its template set must not decode A's data.
    let bb = decode_from(
        &mut dec,
        b,
        &ipfix_msg(0, 1, &[set(2, &template_record(300))]),
        NOW_MS,
    );
    assert_eq!(
        bb.records.len(),
        0,
        "router A's held flow decoded as router B's"
    );
    // Nothing of A's is held any more: its next template set releases nothing.
    let ab = decode_from(
        &mut dec,
        a,
        &ipfix_msg(2, 1, &[set(2, &template_record(300))]),
        NOW_MS,
    );
    assert_eq!(ab.records.len(), 0);
}

#[test]
fn an_expired_template_frees_its_slot_for_a_new_one() {
    let limits = Limits {
        max_templates_per_scope: 2,
        template_timeout_ms: 1000,
        ..Limits::default()
    };
    let mut dec = Decoder::new(limits);
    let a = exporter();
    let two = [set(
        2,
        &[template_record(300), template_record(301)].concat(),
    )];
    decode_from(&mut dec, a, &ipfix_msg(0, 1, &two), NOW_MS);
    // Both timed out; a new template must take a freed slot.
    let m = ipfix_msg(
        1,
        1,
        &[set(2, &template_record(302)), set(302, &data_record(9))],
    );
    let mut out = Batch::default();
    let r = dec.decode(a, &m, NOW_MS + 5000, &mut out);
    assert!(
        r.is_ok(),
        "a full scope of expired templates refused a new one: {r:?}"
    );
    assert_eq!(out.records.len(), 1);
    assert_eq!(dec.cache.stats.templates_expired, 2);
}

#[test]
fn a_full_scope_evicts_its_least_recently_used_template() {
    let limits = Limits {
        max_templates_per_scope: 2,
        ..Limits::default()
    };
    let mut dec = Decoder::new(limits);
    let a = exporter();
    decode_from(
        &mut dec,
        a,
        &ipfix_msg(0, 1, &[set(2, &template_record(300))]),
        NOW_MS,
    );
    decode_from(
        &mut dec,
        a,
        &ipfix_msg(1, 1, &[set(2, &template_record(301))]),
        NOW_MS + 1,
    );
    // 300 is used again, so 301 is the least recently used.
    decode_from(
        &mut dec,
        a,
        &ipfix_msg(2, 1, &[set(300, &data_record(1))]),
        NOW_MS + 2,
    );
    let m = ipfix_msg(
        3,
        1,
        &[set(2, &template_record(302)), set(302, &data_record(9))],
    );
    let mut out = Batch::default();
    let r = dec.decode(a, &m, NOW_MS + 3, &mut out);
    assert!(r.is_ok(), "a full scope refused a new template: {r:?}");
    assert_eq!(out.records.len(), 1);
    assert_eq!(dec.cache.stats.templates_evicted, 1);
    let key = ScopeKey {
        exporter: a,
        version: 10,
        domain: 1,
    };
    assert!(dec.cache.template(&key, 300, NOW_MS + 4).is_some());
    assert!(dec.cache.template(&key, 301, NOW_MS + 4).is_none());
}

#[test]
fn sampling_intervals_per_sampler_id_survive_a_restart() {
    let mut cache = TemplateCache::new(Limits::default());
    let key = ScopeKey {
        exporter: exporter(),
        version: 9,
        domain: 3,
    };
    let s = cache.scope_mut(key).unwrap();
    s.sampling.default_interval = 100;
    s.sampling.by_id = vec![(7, 1000), (9, 64)];
    let saved = cache.save();
    let mut restored = TemplateCache::restore(&saved, Limits::default()).unwrap();
    let s = restored.scope_mut(key).unwrap();
    assert_eq!(s.sampling.default_interval, 100);
    assert_eq!(s.sampling.by_id, vec![(7, 1000), (9, 64)]);
}

fn v9_header_only(seq: u32, source_id: u32) -> Vec<u8> {
    let mut m = vec![0, 9, 0, 0];
    m.extend_from_slice(&3_600_000u32.to_be_bytes());
    m.extend_from_slice(&1_767_225_600u32.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&source_id.to_be_bytes());
    m
}

#[test]
fn one_address_flooding_source_ids_never_locks_out_another_router() {
    let mut dec = decoder();
    let junk = addr("127.0.0.2");
    for i in 0..5000u32 {
        let mut out = Batch::default();
        let _ = dec.decode(junk, &v9_header_only(i, i), NOW_MS, &mut out);
    }
    let router = addr("127.0.0.3");
    let m = ipfix_msg(
        0,
        1,
        &[set(2, &template_record(300)), set(300, &data_record(5))],
    );
    let mut out = Batch::default();
    let r = dec.decode(router, &m, NOW_MS, &mut out);
    assert!(
        r.is_ok(),
        "a new router locked out by another's junk: {r:?}"
    );
    assert_eq!(out.records.len(), 1);
    // The junk scopes hold nothing worth a restart: the cache file stays small.
    assert!(dec.cache.save().len() < 1000, "empty scopes persisted");
}

#[test]
fn idle_scopes_expire_and_each_address_keeps_a_fair_share() {
    let limits = Limits {
        max_scopes: 8,
        scope_idle_ms: 60_000,
        ..Limits::default()
    };
    let mut dec = Decoder::new(limits);
    let a = addr("127.0.0.2");
    let b = addr("127.0.0.3");
    let mut out = Batch::default();
    for d in 0..2 {
        let m = ipfix_msg(0, d, &[set(2, &template_record(300))]);
        dec.decode(b, &m, NOW_MS, &mut out).unwrap();
    }
    for i in 0..100 {
        let _ = dec.decode(a, &v9_header_only(i, i), NOW_MS + 1 + i as u64, &mut out);
    }
    assert_eq!(dec.cache.scope_count(), 8);
    assert!(dec.cache.stats.scopes_evicted >= 92);
    // Router B's two scopes are within its share: both still decode.
    for d in 0..2 {
        let m = ipfix_msg(1, d, &[set(300, &data_record(1))]);
        dec.decode(b, &m, NOW_MS + 200, &mut out).unwrap();
        assert_eq!(out.records.len(), 1, "domain {d} of router B lost");
    }
    // An hour later everything is idle and goes.
    dec.cache.expire(NOW_MS + 3_600_000);
    assert_eq!(dec.cache.scope_count(), 0);
    assert_eq!(dec.cache.stats.scopes_expired, 8);
}

#[test]
fn template_memory_stays_within_its_byte_budget() {
    let budget = 1 << 20;
    let limits = Limits {
        max_template_bytes: budget,
        ..Limits::default()
    };
    let mut dec = Decoder::new(limits);
    let router = addr("127.0.0.3");
    let mut out = Batch::default();
    let m = ipfix_msg(0, 1, &[set(2, &template_record(300))]);
    dec.decode(router, &m, NOW_MS, &mut out).unwrap();
    let junk = addr("127.0.0.2");
    for domain in 0..64u32 {
        for chunk in 0..8u16 {
            // 8 templates of 200 fields per message.
            let recs: Vec<u8> = (0..8)
                .flat_map(|i| big_template_record(256 + chunk * 8 + i, 200))
                .collect();
            let m = ipfix_msg(0, domain, &[set(2, &recs)]);
            dec.decode(junk, &m, NOW_MS, &mut out).unwrap();
            assert!(dec.cache.template_bytes() <= budget);
        }
        // The router keeps using its template.
        let m = ipfix_msg(1, 1, &[set(300, &data_record(1))]);
        dec.decode(router, &m, NOW_MS, &mut out).unwrap();
        assert_eq!(out.records.len(), 1, "router's template evicted by junk");
    }
    assert!(dec.cache.stats.templates_evicted > 0);
    let by_dev: Vec<_> = dec.cache.evictions_by_device().collect();
    assert_eq!(by_dev, vec![(junk, dec.cache.stats.templates_evicted)]);
}

#[test]
fn cache_files_of_the_first_format_are_still_read() {
    // OFTCACH1: one scope (192.0.2.7, IPFIX, domain 1), no init time, interval
    // 100, template 300 seen at NOW_MS.
    let mut f = b"OFTCACH1".to_vec();
    f.extend_from_slice(&1u32.to_be_bytes());
    f.extend_from_slice(&[4, 192, 0, 2, 7]);
    f.extend_from_slice(&10u16.to_be_bytes());
    f.extend_from_slice(&1u32.to_be_bytes());
    f.extend_from_slice(&u64::MAX.to_be_bytes());
    f.extend_from_slice(&100u32.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes());
    f.extend_from_slice(&300u16.to_be_bytes());
    f.push(10);
    f.extend_from_slice(&0u16.to_be_bytes());
    f.extend_from_slice(&NOW_MS.to_be_bytes());
    f.extend_from_slice(&3u16.to_be_bytes());
    for (id, len) in [(8u16, 4u16), (12, 4), (1, 8)] {
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(&0u32.to_be_bytes());
    }
    let mut restored = TemplateCache::restore(&f, Limits::default()).unwrap();
    let key = ScopeKey {
        exporter: exporter(),
        version: 10,
        domain: 1,
    };
    assert_eq!(
        restored.scope_mut(key).unwrap().sampling.default_interval,
        100
    );
    let mut dec = Decoder::with_cache(restored);
    let b = decode_from(
        &mut dec,
        exporter(),
        &ipfix_msg(0, 1, &[set(300, &data_record(3))]),
        NOW_MS,
    );
    assert_eq!(b.records.len(), 1);
    // Written back in the current format.
    assert_eq!(&dec.cache.save()[..8], b"OFTCACH2");
}

#[test]
fn a_template_larger_than_the_whole_budget_is_refused_by_that_name() {
    let mut dec = Decoder::new(Limits {
        max_template_bytes: 1000,
        ..Limits::default()
    });
    let m = ipfix_msg(0, 1, &[set(2, &big_template_record(300, 200))]);
    let mut out = Batch::default();
    // Skipped and counted like a malformed set: the datagram's other sets decode.
    dec.decode(exporter(), &m, NOW_MS, &mut out)
        .expect("the set is skipped, not the datagram");
    let reasons: Vec<&str> = out.sets_skipped.iter().map(|e| e.reason()).collect();
    assert_eq!(reasons, vec!["template_over_budget"]);
    assert_eq!(dec.cache.stats.template_overflow, 1);
}

fn sflow_from_agent(agent: IpAddr, sub_agent: u32, seq: u32) -> Vec<u8> {
    use octoflow_proto::batch::SflowHeader;
    use octoflow_proto::sflow::DatagramWriter;
    let mut buf = vec![0u8; 65535];
    let h = SflowHeader {
        agent,
        sub_agent,
        sequence: seq,
        uptime_ms: 5000,
        samples: 0,
    };
    let w = DatagramWriter::new(&mut buf, &h).unwrap();
    let n = w.finish();
    buf.truncate(n);
    buf
}

#[test]
fn sflow_agent_addresses_count_against_the_address_that_sent_them() {
    let mut dec = Decoder::new(Limits {
        max_scopes: 64,
        ..Limits::default()
    });
    let router = addr("127.0.0.3");
    let junk = addr("127.0.0.2");
    let mut out = Batch::default();
    // The router's two sFlow sub-agents.
    for sub in 0..2 {
        let d = sflow_from_agent(router, sub, 0);
        dec.decode(router, &d, NOW_MS, &mut out).unwrap();
    }
    // One sender claiming 1000 agent addresses.
    for i in 0..1000u32 {
        let agent = IpAddr::from([10, 99, (i >> 8) as u8, i as u8]);
        let d = sflow_from_agent(agent, 0, 0);
        dec.decode(junk, &d, NOW_MS + 1 + i as u64, &mut out)
            .unwrap();
    }
    // The router's scopes survived: their sequence tracking goes on (a gap of 4).
    for sub in 0..2 {
        let d = sflow_from_agent(router, sub, 5);
        dec.decode(router, &d, NOW_MS + 2000, &mut out).unwrap();
        let what = "the router's scope was evicted for another's junk";
        assert_eq!(out.sequence_gap, 4, "{what}");
    }
}
