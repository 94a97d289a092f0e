//! `octoflow gen`: a load and demo generator. Sends NetFlow v5, v9, IPFIX or sFlow
//! with correct sequence numbers and periodic templates, and prints exactly what it
//! sent so a receiver can be checked against it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use octoflow_proto::message::{own_template, MessageHeader, MessageWriter};
use octoflow_proto::netflow_v5::{V5Header, V5Writer};
use octoflow_proto::sflow::{DatagramWriter, SflowHeader};
use octoflow_proto::{Dialect, FlowRecord};

use octoflow_prefix::Prefix;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Proto {
    V5,
    V9,
    Ipfix,
    Sflow,
}

pub struct GenArgs {
    pub target: SocketAddr,
    /// The source address (and port) to send from; any when `None`.
    pub bind: Option<SocketAddr>,
    pub proto: Proto,
    pub rate: f64,
    pub duration: Option<f64>,
    pub count: Option<u64>,
    pub records: usize,
    pub prefixes: Vec<Prefix>,
    pub template_every: u64,
    pub seed: u64,
    pub sampling: u32,
    /// Build this many datagrams up front and send them in turn (fast load; 0 =
    /// build each one as it is sent).
    pub pool: usize,
    /// Send runs of equal-size datagrams with UDP GSO.
    pub gso: bool,
}

/// A small deterministic PRNG (SplitMix64): reproducible streams from `--seed`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
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
    let src = p.nth(rng.next_u64() as u128 | ((rng.next_u64() as u128) << 64));
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

/// What one built datagram carries, for the report.
struct Built {
    bytes: Vec<u8>,
    flows: u64,
    packets: u64,
    octets: u64,
    per_prefix: Vec<u64>,
    /// What the datagram adds to the sequence number (v5 flows, v9 1, IPFIX data
    /// records, sFlow 1).
    advance: u32,
}

/// Builds datagrams of one protocol with the right sequence numbers.
struct Builder<'a> {
    a: &'a GenArgs,
    rng: Rng,
    boot_ms: u64,
    dialect: Dialect,
    t4: octoflow_proto::Template,
    t6: octoflow_proto::Template,
    buf: Vec<u8>,
    flows: Vec<(FlowRecord, usize)>,
    flow_i: u64,
    built: u64,
}

impl<'a> Builder<'a> {
    fn new(a: &'a GenArgs) -> Self {
        let dialect = if a.proto == Proto::V9 {
            Dialect::V9
        } else {
            Dialect::Ipfix
        };
        Builder {
            a,
            rng: Rng::new(a.seed),
            boot_ms: now_ms().saturating_sub(3_600_000), // the "device" booted an hour ago
            dialect,
            t4: own_template(dialect, false),
            t6: own_template(dialect, true),
            buf: vec![0u8; 65536],
            flows: Vec::with_capacity(a.records),
            flow_i: 0,
            built: 0,
        }
    }

    /// The next datagram, with `seq` as its sequence number.
    fn build(&mut self, seq: u64) -> Result<Built, String> {
        let a = self.a;
        let now = now_ms();
        let uptime = now.saturating_sub(self.boot_ms) as u32;
        self.flows.clear();
        for _ in 0..a.records {
            let (mut r, pi) = make_flow(&mut self.rng, &a.prefixes, self.flow_i, now, a.sampling);
            if a.proto == Proto::Sflow {
                // One sFlow sample is one packet: its bytes are that packet's IP length.
                r.bytes /= r.packets;
                r.packets = 1;
            }
            self.flows.push((r, pi));
            self.flow_i += 1;
        }
        let buf = &mut self.buf;
        let (len, advance) = match a.proto {
            Proto::V5 => {
                let h = V5Header {
                    sys_uptime_ms: uptime,
                    unix_ms: now,
                    flow_sequence: seq as u32,
                    sampling_interval: a.sampling.min(0x3fff) as u16,
                    ..V5Header::default()
                };
                let mut w = V5Writer::new(buf, h).map_err(|e| e.to_string())?;
                for (r, _) in &self.flows {
                    w.push(r).map_err(|e| e.to_string())?;
                }
                (w.finish(), self.flows.len() as u32)
            }
            Proto::V9 | Proto::Ipfix => {
                let h = MessageHeader {
                    unix_ms: now,
                    sys_uptime_ms: uptime,
                    sequence: seq as u32,
                    domain: 0,
                };
                let mut w = MessageWriter::new(
                    &mut buf[..(140 * a.records + 400).clamp(1400, 65507)],
                    self.dialect,
                    h,
                )
                .map_err(|e| e.to_string())?;
                if a.template_every > 0 && self.built % a.template_every == 0 {
                    w.add_template(&self.t4).map_err(|e| e.to_string())?;
                    w.add_template(&self.t6).map_err(|e| e.to_string())?;
                }
                for (r, _) in &self.flows {
                    let t = if r.is_ipv4() { &self.t4 } else { &self.t6 };
                    w.add_record(t, r).map_err(|e| e.to_string())?;
                }
                let adv = if a.proto == Proto::V9 {
                    1
                } else {
                    w.data_records()
                };
                (w.finish(), adv)
            }
            Proto::Sflow => {
                let h = SflowHeader {
                    agent: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
                    sub_agent: 0,
                    sequence: seq as u32,
                    uptime_ms: uptime,
                    samples: 0,
                };
                let mut w = DatagramWriter::new(buf, &h).map_err(|e| e.to_string())?;
                for (r, _) in &self.flows {
                    let s = (self.built * a.records as u64) as u32 + w.samples() + 1;
                    w.add_flow(r, s, 1).map_err(|e| e.to_string())?;
                }
                (w.finish(), 1)
            }
        };
        self.built += 1;
        let mut b = Built {
            bytes: buf[..len].to_vec(),
            flows: 0,
            packets: 0,
            octets: 0,
            per_prefix: vec![0; a.prefixes.len()],
            advance,
        };
        for (r, pi) in &self.flows {
            b.flows += 1;
            b.packets += r.packets;
            b.octets += r.bytes;
            b.per_prefix[*pi] += 1;
        }
        Ok(b)
    }
}

/// Write sequence number `seq` into a built datagram's header.
fn patch_sequence(proto: Proto, d: &mut [u8], seq: u32) {
    let at = match proto {
        Proto::V5 => 16,
        Proto::V9 => 12,
        Proto::Ipfix => 8,
        // version, address type, IPv4 agent, sub-agent
        Proto::Sflow => 16,
    };
    d[at..at + 4].copy_from_slice(&seq.to_be_bytes());
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
    let bind: SocketAddr = match a.bind {
        Some(b) => b,
        None if a.target.is_ipv4() => SocketAddr::from(([0, 0, 0, 0], 0)),
        None => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let sock = UdpSocket::bind(bind).map_err(|e| format!("binding a UDP socket to {bind}: {e}"))?;
    sock.connect(a.target)
        .map_err(|e| format!("connecting to {}: {e}", a.target))?;
    let _ = nix::sys::socket::setsockopt(
        &std::os::fd::AsFd::as_fd(&sock),
        nix::sys::socket::sockopt::SndBuf,
        &(4 << 20),
    );
    let mut builder = Builder::new(&a);
    let mut sent = Sent {
        per_prefix: vec![0; a.prefixes.len()],
        ..Sent::default()
    };
    // A pool smaller than a send round would patch one datagram twice per round.
    let pool_len = if a.pool > 0 { a.pool.max(64) } else { 0 };
    let mut pool: Vec<Built> = (0..pool_len)
        .map(|_| builder.build(0))
        .collect::<Result<_, _>>()?;
    let mut idx: Vec<usize> = Vec::with_capacity(32);
    let start = Instant::now();
    let deadline = a.duration.map(|s| start + Duration::from_secs_f64(s));
    let mut seq: u64 = 0; // v9 packets / IPFIX records / v5 flows / sFlow datagrams
    let mut sender = octoflow_udp::Sender::new(32, a.gso);
    let mut pending: Vec<Built> = Vec::with_capacity(32);
    let mut next_pool = 0usize;
    let mut consecutive_errors = 0u32;
    loop {
        if a.count.is_some_and(|c| sent.datagrams >= c)
            || deadline.is_some_and(|d| Instant::now() >= d)
        {
            break;
        }
        // Datagrams in this round: one at low rates, a batch when fast.
        let want = if a.rate == 0.0 || a.rate > 2000.0 {
            32
        } else {
            1
        };
        let want = a
            .count
            .map_or(want, |c| want.min((c - sent.datagrams) as usize));
        if a.rate > 0.0 {
            let due = start + Duration::from_secs_f64(sent.datagrams as f64 / a.rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        // Fill this round: fresh datagrams, or the next pool entries with their
        // sequence numbers patched (the pool is larger than a round).
        pending.clear();
        idx.clear();
        let mut s = seq;
        for _ in 0..want {
            if pool.is_empty() {
                let b = builder.build(s)?;
                s += b.advance as u64;
                pending.push(b);
            } else {
                let i = (next_pool + idx.len()) % pool.len();
                patch_sequence(a.proto, &mut pool[i].bytes, s as u32);
                s += pool[i].advance as u64;
                idx.push(i);
            }
        }
        let round: Vec<&Built> = if pool.is_empty() {
            pending.iter().collect()
        } else {
            idx.iter().map(|&i| &pool[i]).collect()
        };
        let refs: Vec<&[u8]> = round.iter().map(|b| &b.bytes[..]).collect();
        let n = match sender.send_some(&sock, &refs) {
            Ok(n) => {
                consecutive_errors = 0;
                n
            }
            // ECONNREFUSED from a previous datagram (nothing listening): keep going,
            // as a router would; give up only if nothing ever gets through.
            Err(f) => {
                consecutive_errors += 1;
                if consecutive_errors > 1000 {
                    return Err(format!("sending to {}: {}", a.target, f.error));
                }
                continue;
            }
        };
        for b in &round[..n] {
            seq += b.advance as u64;
            sent.datagrams += 1;
            sent.flows += b.flows;
            sent.packets += b.packets;
            sent.bytes += b.octets;
            for (t, x) in sent.per_prefix.iter_mut().zip(&b.per_prefix) {
                *t += x;
            }
        }
        if !pool.is_empty() {
            next_pool = (next_pool + n) % pool.len();
        }
    }
    Ok(sent)
}
