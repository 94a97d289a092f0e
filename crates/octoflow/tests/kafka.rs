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
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::flows::settle;
use common::pcap::udp_payloads;
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

/// Every message of `topic`, from the beginning (tansu's "latest" offset is
/// wrong, so never `-o end`), as raw values.
fn consume(kafka: &Db, topic: &str, want: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = kafka.kcat(&[
            "-C",
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%R%s",
        ]);
        let mut msgs = Vec::new();
        let mut i = 0;
        while i + 4 <= out.len() {
            let n = u32::from_be_bytes(out[i..i + 4].try_into().unwrap()) as usize;
            msgs.push(out[i + 4..i + 4 + n].to_vec());
            i += 4 + n;
        }
        if msgs.len() >= want || Instant::now() > deadline {
            return msgs;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The keys of `topic`'s messages.
fn keys(kafka: &Db, topic: &str) -> BTreeMap<String, usize> {
    let out = kafka.kcat(&[
        "-C",
        "-t",
        topic,
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        "%k\n",
    ]);
    let mut m = BTreeMap::new();
    for k in String::from_utf8_lossy(&out).lines() {
        *m.entry(k.to_string()).or_default() += 1;
    }
    m
}

/// Decode messages (each a length-delimited FlowMessage) with `protoc`: as
/// the body of a `repeated FlowMessage` field they form one message, so one
/// protoc run reads them all. Returns each flow's fields as protoc prints them.
fn protoc_decode(dir: &Path, msgs: &[Vec<u8>]) -> Vec<BTreeMap<String, String>> {
    let list = dir.join("list.proto");
    std::fs::write(
        &list,
        "syntax = \"proto3\";\npackage flowpb;\nimport \"flow.proto\";\nmessage FlowList { repeated FlowMessage flows = 1; }\n",
    )
    .unwrap();
    let mut input = Vec::new();
    for m in msgs {
        input.push(0x0a); // field 1, length-delimited: the message's own length follows
        input.extend_from_slice(m);
    }
    let mut child = Command::new("protoc")
        .arg(format!("--proto_path={}", root().join("proto").display()))
        .arg(format!("--proto_path={}", dir.display()))
        .arg("--decode=flowpb.FlowList")
        .arg(&list)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("protoc (scripts/test.sh installs protobuf-compiler)");
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "protoc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut flows = Vec::new();
    let mut cur: Option<BTreeMap<String, String>> = None;
    for l in text.lines() {
        let l = l.trim();
        if l == "flows {" {
            cur = Some(BTreeMap::new());
        } else if l == "}" {
            flows.push(cur.take().expect("a flow"));
        } else if let Some((k, v)) = l.split_once(": ") {
            let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(bytes) => addr(&unescape(bytes)),
                None => v.to_string(),
            };
            cur.as_mut()
                .expect("inside a flow")
                .insert(k.to_string(), v);
        }
    }
    flows
}

/// protoc's text-format bytes (C escapes, octal for the rest).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b[i + 1];
        match c {
            b'0'..=b'7' => {
                let oct = std::str::from_utf8(&b[i + 1..i + 4]).unwrap();
                out.push(u8::from_str_radix(oct, 8).unwrap());
                i += 4;
            }
            b'n' | b'r' | b't' | b'"' | b'\'' | b'\\' => {
                out.push(match c {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    x => x,
                });
                i += 2;
            }
            x => panic!("escape \\{}", x as char),
        }
    }
    out
}

/// 16 address bytes as text; IPv4-mapped shown as `::ffff:a.b.c.d` (what
/// ClickHouse's IPv6NumToString shows).
fn addr(b: &[u8]) -> String {
    let a: [u8; 16] = b.try_into().unwrap_or_else(|_| panic!("16 bytes: {b:?}"));
    let v6 = std::net::Ipv6Addr::from(a);
    match v6.to_ipv4_mapped() {
        Some(v4) => format!("::ffff:{v4}"),
        None => v6.to_string(),
    }
}

/// `2026-01-01T00:00:00.143Z` → Unix ns.
fn iso_ns(s: &str) -> u64 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, ms) = time.split_once('.').unwrap();
    let t: Vec<u64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let days = octoflow_proto::civil::days_from_civil(d[0], d[1] as u32, d[2] as u32) as u64;
    ((days * 86400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1000 + ms.parse::<u64>().unwrap())
        * 1_000_000
}

/// What every flow of `octoflow dump --pcap` must look like on Kafka: the
/// FlowMessage fields (protoc's names, zero fields absent as proto3 leaves
/// them out) of each record, as sorted lines.
fn expected(pcap: &Path, sflow: bool) -> Vec<String> {
    let out = Command::new(BIN)
        .args(["dump", "--pcap"])
        .arg(pcap)
        .args(["--output", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut rows = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let g = |n: &str| f[head.iter().position(|h| *h == n).unwrap()];
        let a = |n: &str| addr(&mapped(g(n)));
        let mac = |n: &str| {
            u64::from_str_radix(&g(n).replace(':', ""), 16)
                .unwrap()
                .to_string()
        };
        let v6 = g("src_addr").contains(':');
        let mut m = BTreeMap::new();
        let ty = match g("version") {
            "5" => "NETFLOW_V5",
            "9" => "NETFLOW_V9",
            "10" => "IPFIX",
            _ => "SFLOW_5",
        };
        m.insert("type", ty.to_string());
        for (k, v) in [
            ("src_addr", a("src_addr")),
            ("dst_addr", a("dst_addr")),
            ("next_hop", a("next_hop")),
            ("sampler_address", a("exporter")),
            ("bytes", g("bytes").into()),
            ("packets", g("packets").into()),
            ("sampling_rate", g("sampling_interval").into()),
            ("src_as", g("src_as").into()),
            ("dst_as", g("dst_as").into()),
            ("src_net", g("src_mask").into()),
            ("dst_net", g("dst_mask").into()),
            ("in_if", g("input_if").into()),
            ("out_if", g("output_if").into()),
            ("proto", g("proto").into()),
            ("src_port", g("src_port").into()),
            ("dst_port", g("dst_port").into()),
            ("ip_tos", g("tos").into()),
            ("tcp_flags", g("tcp_flags").into()),
            ("src_mac", mac("src_mac")),
            ("dst_mac", mac("dst_mac")),
            ("etype", if v6 { "34525" } else { "2048" }.into()),
            ("icmp_type", g("icmp_type").into()),
            ("icmp_code", g("icmp_code").into()),
            ("src_vlan", g("src_vlan").into()),
            ("dst_vlan", g("dst_vlan").into()),
            ("observation_domain_id", g("domain").into()),
        ] {
            if v != "0" {
                m.insert(k, v);
            }
        }
        // sFlow samples carry no flow times: the collector stamps them when
        // the datagram arrives, which `dump` of a capture cannot know.
        if !sflow {
            m.insert("time_flow_start_ns", iso_ns(g("first")).to_string());
            m.insert("time_flow_end_ns", iso_ns(g("last")).to_string());
        }
        rows.push(line(m.into_iter().map(|(k, v)| (k.to_string(), v))));
    }
    rows.sort();
    rows
}

fn mapped(a: &str) -> Vec<u8> {
    match a.parse::<std::net::IpAddr>().unwrap() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn line(kv: impl Iterator<Item = (String, String)>) -> String {
    kv.map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `sql` in a modern ClickHouse (chdb, in-process; scripts/servers.sh
/// installs it) with `dir` as its working folder; its TSV answer.
fn chdb(dir: &Path, sql: &str) -> String {
    let out = Command::new("bash")
        .arg(root().join("scripts/servers.sh"))
        .arg("chdb")
        .arg(dir)
        .arg(sql)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "chdb {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// ClickHouse's own Protobuf reader on a topic's messages, written one after
/// another as a Kafka engine reads them: each flow's addresses, ports,
/// protocol, packets and bytes, sorted.
fn clickhouse_reads(dir: &Path, name: &str, msgs: &[Vec<u8>]) -> Vec<String> {
    std::fs::copy(root().join("proto/flow.proto"), dir.join("flow.proto")).unwrap();
    std::fs::write(dir.join(format!("{name}.pb")), msgs.concat()).unwrap();
    let tsv = chdb(
        dir,
        &format!(
            "SELECT IPv6NumToString(src_addr), IPv6NumToString(dst_addr), src_port, dst_port, proto, packets, bytes \
             FROM file('{name}.pb', 'Protobuf', 'src_addr FixedString(16), dst_addr FixedString(16), src_port UInt16, \
             dst_port UInt16, proto UInt8, packets UInt64, bytes UInt64') \
             SETTINGS format_schema = 'flow.proto:FlowMessage'"
        ),
    );
    let mut rows: Vec<String> = tsv.lines().map(|l| l.replace('\t', " ")).collect();
    rows.sort();
    rows
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

/// Wait until `f` holds for the server's status, or panic with it.
fn wait_status(s: &Server, what: &str, f: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = s.status();
        if f(&st) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {st}"
        );
        std::thread::sleep(Duration::from_millis(200));
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
    wait_status(&s, "the first flows delivered", |st| {
        num(st, "sink_rows_delivered") == first
    });
    assert_eq!(consume(&kafka, "flows", first as usize).len() as u64, first);

    // 2. Broker killed: flows wait in the buffer (they fit: ~140 bytes each).
    kafka.kill();
    let second = gen_ipfix(cp, 200);
    let st = wait_status(&s, "errors while the broker is away", |st| {
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
    wait_status(&s, "the waiting flows delivered", |st| {
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
    wait_status(&s, "the third burst taken", |st| {
        num(st, "flows_matched") == first + second + third && num(st, "sink_rows_dropped") > 0
    });
    kafka.restart();
    let st = wait_status(&s, "delivered + dropped = matched", |st| {
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
