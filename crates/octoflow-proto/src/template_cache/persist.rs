//! The cache file: templates, sampling (the default interval and the interval per
//! sampler id) and system init times per scope, so a restart does not wait for
//! routers to resend templates. Not held data, not sequence state.
//!
//! Format `OFTCACH2` (big-endian): magic, scope count (u32), then per scope: address
//! family (4/6) and address, version (u16), domain (u32), system init ms (u64,
//! `u64::MAX` = none), last seen ms (u64), default interval (u32), sampler count
//! (u8) and (sampler id u32, interval u32) each, template count (u16), then per
//! template: id (u16), dialect (u8: 9/10), scope field count (u16), seen ms (u64),
//! field count (u16) and (id u16, length u16, enterprise u32) each.
//!
//! Files of the first format, `OFTCACH1` (no last seen, no sampler ids), are still
//! read: their scopes count as seen when their newest template was.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{CacheStats, Limits, ScopeKey, TemplateCache};
use crate::error::DecodeError;
use crate::template::{Dialect, FieldSpec, Template};
use crate::wire::{need, u16_at, u32_at, u64_at};

const MAGIC_V1: &[u8; 8] = b"OFTCACH1";
const MAGIC: &[u8; 8] = b"OFTCACH2";

impl TemplateCache {
    /// Serialize what the module doc lists. Scopes with nothing worth keeping
    /// (no template, no sampling, no init time) are left out.
    pub fn save(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(64 + self.template_count() * 128);
        o.extend_from_slice(MAGIC);
        let mut keys: Vec<_> = self
            .scopes
            .iter()
            .filter(|(_, s)| {
                !s.templates.is_empty()
                    || s.sampling.default_interval != 0
                    || !s.sampling.by_id.is_empty()
                    || s.system_init_ms.is_some()
            })
            .map(|(k, _)| k)
            .collect();
        keys.sort_by_key(|k| (k.exporter, k.version, k.domain));
        o.extend_from_slice(&(keys.len() as u32).to_be_bytes());
        for k in keys {
            let s = &self.scopes[k];
            match k.exporter {
                IpAddr::V4(a) => {
                    o.push(4);
                    o.extend_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    o.push(6);
                    o.extend_from_slice(&a.octets());
                }
            }
            o.extend_from_slice(&k.version.to_be_bytes());
            o.extend_from_slice(&k.domain.to_be_bytes());
            o.extend_from_slice(&s.system_init_ms.map_or(u64::MAX, |v| v).to_be_bytes());
            o.extend_from_slice(&s.last_seen_ms.to_be_bytes());
            o.extend_from_slice(&s.sampling.default_interval.to_be_bytes());
            let samplers = &s.sampling.by_id[..s.sampling.by_id.len().min(255)];
            o.push(samplers.len() as u8);
            for (id, iv) in samplers {
                o.extend_from_slice(&id.to_be_bytes());
                o.extend_from_slice(&iv.to_be_bytes());
            }
            o.extend_from_slice(&(s.templates.len() as u16).to_be_bytes());
            let mut ids: Vec<_> = s.templates.keys().copied().collect();
            ids.sort_unstable();
            for id in ids {
                let e = &s.templates[&id];
                let t = &e.template;
                o.extend_from_slice(&t.id.to_be_bytes());
                o.push(match t.dialect {
                    Dialect::V9 => 9,
                    Dialect::Ipfix => 10,
                });
                o.extend_from_slice(&t.scope_field_count.to_be_bytes());
                o.extend_from_slice(&e.seen_ms.to_be_bytes());
                o.extend_from_slice(&(t.fields.len() as u16).to_be_bytes());
                for f in &t.fields {
                    o.extend_from_slice(&f.id.to_be_bytes());
                    o.extend_from_slice(&f.len.to_be_bytes());
                    o.extend_from_slice(&f.enterprise.to_be_bytes());
                }
            }
        }
        o
    }

    /// Rebuild a cache from [`TemplateCache::save`] output (either format). Every
    /// template is validated again and the limits apply; a damaged file is an
    /// error, never a panic.
    pub fn restore(bytes: &[u8], limits: Limits) -> Result<TemplateCache, DecodeError> {
        let mut c = TemplateCache::new(limits);
        need(bytes, MAGIC.len() + 4, "template cache file")?;
        let v2 = match &bytes[..MAGIC.len()] {
            m if m == MAGIC => true,
            m if m == MAGIC_V1 => false,
            _ => return Err(DecodeError::UnknownVersion(u32_at(bytes, 0))),
        };
        let mut p = MAGIC.len();
        let nscopes = u32_at(bytes, p) as usize;
        p += 4;
        let mut newest = 0u64;
        for _ in 0..nscopes {
            let b = &bytes[p..];
            need(b, 1, "cache scope")?;
            let (exporter, alen) = match b[0] {
                4 => {
                    need(b, 5, "cache scope")?;
                    (IpAddr::V4(Ipv4Addr::new(b[1], b[2], b[3], b[4])), 4)
                }
                6 => {
                    need(b, 17, "cache scope")?;
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&b[1..17]);
                    (IpAddr::V6(Ipv6Addr::from(a)), 16)
                }
                t => return Err(DecodeError::BadAddressType(t as u32)),
            };
            p += 1 + alen;
            let b = &bytes[p..];
            need(b, 2 + 4 + 8, "cache scope")?;
            let key = ScopeKey {
                exporter,
                version: u16_at(b, 0),
                domain: u32_at(b, 2),
            };
            let init = u64_at(b, 6);
            p += 14;
            let mut last_seen = 0;
            if v2 {
                need(&bytes[p..], 8, "cache scope")?;
                last_seen = u64_at(bytes, p);
                p += 8;
            }
            need(&bytes[p..], 4, "cache scope")?;
            let interval = u32_at(bytes, p);
            p += 4;
            let mut by_id = Vec::new();
            if v2 {
                need(&bytes[p..], 1, "cache scope")?;
                let n = bytes[p] as usize;
                p += 1;
                need(&bytes[p..], n * 8, "cache samplers")?;
                for i in 0..n {
                    by_id.push((u32_at(bytes, p + i * 8), u32_at(bytes, p + i * 8 + 4)));
                }
                p += n * 8;
            }
            need(&bytes[p..], 2, "cache scope")?;
            let ntpl = u16_at(bytes, p) as usize;
            p += 2;
            c.now_ms = last_seen;
            let scope = c.scope_mut(key)?;
            scope.system_init_ms = (init != u64::MAX).then_some(init);
            scope.sampling.default_interval = interval;
            scope.sampling.by_id = by_id;
            for _ in 0..ntpl {
                let b = &bytes[p..];
                need(b, 15, "cached template")?;
                let id = u16_at(b, 0);
                let dialect = if b[2] == 9 {
                    Dialect::V9
                } else {
                    Dialect::Ipfix
                };
                let scope_count = u16_at(b, 3);
                let seen = u64_at(b, 5);
                let nf = u16_at(b, 13) as usize;
                need(b, 15 + nf * 8, "cached template fields")?;
                let fields = (0..nf)
                    .map(|i| {
                        let q = 15 + i * 8;
                        FieldSpec {
                            id: u16_at(b, q),
                            len: u16_at(b, q + 2),
                            enterprise: u32_at(b, q + 4),
                        }
                    })
                    .collect();
                p += 15 + nf * 8;
                let t = Template::new(id, dialect, scope_count, fields)?;
                c.learn(key, t, seen)?;
                last_seen = last_seen.max(seen);
            }
            if let Some(s) = c.scopes.get_mut(&key) {
                s.last_seen_ms = s.last_seen_ms.max(last_seen);
            }
            newest = newest.max(last_seen);
        }
        c.now_ms = newest;
        c.stats = CacheStats::default();
        c.evicted_by_device.clear();
        Ok(c)
    }
}
