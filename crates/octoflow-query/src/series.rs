//! A profile's channels as nfsen graphs them: per 5-minute slot and channel,
//! flows, packets and bytes, each split TCP/UDP/ICMP/other. Counted as flows
//! arrive (the caller says which channels each flow passes, by bit), kept as
//! slots in time order, and written compactly: a slot costs only its non-zero
//! numbers, as LEB128 varints.
//!
//! Sans-IO: [`Series::encode`] and [`Series::decode`] turn slots into bytes and
//! back; the caller keeps the file.

use std::collections::BTreeMap;

use octoflow_proto::FlowRecord;

/// nfsen's slot: five minutes.
pub const SLOT_MS: u64 = 300_000;

/// The protocol classes of a channel's graph.
pub const CLASSES: [&str; 4] = ["tcp", "udp", "icmp", "other"];

/// What one channel counted in one slot: `[flows, packets, bytes]` per class.
pub type Counts = [[u64; 3]; 4];

fn class(proto: u8) -> usize {
    match proto {
        6 => 0,
        17 => 1,
        1 | 58 => 2,
        _ => 3,
    }
}

/// The slots of one profile: slot start (Unix ms) → one [`Counts`] per channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    pub channels: usize,
    pub slots: BTreeMap<u64, Vec<Counts>>,
}

/// The file's first bytes, and its version.
const MAGIC: &[u8; 8] = b"OFSERIE1";

impl Series {
    pub fn new(channels: usize) -> Series {
        Series {
            channels,
            slots: BTreeMap::new(),
        }
    }

    /// The slot `t_ms` falls in.
    pub fn slot_of(t_ms: u64) -> u64 {
        t_ms - t_ms % SLOT_MS
    }

    /// Count `r`, received at `t_ms`, in every channel whose bit is set in
    /// `passes` (bit i = channel i).
    #[inline]
    pub fn add(&mut self, t_ms: u64, r: &FlowRecord, passes: u64) {
        if passes == 0 {
            return;
        }
        let n = self.channels;
        let slot = self
            .slots
            .entry(Self::slot_of(t_ms))
            .or_insert_with(|| vec![[[0; 3]; 4]; n]);
        let c = class(r.proto);
        let mut bits = passes;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(ch) = slot.get_mut(i) {
                ch[c][0] += 1;
                ch[c][1] += r.packets;
                ch[c][2] += r.bytes;
            }
        }
    }

    /// Add another series' slots (the same channels).
    pub fn merge(&mut self, o: &Series) {
        for (t, chans) in &o.slots {
            let n = self.channels;
            let mine = self.slots.entry(*t).or_insert_with(|| vec![[[0; 3]; 4]; n]);
            add(mine, chans);
        }
    }

    /// Take the slots that ended before `now_ms` (to append to the file).
    pub fn take_closed(&mut self, now_ms: u64) -> Series {
        let open = self.slots.split_off(&Self::slot_of(now_ms));
        let closed = std::mem::replace(&mut self.slots, open);
        Series {
            channels: self.channels,
            slots: closed,
        }
    }

    /// Drop slots older than `oldest_ms` (retention).
    pub fn prune(&mut self, oldest_ms: u64) {
        self.slots = self.slots.split_off(&Self::slot_of(oldest_ms));
    }

    /// The bytes of these slots: a header (magic, channels) when `header`, then
    /// per slot its start (varint, in slots), a bitmap of the non-zero numbers
    /// per channel (varint) and those numbers (varints). Appending the encoding
    /// of later slots without a header to a file continues it.
    pub fn encode(&self, header: bool, out: &mut Vec<u8>) {
        if header {
            out.extend_from_slice(MAGIC);
            put(out, self.channels as u64);
        }
        for (t, chans) in &self.slots {
            put(out, t / SLOT_MS);
            for ch in chans {
                let flat = ch.iter().flatten();
                let mask =
                    flat.clone()
                        .enumerate()
                        .fold(0u64, |m, (i, v)| if *v != 0 { m | 1 << i } else { m });
                put(out, mask);
                for v in flat.filter(|v| **v != 0) {
                    put(out, *v);
                }
            }
        }
    }

    /// Read what [`Series::encode`] wrote (a header, then slots). A slot cut off
    /// at the end (a crash while appending) is dropped; anything else wrong is
    /// an error.
    pub fn decode(b: &[u8]) -> Result<Series, String> {
        Series::decode_window(b, 0, u64::MAX)
    }

    /// [`Series::decode`], keeping only the slots that start in `[from_ms,
    /// to_ms)`: the others are read past without being kept (a year's file
    /// for a day's graph costs the scan, not the memory).
    pub fn decode_window(b: &[u8], from_ms: u64, to_ms: u64) -> Result<Series, String> {
        if b.len() < MAGIC.len() || &b[..MAGIC.len()] != MAGIC {
            return Err("not an octoflow profile series (bad magic)".into());
        }
        let mut at = MAGIC.len();
        let channels = get(b, &mut at).ok_or("truncated header")? as usize;
        if channels == 0 || channels > 64 {
            return Err(format!("{channels} channels: a profile has 1 to 64"));
        }
        let mut s = Series::new(channels);
        let mut chans = vec![[[0u64; 3]; 4]; channels];
        'slots: while at < b.len() {
            let Some(t) = get(b, &mut at) else { break };
            let start = t.checked_mul(SLOT_MS).ok_or("slot time out of range")?;
            let keep = (from_ms..to_ms).contains(&start);
            for ch in chans.iter_mut() {
                let Some(mask) = get(b, &mut at) else {
                    break 'slots;
                };
                if mask >> 12 != 0 {
                    return Err(format!("bad slot at byte {at}"));
                }
                for i in 0..12 {
                    let v = if mask & 1 << i != 0 {
                        let Some(v) = get(b, &mut at) else {
                            break 'slots;
                        };
                        v
                    } else {
                        0
                    };
                    ch[i / 3][i % 3] = v;
                }
            }
            if !keep {
                continue;
            }
            // A slot written twice (a rebuild's and an append's) adds up.
            match s.slots.entry(start) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(chans.clone());
                }
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    add(e.get_mut(), &chans);
                }
            }
        }
        Ok(s)
    }
}

/// Add one slot's counts to another's, channel by channel.
fn add(mine: &mut [Counts], other: &[Counts]) {
    for (m, c) in mine.iter_mut().zip(other) {
        for k in 0..4 {
            for v in 0..3 {
                m[k][v] += c[k][v];
            }
        }
    }
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(proto: u8, packets: u64, bytes: u64) -> FlowRecord {
        FlowRecord {
            proto,
            packets,
            bytes,
            ..FlowRecord::default()
        }
    }

    #[test]
    fn flows_count_per_slot_channel_and_class() {
        let mut s = Series::new(3);
        let t0 = 1_795_993_800_000; // a slot boundary
        s.add(t0 + 1, &rec(6, 10, 1000), 0b101);
        s.add(t0 + 299_999, &rec(17, 1, 80), 0b001);
        s.add(t0 + 300_000, &rec(58, 2, 200), 0b010);
        s.add(t0 + 300_001, &rec(47, 1, 50), 0);
        assert_eq!(s.slots.len(), 2);
        let first = &s.slots[&t0];
        assert_eq!(first[0][0], [1, 10, 1000]);
        assert_eq!(first[0][1], [1, 1, 80]);
        assert_eq!(first[2][0], [1, 10, 1000]);
        assert_eq!(first[1], [[0; 3]; 4]);
        assert_eq!(s.slots[&(t0 + SLOT_MS)][1][2], [1, 2, 200]);
    }

    #[test]
    fn slots_round_trip_compactly_and_append() {
        let mut s = Series::new(2);
        let t0 = 1_795_993_800_000;
        for i in 0..288 {
            s.add(t0 + i * SLOT_MS, &rec(6, 100 + i, 150_000 + i), 0b01);
        }
        let mut b = Vec::new();
        let first = Series {
            channels: 2,
            slots: s
                .slots
                .range(..t0 + 100 * SLOT_MS)
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
        };
        let rest = Series {
            channels: 2,
            slots: s
                .slots
                .range(t0 + 100 * SLOT_MS..)
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
        };
        first.encode(true, &mut b);
        rest.encode(false, &mut b);
        assert_eq!(Series::decode(&b).expect("decodes"), s);
        // A day of one busy channel and one idle one: about 12 bytes a slot.
        assert!(b.len() < 288 * 14, "{} bytes", b.len());
        // Cut mid-slot (a crash while appending): the whole slots remain.
        let cut = Series::decode(&b[..b.len() - 2]).expect("decodes");
        assert_eq!(cut.slots.len(), 287);
        assert!(Series::decode(b"garbage!").is_err());
        // A window: exactly the slots that start in it.
        let (from, to) = (t0 + 10 * SLOT_MS, t0 + 20 * SLOT_MS);
        let w = Series::decode_window(&b, from, to).expect("decodes");
        let want: BTreeMap<u64, Vec<Counts>> = s
            .slots
            .range(from..to)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        assert_eq!(w.slots, want);
    }

    #[test]
    fn closed_slots_are_taken_and_old_ones_pruned() {
        let mut s = Series::new(1);
        let t0 = 1_795_993_800_000;
        for i in 0..5 {
            s.add(t0 + i * SLOT_MS, &rec(6, 1, 1), 1);
        }
        let closed = s.take_closed(t0 + 3 * SLOT_MS + 5);
        assert_eq!(closed.slots.len(), 3);
        assert_eq!(s.slots.len(), 2);
        s.prune(t0 + 4 * SLOT_MS);
        assert_eq!(
            s.slots.keys().copied().collect::<Vec<_>>(),
            vec![t0 + 4 * SLOT_MS]
        );
    }
}
