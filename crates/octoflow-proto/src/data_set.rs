//! What NetFlow v9 and IPFIX share: decoding a data set with a learnt template
//! (RFC 3954 §5.3, RFC 7011 §3.3.2), holding sets whose template is not known yet,
//! and decoding held sets once it arrives.

use crate::batch::{Batch, OptionsRecord, RawRef, SetRef};
use crate::error::DecodeError;
use crate::record::FlowRecord;
use crate::template::{Template, TimeBase};
use crate::template_cache::{Held, ScopeKey, TemplateCache};

/// Decode the data set `body` (set header stripped) found at `offset` in the source
/// (the datagram, or `out.held` when `held`). Returns the data records decoded, or
/// `None` when the template is unknown and the set was held.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode(
    cache: &mut TemplateCache,
    key: ScopeKey,
    template_id: u16,
    body: &[u8],
    offset: usize,
    held: bool,
    tb: &TimeBase,
    now_ms: u64,
    out: &mut Batch,
) -> Result<Option<u32>, DecodeError> {
    let Some(t) = cache.template(&key, template_id, now_ms) else {
        if !held {
            cache.hold(key, template_id, body, *tb, now_ms);
            out.template_misses += 1;
        }
        return Ok(None);
    };
    let mut tb = *tb;
    let scope = cache.scope_mut(key)?;
    if tb.uptime_ms.is_none() {
        tb.system_init_ms = scope.system_init_ms;
    }
    let mut pos = 0usize;
    let mut n = 0u32;
    let first = if t.is_options() {
        out.options.len()
    } else {
        out.records.len()
    };
    // RFC 7011 §3.3.1 / RFC 3954 §5.3: trailing bytes shorter than a record are padding.
    while let Some(len) = t.record_len(&body[pos..]) {
        if len == 0 {
            break;
        }
        let rec = &body[pos..pos + len];
        let raw = RawRef::new(offset + pos, len, held);
        if t.is_options() {
            let info = t.decode_options(rec);
            scope.learn_options(&info);
            out.options.push(OptionsRecord {
                template: t.clone(),
                raw,
            });
        } else {
            // Decoded in place: a flow record is too large to copy around per record.
            out.records.push(FlowRecord {
                exporter: key.exporter,
                domain: key.domain,
                ..FlowRecord::default()
            });
            if let Some(r) = out.records.last_mut() {
                t.decode_data(rec, &tb, &scope.sampling, r);
            }
            out.raw.push(raw);
        }
        pos += len;
        n += 1;
    }
    if n > 0 {
        let count = if t.is_options() {
            out.options.len()
        } else {
            out.records.len()
        } - first;
        out.sets.push(SetRef {
            template: t.clone(),
            first,
            count,
            options: t.is_options(),
        });
    }
    Ok(Some(n))
}

/// Decode the sets `key` held that its templates now decode; their bytes move into
/// `out.held`. `released` is scratch space, empty on return whatever happens, so a
/// set is only ever decoded in the scope that held it.
pub(crate) fn release(
    cache: &mut TemplateCache,
    key: ScopeKey,
    released: &mut Vec<Held>,
    now_ms: u64,
    out: &mut Batch,
) -> Result<(), DecodeError> {
    released.clear();
    cache.take_released(&key, released);
    for h in released.drain(..) {
        let off = out.held.len();
        out.held.extend_from_slice(&h.data);
        let body = std::mem::take(&mut out.held);
        let r = decode(
            cache,
            key,
            h.template_id,
            &body[off..],
            off,
            true,
            &h.time,
            now_ms,
            out,
        );
        out.held = body;
        r?;
    }
    Ok(())
}

/// Parse the fields of a template record: `n` (id, len) pairs, IPFIX enterprise
/// numbers when `ipfix` (RFC 7011 §3.2). Returns fields and bytes consumed.
pub(crate) fn parse_fields(
    b: &[u8],
    n: usize,
    ipfix: bool,
) -> Result<(Vec<crate::template::FieldSpec>, usize), DecodeError> {
    let mut fields = Vec::with_capacity(n.min(b.len() / 4));
    let mut p = 0usize;
    for _ in 0..n {
        if b.len() < p + 4 {
            return Err(DecodeError::LengthPastEnd {
                what: "template field",
                len: 4,
                remaining: b.len() - p,
            });
        }
        let raw_id = crate::wire::u16_at(b, p);
        let len = crate::wire::u16_at(b, p + 2);
        p += 4;
        let (id, enterprise) = if ipfix && raw_id & 0x8000 != 0 {
            if b.len() < p + 4 {
                return Err(DecodeError::LengthPastEnd {
                    what: "enterprise number",
                    len: 4,
                    remaining: b.len() - p,
                });
            }
            let e = crate::wire::u32_at(b, p);
            p += 4;
            (raw_id & 0x7fff, e)
        } else {
            (raw_id, 0)
        };
        fields.push(crate::template::FieldSpec {
            id,
            len,
            enterprise,
        });
    }
    Ok((fields, p))
}

/// Learn a template, noting it in the batch and collecting held sets it unlocks.
pub(crate) fn learn(
    cache: &mut TemplateCache,
    key: ScopeKey,
    t: Template,
    now_ms: u64,
    out: &mut Batch,
) -> Result<(), DecodeError> {
    let arc = cache.learn(key, t, now_ms)?;
    out.templates.push(arc);
    Ok(())
}
