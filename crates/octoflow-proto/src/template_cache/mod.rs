//! Per-exporter state: templates scoped per (exporter address, version, source id /
//! observation domain) — RFC 3954 §5.1 and RFC 7011 §3.1 — plus sampling learnt from
//! options data, sequence tracking, and data held while its template is unknown.
//!
//! Everything is bounded, and no sender can lock another out:
//! - scopes: idle ones expire; when the table is full, a new scope takes the slot of
//!   the least recently seen scope of the address over its fair share (the table's
//!   size over the number of sending addresses; an sFlow scope, keyed by the agent
//!   address the datagram claims, is charged to the address it came from), so one
//!   address's junk only ever displaces its own scopes once it holds more than its
//!   share;
//! - templates: per scope, a timed-out template is expired and then the least
//!   recently used one evicted to make room; across the cache, a byte budget
//!   ([`Limits::max_template_bytes`]) evicts templates of the address holding the
//!   most template bytes, least recently used first (CLOCK), counted per device;
//! - held data: count per scope, bytes, age ([`held`]).
//!
//! Time comes from the caller ([`TemplateCache::set_now`], `now_ms` arguments);
//! nothing here reads a clock. The cache saves to and restores from bytes
//! ([`persist`]) so a restart does not wait for routers to resend templates.

mod evict;
mod held;
mod persist;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use crate::error::DecodeError;
use crate::template::{OptionsInfo, SamplingState, Template, TimeBase};

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
    /// Bytes of templates across all scopes; beyond it the least recently used
    /// templates of the address holding the most are evicted.
    pub max_template_bytes: usize,
    /// A scope that received nothing for this long is forgotten (0 = never).
    pub scope_idle_ms: u64,
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
            max_template_bytes: 64 << 20,
            scope_idle_ms: 3 * 3600 * 1000,
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
    /// Templates evicted to make room (a full scope, or the byte budget).
    pub templates_evicted: u64,
    /// Templates refused: larger than the whole byte budget.
    pub template_overflow: u64,
    /// Exporter scopes refused (only when the table holds no scope at all).
    pub scope_overflow: u64,
    /// Scopes forgotten after being idle.
    pub scopes_expired: u64,
    /// Scopes evicted to make room for another (the address over its fair share).
    pub scopes_evicted: u64,
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
    /// Last learnt or refreshed (the timeout counts from here).
    seen_ms: u64,
    /// Last used to decode data, or refreshed.
    used_ms: u64,
    /// Used since the CLOCK hand last passed (second chance).
    referenced: bool,
    /// Which CLOCK entry is this one's (older ones are stale).
    stamp: u64,
    bytes: usize,
}

/// Bytes a cached template costs beyond its own: the `Arc`, the map slot, the CLOCK
/// entry and the allocator's headers.
const ENTRY_OVERHEAD: usize = 192;

/// The state of one exporter scope.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    templates: HashMap<u16, Entry>,
    pub sampling: SamplingState,
    pub system_init_ms: Option<u64>,
    /// Sequence number expected next, once one message was seen.
    pub next_seq: Option<u32>,
    held: VecDeque<Held>,
    last_seen_ms: u64,
    /// The address that made the scope (its fair share is charged).
    sender: Option<IpAddr>,
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

/// What the cache keeps per exporting device (a scope's address) with templates:
/// its bytes, and the CLOCK ring of its templates (version, domain, id, stamp).
#[derive(Debug, Default)]
struct Device {
    templates: usize,
    template_bytes: usize,
    clock: VecDeque<(u16, u32, u16, u64)>,
}

/// Devices whose evictions are counted one by one; the rest only in the total.
const MAX_COUNTED_DEVICES: usize = 4096;

/// All exporter scopes.
#[derive(Debug, Default)]
pub struct TemplateCache {
    scopes: HashMap<ScopeKey, Scope>,
    devices: HashMap<IpAddr, Device>,
    /// Scopes per sending address (an sFlow datagram's agent address is what it
    /// claims; the address it came from is what counts for fair shares).
    senders: HashMap<IpAddr, usize>,
    /// Where the datagram being decoded came from (`None`: the scope's address).
    sender: Option<IpAddr>,
    pub limits: Limits,
    pub stats: CacheStats,
    held_bytes: usize,
    template_bytes: usize,
    stamp: u64,
    evicted_by_device: HashMap<IpAddr, u64>,
    now_ms: u64,
}

impl TemplateCache {
    pub fn new(limits: Limits) -> Self {
        TemplateCache {
            limits,
            ..TemplateCache::default()
        }
    }

    /// The time (Unix ms) of what is decoded next: scopes touched are seen then.
    pub fn set_now(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// The address the datagram decoded next came from: new scopes are charged to
    /// its fair share.
    pub fn set_sender(&mut self, from: IpAddr) {
        self.sender = Some(from);
    }

    /// The scope for `key`, created if needed (making room as the module doc says).
    pub fn scope_mut(&mut self, key: ScopeKey) -> Result<&mut Scope, DecodeError> {
        if !self.scopes.contains_key(&key) {
            let sender = self.sender.unwrap_or(key.exporter);
            self.make_room_for_scope(sender)?;
            *self.senders.entry(sender).or_default() += 1;
            self.scopes.insert(
                key,
                Scope {
                    sender: Some(sender),
                    ..Scope::default()
                },
            );
        }
        let now = self.now_ms;
        let s = self.scopes.entry(key).or_default();
        s.last_seen_ms = s.last_seen_ms.max(now);
        Ok(s)
    }

    /// Number of templates across all scopes.
    pub fn template_count(&self) -> usize {
        self.devices.values().map(|d| d.templates).sum()
    }

    /// Number of scopes.
    pub fn scope_count(&self) -> usize {
        self.scopes.len()
    }

    /// Bytes the cached templates occupy (what [`Limits::max_template_bytes`] bounds).
    pub fn template_bytes(&self) -> usize {
        self.template_bytes
    }

    /// Templates evicted per exporting device (the first [`MAX_COUNTED_DEVICES`]
    /// devices that had any; all count in [`CacheStats::templates_evicted`]).
    pub fn evictions_by_device(&self) -> impl Iterator<Item = (IpAddr, u64)> + '_ {
        self.evicted_by_device.iter().map(|(a, n)| (*a, *n))
    }

    /// Look a template up, expiring it if it timed out; a hit counts as a use.
    pub fn template(&mut self, key: &ScopeKey, id: u16, now_ms: u64) -> Option<Arc<Template>> {
        let timeout = self.limits.template_timeout_ms;
        let scope = self.scopes.get_mut(key)?;
        let e = scope.templates.get_mut(&id)?;
        if timeout > 0 && now_ms.saturating_sub(e.seen_ms) > timeout {
            self.remove_template(key, id);
            self.stats.templates_expired += 1;
            return None;
        }
        e.used_ms = e.used_ms.max(now_ms);
        e.referenced = true;
        Some(e.template.clone())
    }

    /// Learn (or refresh) a template. Held data it makes decodable stays in its scope
    /// until [`TemplateCache::take_released`] takes it for that same scope.
    pub fn learn(
        &mut self,
        key: ScopeKey,
        t: Template,
        now_ms: u64,
    ) -> Result<Arc<Template>, DecodeError> {
        self.expire_held(now_ms);
        let bytes = t.memory_bytes() + ENTRY_OVERHEAD;
        if bytes > self.limits.max_template_bytes {
            self.stats.template_overflow += 1;
            return Err(DecodeError::TemplateOverBudget {
                template_id: t.id,
                bytes,
                budget: self.limits.max_template_bytes,
            });
        }
        let scope = self.scope_mut(key)?;
        let id = t.id;
        if let Some(e) = scope.templates.get_mut(&id) {
            if *e.template == t {
                e.seen_ms = e.seen_ms.max(now_ms);
                e.used_ms = e.used_ms.max(now_ms);
                e.referenced = true;
                return Ok(e.template.clone());
            }
        }
        self.remove_template(&key, id);
        self.make_room_in_scope(&key, now_ms);
        while self.template_bytes + bytes > self.limits.max_template_bytes {
            if !self.evict_one() {
                break;
            }
        }
        self.stamp += 1;
        let stamp = self.stamp;
        let arc = Arc::new(t);
        let Some(scope) = self.scopes.get_mut(&key) else {
            return Err(DecodeError::TooManyScopes);
        };
        scope.templates.insert(
            id,
            Entry {
                template: arc.clone(),
                seen_ms: now_ms,
                used_ms: now_ms,
                referenced: false,
                stamp,
                bytes,
            },
        );
        self.template_bytes += bytes;
        let dev = self.devices.entry(key.exporter).or_default();
        dev.templates += 1;
        dev.template_bytes += bytes;
        dev.clock.push_back((key.version, key.domain, id, stamp));
        if dev.clock.len() > 2 * dev.templates + 64 {
            let scopes = &self.scopes;
            dev.clock.retain(|&(version, domain, id, st)| {
                let k = ScopeKey {
                    exporter: key.exporter,
                    version,
                    domain,
                };
                scopes
                    .get(&k)
                    .and_then(|s| s.templates.get(&id))
                    .is_some_and(|e| e.stamp == st)
            });
        }
        self.stats.templates_learnt += 1;
        Ok(arc)
    }

    /// IPFIX template withdrawal (RFC 7011 §8.1): `None` withdraws all the scope's
    /// data templates (`options` false: id 2 in a template set) or all its options
    /// templates (`options` true: id 3 in an options template set).
    pub fn withdraw(&mut self, key: &ScopeKey, id: Option<u16>, options: bool) {
        let ids: Vec<u16> = match (id, self.scopes.get(key)) {
            (_, None) => return,
            (Some(id), Some(_)) => vec![id],
            (None, Some(s)) => s
                .templates
                .iter()
                .filter(|(_, e)| e.template.is_options() == options)
                .map(|(id, _)| *id)
                .collect(),
        };
        for id in ids {
            if self.remove_template(key, id) {
                self.stats.templates_withdrawn += 1;
            }
        }
    }

    /// Forget what timed out: held data, idle scopes and templates not refreshed
    /// within the timeout. Call it now and then (the collector does once a second).
    pub fn expire(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        self.expire_held(now_ms);
        self.expire_idle_scopes();
        let timeout = self.limits.template_timeout_ms;
        if timeout == 0 {
            return;
        }
        let old: Vec<(ScopeKey, u16)> = self
            .scopes
            .iter()
            .flat_map(|(k, s)| {
                s.templates
                    .iter()
                    .filter(|(_, e)| now_ms.saturating_sub(e.seen_ms) > timeout)
                    .map(|(id, _)| (*k, *id))
            })
            .collect();
        for (k, id) in old {
            self.remove_template(&k, id);
            self.stats.templates_expired += 1;
        }
    }

    /// Remove one template, keeping the byte and count totals; false if absent.
    /// A scope's map gives back its room once mostly empty, so evicted templates'
    /// slots are not kept for good.
    fn remove_template(&mut self, key: &ScopeKey, id: u16) -> bool {
        let Some(scope) = self.scopes.get_mut(key) else {
            return false;
        };
        let Some(e) = scope.templates.remove(&id) else {
            return false;
        };
        let t = &mut scope.templates;
        if t.capacity() > 32 && t.len() * 4 < t.capacity() {
            t.shrink_to(t.len() * 2);
        }
        self.template_bytes -= e.bytes;
        if let Some(d) = self.devices.get_mut(&key.exporter) {
            d.templates -= 1;
            d.template_bytes -= e.bytes;
            if d.templates == 0 {
                self.devices.remove(&key.exporter);
            }
        }
        true
    }

    fn remove_scope(&mut self, key: &ScopeKey) {
        let ids: Vec<u16> = match self.scopes.get(key) {
            Some(s) => s.templates.keys().copied().collect(),
            None => return,
        };
        for id in ids {
            self.remove_template(key, id);
        }
        let Some(s) = self.scopes.remove(key) else {
            return;
        };
        let held: usize = s.held.iter().map(|h| h.data.len()).sum();
        self.held_bytes -= held;
        self.stats.held_dropped += s.held.len() as u64;
        let sender = s.sender.unwrap_or(key.exporter);
        if let Some(n) = self.senders.get_mut(&sender) {
            *n -= 1;
            if *n == 0 {
                self.senders.remove(&sender);
            }
        }
    }
}
