//! Any bytes into a BGP session (after a valid OPEN + KEEPALIVE, so UPDATE
//! parsing is reached) and into a BMP reader, updates applied to a RIB:
//! nothing may panic. The first byte picks the peer's OPEN (4- or 2-byte
//! ASNs, hold time) and how the rest is split into reads.
#![no_main]
use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use octoflow_bgp::msg::{encode_keepalive, encode_open, Open};
use octoflow_bgp::{BmpError, BmpMessage, BmpReader, Event, Rib, Session, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut prefix = Vec::new();
    encode_open(
        &Open {
            version: 4,
            asn: 65001,
            hold_time: if sel & 2 == 0 { 90 } else { 0 },
            bgp_id: Ipv4Addr::new(192, 0, 2, 1),
            four_byte_as: sel & 1 == 0,
            mp: vec![(1, 1), (2, 1)],
        },
        &mut prefix,
    );
    encode_keepalive(&mut prefix);
    let mut s = Session::new(SessionConfig::new(65000, Ipv4Addr::new(192, 0, 2, 254)), 0);
    s.receive(&prefix, 0);
    let mut rib = Rib::new();
    let mut out = Vec::new();
    let piece = usize::from(sel >> 2) + 1;
    for (i, chunk) in rest.chunks(piece).enumerate() {
        let now = i as u64 * 1000;
        s.receive(chunk, now);
        s.handle_timeout(now);
        let _ = s.poll_timeout();
        while let Some(e) = s.poll_event() {
            if let Event::Update(u) = e {
                rib.apply(&u);
            }
        }
        s.transmit(&mut out);
    }
    let _ = rib.lookup("10.0.0.1".parse().unwrap());
    let _ = rib.iter().count();

    let mut r = BmpReader::new();
    let mut ribs = std::collections::HashMap::new();
    for chunk in data.chunks(piece) {
        r.feed(chunk);
        for _ in 0..10_000 {
            match r.next() {
                Ok(Some(BmpMessage::RouteMonitoring { peer, update })) => {
                    ribs.entry(peer.key())
                        .or_insert_with(Rib::new)
                        .apply(&update);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(BmpError::Version(_) | BmpError::Length(_)) => break,
                Err(_) => {}
            }
        }
    }
});
