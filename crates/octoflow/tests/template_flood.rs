//! The template flood of the issue, against the real binary: one loopback address
//! sends templates for thousands of observation domains (4096 domains × 512
//! templates × 200 fields, bounded in count and time) while a second router, from
//! another loopback address, exports its tenant's flows. The server stays within its
//! template budget, and the second router's tenant gets exactly its flows.
//!
//! All traffic stays on 127.0.0.0/8; every process is started here and killed by PID.

mod common;

use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::flows::*;
use common::receivers::*;
use common::*;
use octoflow_proto::message::{own_template, MessageHeader, MessageWriter};
use octoflow_proto::{Dialect, FlowRecord};

const DOMAINS: u32 = 4096;
const TEMPLATES: u16 = 512;
const FIELDS: u16 = 200;
/// Templates per flood datagram (each 804 bytes).
const PER_DATAGRAM: u16 = 64;
/// The default `collectors[].template_memory`.
const BUDGET_MB: u64 = 64;
/// The rest of the process: receive arena, queues, pools, threads' stacks.
const MARGIN_MB: u64 = 64;

fn ipfix(seq: u32, domain: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0, 10, 0, 0];
    m.extend_from_slice(&1_767_225_600u32.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&domain.to_be_bytes());
    m.extend_from_slice(&2u16.to_be_bytes());
    m.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    m.extend_from_slice(body);
    let l = m.len() as u16;
    m[2..4].copy_from_slice(&l.to_be_bytes());
    m
}

/// `PER_DATAGRAM` templates of `FIELDS` fields, ids from `first`.
fn flood_templates(first: u16) -> Vec<u8> {
    let mut b = Vec::new();
    for id in first..first + PER_DATAGRAM {
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&FIELDS.to_be_bytes());
        for f in 0..FIELDS {
            b.extend_from_slice(&(1000 + f).to_be_bytes());
            b.extend_from_slice(&4u16.to_be_bytes());
        }
    }
    b
}

fn vm_rss_mb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// The second router's datagram `seq`: templates and 20 flows, half its tenant's.
fn router_datagram(seq: u32) -> Vec<u8> {
    let mut buf = vec![0u8; 65535];
    let h = MessageHeader {
        unix_ms: 1_767_225_600_000 + seq as u64 * 1000,
        sys_uptime_ms: 3_600_000,
        sequence: seq * 20,
        domain: 7,
    };
    let mut w = MessageWriter::new(&mut buf, Dialect::Ipfix, h).expect("writer");
    let t4 = own_template(Dialect::Ipfix, false);
    w.add_template(&t4).expect("template");
    for i in 0..20u8 {
        let src: IpAddr = if i % 2 == 0 {
            format!("10.0.1.{}", i + 1).parse().expect("ip")
        } else {
            format!("192.168.0.{}", i + 1).parse().expect("ip")
        };
        let r = FlowRecord {
            src_addr: src,
            dst_addr: "10.9.9.9".parse().expect("ip"),
            src_port: 1000 + i as u16,
            dst_port: 443,
            proto: 6,
            packets: 1,
            bytes: 100,
            first_ms: h.unix_ms - 1000,
            last_ms: h.unix_ms,
            ..FlowRecord::default()
        };
        w.add_record(&t4, &r).expect("record");
    }
    let n = w.finish();
    buf.truncate(n);
    buf
}

#[test]
fn a_template_flood_from_one_address_stays_in_budget_and_another_routers_tenant_gets_its_flows() {
    let dir = tmpdir("flood");
    let [cp, foo, pm] = [(); 3].map(|_| free_port());
    let rx = Receiver::nfcapd("nfcapd", foo, &dir.join("foo"));
    let mut yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}, template_cache_dir: {}/cache}}\ncollectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [foo]}}\nexporters:\n",
        dir.display()
    );
    // IPFIX in, IPFIX out: the same-version path, where the output keeps the
    // router's templates it forwarded, per (device, domain) stream. It lets go of
    // those the cache evicted (`templates_forgotten`), so the budget bounds both.
    yaml += &exporter_yaml("foo", foo, "10", FOO, "udp");
    let srv = Server::start(&dir, &yaml, &[cp]);
    let pid = srv.child.0.id();
    let rss_start = vm_rss_mb(pid);

    // The flood, from 127.0.0.2: bounded by count (the whole 4096 × 512) and time.
    let flood = std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
        let t = Instant::now();
        let mut sent = 0u64;
        let mut seq = 0u32;
        'all: for domain in 0..DOMAINS {
            for chunk in 0..TEMPLATES / PER_DATAGRAM {
                if t.elapsed() > Duration::from_secs(15) {
                    break 'all;
                }
                let d = ipfix(seq, domain, &flood_templates(256 + chunk * PER_DATAGRAM));
                seq = seq.wrapping_add(1);
                if s.send_to(&d, ("127.0.0.1", cp)).is_ok() {
                    sent += 1;
                }
                if sent % 4 == 0 {
                    // About what the server decodes on its share of two cores.
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        sent
    });

    // The second router, from 127.0.0.3: 200 datagrams of 20 flows, 10 its tenant's.
    let router = UdpSocket::bind("127.0.0.3:0").expect("bind 127.0.0.3");
    let mut rss_max = 0;
    for seq in 0..200u32 {
        router
            .send_to(&router_datagram(seq), ("127.0.0.1", cp))
            .expect("send");
        std::thread::sleep(Duration::from_millis(50));
        rss_max = rss_max.max(vm_rss_mb(pid));
    }
    let flood_sent = flood.join().expect("flood thread");
    std::thread::sleep(Duration::from_millis(500));
    rss_max = rss_max.max(vm_rss_mb(pid));
    let status = srv.status();
    let metrics = http_get(pm, "/metrics");
    let log = srv.stop();
    let got = rx.finish();
    eprintln!(
        "flood: {flood_sent} datagrams ({} templates); RSS {rss_start} MB at start, {rss_max} MB at most",
        flood_sent * PER_DATAGRAM as u64
    );
    assert!(
        flood_sent * PER_DATAGRAM as u64 > 100_000,
        "the flood must exceed the budget several times"
    );
    assert!(
        rss_max < BUDGET_MB + MARGIN_MB,
        "RSS {rss_max} MB over the {BUDGET_MB} MB budget + {MARGIN_MB} MB\n{status}"
    );
    assert!(
        counter(&status, "edge", "templates_evicted") > 0,
        "{status}"
    );
    assert!(
        metrics.contains("octoflow_collector_device_templates_evicted_total{collector=\"edge\",device=\"127.0.0.2\"}"),
        "{metrics}"
    );
    let router_evicted =
        "device_templates_evicted_total{collector=\"edge\",device=\"127.0.0.3\"} 0\n";
    assert!(
        metrics.contains(router_evicted),
        "the second router's template was evicted for the flood\n{metrics}"
    );
    assert!(
        counter(&status, "edge", "template_bytes") <= BUDGET_MB << 20,
        "{status}"
    );
    // The second router: every datagram decoded, its tenant got exactly its flows.
    let dev = status
        .split("\"127.0.0.3\":")
        .nth(1)
        .unwrap_or_else(|| panic!("127.0.0.3 in {status}"));
    assert!(
        dev.starts_with("{\"datagrams\":200,\"flows\":4000,"),
        "{dev}"
    );
    assert_eq!(counter(&status, "foo", "flows_matched"), 2000, "{status}");
    assert_eq!(
        got.records, 2000,
        "the tenant's flows arrived exactly\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
