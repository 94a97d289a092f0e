//! Any bytes, any version: decode must return Ok or a typed error, never panic.
//! Datagrams are split on a marker so one input can teach templates then use them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use octoflow_proto::{Batch, Decoder, Limits};

fuzz_target!(|data: &[u8]| {
    let mut dec = Decoder::new(Limits::default());
    let mut b = Batch::default();
    let ip = "192.0.2.1".parse().unwrap();
    for (i, d) in data.split(|&x| x == 0xF5).enumerate() {
        if dec.decode(ip, d, 1_000 * i as u64, &mut b).is_ok() {
            for r in &b.raw {
                let _ = b.bytes(d, *r);
            }
        }
    }
});
