//! A BMP router for benchmarks: connects to a BMP station, sends Initiation,
//! Peer Up for one monitored peer (192.0.2.10, AS 65001) and a Route
//! Monitoring message per route of the synthetic full table (`src/synth.rs`),
//! then keeps the connection open (the station drops a router's routes when it
//! goes) for HOLD seconds.
//!
//! `cargo run --release -p octoflow-bgp --example bmp_feed -- 127.0.0.1:10179 1000000 200000 60`
//! (`scripts/bench.sh`'s `octoflow-enriched` contender runs it).

use std::io::Write;
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use octoflow_bgp::msg::{encode_open, encode_update, IPV4_UNICAST, IPV6_UNICAST};
use octoflow_bgp::{synth, Open, Update};

/// BMP message types (RFC 7854 §4.1).
const ROUTE_MONITORING: u8 = 0;
const PEER_UP: u8 = 3;
const INITIATION: u8 = 4;

/// The common header (version 3, length, type) before `body`.
fn message(kind: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(3);
    out.extend_from_slice(&(6 + body.len() as u32).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
}

/// The per-peer header (RFC 7854 §4.2) of the monitored IPv4 peer.
fn peer_header(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0]); // global instance peer, no flags: IPv4, pre-policy
    out.extend_from_slice(&[0; 8]); // distinguisher
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(&[192, 0, 2, 10]);
    out.extend_from_slice(&65001u32.to_be_bytes());
    out.extend_from_slice(&Ipv4Addr::new(192, 0, 2, 10).octets());
    out.extend_from_slice(&[0; 8]); // timestamp
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [to, n4, n6, hold] = &args[..] else {
        return Err("usage: bmp_feed STATION N4 N6 HOLD_SECS".into());
    };
    let num = |s: &String| s.parse::<u32>().map_err(|e| format!("{s}: {e}"));
    let (n4, n6, hold) = (num(n4)?, num(n6)?, num(hold)?);
    let mut s = TcpStream::connect(to).map_err(|e| format!("{to}: {e}"))?;
    let t = Instant::now();
    let mut out = Vec::with_capacity(1 << 20);
    let mut body = Vec::new();
    // Initiation: sysName.
    body.extend_from_slice(&2u16.to_be_bytes());
    body.extend_from_slice(&(b"octoflow-bench".len() as u16).to_be_bytes());
    body.extend_from_slice(b"octoflow-bench");
    message(INITIATION, &body, &mut out);
    // Peer Up: local address and ports, then the OPENs sent and received.
    body.clear();
    peer_header(&mut body);
    body.extend_from_slice(&[0; 12]);
    body.extend_from_slice(&[192, 0, 2, 1]);
    body.extend_from_slice(&179u16.to_be_bytes());
    body.extend_from_slice(&40000u16.to_be_bytes());
    for (asn, id) in [(65000, [192, 0, 2, 1]), (65001, [192, 0, 2, 10])] {
        let open = Open {
            version: 4,
            asn,
            hold_time: 90,
            bgp_id: id.into(),
            four_byte_as: true,
            mp: vec![IPV4_UNICAST, IPV6_UNICAST],
        };
        encode_open(&open, &mut body);
    }
    message(PEER_UP, &body, &mut out);
    let routes = (0..n4)
        .map(|i| (synth::v4_prefix(i), synth::attrs(i, false, true)))
        .chain((0..n6).map(|i| (synth::v6_prefix(i), synth::attrs(i, true, true))));
    for (p, a) in routes {
        body.clear();
        peer_header(&mut body);
        let u = Update {
            announced: vec![p],
            attrs: Some(a),
            ..Update::default()
        };
        encode_update(&u, true, &mut body);
        message(ROUTE_MONITORING, &body, &mut out);
        if out.len() > 1 << 20 {
            s.write_all(&out).map_err(|e| e.to_string())?;
            out.clear();
        }
    }
    s.write_all(&out).map_err(|e| e.to_string())?;
    eprintln!(
        "bmp_feed: {} routes sent in {:.2} s; holding the session {hold} s",
        u64::from(n4) + u64::from(n6),
        t.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(hold.into()));
    Ok(())
}
