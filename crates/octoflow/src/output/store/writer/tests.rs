//! The writer on chosen clocks: flushes make parts, rotation makes the
//! interval's file, a crash leaves only complete files and the next start
//! finishes its work.

use std::net::IpAddr;

use octoflow_proto::FlowRecord;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;

use super::*;
use crate::fanout::{Decoded, Origin};

/// 2026-11-29 23:00:00 UTC, an interval start for every rotation.
const T0: u64 = 1_795_993_200_000;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("octoflow-store-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn config(path: &Path) -> StoreConfig {
    StoreConfig {
        path: path.to_path_buf(),
        rotate_secs: 60,
        flush_secs: 10,
        max_age_secs: None,
        max_bytes: None,
        sources: Vec::new(),
        profiles: Vec::new(),
    }
}

/// A shipment of `n` records (one datagram), `packets` each, half IPv6.
fn shipment(n: usize, packets: u64, source: Option<u16>) -> Shipment {
    let mut d = Decoded {
        received_ms: T0,
        source,
        ..Decoded::default()
    };
    for i in 0..n {
        let mut r = FlowRecord::example();
        r.packets = packets;
        if i % 2 == 1 {
            r.src_addr = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16]);
        }
        d.batch.records.push(r);
    }
    Shipment {
        origin: Arc::new(Origin {
            collector: "edge".into(),
            sources: vec!["peer1".into()],
        }),
        datagrams: Arc::new(vec![Arc::new(d)]),
        bit: None,
    }
}

/// (rows, sum of packets, sources seen) of a Parquet file, read back.
fn read(p: &Path) -> (u64, u64, Vec<String>) {
    let r =
        SerializedFileReader::new(File::open(p).expect("open")).expect("a complete Parquet file");
    let cols = schema::columns();
    let pk = cols
        .iter()
        .position(|c| c.name == "packets")
        .expect("packets");
    let src = cols
        .iter()
        .position(|c| c.name == "source")
        .expect("source");
    let (mut rows, mut packets, mut sources) = (0, 0, Vec::new());
    for row in r.get_row_iter(None).expect("rows") {
        let row = row.expect("row");
        rows += 1;
        packets += row.get_ulong(pk).expect("u64");
        if let Ok(s) = row.get_string(src) {
            if !sources.contains(s) {
                sources.push(s.clone());
            }
        }
    }
    (rows, packets, sources)
}

fn names(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(d)
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    v.sort();
    v
}

#[test]
fn a_flush_makes_a_complete_part_and_rotation_makes_the_interval_file() {
    let d = dir("rotate");
    let m = OutputMetrics::new("s");
    let mut s = Store::open(config(&d), m.clone(), T0).expect("open");
    assert_eq!(s.add(&shipment(100, 2, Some(0)), T0).expect("add"), 100);
    s.tick(T0 + 5_000).expect("tick");
    assert!(
        files::parts(&d).expect("parts").is_empty(),
        "flushed before flush_secs"
    );
    s.tick(T0 + 10_000).expect("tick");
    let parts = files::parts(&d).expect("parts");
    assert_eq!(parts.len(), 1);
    assert_eq!(read(&parts[0].2).0, 100, "a part is a complete file");
    s.add(&shipment(50, 3, None), T0 + 20_000).expect("add");
    // The next interval: the first one's parts become its file.
    s.add(&shipment(10, 1, None), T0 + 60_000).expect("add");
    s.wait_merges();
    assert_eq!(names(&d), [".parts", "flows-202611292300.parquet"]);
    let (rows, packets, sources) = read(&d.join("flows-202611292300.parquet"));
    assert_eq!((rows, packets), (150, 100 * 2 + 50 * 3));
    assert_eq!(
        sources,
        ["peer1"],
        "the source name is a column, null when unnamed"
    );
    assert!(
        files::parts(&d).expect("parts").is_empty(),
        "merged parts are deleted"
    );
    s.close(T0 + 61_000).expect("close");
    assert_eq!(read(&d.join("flows-202611292301.parquet")).0, 10);
    assert_eq!(m.store_files.load(Relaxed), 2);
    assert_eq!(m.store_rows.load(Relaxed), 160);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_crash_leaves_complete_files_and_the_next_start_finishes_them() {
    let d = dir("crash");
    let m = OutputMetrics::new("s");
    let mut s = Store::open(config(&d), m.clone(), T0).expect("open");
    s.add(&shipment(40, 1, None), T0).expect("add");
    s.tick(T0 + 10_000).expect("tick");
    s.add(&shipment(7, 1, None), T0 + 11_000).expect("add");
    // A crash: the unflushed rows are in memory only; a half-written file too.
    drop(s);
    fs::write(
        d.join(PARTS).join("flows-202611292300.000001.parquet.tmp"),
        b"PAR1 half",
    )
    .expect("write");
    // Restarted in the same interval: the part is kept and numbering goes on.
    let mut s = Store::open(config(&d), m.clone(), T0 + 30_000).expect("reopen");
    assert_eq!(names(&d.join(PARTS)), ["flows-202611292300.000000.parquet"]);
    s.add(&shipment(5, 1, None), T0 + 31_000).expect("add");
    s.tick(T0 + 41_000).expect("tick");
    assert_eq!(
        files::parts(&d)
            .expect("parts")
            .iter()
            .map(|p| p.1)
            .collect::<Vec<_>>(),
        [0, 1]
    );
    drop(s);
    // Restarted later: the ended interval's parts are merged into its file.
    let s = Store::open(config(&d), m, T0 + 200_000).expect("reopen");
    drop(s);
    assert_eq!(names(&d), [".parts", "flows-202611292300.parquet"]);
    assert_eq!(
        read(&d.join("flows-202611292300.parquet")).0,
        45,
        "the 7 unflushed rows are lost, no more"
    );
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn parts_a_merged_file_already_holds_are_deleted_not_merged_twice() {
    let d = dir("twice");
    let m = OutputMetrics::new("s");
    let mut s = Store::open(config(&d), m.clone(), T0).expect("open");
    s.add(&shipment(20, 1, None), T0).expect("add");
    s.tick(T0 + 10_000).expect("tick");
    let part = files::parts(&d).expect("parts")[0].2.clone();
    let keep = d.join("kept.parquet");
    fs::copy(&part, &keep).expect("copy");
    s.close(T0 + 20_000).expect("close");
    // A crash between the rename of the merged file and the deletion of its parts.
    fs::rename(&keep, &part).expect("put the part back");
    drop(Store::open(config(&d), m, T0 + 600_000).expect("reopen"));
    assert_eq!(names(&d), [".parts", "flows-202611292300.parquet"]);
    assert!(files::parts(&d).expect("parts").is_empty());
    assert_eq!(read(&d.join("flows-202611292300.parquet")).0, 20);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_restart_in_a_merged_interval_never_reuses_a_merged_parts_name() {
    let d = dir("reuse");
    let m = OutputMetrics::new("s");
    let mut s = Store::open(config(&d), m.clone(), T0).expect("open");
    s.add(&shipment(20, 1, None), T0).expect("add");
    s.close(T0 + 1_000)
        .expect("stop: the interval's part is merged");
    drop(s);
    // Started again in the same interval, then killed after a flush.
    let mut s = Store::open(config(&d), m.clone(), T0 + 2_000).expect("open");
    s.add(&shipment(9, 1, None), T0 + 2_000).expect("add");
    s.tick(T0 + 12_000).expect("flush");
    drop(s);
    assert_eq!(names(&d.join(PARTS)), ["flows-202611292300.000001.parquet"]);
    drop(Store::open(config(&d), m, T0 + 600_000).expect("reopen"));
    let rows: u64 = files::intervals(&d)
        .expect("list")
        .iter()
        .map(|f| read(&f.0).0)
        .sum();
    assert_eq!(
        rows, 29,
        "the new part was merged, not taken for the old one"
    );
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_store_with_sources_keeps_only_the_flows_of_those_devices() {
    let d = dir("sources");
    let mut cfg = config(&d);
    cfg.sources = vec!["peer1".into()];
    let mut s = Store::open(cfg, OutputMetrics::new("s"), T0).expect("open");
    assert_eq!(
        s.add(&shipment(6, 1, Some(0)), T0).expect("add"),
        6,
        "peer1's"
    );
    assert_eq!(
        s.add(&shipment(4, 1, None), T0).expect("add"),
        0,
        "an unnamed device's"
    );
    s.close(T0 + 1_000).expect("close");
    let (rows, _, sources) = read(&d.join("flows-202611292300.parquet"));
    assert_eq!((rows, sources), (6, vec!["peer1".to_string()]));
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_tenants_store_takes_only_the_records_with_its_bit() {
    let d = dir("bit");
    let mut s = Store::open(config(&d), OutputMetrics::new("s"), T0).expect("open");
    let mut sh = shipment(10, 1, None);
    if let Some(dg) = Arc::get_mut(&mut sh.datagrams).and_then(|v| Arc::get_mut(&mut v[0])) {
        dg.verdicts = (0..10).map(|i| if i < 3 { 0b10 } else { 0b01 }).collect();
    }
    sh.bit = Some(0b10);
    assert_eq!(s.add(&sh, T0).expect("add"), 3);
    s.close(T0 + 1_000).expect("close");
    assert_eq!(read(&d.join("flows-202611292300.parquet")).0, 3);
    let _ = fs::remove_dir_all(&d);
}
