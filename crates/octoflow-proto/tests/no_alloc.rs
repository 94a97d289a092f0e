//! Steady-state decoding does not allocate per record: a counting global allocator
//! sees zero allocations while 1 000 datagrams of 25 records each are decoded into a
//! reused batch (v5, v9, IPFIX, sFlow).

mod common;
use common::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use octoflow_proto::{Batch, Dialect, FlowRecord};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
thread_local! {
    // Count only this test's thread: the harness allocates on its own threads.
    static ON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if ON.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn decoding_allocates_nothing_per_record() {
    let recs: Vec<FlowRecord> = (0..25u32)
        .map(|i| FlowRecord {
            src_addr: format!("10.0.1.{i}").parse().unwrap(),
            dst_addr: "198.51.100.1".parse().unwrap(),
            proto: 6,
            packets: 1,
            bytes: 100,
            ..FlowRecord::default()
        })
        .collect();
    // (first datagram: templates; then the one measured: data only, as between
    // periodic template refreshes)
    let datagrams = [
        (encode_v5(&recs, 0), encode_v5(&recs, 0)),
        (
            encode_v9_or_ipfix(Dialect::V9, &recs, 0),
            encode_message(Dialect::V9, &recs, 0, false),
        ),
        (
            encode_v9_or_ipfix(Dialect::Ipfix, &recs, 0),
            encode_message(Dialect::Ipfix, &recs, 0, false),
        ),
        (encode_sflow(&recs, 0), encode_sflow(&recs, 0)),
    ];
    for (first, d) in &datagrams {
        let mut dec = decoder();
        let mut b = Batch::default();
        dec.decode(exporter(), first, NOW_MS, &mut b).unwrap(); // warm up: learn templates, grow vectors
        dec.decode(exporter(), d, NOW_MS, &mut b).unwrap();
        let before = ALLOCS.load(Ordering::Relaxed);
        ON.with(|c| c.set(true));
        let mut records = 0;
        for _ in 0..1000 {
            dec.decode(exporter(), d, NOW_MS, &mut b).unwrap();
            records += b.records.len();
        }
        ON.with(|c| c.set(false));
        assert_eq!(records, 25_000);
        let n = ALLOCS.load(Ordering::Relaxed) - before;
        assert_eq!(n, 0, "{:?}: {n} allocations in 1000 datagrams", b.version);
    }
}
