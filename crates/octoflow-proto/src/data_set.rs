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
    if t.fixed_len.is_none() {
        check_padding(&t, body)?;
    }
    let mut pos = 0usize;
    let mut n = 0u32;
    let first = if t.is_options() {
        out.options.len()
    } else {
        out.records.len()
    };
    // RFC 7011 §3.3.1 / RFC 3954 §5.3: trailing bytes shorter than a record are
    // padding (checked above for variable-length templates; for fixed-length ones
    // whatever cannot hold a record is shorter than one).
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

/// RFC 7011 §3.3.1: "The padding length MUST be shorter than any allowable record
/// in this Set." Bytes left after the last whole record of a variable-length
/// template's set are padding only when fewer than its shortest record; otherwise
/// the set is malformed, and refused before any of its records is decoded.
fn check_padding(t: &Template, body: &[u8]) -> Result<(), DecodeError> {
    let mut pos = 0usize;
    while pos < body.len() {
        match t.record_len(&body[pos..]) {
            Some(0) => return Ok(()),
            Some(l) => pos += l,
            None if body.len() - pos < t.min_record_len => return Ok(()),
            None => {
                return Err(DecodeError::TruncatedRecord {
                    template_id: t.id,
                    remaining: body.len() - pos,
                })
            }
        }
    }
    Ok(())
}

/// Settle one set's result: a malformed set is skipped and counted in
/// [`Batch::sets_skipped`] so the datagram's other sets still decode; only a full
/// template cache ends the datagram.
pub(crate) fn skip_malformed<T>(
    r: Result<T, DecodeError>,
    out: &mut Batch,
) -> Result<Option<T>, DecodeError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(DecodeError::TooManyScopes) => Err(DecodeError::TooManyScopes),
        Err(e) => {
            out.sets_skipped.push(e);
            Ok(None)
        }
    }
}

/// Decode the sets `key` held that its templates now decode; their bytes move into
/// `out.held`; a malformed one is skipped and counted. `released` is scratch space,
/// empty on return whatever happens, so a set is only ever decoded in the scope
/// that held it.
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
        skip_malformed(r, out)?;
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
