//! The template cache's own rules: held data stays with the router that sent it,
//! the cache is bounded (scopes, templates, bytes) without locking anyone out, and
//! what it learnt survives a restart.

mod common;
use common::*;

use std::net::IpAddr;

use octoflow_proto::{Batch, Decoder};

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

/// Template record `id`: sourceIPv4Address, destinationIPv4Address, octetDeltaCount.
fn template_record(id: u16) -> Vec<u8> {
    let mut b = vec![];
    for x in [id, 3, 8, 4, 12, 4, 1, 8] {
        b.extend_from_slice(&x.to_be_bytes());
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
    let mut out = Batch::default();
    assert!(dec
        .decode(a, &ipfix_msg(1, 1, &[set(2, &body)]), NOW_MS, &mut out)
        .is_err());
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
    // A's data is still A's: its next template set releases it, as A's.
    let ab = decode_from(
        &mut dec,
        a,
        &ipfix_msg(2, 1, &[set(2, &template_record(300))]),
        NOW_MS,
    );
    assert_eq!(ab.records.len(), 1);
    assert_eq!(ab.records[0].exporter, a);
    assert_eq!(ab.records[0].bytes, 7);
}
