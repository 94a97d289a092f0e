//! Kafka messages from flow records: the value in the configured format, the
//! key, and which device (and so which partition) each message belongs to.
//!
//! The records `rskafka` produces own their key and value (`Vec<u8>` each), so
//! a message costs two allocations; they are made here, on the output's
//! thread, leaving the delivering thread only the producing (record batch
//! encoding, compression, I/O) — the busier of the two.

use std::net::IpAddr;

use octoflow_proto::FlowRecord;
use octoflow_rows::goflow;
use rskafka::record::Record;

use super::config::{Format, Key};
use crate::fanout::Decoded;
use crate::output::sink::{meta, Encode};

/// One batch of messages, each with the hash that picks its partition
/// (`Key::Exporter`: the device's address hashed; `Key::None`: 0, and the
/// client sends the whole batch to one partition, the next batch to the next).
///
/// The records are built here and moved into the produce request; `rskafka`
/// consumes them, so the same messages are also kept compactly (`data`,
/// `ends`) to build them again if the broker fails and the batch is retried.
#[derive(Debug, Default)]
pub struct Batch {
    /// The records for the first attempt (taken by it).
    pub built: Vec<(u64, Record)>,
    /// Every message's value then key, back to back…
    pub data: Vec<u8>,
    /// …and per message: where its value and key end, its hash, its time.
    pub ends: Vec<Msg>,
    /// Bytes of keys and values.
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Msg {
    pub value_end: u32,
    pub key_end: u32,
    pub hash: u64,
    pub received_ms: u64,
}

impl Batch {
    /// The records again, from the compact copy (for a retry).
    pub fn rebuild(&self) -> Vec<(u64, Record)> {
        let mut start = 0usize;
        self.ends
            .iter()
            .map(|m| {
                let (v, k) = (m.value_end as usize, m.key_end as usize);
                let rec = record(
                    &self.data[start..v],
                    (k > v).then(|| self.data[v..k].to_vec()),
                    m.received_ms,
                );
                start = k;
                (m.hash, rec)
            })
            .collect()
    }
}

fn record(value: &[u8], key: Option<Vec<u8>>, received_ms: u64) -> Record {
    Record {
        key,
        value: Some(value.to_vec()),
        headers: Default::default(),
        timestamp: chrono::DateTime::from_timestamp_millis(received_ms as i64).unwrap_or_default(),
    }
}

/// What a `Record` costs beyond its key and value (its own fields, the
/// vectors' headers, the allocator's rounding), for `max_buffer_bytes`
/// (which counts the compact copy too: each message's bytes twice).
const RECORD_OVERHEAD: u64 = 96;

/// The encoding half of a `kafka` output.
pub struct Messages {
    format: Format,
    key: Key,
    /// The last device's key text and hash (a datagram's records share one).
    last: Option<(IpAddr, Vec<u8>, u64)>,
}

impl Messages {
    pub fn new(format: Format, key: Key) -> Messages {
        Messages {
            format,
            key,
            last: None,
        }
    }

    /// The key and partition hash of `device`.
    fn key_of(&mut self, device: IpAddr) -> (Vec<u8>, u64) {
        match &self.last {
            Some((d, k, h)) if *d == device => (k.clone(), *h),
            _ => {
                let k = device.to_string().into_bytes();
                let h = device_hash(device);
                self.last = Some((device, k.clone(), h));
                (k, h)
            }
        }
    }
}

/// A hash of an address that is the same in every process and release
/// (FNV-1a over its 16 bytes, IPv4 mapped), so a device keeps its partition
/// across restarts.
fn device_hash(a: IpAddr) -> u64 {
    octoflow_rows::mapped(a)
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
}

impl Encode for Messages {
    type Batch = Batch;

    fn batch(&mut self) -> Batch {
        Batch::default()
    }

    fn add(&mut self, b: &mut Batch, d: &Decoded, r: &FlowRecord) {
        let m = meta(d);
        let start = b.data.len();
        match self.format {
            Format::Protobuf => goflow::protobuf(r, &m, d.route_of(r), &mut b.data),
            Format::Json => {
                goflow::json(r, &m, &mut b.data);
                // One object per message: no line end.
                b.data.pop();
            }
        }
        let value_end = b.data.len();
        let (key, hash) = match self.key {
            Key::Exporter => {
                let (k, h) = self.key_of(r.exporter);
                b.data.extend_from_slice(&k);
                (Some(k), h)
            }
            Key::None => (None, 0),
        };
        b.ends.push(Msg {
            value_end: value_end as u32,
            key_end: b.data.len() as u32,
            hash,
            received_ms: d.received_ms,
        });
        b.bytes += (b.data.len() - start) as u64 * 2 + RECORD_OVERHEAD;
        b.built
            .push((hash, record(&b.data[start..value_end], key, d.received_ms)));
    }

    fn rows(b: &Batch) -> u64 {
        b.ends.len() as u64
    }

    fn bytes(b: &Batch) -> u64 {
        b.bytes
    }
}
