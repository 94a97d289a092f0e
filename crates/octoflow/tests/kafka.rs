//! The `kafka` output against a real Kafka-protocol broker (tansu, started and
//! stopped here by PID): real exporters' captures go through the collector to
//! Kafka; the messages are consumed with Debian's `kcat` and decoded with
//! `protoc --decode` against the shipped `proto/flow.proto` and read by a
//! modern ClickHouse's own Protobuf reader (chdb), and every flow must arrive
//! with every field — compared with the capture's ground truth and with
//! `octoflow dump` of the same capture. Then the broker is killed and
//! restarted under a running router.
//!
//! Traffic stays on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::flows::settle;
use common::goflow::*;
use common::pcap::udp_payloads;
use common::replay::wait_status;
use common::servers::{Db, Kind};
use common::*;

/// The captures replayed, with the topic each goes to.
const CAPTURES: &[&str] = &[
    "softflowd-ipfix",
    "pmacct-v9",
    "softflowd-v5",
    "pmacct-sflow",
];

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The keys of `topic`'s messages.
fn keys(kafka: &Db, topic: &str) -> BTreeMap<String, usize> {
    let out = read_topic(kafka, topic, "%k\n");
    let mut m = BTreeMap::new();
    for k in String::from_utf8_lossy(&out).lines() {
        *m.entry(k.to_string()).or_default() += 1;
    }
    m
}

/// Send a capture's datagrams to `port`, paced so the collector's socket
/// buffer never overflows.
fn replay(pcap: &Path, port: u16) -> usize {
    let data = std::fs::read(pcap).unwrap();
    let dgs = udp_payloads(&data);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in &dgs {
        s.send_to(d, ("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    dgs.len()
}

#[test]
fn real_exporters_flows_arrive_on_kafka_with_every_field() {
    let dir = tmpdir("kafka-fields");
    let kafka = Db::start(Kind::Kafka, &dir.join("kafka"));
    let pm = free_port();
    let ports: Vec<u16> = CAPTURES.iter().map(|_| free_port()).collect();
    let mut yaml = format!("general: {{metrics_listen: 127.0.0.1:{pm}}}\ncollectors:\n");
    for (i, port) in ports.iter().enumerate() {
        yaml += &format!(
            "  - {{id: c{i}, listen_host: 127.0.0.1, listen_port: {port}, nf_version: auto, mux_to: [k{i}]}}\n"
        );
    }
    yaml += "  - {id: cj, listen_host: 127.0.0.1, listen_port: PORTJ, nf_version: auto, mux_to: [kj]}\n";
    let pj = free_port();
    yaml = yaml.replace("PORTJ", &pj.to_string());
    yaml += "exporters:\n";
    for (i, name) in CAPTURES.iter().enumerate() {
        // A codec per capture: every one the issue names is exercised.
        let codec = ["lz4", "zstd", "gzip", "snappy"][i % 4];
        yaml += &format!(
            "  - {{id: k{i}, type: kafka, brokers: ['{}'], topic: {name}, format: protobuf, key: exporter, compression: {codec}, linger_ms: 50}}\n",
            kafka.addr()
        );
    }
    yaml += &format!(
        "  - {{id: kj, type: kafka, brokers: ['{}'], topic: json, format: json, key: none}}\n",
        kafka.addr()
    );
    let mut all_ports = ports.clone();
    all_ports.push(pj);
    let s = Server::start(&dir, &yaml, &all_ports);
    // The collector stamps whole milliseconds.
    let t0 = now_ns() / 1_000_000 * 1_000_000;
    for (i, name) in CAPTURES.iter().enumerate() {
        let pcap = root().join(format!("tests/fixtures/exports/{name}.pcap"));
        let n = replay(&pcap, ports[i]);
        settle(&s, &format!("c{i}"), n as u64);
    }
    let json_pcap = root().join("tests/fixtures/exports/pmacct-ipfix.pcap");
    let nj = replay(&json_pcap, pj);
    settle(&s, "cj", nj as u64);
    for name in CAPTURES {
        let pcap = root().join(format!("tests/fixtures/exports/{name}.pcap"));
        let sflow = name.ends_with("sflow");
        let want = expected(&pcap, sflow);
        let msgs = consume(&kafka, name, want.len());
        let t1 = now_ns();
        let flows = protoc_decode(&dir, &msgs);
        let mut got: Vec<String> = flows
            .iter()
            .map(|f| {
                let recv: u64 = f["time_received_ns"].parse().unwrap();
                assert!(
                    (t0..=t1).contains(&recv),
                    "{name}: time_received_ns {recv} outside the run"
                );
                let seq_ok = f
                    .get("sequence_num")
                    .is_none_or(|s| s.parse::<u32>().is_ok());
                assert!(seq_ok);
                line(
                    f.iter()
                        .filter(|(k, _)| {
                            k.as_str() != "time_received_ns"
                                && k.as_str() != "sequence_num"
                                && !(sflow && k.starts_with("time_flow_"))
                        })
                        .map(|(k, v)| (k.clone(), v.clone())),
                )
            })
            .collect();
        got.sort();
        assert_eq!(got.len(), want.len(), "{name}: messages");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{name}: a flow differs");
        }
        // ClickHouse's Protobuf reader sees the same flows.
        let mut by_protoc: Vec<String> = flows
            .iter()
            .map(|f| {
                let g = |k: &str| f.get(k).map_or("0", |s| s.as_str()).to_string();
                format!(
                    "{} {} {} {} {} {} {}",
                    g("src_addr"),
                    g("dst_addr"),
                    g("src_port"),
                    g("dst_port"),
                    g("proto"),
                    g("packets"),
                    g("bytes")
                )
            })
            .collect();
        by_protoc.sort();
        assert_eq!(
            clickhouse_reads(&dir, name, &msgs),
            by_protoc,
            "{name}: ClickHouse's reader"
        );
        // The capture's ground truth, independent of octoflow's decoder.
        if !sflow {
            let mut agg: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for f in &flows {
                let strip = |a: &str| a.trim_start_matches("::ffff:").to_string();
                let key = format!(
                    "{},{},{},{},{}",
                    strip(&f["src_addr"]),
                    strip(&f["dst_addr"]),
                    f.get("src_port").map_or("0", |s| s.as_str()),
                    f.get("dst_port").map_or("0", |s| s.as_str()),
                    f.get("proto").map_or("0", |s| s.as_str()),
                );
                let e = agg.entry(key).or_default();
                e.0 += f["packets"].parse::<u64>().unwrap();
                e.1 += f["bytes"].parse::<u64>().unwrap();
            }
            assert_eq!(
                agg,
                truth(name.ends_with("v5")),
                "{name}: against the ground truth"
            );
        }
        // key: exporter — every message keyed by the device's address.
        let k = keys(&kafka, name);
        assert_eq!(k.len(), 1, "{name}: {k:?}");
        assert_eq!(k.values().sum::<usize>(), msgs.len());
    }
    // JSON: one object per message with goflow2's keys.
    let want = expected(&json_pcap, false).len();
    let msgs = consume(&kafka, "json", want);
    assert_eq!(msgs.len(), want);
    for m in &msgs {
        let t = String::from_utf8(m.clone()).unwrap();
        assert!(
            t.starts_with("{\"type\":\"IPFIX\",") && t.ends_with('}') && !t.contains('\n'),
            "{t}"
        );
        assert!(
            t.contains("\"src_addr\":\"") && t.contains("\"bytes\":"),
            "{t}"
        );
    }
    let st = s.stop_status();
    for i in 0..CAPTURES.len() {
        let id = format!("k{i}");
        assert_eq!(counter(&st, &id, "sink_rows_dropped"), 0, "{st}");
        assert_eq!(
            counter(&st, &id, "sink_rows_delivered"),
            counter(&st, &id, "flows_matched"),
            "{st}"
        );
    }
}

fn gen_ipfix(port: u16, datagrams: u32) -> u64 {
    let out = run_gen(&[
        "--proto",
        "ipfix",
        "--target",
        &format!("127.0.0.1:{port}"),
        "--count",
        &datagrams.to_string(),
        "--records",
        "20",
        "--rate",
        "5000",
    ]);
    report(out.lines().next().unwrap_or_default(), "flows")
}

#[test]
fn a_broker_away_costs_only_what_overflows_the_buffer_and_nothing_elsewhere() {
    let dir = tmpdir("kafka-away");
    let mut kafka = Db::start(Kind::Kafka, &dir.join("kafka"));
    let (pm, cp) = (free_port(), free_port());
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [k, st]}}\n\
         exporters:\n  - {{id: k, type: kafka, brokers: ['{}'], topic: flows, linger_ms: 20, batch_rows: 1000, max_buffer_bytes: 1M}}\n  \
         - {{id: st, type: store, path: {}}}\n",
        kafka.addr(),
        dir.join("store").display()
    );
    let s = Server::start(&dir, &yaml, &[cp]);
    let num = |st: &str, k: &str| counter(st, "k", k);

    // 1. Broker up: everything arrives.
    let first = gen_ipfix(cp, 100);
    wait_status(&s, 60, "the first flows delivered", |st| {
        num(st, "sink_rows_delivered") == first
    });
    assert_eq!(consume(&kafka, "flows", first as usize).len() as u64, first);

    // 2. Broker killed: flows wait in the buffer (2000 fit: a message waits as
    //    ~400 bytes, its record and the copy kept for a retry).
    kafka.kill();
    let second = gen_ipfix(cp, 100);
    let st = wait_status(&s, 60, "errors while the broker is away", |st| {
        num(st, "flows_matched") == first + second && num(st, "sink_errors") > 0
    });
    assert!(
        st.contains("\"k\":{") && num(&st, "sink_rows_delivered") == first,
        "{st}"
    );
    assert!(
        num(&st, "sink_buffer_bytes") > 0,
        "rows wait while the broker is away: {st}"
    );

    // 3. Broker back (an empty one: tansu keeps nothing): the waiting flows arrive.
    kafka.restart();
    wait_status(&s, 60, "the waiting flows delivered", |st| {
        num(st, "sink_rows_delivered") == first + second
    });
    assert_eq!(
        consume(&kafka, "flows", second as usize).len() as u64,
        second
    );
    let st = s.status();
    assert!(st.contains("\"connected\":true"), "{st}");
    assert_eq!(num(&st, "sink_rows_dropped"), 0, "{st}");

    // 4. Away again, and more than max_buffer_bytes arrive: the overflow is
    //    dropped and counted, the rest arrives once the broker is back.
    kafka.kill();
    let third = gen_ipfix(cp, 1500);
    wait_status(&s, 60, "the third burst taken", |st| {
        num(st, "flows_matched") == first + second + third && num(st, "sink_rows_dropped") > 0
    });
    kafka.restart();
    let st = wait_status(&s, 60, "delivered + dropped = matched", |st| {
        num(st, "sink_rows_delivered") + num(st, "sink_rows_dropped") == first + second + third
            && num(st, "sink_buffer_bytes") == 0
    });
    let (delivered, dropped) = (
        num(&st, "sink_rows_delivered"),
        num(&st, "sink_rows_dropped"),
    );
    assert!(dropped < third, "some of the burst fitted: {st}");
    let on_broker = delivered - first - second;
    assert_eq!(
        consume(&kafka, "flows", on_broker as usize).len() as u64,
        on_broker
    );

    // The store beside it lost nothing through all of this.
    let total = first + second + third;
    assert_eq!(counter(&st, "st", "flows_matched"), total, "{st}");
    assert_eq!(counter(&st, "st", "queue_drops"), 0, "{st}");
    let st = s.stop_status();
    assert_eq!(counter(&st, "edge", "flows"), total, "{st}");
}
