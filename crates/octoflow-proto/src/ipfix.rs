//! IPFIX (RFC 7011): a 16-byte message header, then sets — templates (id 2, §3.4.1),
//! options templates (id 3, §3.4.2) and data (id ≥ 256, §3.3.2). Enterprise-specific
//! fields (§3.2) and variable-length fields (§7) are kept, never dropped. Templates
//! are scoped per (exporter address, observation domain) and can be withdrawn (§8.1).

use std::net::IpAddr;

use crate::batch::{Batch, Version};
use crate::data_set;
use crate::error::DecodeError;
use crate::template::{Dialect, Template, TimeBase};
use crate::template_cache::{Held, ScopeKey, TemplateCache};
use crate::wire::{need, u16_at, u32_at};

pub const HEADER_LEN: usize = 16;
pub const TEMPLATE_SET_ID: u16 = 2;
pub const OPTIONS_TEMPLATE_SET_ID: u16 = 3;

pub(crate) fn decode(
    cache: &mut TemplateCache,
    released: &mut Vec<Held>,
    exporter: IpAddr,
    d: &[u8],
    now_ms: u64,
    out: &mut Batch,
) -> Result<(), DecodeError> {
    need(d, HEADER_LEN, "IPFIX message header")?;
    let len = u16_at(d, 2) as usize;
    if len < HEADER_LEN || len > d.len() {
        return Err(DecodeError::BadMessageLength {
            declared: len,
            actual: d.len(),
        });
    }
    let d = &d[..len];
    let export_secs = u32_at(d, 4);
    let seq = u32_at(d, 8);
    let domain = u32_at(d, 12);
    out.domain = domain;
    out.sequence = seq;
    out.export_ms = export_secs as u64 * 1000;
    let key = ScopeKey {
        exporter,
        version: Version::Ipfix.scope_version(),
        domain,
    };
    let tb = TimeBase {
        export_ms: out.export_ms,
        uptime_ms: None,
        system_init_ms: None,
    };
    let mut pos = HEADER_LEN;
    let mut data_records = 0u32;
    let mut all_known = true;
    // Each set is decoded on its own: a malformed one is skipped and counted, the
    // others decode. A set length that breaks the framing rejects the message.
    while d.len() - pos >= 4 {
        let id = u16_at(d, pos);
        let slen = u16_at(d, pos + 2) as usize;
        if slen < 4 {
            return Err(DecodeError::SetLengthTooShort(slen as u16));
        }
        if slen > d.len() - pos {
            return Err(DecodeError::LengthPastEnd {
                what: "set",
                len: slen,
                remaining: d.len() - pos,
            });
        }
        let body = &d[pos + 4..pos + slen];
        match id {
            TEMPLATE_SET_ID | OPTIONS_TEMPLATE_SET_ID => {
                let r = parse_templates(body, id == OPTIONS_TEMPLATE_SET_ID, |t| match t {
                    Parsed::Template(t) => data_set::learn(cache, key, t, now_ms, out),
                    Parsed::Withdraw(tid) => {
                        // §8.1: a template id withdraws that template; the set's own
                        // id (2 in a template set, 3 in an options template set)
                        // withdraws every template of the set's kind. Any other id
                        // below 256 names no template (§3.4.1): nothing to withdraw.
                        let which = match tid {
                            256.. => Some(tid),
                            _ if tid == id => None,
                            _ => return Ok(()),
                        };
                        cache.withdraw(&key, which, id == OPTIONS_TEMPLATE_SET_ID);
                        out.withdrawn.push(tid);
                        Ok(())
                    }
                });
                // Templates learnt before a malformed record stay learnt.
                data_set::skip_malformed(r, out)?;
                data_set::release(cache, key, released, now_ms, out)?;
            }
            // §3.3.2: 0..=255 other than 2 and 3 are not data sets (0, 1: NetFlow v9's).
            0..=255 => out.sets_skipped.push(DecodeError::ReservedSetId(id)),
            _ => {
                let r = data_set::decode(cache, key, id, body, pos + 4, false, &tb, now_ms, out);
                match data_set::skip_malformed(r, out)? {
                    Some(Some(n)) => data_records += n,
                    // Held for its template, or skipped: its record count is unknown.
                    Some(None) | None => all_known = false,
                }
            }
        }
        pos += slen;
    }
    // §3.1: the sequence number counts data records sent before this message. With
    // sets still waiting for their template we cannot tell how many this one had.
    let scope = cache.scope_mut(key)?;
    out.sequence_gap = scope.check_sequence(seq, data_records);
    if !all_known {
        scope.next_seq = None;
    }
    Ok(())
}

enum Parsed {
    Template(Template),
    Withdraw(u16),
}

fn parse_templates(
    mut b: &[u8],
    options: bool,
    mut f: impl FnMut(Parsed) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let hdr = if options { 6 } else { 4 };
    while b.len() >= 4 {
        let id = u16_at(b, 0);
        let n = u16_at(b, 2) as usize;
        if n == 0 {
            if id == 0 {
                return Ok(()); // padding
            }
            f(Parsed::Withdraw(id))?;
            b = &b[4..];
            continue;
        }
        if b.len() < hdr {
            return Err(DecodeError::LengthPastEnd {
                what: "options template header",
                len: hdr,
                remaining: b.len(),
            });
        }
        let scope = if options { u16_at(b, 4) } else { 0 };
        if options && scope == 0 {
            return Err(DecodeError::BadScopeCount { template_id: id });
        }
        let (fields, used) = data_set::parse_fields(&b[hdr..], n, true)?;
        f(Parsed::Template(Template::new(
            id,
            Dialect::Ipfix,
            scope,
            fields,
        )?))?;
        b = &b[hdr + used..];
    }
    Ok(())
}
