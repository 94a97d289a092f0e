//! Kafka messages from flow records: the value in the configured format, the
//! key, and which device (and so which partition) each message belongs to.

use octoflow_proto::FlowRecord;
use octoflow_rows::goflow;

use super::config::{Format, Key};
use crate::fanout::Decoded;
use crate::output::sink::{meta, Encode};

/// One batch of messages, kept in one buffer: message `i` is
/// `data[ends[i-1]..ends[i]]` (values, then keys when keyed), so a batch costs
/// a few allocations, not two per flow. The client cuts it into rskafka's
/// records when it produces.
#[derive(Debug, Default)]
pub struct Batch {
    pub data: Vec<u8>,
    /// Per message: where its value ends, where its key ends (= value end
    /// when unkeyed), and the hash that picks its partition.
    pub msgs: Vec<Msg>,
    /// When the collector received the first flow (Unix ms): the messages'
    /// timestamp.
    pub received_ms: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Msg {
    pub value_end: u32,
    pub key_end: u32,
    /// Picks the partition (`Key::Exporter`: the device's address hashed;
    /// `Key::None`: 0, the client spreads batches round the partitions).
    pub hash: u64,
}

/// The encoding half of a `kafka` output.
pub struct Messages {
    format: Format,
    key: Key,
}

impl Messages {
    pub fn new(format: Format, key: Key) -> Messages {
        Messages { format, key }
    }
}

/// A hash of an address that is the same in every process and release
/// (FNV-1a over its 16 bytes, IPv4 mapped), so a device keeps its partition
/// across restarts.
fn device_hash(a: std::net::IpAddr) -> u64 {
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
        if b.msgs.is_empty() {
            b.received_ms = d.received_ms;
        }
        match self.format {
            Format::Protobuf => goflow::protobuf(r, &m, &mut b.data),
            Format::Json => {
                goflow::json(r, &m, &mut b.data);
                // One object per message: no line end.
                b.data.pop();
            }
        }
        let value_end = b.data.len() as u32;
        let hash = match self.key {
            Key::Exporter => {
                use std::io::Write as _;
                let _ = write!(b.data, "{}", r.exporter);
                device_hash(r.exporter)
            }
            Key::None => 0,
        };
        b.msgs.push(Msg {
            value_end,
            key_end: b.data.len() as u32,
            hash,
        });
    }

    fn rows(b: &Batch) -> u64 {
        b.msgs.len() as u64
    }

    fn bytes(b: &Batch) -> u64 {
        (b.data.len() + b.msgs.len() * std::mem::size_of::<Msg>()) as u64
    }
}
