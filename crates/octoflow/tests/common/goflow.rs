//! goflow2 `FlowMessage`s read back for the Kafka tests: decoded by `protoc`
//! against `proto/flow.proto`, read by ClickHouse's own Protobuf reader
//! (chdb), and what `octoflow dump` of a capture says each flow must hold.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::servers::Db;
use super::{root, BIN};

/// Decode messages (each a length-delimited FlowMessage) with `protoc`: as
/// the body of a `repeated FlowMessage` field they form one message, so one
/// protoc run reads them all. Returns each flow's fields as protoc prints them.
pub fn protoc_decode(dir: &Path, msgs: &[Vec<u8>]) -> Vec<BTreeMap<String, String>> {
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
pub fn unescape(s: &str) -> Vec<u8> {
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
pub fn addr(b: &[u8]) -> String {
    let a: [u8; 16] = b.try_into().unwrap_or_else(|_| panic!("16 bytes: {b:?}"));
    let v6 = std::net::Ipv6Addr::from(a);
    match v6.to_ipv4_mapped() {
        Some(v4) => format!("::ffff:{v4}"),
        None => v6.to_string(),
    }
}

/// `2026-01-01T00:00:00.143Z` → Unix ns.
pub fn iso_ns(s: &str) -> u64 {
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
pub fn expected(pcap: &Path, sflow: bool) -> Vec<String> {
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

pub fn mapped(a: &str) -> Vec<u8> {
    match a.parse::<std::net::IpAddr>().unwrap() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

pub fn line(kv: impl Iterator<Item = (String, String)>) -> String {
    kv.map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `sql` in a modern ClickHouse (chdb, in-process; scripts/servers.sh
/// installs it) with `dir` as its working folder; its TSV answer.
pub fn chdb(dir: &Path, sql: &str) -> String {
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
pub fn clickhouse_reads(dir: &Path, name: &str, msgs: &[Vec<u8>]) -> Vec<String> {
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

/// Every message of `topic` with kcat, each printed as `format`, from the
/// beginning (tansu's "latest" offset is wrong, so never `-o end`).
pub fn read_topic(kafka: &Db, topic: &str, format: &str) -> Vec<u8> {
    kafka.kcat(&[
        "-C",
        "-t",
        topic,
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        format,
    ])
}

/// Every message of `topic` as raw values (waiting up to 30 s for `want`).
pub fn consume(kafka: &Db, topic: &str, want: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // %R: each value's length, big-endian 32 bits, then the value.
        let out = read_topic(kafka, topic, "%R%s");
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
