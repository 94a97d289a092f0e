//! NetFlow v9 (RFC 3954): a 20-byte header, then flowsets — templates (id 0, §5.2),
//! options templates (id 1, §6.1) and data (id ≥ 256, §5.3), each padded to 4 bytes.
//! Templates are scoped per (exporter address, source id) (§5.1).

use std::net::IpAddr;

use crate::batch::{Batch, Version};
use crate::data_set;
use crate::error::DecodeError;
use crate::template::{Dialect, Template, TimeBase};
use crate::template_cache::{Held, ScopeKey, TemplateCache};
use crate::wire::{need, u16_at, u32_at};

pub const HEADER_LEN: usize = 20;
pub const TEMPLATE_SET_ID: u16 = 0;
pub const OPTIONS_TEMPLATE_SET_ID: u16 = 1;

pub(crate) fn decode(
    cache: &mut TemplateCache,
    released: &mut Vec<Held>,
    exporter: IpAddr,
    d: &[u8],
    now_ms: u64,
    out: &mut Batch,
) -> Result<(), DecodeError> {
    need(d, HEADER_LEN, "NetFlow v9 header")?;
    let uptime = u32_at(d, 4);
    let unix_secs = u32_at(d, 8);
    let seq = u32_at(d, 12);
    let source_id = u32_at(d, 16);
    out.domain = source_id;
    out.sequence = seq;
    out.uptime_ms = uptime;
    out.export_ms = unix_secs as u64 * 1000;
    let key = ScopeKey {
        exporter,
        version: Version::V9.scope_version(),
        domain: source_id,
    };
    // §5.1: the sequence number counts export packets, whatever they carry.
    out.sequence_gap = cache.scope_mut(key)?.check_sequence(seq, 1);
    let tb = TimeBase {
        export_ms: out.export_ms,
        uptime_ms: Some(uptime),
        system_init_ms: None,
    };
    let mut pos = HEADER_LEN;
    // Each flowset is decoded on its own: a malformed one is skipped and counted,
    // the others decode. A flowset length that breaks the framing rejects the packet.
    // Bytes after the last flowset shorter than a flowset header, or all zeros
    // (Palo Alto 8.1 pads packets so), are not a flowset.
    while d.len() - pos >= 4 && d[pos..].iter().any(|&b| b != 0) {
        let id = u16_at(d, pos);
        let len = u16_at(d, pos + 2) as usize;
        if len < 4 {
            return Err(DecodeError::SetLengthTooShort(len as u16));
        }
        if len > d.len() - pos {
            return Err(DecodeError::LengthPastEnd {
                what: "flowset",
                len,
                remaining: d.len() - pos,
            });
        }
        let body = &d[pos + 4..pos + len];
        match id {
            TEMPLATE_SET_ID | OPTIONS_TEMPLATE_SET_ID => {
                let r = parse_templates(body, id == OPTIONS_TEMPLATE_SET_ID, |t| {
                    data_set::learn(cache, key, t, now_ms, out)
                });
                // Templates learnt before a malformed record stay learnt.
                data_set::skip_malformed(r, out)?;
                data_set::release(cache, key, released, now_ms, out)?;
            }
            2..=255 => {} // reserved (§5.1): skipped by its length
            _ => {
                let r = data_set::decode(cache, key, id, body, pos + 4, false, &tb, now_ms, out);
                data_set::skip_malformed(r, out)?;
            }
        }
        pos += len;
    }
    Ok(())
}

/// Parse the template records of a template (or options template) flowset body.
fn parse_templates(
    mut b: &[u8],
    options: bool,
    mut learn: impl FnMut(Template) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    loop {
        if options {
            // §6.1: template id, option scope length, option length (bytes), fields.
            // The flowset is padded at its end only, so what cannot hold a template
            // header, or is all zeros, is padding.
            if b.len() < 6 || b.iter().all(|&x| x == 0) {
                return Ok(()); // padding
            }
            let id = u16_at(b, 0);
            let scope_len = u16_at(b, 2) as usize;
            let opt_len = u16_at(b, 4) as usize;
            if scope_len % 4 != 0 || opt_len % 4 != 0 || scope_len == 0 {
                return Err(DecodeError::BadScopeCount { template_id: id });
            }
            let n = (scope_len + opt_len) / 4;
            let (fields, used) = data_set::parse_fields(&b[6..], n, false)?;
            learn(Template::new(
                id,
                Dialect::V9,
                (scope_len / 4) as u16,
                fields,
            )?)?;
            // Options template records follow each other unpadded (§6.1: "Padding"
            // is a field of the flowset, after its last record).
            b = &b[6 + used..];
        } else {
            if b.len() < 4 {
                return Ok(()); // padding
            }
            let id = u16_at(b, 0);
            let n = u16_at(b, 2) as usize;
            if n == 0 {
                if id == 0 {
                    return Ok(()); // zero padding
                }
                return Err(DecodeError::ZeroFieldCount { template_id: id });
            }
            let (fields, used) = data_set::parse_fields(&b[4..], n, false)?;
            learn(Template::new(id, Dialect::V9, 0, fields)?)?;
            b = &b[4 + used..];
        }
    }
}
