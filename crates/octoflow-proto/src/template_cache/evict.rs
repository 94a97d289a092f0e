//! Making room: idle scopes expire; a full scope table gives a new scope the slot
//! of the sender over its fair share; a full scope expires, then evicts, its least
//! recently used template; the byte budget evicts templates of the address holding
//! the most, least recently used first (CLOCK), counted per device.

use std::net::IpAddr;

use super::*;

impl TemplateCache {
    pub(super) fn expire_idle_scopes(&mut self) {
        let idle = self.limits.scope_idle_ms;
        if idle == 0 {
            return;
        }
        let now = self.now_ms;
        let old: Vec<ScopeKey> = self
            .scopes
            .iter()
            .filter(|(_, s)| now.saturating_sub(s.last_seen_ms) > idle)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.remove_scope(&k);
            self.stats.scopes_expired += 1;
        }
    }

    /// Room for one more scope charged to `sender`: expire idle scopes, then evict
    /// the least recently seen scope of `sender` if it holds its fair share or more,
    /// else of the sender holding the most scopes.
    pub(super) fn make_room_for_scope(&mut self, sender: IpAddr) -> Result<(), DecodeError> {
        let max = self.limits.max_scopes;
        if self.scopes.len() < max {
            return Ok(());
        }
        self.expire_idle_scopes();
        if self.scopes.len() < max {
            return Ok(());
        }
        let mine = self.senders.get(&sender).copied().unwrap_or(0);
        let senders = self.senders.len() + usize::from(mine == 0);
        let share = (max / senders.max(1)).max(1);
        let victim_sender = if mine >= share {
            Some(sender)
        } else {
            self.senders
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(a, _)| *a)
        };
        let victim = victim_sender.and_then(|vs| {
            self.scopes
                .iter()
                .filter(|(k, s)| s.sender.unwrap_or(k.exporter) == vs)
                .min_by_key(|(_, s)| s.last_seen_ms)
                .map(|(k, _)| *k)
        });
        match victim {
            Some(k) => {
                self.remove_scope(&k);
                self.stats.scopes_evicted += 1;
                Ok(())
            }
            None => {
                self.stats.scope_overflow += 1;
                Err(DecodeError::TooManyScopes)
            }
        }
    }

    /// Room for one more template in a full scope: expire its timed-out templates,
    /// then evict its least recently used.
    pub(super) fn make_room_in_scope(&mut self, key: &ScopeKey, now_ms: u64) {
        let max = self.limits.max_templates_per_scope.max(1);
        let timeout = self.limits.template_timeout_ms;
        let Some(scope) = self.scopes.get(key) else {
            return;
        };
        if scope.templates.len() < max {
            return;
        }
        let expired: Vec<u16> = scope
            .templates
            .iter()
            .filter(|(_, e)| timeout > 0 && now_ms.saturating_sub(e.seen_ms) > timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.remove_template(key, id);
            self.stats.templates_expired += 1;
        }
        loop {
            let Some(scope) = self.scopes.get(key) else {
                return;
            };
            if scope.templates.len() < max {
                return;
            }
            let Some(id) = scope
                .templates
                .iter()
                .min_by_key(|(_, e)| (e.used_ms, e.seen_ms))
                .map(|(id, _)| *id)
            else {
                return;
            };
            self.remove_template(key, id);
            self.evicted(key.exporter);
        }
    }

    /// Evict one template of the address holding the most template bytes, the least
    /// recently used by CLOCK; false when there is none.
    pub(super) fn evict_one(&mut self) -> bool {
        let Some(addr) = self
            .devices
            .iter()
            .filter(|(_, d)| d.templates > 0)
            .max_by_key(|(_, d)| d.template_bytes)
            .map(|(a, _)| *a)
        else {
            return false;
        };
        loop {
            let Some(dev) = self.devices.get_mut(&addr) else {
                return false;
            };
            let Some((version, domain, id, st)) = dev.clock.pop_front() else {
                return false;
            };
            let key = ScopeKey {
                exporter: addr,
                version,
                domain,
            };
            let Some(e) = self
                .scopes
                .get_mut(&key)
                .and_then(|s| s.templates.get_mut(&id))
            else {
                continue;
            };
            if e.stamp != st {
                continue;
            }
            if e.referenced {
                e.referenced = false;
                dev.clock.push_back((version, domain, id, st));
                continue;
            }
            self.remove_template(&key, id);
            self.evicted(addr);
            return true;
        }
    }

    fn evicted(&mut self, addr: IpAddr) {
        self.stats.templates_evicted += 1;
        let n = self.evicted_by_device.len();
        if let Some(c) = self.evicted_by_device.get_mut(&addr) {
            *c += 1;
        } else if n < MAX_COUNTED_DEVICES {
            self.evicted_by_device.insert(addr, 1);
        }
    }
}
