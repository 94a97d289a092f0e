//! Datagrams a collector turned away (`allow`, `rate_limit`), per sending
//! address, bounded so that a flood of spoofed addresses cannot grow it: the
//! collector's gate counts here between reports, and `/metrics` and `/status`
//! show the sum ([`crate::telemetry::metrics::CollectorMetrics::denied`]).

use std::collections::HashMap;
use std::net::IpAddr;

/// Sending addresses counted one by one; beyond, the rest are `other`.
pub const MAX_DENIED: usize = 1024;

/// Datagrams turned away from one sender.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeniedCount {
    pub not_allowed: u64,
    pub rate_limited: u64,
}

impl DeniedCount {
    fn add(&mut self, rate_limited: bool) {
        if rate_limited {
            self.rate_limited += 1
        } else {
            self.not_allowed += 1
        }
    }

    pub fn merge(&mut self, o: &DeniedCount) {
        self.not_allowed += o.not_allowed;
        self.rate_limited += o.rate_limited;
    }
}

/// Datagrams turned away per sending address, bounded: beyond [`MAX_DENIED`]
/// addresses the rest are counted together as `other`.
#[derive(Debug, Default, Clone)]
pub struct Denied {
    pub by_sender: HashMap<IpAddr, DeniedCount>,
    pub other: DeniedCount,
}

impl Denied {
    /// Count one datagram from `a`: over the rate limit, or not allowed.
    pub fn add(&mut self, a: IpAddr, rate_limited: bool) {
        if let Some(c) = self.by_sender.get_mut(&a) {
            c.add(rate_limited);
        } else if self.by_sender.len() < MAX_DENIED {
            self.by_sender.entry(a).or_default().add(rate_limited);
        } else {
            self.other.add(rate_limited);
        }
    }

    /// Add `o`'s counts, keeping the same bound.
    pub fn merge(&mut self, o: &Denied) {
        for (a, c) in &o.by_sender {
            if let Some(mine) = self.by_sender.get_mut(a) {
                mine.merge(c);
            } else if self.by_sender.len() < MAX_DENIED {
                self.by_sender.insert(*a, *c);
            } else {
                self.other.merge(c);
            }
        }
        self.other.merge(&o.other);
    }

    pub fn is_empty(&self) -> bool {
        self.by_sender.is_empty() && self.other == DeniedCount::default()
    }

    pub fn total(&self) -> DeniedCount {
        let mut t = self.other;
        for c in self.by_sender.values() {
            t.merge(c);
        }
        t
    }
}
