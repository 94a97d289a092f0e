//! Flows added up per (network, interval) for one batch, without I/O: a batch
//! of 10 000 flows becomes a few hashes' increments.

use std::collections::HashMap;

use octoflow_prefix::{Lpm, Prefix};
use octoflow_proto::FlowRecord;

use super::config::RedisConfig;
use crate::fanout::Decoded;
use crate::output::sink::Encode;

/// Flows, packets, bytes in; then out.
pub type Sums = [u64; 6];
pub const FIELDS: [&str; 6] = [
    "flows_in",
    "packets_in",
    "bytes_in",
    "flows_out",
    "packets_out",
    "bytes_out",
];

/// One batch: sums per (network index, interval start).
#[derive(Debug, Default)]
pub struct Batch {
    pub sums: HashMap<(u32, u64), Sums>,
    pub rows: u64,
}

pub struct Counters {
    networks: Lpm<u32>,
    interval_ms: u64,
}

impl Counters {
    pub fn new(c: &RedisConfig) -> Counters {
        let items: Vec<(Prefix, u32)> = c
            .networks
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, i as u32))
            .collect();
        Counters {
            networks: Lpm::new(&items),
            interval_ms: c.interval_secs * 1000,
        }
    }
}

impl Encode for Counters {
    type Batch = Batch;

    fn batch(&mut self) -> Batch {
        Batch::default()
    }

    fn add(&mut self, b: &mut Batch, d: &Decoded, r: &FlowRecord) {
        b.rows += 1;
        let at = d.received_ms / self.interval_ms * self.interval_ms / 1000;
        let (p, by) = (r.packets, r.bytes);
        if let Some(n) = self.networks.get(r.dst_addr) {
            let s = b.sums.entry((n, at)).or_default();
            s[0] += 1;
            s[1] += p;
            s[2] += by;
        }
        if let Some(n) = self.networks.get(r.src_addr) {
            let s = b.sums.entry((n, at)).or_default();
            s[3] += 1;
            s[4] += p;
            s[5] += by;
        }
    }

    fn rows(b: &Batch) -> u64 {
        b.rows
    }

    fn bytes(b: &Batch) -> u64 {
        // A hash-map entry: key, sums and the table's overhead.
        (b.sums.len() * 80) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sink::SinkSettings;
    use crate::redis::RedisUrl;

    #[test]
    fn flows_count_in_to_their_destinations_network_and_out_of_their_sources() {
        let cfg = RedisConfig {
            url: "redis://h".parse::<RedisUrl>().unwrap(),
            networks: vec![
                "10.0.0.0/8".parse().unwrap(),
                "10.1.0.0/16".parse().unwrap(),
            ],
            interval_secs: 60,
            expire_secs: 60,
            sink: SinkSettings {
                batch_rows: 1,
                linger_ms: 1,
                max_buffer_bytes: 1 << 20,
            },
        };
        let mut c = Counters::new(&cfg);
        let mut b = c.batch();
        let d = Decoded {
            received_ms: 1_800_000_059_999,
            ..Decoded::default()
        };
        let flow = |s: [u8; 4], t: [u8; 4]| FlowRecord {
            src_addr: s.into(),
            dst_addr: t.into(),
            packets: 2,
            bytes: 100,
            ..FlowRecord::default()
        };
        c.add(&mut b, &d, &flow([192, 0, 2, 1], [10, 1, 2, 3])); // in to 10.1/16 (most specific)
        c.add(&mut b, &d, &flow([10, 2, 0, 1], [192, 0, 2, 1])); // out of 10/8
        c.add(&mut b, &d, &flow([10, 2, 0, 1], [10, 1, 0, 9])); // out of 10/8, in to 10.1/16
        c.add(&mut b, &d, &flow([192, 0, 2, 1], [198, 51, 100, 1])); // neither
        let at = 1_800_000_000; // the minute holding …059.999
        assert_eq!(b.rows, 4);
        assert_eq!(b.sums.len(), 2);
        assert_eq!(b.sums[&(1, at)], [2, 4, 200, 0, 0, 0]);
        assert_eq!(b.sums[&(0, at)], [0, 0, 0, 2, 4, 200]);
    }
}
