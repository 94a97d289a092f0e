//! NetFlow v5 output: records copied from v5 input, and v5 datagrams written from
//! copied or re-encoded records.

use octoflow_proto::netflow_v5::{V5Header, V5Writer};
use octoflow_proto::{Batch, FlowRecord};

use crate::stream::Stream;
use crate::{EncodeStats, Encoder, Origin, Out, Select};

/// A record for a v5 datagram.
pub(crate) enum V5Item<'b> {
    /// A v5 record's 48 bytes as the router sent them, and its sampling interval.
    Raw(&'b [u8], u32),
    /// A record to encode.
    Rec(&'b FlowRecord),
}

impl Encoder {
    /// [`crate::Path::V5Copy`]: the tenant's 48-byte records copied under the router's header times.
    pub(crate) fn v5_copy(
        &mut self,
        datagram: &[u8],
        batch: &Batch,
        si: usize,
        select: Select<'_>,
        out: &mut Out,
        st: &mut EncodeStats,
    ) {
        let max = self.cfg.max_datagram;
        let s = &mut self.streams.all[si];
        out.from(Origin::Router(s.source));
        let mut items: Vec<V5Item<'_>> = Vec::with_capacity(batch.records.len());
        for (i, r) in batch.records.iter().enumerate() {
            if select.keep(i) {
                st.matched += 1;
                items.push(V5Item::Raw(
                    batch.bytes(datagram, batch.raw[i]),
                    r.sampling_interval,
                ));
            }
        }
        emit_v5(out, max, s, &items, batch.export_ms, batch.uptime_ms, st);
    }
}

/// Write v5 datagrams of up to 30 records; a change of sampling interval starts a
/// new datagram (the header has one).
pub(crate) fn emit_v5(
    out: &mut Out,
    max: usize,
    s: &mut Stream,
    items: &[V5Item<'_>],
    unix_ms: u64,
    uptime: u32,
    st: &mut EncodeStats,
) {
    let mut i = 0;
    while i < items.len() {
        let iv = match &items[i] {
            V5Item::Raw(_, iv) => *iv,
            V5Item::Rec(r) => r.sampling_interval,
        };
        let h = V5Header {
            sys_uptime_ms: uptime,
            unix_ms,
            flow_sequence: s.sequence.current(),
            engine_type: (s.out_domain >> 8) as u8,
            engine_id: s.out_domain as u8,
            // Conversions scale intervals above 14 bits (`convert`); v5 input
            // has at most 14.
            sampling_interval: iv.min(crate::V5_MAX_INTERVAL) as u16,
        };
        let start = out.begin(max);
        let Ok(mut w) = V5Writer::new(&mut out.buf[start..start + max], h) else {
            out.abort(start);
            st.too_large += (items.len() - i) as u64;
            return;
        };
        while i < items.len() {
            let r = match &items[i] {
                V5Item::Raw(_, x) if *x != iv => break,
                V5Item::Rec(r) if r.sampling_interval != iv => break,
                V5Item::Raw(b, _) => w.push_raw(b),
                V5Item::Rec(r) => w.push(r),
            };
            match r {
                Ok(()) => i += 1,
                Err(_) => break,
            }
        }
        let n = w.count() as u32;
        let len = w.finish();
        out.commit(start, len);
        st.sent += n as u64;
        s.sequence.v5(n);
    }
}
