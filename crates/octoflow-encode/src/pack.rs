//! Packing items (templates, raw records, records to encode, options data) into
//! as many v9/IPFIX messages as they need.

use std::sync::Arc;

use octoflow_proto::message::OWN_SAMPLING_TEMPLATE_ID;
use octoflow_proto::{Dialect, EncodeError, FlowRecord, MessageHeader, MessageWriter, Template};

use crate::sequence::Sequence;
use crate::{EncodeStats, Out};

/// One thing to put into a message.
pub(crate) enum Item<'b> {
    /// A template (the router's, or octoflow's own).
    Template(&'b Template),
    /// An IPFIX template withdrawal: template id, options template or not.
    Withdrawal(u16, bool),
    /// A record's bytes as the router sent them, under its template id.
    Raw(u16, &'b [u8]),
    /// A record to encode with one of octoflow's templates.
    Own(&'b Template, &'b FlowRecord),
    /// octoflow's sampling options data record.
    Sampling([u8; 9]),
}

/// Whether the receiver's copy of a template is this one: usually the very same
/// `Arc` from the template cache, so the field comparison is rarely needed.
pub(crate) fn same(a: &Arc<Template>, b: &Arc<Template>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}

/// Pack `items` into as many v9/IPFIX messages as they need, each numbered from
/// `sequence` (which advances per message: [`Sequence::message`]). Returns the
/// number of messages and the number of data records written.
pub(crate) fn pack(
    out: &mut Out,
    max: usize,
    dialect: Dialect,
    mut h: MessageHeader,
    sequence: &mut Sequence,
    items: &[Item<'_>],
    st: &mut EncodeStats,
) -> (u32, u64) {
    let mut i = 0;
    let mut messages = 0;
    let mut written = 0u64;
    while i < items.len() {
        h.sequence = sequence.current();
        let start = out.begin(max);
        let Ok(mut w) = MessageWriter::new(&mut out.buf[start..start + max], dialect, h) else {
            out.abort(start);
            break;
        };
        let first = i;
        while i < items.len() {
            let r = match &items[i] {
                Item::Template(t) => w.add_template(t),
                Item::Withdrawal(id, options) => w.add_withdrawal(*id, *options),
                Item::Raw(id, b) => w.add_raw(*id, b),
                Item::Own(t, r) => w.add_record(t, r),
                Item::Sampling(b) => w.add_raw(OWN_SAMPLING_TEMPLATE_ID, b),
            };
            match r {
                Ok(()) => i += 1,
                Err(EncodeError::Unconvertible(_)) => {
                    st.unconvertible += 1;
                    i += 1
                }
                Err(_) => break,
            }
        }
        if w.is_empty() {
            out.abort(start);
            if i == first {
                st.too_large += 1;
                i += 1;
            }
            continue;
        }
        let dr = w.data_records();
        let len = w.finish();
        out.commit(start, len);
        messages += 1;
        written += dr as u64;
        sequence.message(dialect, dr);
    }
    (messages, written)
}
