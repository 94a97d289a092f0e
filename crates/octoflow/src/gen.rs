//! `octoflow gen`: a load and demo generator. Sends NetFlow v5, v9, IPFIX or sFlow
//! with correct sequence numbers and periodic templates, and prints exactly what it
//! sent so a receiver can be checked against it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use octoflow_proto::message::{own_template, MessageHeader, MessageWriter};
use octoflow_proto::netflow_v5::{V5Header, V5Writer};
use octoflow_proto::sflow::{DatagramWriter, SflowHeader};
use octoflow_proto::{Dialect, FlowRecord};

use crate::prefix::Prefix;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Proto {
    V5,
    V9,
    Ipfix,
    Sflow,
}

pub struct GenArgs {
    pub target: SocketAddr,
    pub proto: Proto,
    pub rate: f64,
    pub duration: Option<f64>,
    pub count: Option<u64>,
    pub records: usize,
    pub prefixes: Vec<Prefix>,
    pub template_every: u64,
    pub seed: u64,
    pub sampling: u32,
}

/// A small deterministic PRNG (SplitMix64): reproducible streams from `--seed`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Totals of what was sent.
#[derive(Default, Debug)]
pub struct Sent {
    pub datagrams: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub per_prefix: Vec<u64>,
}

/// Build the `i`-th flow: source in prefix `i % n`, destination in the documentation
/// "internet" (198.51.100.0/24 or 2001:db8:ff::/64); returns the prefix index.
pub fn make_flow(
    rng: &mut Rng,
    prefixes: &[Prefix],
    i: u64,
    now_ms: u64,
    sampling: u32,
) -> (FlowRecord, usize) {
    let pi = (i % prefixes.len() as u64) as usize;
    let p = prefixes[pi];
    let src = p.nth(rng.next() as u128 | ((rng.next() as u128) << 64));
    let dst = match src {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(198, 51, 100, rng.below(254) as u8 + 1)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0xff,
            0,
            0,
            0,
            0,
            rng.below(0xfffe) as u16 + 1,
        )),
    };
    let proto = [6u8, 6, 17, 17, 1][rng.below(5) as usize];
    let packets = 1 + rng.below(200);
    let size = 40 + rng.below(1460);
    let dur = rng.below(30_000);
    let mut r = FlowRecord {
        src_addr: src,
        dst_addr: dst,
        proto,
        packets,
        bytes: packets * size,
        first_ms: now_ms.saturating_sub(dur + 1000),
        last_ms: now_ms.saturating_sub(1000),
        input_if: 1 + rng.below(8) as u32,
        output_if: 1 + rng.below(8) as u32,
        tos: 0,
        sampling_interval: sampling,
        ..FlowRecord::default()
    };
    match proto {
        1 => {
            if src.is_ipv6() {
                r.proto = 58;
                r.set_icmp(128, 0);
            } else {
                r.set_icmp(8, 0);
            }
        }
        6 => {
            r.src_port = 1024 + rng.below(60000) as u16;
            r.dst_port = [80, 443, 22, 25, 8080][rng.below(5) as usize];
            r.tcp_flags = 0x1b;
        }
        _ => {
            r.src_port = 1024 + rng.below(60000) as u16;
            r.dst_port = [53, 123, 514, 4789][rng.below(4) as usize];
        }
    }
    (r, pi)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub fn run(a: GenArgs) -> Result<Sent, String> {
    if a.prefixes.is_empty() {
        return Err("gen needs at least one --prefix".into());
    }
    if a.proto == Proto::V5 && a.prefixes.iter().any(|p| p.addr.is_ipv6()) {
        return Err(
            "NetFlow v5 cannot carry IPv6 flows: use --proto v9, ipfix or sflow for IPv6 prefixes"
                .into(),
        );
    }
    let max_records = match a.proto {
        Proto::V5 => 30,
        _ => 200,
    };
    if a.records == 0 || a.records > max_records {
        return Err(format!(
            "--records must be 1..={max_records} for {:?}",
            a.proto
        ));
    }
    let bind: SocketAddr = if a.target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .map_err(|e| format!("{e}"))?;
    let sock = UdpSocket::bind(bind).map_err(|e| format!("binding a UDP socket: {e}"))?;
    sock.connect(a.target)
        .map_err(|e| format!("connecting to {}: {e}", a.target))?;
    let mut rng = Rng::new(a.seed);
    let mut sent = Sent {
        per_prefix: vec![0; a.prefixes.len()],
        ..Sent::default()
    };
    let start = Instant::now();
    let boot_ms = now_ms().saturating_sub(3_600_000); // the "device" booted an hour ago
    let dialect = if a.proto == Proto::V9 {
        Dialect::V9
    } else {
        Dialect::Ipfix
    };
    let t4 = own_template(dialect, false);
    let t6 = own_template(dialect, true);
    let mut buf = vec![0u8; 65536];
    let mut flows: Vec<(FlowRecord, usize)> = Vec::with_capacity(a.records);
    let mut seq: u64 = 0; // v9 packets / IPFIX records / v5 flows / sFlow datagrams
    let deadline = a.duration.map(|s| start + Duration::from_secs_f64(s));
    let mut flow_i = 0u64;
    let mut consecutive_errors = 0u32;
    loop {
        if a.count.is_some_and(|c| sent.datagrams >= c)
            || deadline.is_some_and(|d| Instant::now() >= d)
        {
            break;
        }
        if a.rate > 0.0 {
            let due = start + Duration::from_secs_f64(sent.datagrams as f64 / a.rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let now = now_ms();
        let uptime = now.saturating_sub(boot_ms) as u32;
        flows.clear();
        for _ in 0..a.records {
            let (mut r, pi) = make_flow(&mut rng, &a.prefixes, flow_i, now, a.sampling);
            if a.proto == Proto::Sflow {
                // One sFlow sample is one packet: its bytes are that packet's IP length.
                r.bytes /= r.packets;
                r.packets = 1;
            }
            flows.push((r, pi));
            flow_i += 1;
        }
        let len = match a.proto {
            Proto::V5 => {
                let h = V5Header {
                    sys_uptime_ms: uptime,
                    unix_ms: now,
                    flow_sequence: seq as u32,
                    sampling_interval: a.sampling.min(0x3fff) as u16,
                    ..V5Header::default()
                };
                let mut w = V5Writer::new(&mut buf, h).map_err(|e| e.to_string())?;
                for (r, _) in &flows {
                    w.push(r).map_err(|e| e.to_string())?;
                }
                seq += flows.len() as u64;
                w.finish()
            }
            Proto::V9 | Proto::Ipfix => {
                let h = MessageHeader {
                    unix_ms: now,
                    sys_uptime_ms: uptime,
                    sequence: seq as u32,
                    domain: 0,
                };
                let mut w = MessageWriter::new(
                    &mut buf[..(120 * a.records + 400).clamp(1400, 65507)],
                    dialect,
                    h,
                )
                .map_err(|e| e.to_string())?;
                if a.template_every > 0 && sent.datagrams % a.template_every == 0 {
                    w.add_template(&t4).map_err(|e| e.to_string())?;
                    w.add_template(&t6).map_err(|e| e.to_string())?;
                }
                for (r, _) in &flows {
                    let t = if r.is_ipv4() { &t4 } else { &t6 };
                    w.add_record(t, r).map_err(|e| e.to_string())?;
                }
                seq += if a.proto == Proto::V9 {
                    1
                } else {
                    w.data_records() as u64
                };
                w.finish()
            }
            Proto::Sflow => {
                let h = SflowHeader {
                    agent: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
                    sub_agent: 0,
                    sequence: seq as u32,
                    uptime_ms: uptime,
                    samples: 0,
                };
                let mut w = DatagramWriter::new(&mut buf, &h).map_err(|e| e.to_string())?;
                for (r, _) in &flows {
                    let s = sent.flows as u32 + w.samples() + 1;
                    w.add_flow(r, s, 1).map_err(|e| e.to_string())?;
                }
                seq += 1;
                w.finish()
            }
        };
        match sock.send(&buf[..len]) {
            Ok(_) => consecutive_errors = 0,
            // ECONNREFUSED from a previous datagram (nothing listening): keep going,
            // as a router would; give up only if nothing ever gets through.
            Err(e) => {
                consecutive_errors += 1;
                if consecutive_errors > 1000 {
                    return Err(format!("sending to {}: {e}", a.target));
                }
                continue;
            }
        }
        sent.datagrams += 1;
        for (r, pi) in &flows {
            sent.flows += 1;
            // sFlow carries one packet per sample.
            sent.packets += r.packets;
            sent.bytes += r.bytes;
            sent.per_prefix[*pi] += 1;
        }
    }
    Ok(sent)
}
