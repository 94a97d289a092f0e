//! v9→v9 and IPFIX→IPFIX: the router's templates and the tenant's records byte for
//! byte, in new messages that keep the router's export time and sysUptime (so
//! record times stay right), under the receiver's own sequence numbers.
//!
//! Records are held to fill messages: only input datagrams whose header times are
//! identical share one, up to [`HOLD_MESSAGES`] messages' worth, then packed full.

use std::collections::HashMap;
use std::sync::Arc;

use octoflow_proto::{ipfix, Batch, Dialect, MessageHeader, Template, Version};

use crate::pack::{pack, same, Item};
use crate::{EncodeStats, Encoder, Origin, Out, Select};

/// How many messages' worth of same-version records a stream holds before it packs
/// and sends them (or sooner: another header, or the exporter's flush timer).
const HOLD_MESSAGES: usize = 8;

/// Same-version (v9→v9, IPFIX→IPFIX) items held to share output messages. Only
/// input datagrams whose header times are identical share one, so every record
/// keeps exactly the time base it was exported with.
#[derive(Debug, Default)]
pub(crate) struct Open {
    /// (export second, sysUptime ms) of the router headers the items came under.
    header: Option<(u64, u32)>,
    export_ms: u64,
    items: Vec<OwnedItem>,
    bytes: Vec<u8>,
    flows: u64,
    options: u64,
    size: usize,
}

#[derive(Debug)]
pub(crate) enum OwnedItem {
    Template(Arc<Template>),
    Withdrawal(u16, bool),
    Raw(u16, usize, usize),
}

impl Open {
    fn template(&mut self, t: &Arc<Template>) {
        self.size += t.wire_len() + 4;
        self.items.push(OwnedItem::Template(t.clone()));
    }
    fn withdrawal(&mut self, id: u16, options: bool) {
        // At worst in a set of its own.
        self.size += 4 + 7;
        self.items.push(OwnedItem::Withdrawal(id, options));
    }
    /// Give the receiver `t` (not known to it, or changed). Over a session a
    /// changed definition of an id it has is withdrawn first (RFC 7011 §8.1: a
    /// template id is not reused before its withdrawal).
    fn give(
        &mut self,
        sent: &mut HashMap<u16, Arc<Template>>,
        forgotten: &mut HashMap<u16, bool>,
        t: &Arc<Template>,
        withdraw: bool,
    ) {
        if let Some(old) = sent.insert(t.id, t.clone()) {
            if withdraw && !same(&old, t) {
                self.withdrawal(t.id, old.is_options());
            }
        } else if let Some(options) = forgotten.remove(&t.id) {
            // Given once and forgotten since: its definition may differ.
            if withdraw {
                self.withdrawal(t.id, options);
            }
        }
        self.template(t);
    }
    fn raw(&mut self, id: u16, b: &[u8]) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(b);
        self.size += b.len();
        // A new set: its header and, at worst, 3 bytes of padding.
        if !matches!(self.items.last(), Some(OwnedItem::Raw(last, _, _)) if *last == id) {
            self.size += 7;
        }
        self.items.push(OwnedItem::Raw(id, at, b.len()));
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Empty, keeping the buffers' capacity.
    fn reset(&mut self) {
        self.header = None;
        self.export_ms = 0;
        self.items.clear();
        self.bytes.clear();
        self.flows = 0;
        self.options = 0;
        self.size = 0;
    }
}

impl Encoder {
    /// v9→v9, IPFIX→IPFIX: the router's templates and the tenant's records byte for
    /// byte, held until the message is full, a datagram with another header comes,
    /// or [`Encoder::flush`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn same_version(
        &mut self,
        datagram: &[u8],
        batch: &Batch,
        si: usize,
        select: Select<'_>,
        now_ms: u64,
        out: &mut Out,
        st: &mut EncodeStats,
    ) {
        let fwd_opts = self.cfg.forward_options;
        let max = self.cfg.max_datagram;
        let due = self.templates_due(si, now_ms);
        let hdr = (
            batch.export_ms / 1000,
            if batch.version == Version::V9 {
                batch.uptime_ms
            } else {
                0
            },
        );
        if self.streams.all[si].open.header.is_some_and(|h| h != hdr) {
            self.emit_open(si, out, st);
        }
        let withdraw = self.cfg.withdrawals && batch.version == Version::Ipfix;
        let s = &mut self.streams.all[si];
        // This datagram's part, collected first so it can go into the held message
        // or, when it would overflow it, start the next one.
        let mut new = std::mem::take(&mut self.scratch);
        new.reset();
        // The router's withdrawals (RFC 7011 §8.1), of what this receiver was given:
        // it forgets them, and we stop refreshing them to it.
        for &id in &batch.withdrawn {
            let options = match id {
                ipfix::TEMPLATE_SET_ID | ipfix::OPTIONS_TEMPLATE_SET_ID => {
                    let options = id == ipfix::OPTIONS_TEMPLATE_SET_ID;
                    let had = s.sent.len() + s.forgotten.len();
                    s.sent.retain(|_, t| t.is_options() != options);
                    s.forgotten.retain(|_, &mut o| o != options);
                    (s.sent.len() + s.forgotten.len() < had).then_some(options)
                }
                _ => s
                    .sent
                    .remove(&id)
                    .map(|t| t.is_options())
                    .or_else(|| s.forgotten.remove(&id)),
            };
            if let Some(options) = options.filter(|_| withdraw) {
                new.withdrawal(id, options);
            }
        }
        if due {
            // The schedule's refresh: everything this receiver has been given.
            for t in s.sent.values() {
                // Not what the router redefines now: that follows, as a change.
                let redefined = batch.templates.iter().any(|b| b.id == t.id && !same(b, t));
                if (fwd_opts || !t.is_options()) && !redefined {
                    new.template(t);
                }
            }
            s.templates_sent(now_ms);
        }
        // Templates the router sent now: its own refresh, or a change, of what this
        // receiver has. A template it does not have is given with the first record
        // (or options data) of it that the receiver gets, below: the router's
        // templates for data this tenant never gets cost the receiver nothing, and
        // a template flood costs this output nothing.
        for t in &batch.templates {
            if !fwd_opts && t.is_options() {
                continue;
            }
            match s.sent.get(&t.id) {
                None => {}
                // Already in this message when the schedule's refresh is due.
                Some(x) if same(x, t) && !due => new.template(t),
                Some(x) if same(x, t) => {}
                Some(_) => new.give(&mut s.sent, &mut s.forgotten, t, withdraw),
            }
        }
        if fwd_opts {
            for opt in &batch.options {
                if s.sent
                    .get(&opt.template.id)
                    .is_none_or(|x| !same(x, &opt.template))
                {
                    new.give(&mut s.sent, &mut s.forgotten, &opt.template, withdraw);
                }
                new.raw(opt.template.id, batch.bytes(datagram, opt.raw));
                new.options += 1;
            }
        }
        for set in batch.sets.iter().filter(|x| !x.options) {
            let mut announced = false;
            for i in set.first..set.first + set.count {
                if !select.keep(i) {
                    continue;
                }
                if !announced {
                    if s.sent
                        .get(&set.template.id)
                        .is_none_or(|x| !same(x, &set.template))
                    {
                        new.give(&mut s.sent, &mut s.forgotten, &set.template, withdraw);
                    }
                    announced = true;
                }
                new.raw(set.template.id, batch.bytes(datagram, batch.raw[i]));
                new.flows += 1;
                st.matched += 1;
            }
        }
        if new.is_empty() {
            self.scratch = new;
            return;
        }
        let o = &mut s.open;
        if o.header.is_none() {
            o.header = Some(hdr);
            o.export_ms = batch.export_ms;
        }
        let base = o.bytes.len();
        o.bytes.extend_from_slice(&new.bytes);
        for item in new.items.drain(..) {
            o.items.push(match item {
                OwnedItem::Raw(id, at, len) => OwnedItem::Raw(id, base + at, len),
                t => t,
            });
        }
        o.size += new.size;
        o.flows += new.flows;
        o.options += new.options;
        // Up to HOLD_MESSAGES messages' worth is held, then packed into full
        // messages (header and set overhead: 20 bytes of header, a few set
        // headers). All but the last come out the same size when the records are,
        // so they leave in one GSO send.
        let full = o.size + (24 + 64) * HOLD_MESSAGES >= max * HOLD_MESSAGES;
        self.scratch = new;
        if full {
            self.emit_open(si, out, st);
        }
    }

    /// Send a stream's held same-version items.
    pub(crate) fn emit_open(&mut self, si: usize, out: &mut Out, st: &mut EncodeStats) {
        let max = self.cfg.max_datagram;
        let Some(s) = self.streams.all.get_mut(si) else {
            return;
        };
        let o = std::mem::take(&mut s.open);
        let Some((_, uptime)) = o.header else {
            return;
        };
        out.from(Origin::Router(s.source));
        let items: Vec<Item<'_>> = o
            .items
            .iter()
            .map(|i| match i {
                OwnedItem::Template(t) => Item::Template(t),
                OwnedItem::Withdrawal(id, options) => Item::Withdrawal(*id, *options),
                OwnedItem::Raw(id, at, len) => Item::Raw(*id, &o.bytes[*at..at + len]),
            })
            .collect();
        let dialect = if s.key.version == 9 {
            Dialect::V9
        } else {
            Dialect::Ipfix
        };
        let h = MessageHeader {
            unix_ms: o.export_ms,
            sys_uptime_ms: uptime,
            sequence: s.sequence.current(),
            domain: s.out_domain,
        };
        let (n, written) = pack(out, max, dialect, h, &mut s.sequence, &items, st);
        // Options data records count in IPFIX sequence numbers but are not flows.
        st.sent += written.saturating_sub(o.options);
        s.datagrams_sent(n);
        // Keep the buffers' capacity for the next message.
        let (mut items_buf, mut bytes_buf) = (o.items, o.bytes);
        items_buf.clear();
        bytes_buf.clear();
        s.open.items = items_buf;
        s.open.bytes = bytes_buf;
    }
}
