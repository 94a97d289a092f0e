//! The `postgres` output end to end against Debian's PostgreSQL 15 (started
//! by `common::servers`): real exporters' captures replayed at `octoflow
//! server`, every flow read back from the flow-pipeline inserter's table with
//! all its columns (against `octoflow dump` of the same capture and the
//! fixtures' ground truth); then the server killed mid-run and started again,
//! and the rows that waited meanwhile delivered.

mod common;

use std::collections::BTreeMap;

use common::replay::*;
use common::servers::{Db, Kind};
use common::*;

/// softflowd's IPFIX (goflow type 4) from 127.0.0.2, pmacct's v9 (type 3)
/// from 127.0.0.3. The table has no exporter column: the type tells them apart.
const CAPTURES: [(&str, u8, u32); 2] = [("softflowd-ipfix", 2, 4), ("pmacct-v9", 3, 3)];

fn config(pm: u16, cp: u16, pg: &Db, table: &str) -> String {
    format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [pg]}}\n\
         exporters:\n  - {{id: pg, type: postgres, dsn: 'postgresql://postgres@127.0.0.1:{}/postgres', table: {table}, linger_ms: 100}}\n",
        pg.port
    )
}

/// Each flow of table `t` from a capture (by its flow type), as text.
fn table_rows(pg: &Db, t: &str, ty: u32) -> Vec<String> {
    let mut v: Vec<String> = pg
        .psql(&format!(
            "SELECT host(src_ip), host(dst_ip), src_port, dst_port, proto, packets, bytes, \
             to_char(time_flow, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), sampling_rate, etype, src_as, dst_as \
             FROM {t} WHERE type = {ty}"
        ))
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// The same from `octoflow dump` of the capture.
fn dump_rows(name: &str) -> Vec<String> {
    let mut v: Vec<String> = dump(name, "x")
        .iter()
        .map(|f| {
            let et = if f["src_addr"].contains(':') {
                "34525"
            } else {
                "2048"
            };
            [
                &f["src_addr"],
                &f["dst_addr"],
                &f["src_port"],
                &f["dst_port"],
                &f["proto"],
                &f["packets"],
                &f["bytes"],
                &f["first"],
                &f["sampling_interval"],
                et,
                &f["src_as"],
                &f["dst_as"],
            ]
            .map(|s| s.to_string())
            .join("|")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_flow_of_real_exporters_is_a_row_of_the_flow_pipeline_inserters_table() {
    let dir = tmpdir("postgres-e2e");
    let pg = Db::start(Kind::Postgres, &dir);
    let (pm, cp) = (free_port(), free_port());
    let s = Server::start(&dir, &config(pm, cp, &pg, "flows"), &[cp]);
    for (name, host, _) in CAPTURES {
        replay(name, host, cp);
    }
    let n: u64 = CAPTURES
        .iter()
        .map(|(name, ..)| dump(name, "x").len() as u64)
        .sum();
    let st = wait_delivered(&s, "pg", n, 30);
    assert_eq!(counter(&st, "pg", "flows_matched"), n, "{st}");
    assert_eq!(counter(&st, "pg", "sink_rows_rejected"), 0, "{st}");
    assert!(connected(&st, "pg"), "{st}");

    for (name, _, ty) in CAPTURES {
        assert_eq!(table_rows(&pg, "flows", ty), dump_rows(name), "{name}");
        // Summed per flow key, each capture is the traffic's ground truth.
        let mut got: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for l in pg
            .psql(&format!(
                "SELECT host(src_ip), host(dst_ip), src_port, dst_port, proto, packets, bytes FROM flows WHERE type = {ty}"
            ))
            .lines()
        {
            let f: Vec<&str> = l.split('|').collect();
            let e = got.entry(f[..5].join(",")).or_default();
            e.0 += f[5].parse::<u64>().expect("packets");
            e.1 += f[6].parse::<u64>().expect("bytes");
        }
        assert_eq!(got, truth(false), "{name}");
    }
    // The columns the inserter's users query: ids numbered, IPv4 as IPv4
    // (inet operators work), receive times of this run.
    assert_eq!(
        pg.psql(
            "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE src_ip << '10.0.0.0/8'), \
             count(*) FILTER (WHERE family(src_ip) = 6), \
             count(*) FILTER (WHERE date_inserted BETWEEN timezone('UTC', now()) - interval '10 minutes' AND timezone('UTC', now())) \
             FROM flows"
        ),
        {
            let all: Vec<_> = CAPTURES.iter().flat_map(|(c, ..)| dump(c, "x")).collect();
            let in10 = all.iter().filter(|f| f["src_addr"].starts_with("10.")).count();
            let v6 = all.iter().filter(|f| f["src_addr"].contains(':')).count();
            format!("{n}|{n}|{in10}|{v6}|{n}")
        }
    );
    s.stop();
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_postgres_killed_mid_run_gets_the_rows_that_waited_once_it_is_back() {
    let dir = tmpdir("postgres-kill");
    let mut pg = Db::start(Kind::Postgres, &dir);
    let (pm, cp) = (free_port(), free_port());
    let s = Server::start(&dir, &config(pm, cp, &pg, "public.netflows"), &[cp]);
    let (first, host1, ty1) = CAPTURES[0];
    replay(first, host1, cp);
    let n1 = dump(first, "x").len() as u64;
    wait_delivered(&s, "pg", n1, 30);

    pg.kill();
    let (second, host2, ty2) = CAPTURES[1];
    replay(second, host2, cp);
    let n2 = dump(second, "x").len() as u64;
    let st = wait_status(&s, 30, "failing while PostgreSQL is away", |st| {
        counter(st, "pg", "sink_errors") > 0
            && counter(st, "pg", "flows_matched") == n1 + n2
            && !connected(st, "pg")
    });
    assert_eq!(counter(&st, "pg", "sink_rows_delivered"), n1, "{st}");
    assert!(counter(&st, "pg", "sink_buffer_bytes") > 0, "{st}");

    pg.restart();
    let st = wait_delivered(&s, "pg", n1 + n2, 60);
    assert!(connected(&st, "pg"), "{st}");
    assert_eq!(counter(&st, "pg", "sink_rows_dropped"), 0, "{st}");
    assert_eq!(table_rows(&pg, "public.netflows", ty1), dump_rows(first));
    assert_eq!(table_rows(&pg, "public.netflows", ty2), dump_rows(second));
    s.stop();
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGSTOP or SIGCONT PostgreSQL: the postmaster and its children (each
/// backend leads a session of its own, so not by process group) — a server
/// that accepts connections and never answers.
fn signal_all(pg: &Db, sig: &str) {
    let mut pids = vec![pg.pid.to_string()];
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid …
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split(' ').nth(1));
        if ppid == Some(&pg.pid.to_string()) {
            pids.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    let ok = std::process::Command::new("kill")
        .arg(sig)
        .args(&pids)
        .status()
        .expect("kill");
    assert!(ok.success(), "kill {sig} {pids:?}");
}

#[test]
fn a_stalled_postgres_costs_its_output_a_timeout_and_the_other_outputs_nothing() {
    let dir = tmpdir("postgres-stall");
    let pg = Db::start(Kind::Postgres, &dir);
    let (pm, cp) = (free_port(), free_port());
    let yaml = config(pm, cp, &pg, "flows").replace("mux_to: [pg]", "mux_to: [pg, st]")
        + &format!(
            "  - {{id: st, type: store, path: {}, flush_secs: 1}}\n",
            dir.join("store").display()
        );
    let s = Server::start(&dir, &yaml, &[cp]);
    let (first, host1, _) = CAPTURES[0];
    replay(first, host1, cp);
    let n1 = dump(first, "x").len() as u64;
    wait_delivered(&s, "pg", n1, 30);

    signal_all(&pg, "-STOP");
    let (second, host2, _) = CAPTURES[1];
    replay(second, host2, cp);
    let n2 = dump(second, "x").len() as u64;
    // The store writes every flow while PostgreSQL hangs…
    wait_status(&s, 20, "the store's rows", |st| {
        counter(st, "st", "store_rows") == n1 + n2
    });
    // …and the COPY that hangs gives up at its deadline (10 s), counted.
    let st = wait_status(&s, 30, "a timeout while PostgreSQL hangs", |st| {
        counter(st, "pg", "sink_errors") > 0 && !connected(st, "pg")
    });
    assert_eq!(counter(&st, "pg", "sink_rows_delivered"), n1, "{st}");
    signal_all(&pg, "-CONT");
    wait_delivered(&s, "pg", n1 + n2, 60);
    // At least once: the COPY given up on was in the server's socket and may
    // have been committed when it woke, besides the retry.
    let mut distinct = table_rows(&pg, "flows", CAPTURES[1].2);
    distinct.dedup();
    assert_eq!(distinct, dump_rows(second));
    assert_eq!(table_rows(&pg, "flows", CAPTURES[0].2), dump_rows(first));
    s.stop();
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}
