//! The `clickhouse` output end to end against Debian's ClickHouse 18.16
//! (started by `common::servers`): real exporters' captures replayed at
//! `octoflow server`, every flow read back with all its fields (against
//! `octoflow dump` of the same capture and the fixtures' ground truth), the
//! flow-pipeline's own queries over `flows_raw` and `flows_5m`; then the
//! server killed mid-run and started again, and the rows that waited meanwhile
//! delivered.

mod common;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use common::replay::*;
use common::servers::{Db, Kind};
use common::*;

/// softflowd's IPFIX from 127.0.0.2, pmacct's v9 from 127.0.0.3.
const CAPTURES: [(&str, u8); 2] = [("softflowd-ipfix", 2), ("pmacct-v9", 3)];

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn config(pm: u16, cp: u16, outputs: &str) -> String {
    format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [{}]}}\n\
         exporters:\n{outputs}",
        outputs
            .lines()
            .filter_map(|l| l.split("id: ").nth(1)?.split(',').next())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Rows of TabSeparated text, sorted.
fn rows(tsv: &str) -> Vec<String> {
    let mut v: Vec<String> = tsv.lines().map(String::from).collect();
    v.sort();
    v
}

/// The flow-pipeline row of each flow of a capture, as
/// `flows_raw_query` selects it.
fn pipeline_rows(name: &str, host: u8) -> Vec<String> {
    let mut v: Vec<String> = dump(name, &format!("127.0.0.{host}"))
        .iter()
        .map(|f| {
            let v4 = !f["src_addr"].contains(':');
            [
                v6_text(&f["exporter"]),
                v6_text(&f["src_addr"]),
                v6_text(&f["dst_addr"]),
                f["src_port"].clone(),
                f["dst_port"].clone(),
                f["proto"].clone(),
                f["packets"].clone(),
                f["bytes"].clone(),
                f["first"][..19].replace('T', " "),
                f["sampling_interval"].clone(),
                if v4 { "2048" } else { "34525" }.to_string(),
            ]
            .join("\t")
        })
        .collect();
    v.sort();
    v
}

fn flows_raw_query(db: &str, host: u8) -> String {
    format!(
        "SELECT IPv6NumToString(SamplerAddress), IPv6NumToString(SrcAddr), IPv6NumToString(DstAddr), \
         SrcPort, DstPort, Proto, Packets, Bytes, toString(TimeFlowStart), SamplingRate, EType \
         FROM {db}.flows_raw WHERE SamplerAddress = IPv6StringToNum('::ffff:127.0.0.{host}')"
    )
}

/// Every field of the `octoflow` layout's `flows` back in `octoflow dump`'s
/// text, for the columns the dump has: (the SELECT list, the dump's columns).
fn octoflow_select(ch: &Db, db: &str) -> (String, Vec<String>) {
    let cols = ch.clickhouse_query(&format!(
        "SELECT name, type FROM system.columns WHERE database = '{db}' AND table = 'flows'"
    ));
    let dump_cols: Vec<String> = dump("pmacct-v9", "127.0.0.3")[0].keys().cloned().collect();
    let (mut exprs, mut names) = (Vec::new(), Vec::new());
    for l in cols.lines() {
        let (n, ty) = l.split_once('\t').expect("name, type");
        if !dump_cols.iter().any(|d| d == n) {
            continue;
        }
        let e = match ty {
            "FixedString(16)" => format!("IPv6NumToString({n})"),
            // Seconds and the millisecond column beside: dump's ISO 8601.
            "DateTime" => format!(
                "concat(replaceOne(toString({n}), ' ', 'T'), '.', substring(toString(1000 + {n}_ms), 2, 3), 'Z')"
            ),
            _ if n.ends_with("_mac") => format!("lower(MACNumToString({n}))"),
            _ => format!("toString({n})"),
        };
        exprs.push(e);
        names.push(n.to_string());
    }
    (exprs.join(", "), names)
}

/// The dump's text of `names` for each flow of a capture, addresses as 16
/// bytes print them.
fn dump_fields(name: &str, host: u8, names: &[String]) -> Vec<String> {
    let mut v: Vec<String> = dump(name, &format!("127.0.0.{host}"))
        .iter()
        .map(|f| {
            names
                .iter()
                .map(|n| {
                    let x = &f[n];
                    if x.parse::<std::net::IpAddr>().is_ok() {
                        v6_text(x)
                    } else {
                        x.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_flow_of_real_exporters_reaches_both_schemas_and_the_flow_pipelines_queries_sum_them() {
    let dir = tmpdir("clickhouse-e2e");
    let ch = Db::start(Kind::ClickHouse, &dir);
    let (pm, cp) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{}", ch.http_port);
    // The flow-pipeline's tables in `default`, so its queries run as written.
    let yaml = config(
        pm,
        cp,
        &format!(
            "  - {{id: olap, type: clickhouse, url: '{url}', schema: flow-pipeline, linger_ms: 100}}\n\
             \x20 - {{id: wide, type: clickhouse, url: '{url}', database: octo, schema: octoflow, linger_ms: 100}}\n"
        ),
    );
    let s = Server::start(&dir, &yaml, &[cp]);
    let t0 = unix_now();
    for (name, host) in CAPTURES {
        replay(name, host, cp);
    }
    let n: u64 = CAPTURES
        .iter()
        .map(|(name, _)| dump(name, "x").len() as u64)
        .sum();
    let st = wait_delivered(&s, "olap", n, 30);
    wait_delivered(&s, "wide", n, 30);
    let t1 = unix_now();
    for id in ["olap", "wide"] {
        assert_eq!(counter(&st, id, "flows_matched"), n, "{id}: {st}");
        assert_eq!(counter(&st, id, "sink_rows_rejected"), 0, "{id}: {st}");
        assert_eq!(counter(&st, id, "sink_rows_dropped"), 0, "{id}: {st}");
        assert!(connected(&st, id), "{id}: {st}");
    }

    // Each flow, with every field flows_raw has, as dump reads the capture.
    for (name, host) in CAPTURES {
        assert_eq!(
            rows(&ch.clickhouse_query(&flows_raw_query("default", host))),
            pipeline_rows(name, host),
            "{name}: flows_raw"
        );
    }
    // Summed per flow key, each capture is the traffic's ground truth.
    for (_, host) in CAPTURES {
        let mut got: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let q = format!(
            "SELECT IPv6NumToString(SrcAddr), IPv6NumToString(DstAddr), SrcPort, DstPort, Proto, Packets, Bytes \
             FROM flows_raw WHERE SamplerAddress = IPv6StringToNum('::ffff:127.0.0.{host}')"
        );
        for l in ch.clickhouse_query(&q).lines() {
            let f: Vec<&str> = l.split('\t').collect();
            let unmap = |a: &str| a.strip_prefix("::ffff:").unwrap_or(a).to_string();
            let key = [
                unmap(f[0]),
                unmap(f[1]),
                f[2].into(),
                f[3].into(),
                f[4].into(),
            ]
            .join(",");
            let e = got.entry(key).or_default();
            e.0 += f[5].parse::<u64>().expect("packets");
            e.1 += f[6].parse::<u64>().expect("bytes");
        }
        assert_eq!(got, truth(false), "127.0.0.{host}");
    }

    // The flow-pipeline's own query, as its README gives it: IPv4 shows as
    // ::ffff:a.b.c.d (its own schema shows 192.168.1.1 as 101:a8c0::).
    let seed = ch.clickhouse_query(
        "SELECT Date, TimeReceived, IPv6NumToString(SrcAddr), IPv6NumToString(DstAddr), Bytes, Packets FROM flows_raw",
    );
    assert_eq!(seed.lines().count() as u64, n);
    assert!(
        seed.lines().any(|l| l.contains("\t::ffff:10.0.1.10\t")),
        "{seed}"
    );
    assert_eq!(
        ch.clickhouse_query(
            "SELECT count() FROM flows_raw WHERE Date != toDate(TimeReceived) \
             OR toUnixTimestamp(TimeReceived) < toUInt32(now()) - 3600"
        ),
        "0"
    );
    let (lo, hi): (u64, u64) = {
        let r = ch.clickhouse_query(
            "SELECT min(toUnixTimestamp(TimeReceived)), max(toUnixTimestamp(TimeReceived)) FROM flows_raw",
        );
        let (a, b) = r.split_once('\t').expect("two");
        (a.parse().expect("min"), b.parse().expect("max"))
    };
    assert!(
        t0 <= lo && hi <= t1,
        "received {lo}..{hi} outside {t0}..{t1}"
    );

    // flows_5m, through the view, once merged: per Ethernet type, the sums
    // of what flows_raw holds; one row per slot, AS pair and type.
    ch.clickhouse_query("OPTIMIZE TABLE flows_5m FINAL");
    let five = ch.clickhouse_query("SELECT * FROM flows_5m WHERE SrcAS = 0");
    let mut sums: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut keys = Vec::new();
    for l in five.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.len(), 11, "{l}");
        keys.push([f[1], f[3], f[4]].join(" "));
        let e = sums.entry(f[4].to_string()).or_default();
        e.0 += f[8].parse::<u64>().expect("Bytes");
        e.1 += f[9].parse::<u64>().expect("Packets");
        e.2 += f[10].parse::<u64>().expect("Count");
    }
    let distinct = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        distinct,
        "OPTIMIZE FINAL left one row per key: {five}"
    );
    let mut want: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for (name, host) in CAPTURES {
        for f in dump(name, &format!("127.0.0.{host}")) {
            let et = if f["src_addr"].contains(':') {
                "[34525]"
            } else {
                "[2048]"
            };
            let e = want.entry(et.to_string()).or_default();
            e.0 += f["bytes"].parse::<u64>().expect("bytes");
            e.1 += f["packets"].parse::<u64>().expect("packets");
            e.2 += 1;
        }
    }
    assert_eq!(sums, want, "flows_5m per EType: {five}");

    // The octoflow layout: every field dump prints, exactly (times to the ms).
    let (select, names) = octoflow_select(&ch, "octo");
    for must in [
        "first",
        "last",
        "src_addr",
        "exporter",
        "tcp_flags",
        "direction",
        "src_mac",
        "sampling_interval",
    ] {
        assert!(names.iter().any(|n| n == must), "{must} in {names:?}");
    }
    for (name, host) in CAPTURES {
        let got = ch.clickhouse_query(&format!(
            "SELECT {select} FROM octo.flows WHERE exporter = IPv6StringToNum('::ffff:127.0.0.{host}')"
        ));
        assert_eq!(
            rows(&got),
            dump_fields(name, host, &names),
            "{name}: octo.flows {names:?}"
        );
    }
    s.stop();
    drop(ch);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_clickhouse_killed_mid_run_gets_the_rows_that_waited_once_it_is_back() {
    let dir = tmpdir("clickhouse-kill");
    let mut ch = Db::start(Kind::ClickHouse, &dir);
    let (pm, cp) = (free_port(), free_port());
    let yaml = config(
        pm,
        cp,
        &format!(
            "  - {{id: olap, type: clickhouse, url: 'http://127.0.0.1:{}', database: flows, schema: flow-pipeline, linger_ms: 100}}\n",
            ch.http_port
        ),
    );
    let s = Server::start(&dir, &yaml, &[cp]);
    let (first, host1) = CAPTURES[0];
    replay(first, host1, cp);
    let n1 = dump(first, "x").len() as u64;
    wait_delivered(&s, "olap", n1, 30);

    ch.kill();
    let (second, host2) = CAPTURES[1];
    replay(second, host2, cp);
    let n2 = dump(second, "x").len() as u64;
    // The batch waits and is retried with backoff; the output says it is down.
    let st = wait_status(&s, 30, "failing while ClickHouse is away", |st| {
        counter(st, "olap", "sink_errors") > 0
            && counter(st, "olap", "flows_matched") == n1 + n2
            && !connected(st, "olap")
    });
    assert_eq!(counter(&st, "olap", "sink_rows_delivered"), n1, "{st}");
    assert!(counter(&st, "olap", "sink_buffer_bytes") > 0, "{st}");

    ch.restart();
    let st = wait_delivered(&s, "olap", n1 + n2, 60);
    assert!(connected(&st, "olap"), "{st}");
    assert_eq!(counter(&st, "olap", "sink_rows_dropped"), 0, "{st}");
    assert_eq!(counter(&st, "olap", "sink_rows_rejected"), 0, "{st}");
    // What was committed before the kill is there once, the rest once.
    for (name, host) in CAPTURES {
        assert_eq!(
            rows(&ch.clickhouse_query(&flows_raw_query("flows", host))),
            pipeline_rows(name, host),
            "{name}"
        );
    }
    ch.clickhouse_query("OPTIMIZE TABLE flows.flows_5m FINAL");
    assert_eq!(
        ch.clickhouse_query("SELECT sum(Count), sum(Bytes) FROM flows.flows_5m"),
        ch.clickhouse_query("SELECT count(), sum(Bytes) FROM flows.flows_raw"),
        "the view saw every insert, before and after the restart"
    );
    s.stop();
    drop(ch);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_table_of_other_types_is_named_in_the_log_and_retried_until_it_is_fixed() {
    let dir = tmpdir("clickhouse-mismatch");
    let ch = Db::start(Kind::ClickHouse, &dir);
    ch.clickhouse_query("CREATE DATABASE bad");
    // goflow's own Kafka-side types: addresses as text.
    ch.clickhouse_query(
        "CREATE TABLE bad.flows_raw (Date Date, TimeReceived DateTime, TimeFlowStart DateTime, \
         SequenceNum UInt32, SamplingRate UInt64, SamplerAddress String, SrcAddr String, DstAddr String, \
         SrcAS UInt32, DstAS UInt32, EType UInt32, Proto UInt32, SrcPort UInt32, DstPort UInt32, \
         Bytes UInt64, Packets UInt64) ENGINE = MergeTree() PARTITION BY Date ORDER BY TimeReceived",
    );
    let (pm, cp) = (free_port(), free_port());
    let yaml = config(
        pm,
        cp,
        &format!(
            "  - {{id: olap, type: clickhouse, url: 'http://127.0.0.1:{}', database: bad, linger_ms: 100}}\n",
            ch.http_port
        ),
    );
    let s = Server::start(&dir, &yaml, &[cp]);
    let (name, host) = CAPTURES[0];
    replay(name, host, cp);
    let n = dump(name, "x").len() as u64;
    let st = wait_status(&s, 30, "refusing the table", |st| {
        counter(st, "olap", "flows_matched") == n && counter(st, "olap", "sink_errors") > 0
    });
    assert_eq!(counter(&st, "olap", "sink_rows_delivered"), 0, "{st}");
    assert_eq!(
        counter(&st, "olap", "sink_rows_rejected"),
        0,
        "nothing dropped: {st}"
    );
    assert!(!connected(&st, "olap"), "{st}");
    assert_eq!(
        ch.clickhouse_query("SELECT count() FROM bad.flows_raw"),
        "0"
    );
    // The operator drops it: the next attempt makes the right one.
    ch.clickhouse_query("DROP TABLE bad.flows_raw");
    wait_delivered(&s, "olap", n, 60);
    assert_eq!(
        rows(&ch.clickhouse_query(&flows_raw_query("bad", host))),
        pipeline_rows(name, host)
    );
    let log = s.stop();
    assert!(
        log.contains("table bad.flows_raw has column SamplerAddress as String, octoflow writes FixedString(16)"),
        "{log}"
    );
    drop(ch);
    let _ = std::fs::remove_dir_all(&dir);
}
