//! Per-exporter state: templates scoped per (exporter address, version, source id /
//! observation domain) — RFC 3954 §5.1 and RFC 7011 §3.1 — plus sampling learnt from
//! options data, sequence tracking, and data held while its template is unknown.
//!
//! Everything is bounded: scopes, templates per scope, held data (count, bytes, age).
//! Time comes from the caller (`now_ms`); nothing here reads a clock. The cache saves
//! to and restores from bytes ([`TemplateCache::save`], [`TemplateCache::restore`]) so a
//! restart does not wait for routers to resend templates.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::error::DecodeError;
use crate::template::{Dialect, FieldSpec, OptionsInfo, SamplingState, Template, TimeBase};
use crate::wire::{need, u16_at, u32_at, u64_at};

/// Which exporter state a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScopeKey {
    pub exporter: IpAddr,
    /// Export version: 5, 9, 10, or 5 + 0x100 for sFlow v5 (kept apart from NetFlow v5).
    pub version: u16,
    /// v9 source id, IPFIX observation domain, v5 engine, sFlow sub-agent.
    pub domain: u32,
}

/// The bounds of the cache.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_scopes: usize,
    pub max_templates_per_scope: usize,
    /// A template not refreshed for this long is forgotten (0 = never).
    pub template_timeout_ms: u64,
    /// Data sets held per scope while their template is unknown.
    pub max_held_per_scope: usize,
    /// Bytes held across all scopes.
    pub max_held_bytes: usize,
    /// Held data older than this is dropped.
    pub max_held_age_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_scopes: 4096,
            max_templates_per_scope: 512,
            template_timeout_ms: 3 * 3600 * 1000,
            max_held_per_scope: 64,
            max_held_bytes: 4 << 20,
            max_held_age_ms: 30_000,
        }
    }
}

/// Counters of what the cache did; monotonic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub templates_learnt: u64,
    pub templates_withdrawn: u64,
    pub templates_expired: u64,
    /// Templates refused because a scope was full.
    pub template_overflow: u64,
    /// Exporter scopes refused because the cache was full.
    pub scope_overflow: u64,
    /// Data sets held for a template not yet known.
    pub held: u64,
    /// Held sets decoded once their template arrived.
    pub released: u64,
    /// Held sets dropped (too old, too many, too many bytes).
    pub held_dropped: u64,
}

/// A data set waiting for its template.
#[derive(Debug, Clone)]
pub struct Held {
    pub template_id: u16,
    pub data: Vec<u8>,
    pub time: TimeBase,
    pub received_ms: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    template: Arc<Template>,
    seen_ms: u64,
}

/// The state of one exporter scope.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    templates: HashMap<u16, Entry>,
    pub sampling: SamplingState,
    pub system_init_ms: Option<u64>,
    /// Sequence number expected next, once one message was seen.
    pub next_seq: Option<u32>,
    held: VecDeque<Held>,
}

impl Scope {
    pub(crate) fn learn_options(&mut self, o: &OptionsInfo) {
        self.sampling.learn(o);
        if o.system_init_ms.is_some() {
            self.system_init_ms = o.system_init_ms;
        }
    }

    /// Record a message's sequence number; returns how many units (flows, packets,
    /// records or datagrams, per version) went missing since the previous message.
    /// A jump backwards or of 2^31 or more is a restart, not loss.
    pub fn check_sequence(&mut self, seq: u32, advance: u32) -> u32 {
        let gap = match self.next_seq {
            Some(exp) => {
                let d = seq.wrapping_sub(exp);
                if d < 0x8000_0000 {
                    d
                } else {
                    0
                }
            }
            None => 0,
        };
        self.next_seq = Some(seq.wrapping_add(advance));
        gap
    }
}

/// All exporter scopes.
#[derive(Debug, Default)]
pub struct TemplateCache {
    scopes: HashMap<ScopeKey, Scope>,
    pub limits: Limits,
    pub stats: CacheStats,
    held_bytes: usize,
}

impl TemplateCache {
    pub fn new(limits: Limits) -> Self {
        TemplateCache {
            scopes: HashMap::new(),
            limits,
            stats: CacheStats::default(),
            held_bytes: 0,
        }
    }

    /// The scope for `key`, created if there is room.
    pub fn scope_mut(&mut self, key: ScopeKey) -> Result<&mut Scope, DecodeError> {
        if !self.scopes.contains_key(&key) && self.scopes.len() >= self.limits.max_scopes {
            self.stats.scope_overflow += 1;
            return Err(DecodeError::TooManyScopes);
        }
        Ok(self.scopes.entry(key).or_default())
    }

    /// Number of templates across all scopes.
    pub fn template_count(&self) -> usize {
        self.scopes.values().map(|s| s.templates.len()).sum()
    }

    /// Look a template up, expiring it if it timed out.
    pub fn template(&mut self, key: &ScopeKey, id: u16, now_ms: u64) -> Option<Arc<Template>> {
        let timeout = self.limits.template_timeout_ms;
        let scope = self.scopes.get_mut(key)?;
        let e = scope.templates.get(&id)?;
        if timeout > 0 && now_ms.saturating_sub(e.seen_ms) > timeout {
            scope.templates.remove(&id);
            self.stats.templates_expired += 1;
            return None;
        }
        Some(e.template.clone())
    }

    /// Learn (or refresh) a template; the held data sets it makes decodable move to
    /// `released`.
    pub fn learn(
        &mut self,
        key: ScopeKey,
        t: Template,
        now_ms: u64,
        released: &mut Vec<Held>,
    ) -> Result<Arc<Template>, DecodeError> {
        let max = self.limits.max_templates_per_scope;
        self.expire_held(now_ms);
        self.scope_mut(key)?;
        let Some(scope) = self.scopes.get_mut(&key) else {
            return Err(DecodeError::TooManyScopes);
        };
        let id = t.id;
        let arc = match scope.templates.get_mut(&id) {
            Some(e) if *e.template == t => {
                e.seen_ms = now_ms;
                return Ok(e.template.clone());
            }
            Some(e) => {
                e.template = Arc::new(t);
                e.seen_ms = now_ms;
                e.template.clone()
            }
            None => {
                if scope.templates.len() >= max {
                    self.stats.template_overflow += 1;
                    return Err(DecodeError::TooManyScopes);
                }
                let a = Arc::new(t);
                scope.templates.insert(
                    id,
                    Entry {
                        template: a.clone(),
                        seen_ms: now_ms,
                    },
                );
                a
            }
        };
        self.stats.templates_learnt += 1;
        if !scope.held.is_empty() {
            let mut i = 0;
            while i < scope.held.len() {
                if scope.held[i].template_id == id {
                    if let Some(h) = scope.held.remove(i) {
                        self.held_bytes -= h.data.len();
                        self.stats.released += 1;
                        released.push(h);
                    }
                } else {
                    i += 1;
                }
            }
        }
        Ok(arc)
    }

    /// IPFIX template withdrawal (RFC 7011 §8.1): `None` withdraws all the scope's
    /// data templates (`options` false: id 2 in a template set) or all its options
    /// templates (`options` true: id 3 in an options template set).
    pub fn withdraw(&mut self, key: &ScopeKey, id: Option<u16>, options: bool) {
        if let Some(scope) = self.scopes.get_mut(key) {
            let n = match id {
                Some(id) => scope.templates.remove(&id).is_some() as u64,
                None => {
                    let n = scope.templates.len();
                    scope
                        .templates
                        .retain(|_, e| e.template.is_options() != options);
                    (n - scope.templates.len()) as u64
                }
            };
            self.stats.templates_withdrawn += n;
        }
    }

    /// Hold a data set whose template is unknown (bounded; oldest dropped first).
    pub fn hold(
        &mut self,
        key: ScopeKey,
        template_id: u16,
        data: &[u8],
        time: TimeBase,
        now_ms: u64,
    ) {
        let lim = self.limits;
        self.expire_held(now_ms);
        if data.len() > lim.max_held_bytes {
            self.stats.held_dropped += 1;
            return;
        }
        while self.held_bytes + data.len() > lim.max_held_bytes {
            // Drop the oldest set of the fullest scope.
            let Some(victim) = self.scopes.values_mut().max_by_key(|s| s.held.len()) else {
                break;
            };
            match victim.held.pop_front() {
                Some(h) => {
                    self.held_bytes -= h.data.len();
                    self.stats.held_dropped += 1;
                }
                None => break,
            }
        }
        let Ok(scope) = self.scope_mut(key) else {
            return;
        };
        if scope.held.len() >= lim.max_held_per_scope {
            if let Some(h) = scope.held.pop_front() {
                self.held_bytes -= h.data.len();
                self.stats.held_dropped += 1;
            }
        }
        let Ok(scope) = self.scope_mut(key) else {
            return;
        };
        scope.held.push_back(Held {
            template_id,
            data: data.to_vec(),
            time,
            received_ms: now_ms,
        });
        self.held_bytes += data.len();
        self.stats.held += 1;
    }

    /// Drop held data older than the age limit.
    pub fn expire_held(&mut self, now_ms: u64) {
        if self.held_bytes == 0 {
            return;
        }
        let age = self.limits.max_held_age_ms;
        for s in self.scopes.values_mut() {
            while let Some(h) = s.held.front() {
                if now_ms.saturating_sub(h.received_ms) > age {
                    self.held_bytes -= h.data.len();
                    self.stats.held_dropped += 1;
                    s.held.pop_front();
                } else {
                    break;
                }
            }
        }
    }

    /// Serialize templates, sampling state and system init times (not held data, not
    /// sequence state). The format is versioned; see [`TemplateCache::restore`].
    pub fn save(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(64 + self.template_count() * 128);
        o.extend_from_slice(MAGIC);
        o.extend_from_slice(&(self.scopes.len() as u32).to_be_bytes());
        let mut keys: Vec<_> = self.scopes.keys().collect();
        keys.sort_by_key(|k| (k.exporter, k.version, k.domain));
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
            o.extend_from_slice(&s.sampling.default_interval.to_be_bytes());
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

    /// Rebuild a cache from [`TemplateCache::save`] output. Every template is validated
    /// again; a damaged file is an error, never a panic.
    pub fn restore(bytes: &[u8], limits: Limits) -> Result<TemplateCache, DecodeError> {
        let mut c = TemplateCache::new(limits);
        need(bytes, MAGIC.len() + 4, "template cache file")?;
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(DecodeError::UnknownVersion(u32_at(bytes, 0)));
        }
        let mut p = MAGIC.len();
        let nscopes = u32_at(bytes, p) as usize;
        p += 4;
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
            let b = &b[1 + alen..];
            need(b, 2 + 4 + 8 + 4 + 2, "cache scope")?;
            let key = ScopeKey {
                exporter,
                version: u16_at(b, 0),
                domain: u32_at(b, 2),
            };
            let init = u64_at(b, 6);
            let interval = u32_at(b, 14);
            let ntpl = u16_at(b, 18) as usize;
            p += 1 + alen + 20;
            let scope = c.scope_mut(key)?;
            scope.system_init_ms = (init != u64::MAX).then_some(init);
            scope.sampling.default_interval = interval;
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
                let mut none = Vec::new();
                c.learn(key, t, seen, &mut none)?;
            }
        }
        c.stats = CacheStats::default();
        Ok(c)
    }
}

const MAGIC: &[u8; 8] = b"OFTCACH1";
