//! Heap bytes per route and load time of a synthetic full table (1,000,000
//! IPv4 + 200,000 IPv6 routes, src/synth.rs), with every route's
//! attributes distinct (a large community per route: the worst case for
//! interning) and without large communities (attributes shared).
//!
//! `cargo run --release -p octoflow-bgp --example rib_memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use octoflow_bgp::Rib;

use octoflow_bgp::synth;

/// Counts live heap bytes (requested sizes; the allocator's own rounding and
/// headers come on top).
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const N4: u32 = 1_000_000;
const N6: u32 = 200_000;

fn main() {
    for (name, large) in [
        ("distinct attributes (large community per route)", true),
        ("shared attributes (no large communities)", false),
    ] {
        let before = LIVE.load(Ordering::Relaxed);
        let t = Instant::now();
        let mut rib = Rib::new();
        synth::load(&mut rib, N4, N6, large);
        let took = t.elapsed();
        let bytes = LIVE.load(Ordering::Relaxed) - before;
        let routes = f64::from(N4 + N6);
        assert_eq!(rib.len(), (N4 as usize, N6 as usize));
        println!(
            "{name}: {} routes, {} attribute sets, {:.1} MB heap, {:.1} bytes/route, loaded in {:.2} s ({:.0} routes/s)",
            N4 + N6,
            rib.attr_sets(),
            bytes as f64 / 1e6,
            bytes as f64 / routes,
            took.as_secs_f64(),
            routes / took.as_secs_f64()
        );
        drop(rib);
    }
}
