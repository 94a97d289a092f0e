//! Conversions: the tenant's canonical records re-encoded with octoflow's own
//! templates (v9/IPFIX: 256 IPv4, 257 IPv6, 258 sampling options, 259/260 IPv4/IPv6
//! with flowDirection for flows whose direction is known) or as v5
//! (IPv6 flows counted as unconvertible). Records wait in their stream until a
//! datagram's worth is there, or until [`Encoder::flush`].

use octoflow_proto::message::sampling_record;
use octoflow_proto::{Batch, Dialect, Direction, FlowRecord, MessageHeader, Version};

use crate::pack::{pack, Item};
use crate::v5::{emit_v5, V5Item};
use crate::{EncodeStats, Encoder, Origin, Out, Select};

impl Encoder {
    /// Records per datagram worth building at once for re-encoded output.
    fn fill(&self) -> usize {
        match self.cfg.version {
            Version::V5 => octoflow_proto::netflow_v5::MAX_RECORDS,
            _ => {
                let per = self.own.as_ref().and_then(|o| o[0].fixed_len).unwrap_or(64);
                ((self.cfg.max_datagram.saturating_sub(40)) / per).max(1)
            }
        }
    }

    /// Queue the tenant's records of `batch` for re-encoding; encode full datagrams.
    pub(crate) fn convert(
        &mut self,
        batch: &Batch,
        si: usize,
        select: Select<'_>,
        now_ms: u64,
        out: &mut Out,
        st: &mut EncodeStats,
    ) {
        let scaling = self.cfg.sampling_scaling;
        let v5 = self.cfg.version == Version::V5;
        let fill = self.fill();
        let s = &mut self.streams.all[si];
        for (i, r) in batch.records.iter().enumerate() {
            if !select.keep(i) {
                continue;
            }
            st.matched += 1;
            if v5 && !r.is_ipv4() {
                st.unconvertible += 1;
                continue;
            }
            let mut r = *r;
            // A v5 header states at most a 14-bit interval: larger ones are scaled
            // into the counters (and the datagram says unsampled) rather than
            // capped, which would understate the traffic.
            let v5_cannot = v5 && r.sampling_interval > crate::V5_MAX_INTERVAL;
            if (scaling || v5_cannot) && r.sampling_interval > 1 {
                r.packets = r.scaled_packets();
                r.bytes = r.scaled_bytes();
                r.sampling_interval = 1;
            }
            s.pending.push(r);
        }
        if s.pending.len() >= fill {
            // Full datagrams now; the remainder waits for more.
            let full = s.pending.len() / fill * fill;
            self.emit(si, full, now_ms, out, st);
        }
    }

    /// Encode the first `n` waiting records of a stream.
    pub(crate) fn emit(
        &mut self,
        si: usize,
        n: usize,
        now_ms: u64,
        out: &mut Out,
        st: &mut EncodeStats,
    ) {
        let mut pending = match self.streams.all.get_mut(si) {
            Some(s) => std::mem::take(&mut s.pending),
            None => return,
        };
        let n = n.min(pending.len());
        // Built from canonical records with octoflow's header: octoflow's own.
        out.from(Origin::Own);
        if self.cfg.version == Version::V5 {
            let items: Vec<V5Item<'_>> = pending[..n].iter().map(V5Item::Rec).collect();
            let uptime = now_ms.wrapping_sub(self.started_ms) as u32;
            let (max, s) = (self.cfg.max_datagram, &mut self.streams.all[si]);
            emit_v5(out, max, s, &items, now_ms, uptime, st);
        } else {
            self.emit_own(si, &pending[..n], now_ms, out, st);
        }
        if let Some(s) = self.streams.all.get_mut(si) {
            // Give the buffer back (keeps its capacity) with what still waits.
            pending.drain(..n);
            s.pending = pending;
        }
    }

    /// Encode `records` with octoflow's templates (conversion to v9/IPFIX).
    fn emit_own(
        &mut self,
        si: usize,
        records: &[FlowRecord],
        now_ms: u64,
        out: &mut Out,
        st: &mut EncodeStats,
    ) {
        let Some(own) = self.own.clone() else { return };
        let due = self.templates_due(si, now_ms);
        let s = &mut self.streams.all[si];
        let mut items: Vec<Item<'_>> = Vec::with_capacity(records.len() + 4);
        if due {
            items.extend(own.iter().map(|t| Item::Template(t)));
        }
        let mut announce = None;
        for r in records {
            let iv = r.sampling_interval;
            if iv > 1 && (iv != s.sampling || due) && announce.is_none() {
                announce = Some(iv);
            }
            // flowDirection has no "unknown" value: only flows with a known
            // direction use the templates that carry it.
            let t = match (r.is_ipv4(), r.direction == Direction::Unknown) {
                (true, true) => &own[0],
                (false, true) => &own[1],
                (true, false) => &own[3],
                (false, false) => &own[4],
            };
            items.push(Item::Own(t, r));
        }
        if let Some(iv) = announce {
            // Sampling options data right after the templates (RFC 7011 §3.4.2.2 /
            // RFC 3954 §6.2), so collectors that read sampling only from there see it.
            let at = if due { own.len() } else { 0 };
            items.insert(at, Item::Sampling(sampling_record(iv, false)));
            s.sampling = iv;
        }
        let dialect = if self.cfg.version == Version::V9 {
            Dialect::V9
        } else {
            Dialect::Ipfix
        };
        let h = MessageHeader {
            unix_ms: now_ms,
            sys_uptime_ms: now_ms.wrapping_sub(self.started_ms) as u32,
            sequence: s.sequence.current(),
            domain: s.out_domain,
        };
        let max = self.cfg.max_datagram;
        let (n, written) = pack(out, max, dialect, h, &mut s.sequence, &items, st);
        // The sampling record is an options data record, not a flow.
        st.sent += written.saturating_sub(announce.map_or(0, |_| 1));
        if due {
            s.templates_sent(now_ms);
        }
        s.datagrams_sent(n);
    }
}
