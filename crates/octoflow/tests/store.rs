//! The `store` output end to end: `octoflow gen` → collector → stores, the
//! files read back by an independent Parquet reader (DuckDB, from PyPI; the
//! test installs it when missing), a `kill -9` in mid-stream, and retention.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::duckdb::duckdb;
use common::flows::*;
use common::*;

fn nums(row: &str) -> Vec<u64> {
    row.split('|')
        .map(|x| x.parse().unwrap_or_else(|_| panic!("a number in {row:?}")))
        .collect()
}

/// The store's complete files as a DuckDB list: interval files and parts (a
/// reader's glob, `*.parquet`, never matches a `.tmp`).
fn glob(dir: &Path) -> String {
    let files: Vec<String> = listing(dir)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| format!("'{}'", p.display()))
        .collect();
    assert!(!files.is_empty(), "no store file in {}", dir.display());
    format!("[{}]", files.join(", "))
}

/// Every file name under `dir` (and `.parts/`).
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in [dir.to_path_buf(), dir.join(".parts")] {
        if let Ok(rd) = std::fs::read_dir(&d) {
            v.extend(
                rd.filter_map(|e| Some(e.ok()?.path()))
                    .filter(|p| p.is_file()),
            );
        }
    }
    v.sort();
    v
}

/// `10.0.1.0/24`'s addresses as DuckDB sees `src_addr_v4` (unsigned integers).
const FOO_LOW: u32 = 10 << 24 | 1 << 8;
const FOO_254: u32 = FOO_LOW + 254;

#[test]
fn gen_flows_reach_a_store_and_a_tenants_store_and_duckdb_reads_the_same_counts_and_sums() {
    let dir = tmpdir("store-e2e");
    let (pm, cp) = (free_port(), free_port());
    let (all, foo) = (dir.join("flows/all"), dir.join("flows/foo"));
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [all, foo], sources: {{gen: 127.0.0.1}}}}\n\
         exporters:\n  - {{id: all, type: store, path: {}}}\n  - {{id: foo, type: store, path: {}{FOO}}}\n",
        all.display(),
        foo.display()
    );
    let s = Server::start(&dir, &yaml, &[cp]);
    let out = run_gen(&[
        "--proto",
        "ipfix",
        "--target",
        &format!("127.0.0.1:{cp}"),
        "--count",
        "400",
        "--rate",
        "2000",
        "--prefix",
        "10.0.1.0/24",
        "--prefix",
        "172.16.0.0/12",
        "--prefix",
        "2001:db8:1::/64",
    ]);
    settle(&s, "edge", 400);
    let status = s.status();
    s.stop();
    let (flows, packets, bytes) = (
        report(&out, "flows"),
        report(&out, "packets"),
        report(&out, "bytes"),
    );
    let per_prefix = |p: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("prefix {p} ")))
            .map(|l| report(l, "flows"))
            .unwrap_or_else(|| panic!("prefix {p} in {out}"))
    };
    // A graceful stop merges the open interval: only interval files are left.
    assert!(
        listing(&all).iter().all(|p| p.parent() == Some(&all)),
        "parts left after a graceful stop: {:?}",
        listing(&all)
    );
    let sql = format!(
        "select count(*), sum(packets), sum(bytes), \
         count(*) filter (where src_addr_v4 between {FOO_LOW} and {FOO_LOW} + 255), \
         count(*) filter (where src_addr_v4 >> 20 = {}), \
         count(*) filter (where src_addr_v6 is not null), \
         count(*) filter (where source = 'gen' and collector = 'edge' and received is not null) \
         from read_parquet('{}/flows-*.parquet')",
        (172u32 << 24 | 16 << 16) >> 20,
        all.display()
    );
    let got = nums(&duckdb(&sql));
    assert_eq!(got[..3], [flows, packets, bytes], "rows, packets, bytes");
    assert_eq!(
        got[3..6],
        [
            per_prefix("10.0.1.0/24"),
            per_prefix("172.16.0.0/12"),
            per_prefix("2001:db8:1::/64")
        ],
        "flows per source prefix"
    );
    assert_eq!(got[6], flows, "every row names its source and collector");
    assert_eq!(counter(&status, "all", "flows_matched"), flows);

    // The tenant's store: exactly the flows of 10.0.1.0/24 minus 10.0.1.254.
    let want = nums(&duckdb(&format!(
        "select count(*) from read_parquet('{}/flows-*.parquet') where src_addr_v4 between {FOO_LOW} and {FOO_LOW} + 255 and src_addr_v4 <> {FOO_254}",
        all.display()
    )))[0];
    let got = nums(&duckdb(&format!(
        "select count(*), count(*) filter (where src_addr_v4 is null or src_addr_v4 not between {FOO_LOW} and {FOO_LOW} + 255 or src_addr_v4 = {FOO_254}) from read_parquet('{}/flows-*.parquet')",
        foo.display()
    )));
    assert!(want > 0);
    assert_eq!(
        got,
        [want, 0],
        "the tenant's store holds its flows and no other"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_mid_stream_loses_at_most_flush_secs_of_flows_and_leaves_only_readable_files() {
    let dir = tmpdir("store-kill");
    let (pm, cp) = (free_port(), free_port());
    let store = dir.join("flows");
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [noc]}}\n\
         exporters:\n  - {{id: noc, type: store, path: {}, rotate_secs: 60, flush_secs: 1}}\n",
        store.display()
    );
    let s = Server::start(&dir, &yaml, &[cp]);
    // 500 datagrams/s of 25 flows: 12 500 flows/s for 6 s, killed after about 3.5 s.
    let rate = 500 * 25;
    let target = format!("127.0.0.1:{cp}");
    let g = std::thread::spawn(move || {
        run_gen(&[
            "--proto",
            "v9",
            "--target",
            &target,
            "--rate",
            "500",
            "--duration",
            "6",
        ])
    });
    std::thread::sleep(Duration::from_millis(3500));
    let seen = counter(&s.status(), "edge", "flows");
    let mut child = s.child;
    child.0.kill().expect("kill -9");
    let _ = child.0.wait();
    let killed = Instant::now();
    let _ = g.join();
    assert!(
        seen > rate as u64,
        "the collector saw flows before the kill: {seen}"
    );

    // Every file a reader can see is whole; a .tmp is not seen by the glob.
    let files = listing(&store);
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
    {
        duckdb(&format!(
            "select count(*) from read_parquet('{}')",
            f.display()
        ));
    }
    let rows = nums(&duckdb(&format!(
        "select count(*) from read_parquet({})",
        glob(&store)
    )))[0];
    // Lost: the flows since the last flush (1 s), plus those that came in
    // between the status read and the kill.
    let slack = rate as u64 * 2;
    assert!(
        rows + slack >= seen,
        "{rows} rows on disk, {seen} flows seen before the kill: lost more than flush_secs' worth ({files:?})"
    );
    assert!(killed.elapsed() < Duration::from_secs(30));

    // A restart deletes what the crash left half written; a stop merges the rest.
    let s = Server::start(&dir, &yaml, &[cp]);
    std::thread::sleep(Duration::from_millis(500));
    s.stop();
    let left = listing(&store);
    assert!(
        left.iter()
            .all(|p| p.extension().is_some_and(|e| e == "parquet") && p.parent() == Some(&store)),
        "after a restart and a stop only interval files remain: {left:?}"
    );
    let after = nums(&duckdb(&format!(
        "select count(*) from read_parquet('{}/flows-*.parquet')",
        store.display()
    )))[0];
    assert_eq!(
        after, rows,
        "the restart merged the parts once, losing and doubling nothing"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retention_deletes_the_oldest_files_first_and_counts_them() {
    let dir = tmpdir("store-retention");
    let (pm, cp) = (free_port(), free_port());
    let store = dir.join("flows");
    let max_bytes = 60_000u64;
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [noc]}}\n\
         exporters:\n  - {{id: noc, type: store, path: {}, rotate_secs: 1, flush_secs: 1, max_bytes: {max_bytes}}}\n",
        store.display()
    );
    let s = Server::start(&dir, &yaml, &[cp]);
    let target = format!("127.0.0.1:{cp}");
    let g = std::thread::spawn(move || {
        run_gen(&[
            "--proto",
            "v9",
            "--target",
            &target,
            "--rate",
            "100",
            "--duration",
            "6",
        ])
    });
    // Every interval file ever seen, to tell which were deleted.
    let mut seen = BTreeSet::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(7) {
        seen.extend(
            listing(&store)
                .into_iter()
                .filter(|p| p.parent() == Some(&store)),
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = g.join();
    let status = s.status();
    s.stop();
    let left: BTreeSet<PathBuf> = listing(&store)
        .into_iter()
        .filter(|p| p.parent() == Some(&store))
        .collect();
    seen.extend(left.iter().cloned());
    let deleted: Vec<&PathBuf> = seen.difference(&left).collect();
    let total: u64 = left
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(!deleted.is_empty(), "nothing deleted: {left:?}");
    assert!(
        total <= max_bytes,
        "{total} bytes left, max_bytes {max_bytes}"
    );
    let newest_deleted = deleted.iter().max().expect("one");
    let oldest_left = left.iter().min().expect("a file is left");
    assert!(
        *newest_deleted < oldest_left,
        "deleted {newest_deleted:?} but kept the older {oldest_left:?}"
    );
    let counted = counter(&status, "noc", "store_files_deleted");
    assert!(
        counted >= 1 && counted <= deleted.len() as u64,
        "counted {counted}, deleted {}",
        deleted.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_store_counts_its_losses_logs_once_and_recovers_without_stopping_the_router() {
    let dir = tmpdir("store-full");
    let (pm, cp) = (free_port(), free_port());
    let store = dir.join("flows");
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [noc]}}\n\
         exporters:\n  - {{id: noc, type: store, path: {}, rotate_secs: 60, flush_secs: 1}}\n",
        store.display()
    );
    let s = Server::start(&dir, &yaml, &[cp]);
    // Root ignores permissions: a file where the store's folder of parts
    // should be makes every write fail, as a full disk would.
    let parts = store.join(".parts");
    // The store opens its folder in its own thread: block it only once the
    // store runs (else the opening makes `.parts` again under a loaded suite).
    let log = dir.join("octoflow.log");
    let t = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("store running")
    {
        assert!(t.elapsed() < Duration::from_secs(20), "the store never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::remove_dir_all(&parts).expect("rm .parts");
    std::fs::write(&parts, b"in the way").expect("block .parts");
    let lost = gen("v9", cp, 100, 200, &[]);
    std::thread::sleep(Duration::from_millis(2500));
    let st = s.status();
    assert_eq!(counter(&st, "noc", "flows_matched"), lost);
    assert!(counter(&st, "noc", "store_write_errors") >= 1, "{st}");
    assert_eq!(counter(&st, "noc", "store_rows_lost"), lost, "{st}");
    assert_eq!(counter(&st, "noc", "store_rows"), 0, "{st}");

    // Room again: the store goes on by itself.
    std::fs::remove_file(&parts).expect("unblock");
    std::fs::create_dir(&parts).expect("mkdir .parts");
    let kept = gen("v9", cp, 100, 200, &[]);
    std::thread::sleep(Duration::from_millis(2500));
    let st = s.status();
    assert_eq!(counter(&st, "noc", "store_rows"), kept, "{st}");
    let log = s.stop();
    assert_eq!(
        log.matches("store write failed").count(),
        1,
        "logged once a minute at most:\n{log}"
    );
    let rows = nums(&duckdb(&format!(
        "select count(*) from read_parquet('{}/flows-*.parquet')",
        store.display()
    )))[0];
    assert_eq!(rows, kept);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sources_name_devices_in_a_column_and_a_store_can_keep_one_sources_flows() {
    let dir = tmpdir("store-sources");
    let (pm, cp) = (free_port(), free_port());
    let (all, peer2) = (dir.join("all"), dir.join("peer2"));
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [all, p2], sources: {{peer1: 127.0.0.1, peer2: 127.0.0.2}}}}\n\
         exporters:\n  - {{id: all, type: store, path: {}}}\n  - {{id: p2, type: store, path: {}, sources: [peer2]}}\n",
        all.display(),
        peer2.display()
    );
    let s = Server::start(&dir, &yaml, &[cp]);
    let from_1 = gen("v9", cp, 40, 400, &[]);
    let from_2 = gen("v9", cp, 60, 400, &["--bind", "127.0.0.2:0"]);
    settle(&s, "edge", 100);
    s.stop();
    let by_source = duckdb(&format!(
        "select source, count(*) from read_parquet('{}/flows-*.parquet') group by 1 order by 1",
        all.display()
    ));
    assert_eq!(by_source, format!("peer1|{from_1}\npeer2|{from_2}"));
    let got = duckdb(&format!(
        "select source, count(*) from read_parquet('{}/flows-*.parquet') group by 1",
        peer2.display()
    ));
    assert_eq!(
        got,
        format!("peer2|{from_2}"),
        "the store keeps peer2's flows only"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
