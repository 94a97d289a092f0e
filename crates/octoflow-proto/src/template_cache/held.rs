//! Data sets held while their template is unknown: bounded in count per scope, in
//! bytes across the cache, and in age; released only in the scope that held them.

use super::{Held, ScopeKey, TemplateCache};
use crate::template::TimeBase;

impl TemplateCache {
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
        let mut dropped = 0;
        if scope.held.len() >= lim.max_held_per_scope {
            if let Some(h) = scope.held.pop_front() {
                dropped = h.data.len();
            }
        }
        scope.held.push_back(Held {
            template_id,
            data: data.to_vec(),
            time,
            received_ms: now_ms,
        });
        if dropped > 0 {
            self.held_bytes -= dropped;
            self.stats.held_dropped += 1;
        }
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

    /// Move the held data sets of `key` whose template is now known into `released`.
    /// Only the scope that held a set can ever release it.
    pub fn take_released(&mut self, key: &ScopeKey, released: &mut Vec<Held>) {
        let Some(scope) = self.scopes.get_mut(key) else {
            return;
        };
        let mut i = 0;
        while i < scope.held.len() {
            if scope.templates.contains_key(&scope.held[i].template_id) {
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
}
