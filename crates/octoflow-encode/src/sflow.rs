//! sFlow v5 → sFlow v5: the tenant's flow samples copied whole.

use octoflow_proto::sflow::{DatagramWriter, SflowHeader};
use octoflow_proto::Batch;

use crate::{EncodeStats, Encoder, Origin, Out, Select};

impl Encoder {
    /// [`crate::Path::SflowCopy`]: the tenant's flow samples copied whole under the
    /// agent's header (agent and sub-agent kept), counter samples only when
    /// forwarded.
    pub(crate) fn sflow(
        &mut self,
        datagram: &[u8],
        batch: &Batch,
        si: usize,
        select: Select<'_>,
        out: &mut Out,
        st: &mut EncodeStats,
    ) {
        let Some(hdr) = batch.sflow else { return };
        let fwd_counters = self.cfg.forward_counters;
        let max = self.cfg.max_datagram;
        let s = &mut self.streams.all[si];
        out.from(Origin::Router(s.source));
        let mut samples: Vec<&[u8]> = Vec::with_capacity(batch.records.len());
        let mut last = None;
        for i in 0..batch.records.len() {
            if !select.keep(i) {
                continue;
            }
            st.matched += 1;
            let raw = batch.raw[i];
            if last != Some(raw.offset) {
                samples.push(batch.bytes(datagram, raw));
                last = Some(raw.offset);
            }
        }
        let flows = samples.len();
        if fwd_counters {
            for c in &batch.counter_samples {
                samples.push(batch.bytes(datagram, *c));
            }
        }
        if samples.is_empty() {
            return;
        }
        let mut i = 0;
        while i < samples.len() {
            let h = SflowHeader {
                sequence: s.sequence.sflow_next(),
                samples: 0,
                ..hdr
            };
            let start = out.begin(max);
            let Ok(mut w) = DatagramWriter::new(&mut out.buf[start..start + max], &h) else {
                out.abort(start);
                return;
            };
            let first = i;
            while i < samples.len() {
                match w.add_raw_sample(samples[i]) {
                    Ok(()) => i += 1,
                    Err(_) => break,
                }
            }
            if i == first {
                out.abort(start);
                st.too_large += 1;
                i += 1;
                continue;
            }
            st.sent += (i.min(flows) - first.min(flows)) as u64;
            let len = w.finish();
            out.commit(start, len);
            s.sequence.sflow_datagram();
        }
    }
}
