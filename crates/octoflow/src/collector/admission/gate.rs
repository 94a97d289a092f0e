//! The collector thread's side of [`Admission`]: one check per datagram on the
//! sender's address, before the datagram is copied or decoded, with a token
//! bucket per sending address for `rate_limit` and a count of what was turned
//! away per sender ([`Denied`]).
//!
//! Sans-IO: the caller passes the time (microseconds on a monotonic clock). A
//! turned-away datagram costs a prefix lookup and a hash-map update; memory is
//! bounded whatever the senders: at most [`MAX_BUCKETS`] buckets (past that,
//! new senders share one bucket, so a flood of spoofed addresses is limited as
//! one sender) and the bounded count of [`Denied`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::senders::Senders;
use super::Admission;
use crate::telemetry::denied::Denied;
use crate::util::unmap;

/// Sending addresses with a bucket of their own.
pub const MAX_BUCKETS: usize = 4096;

/// One token is one datagram; buckets count in millionths of a token so that a
/// microsecond's refill is exact at any rate.
const TOKEN: u64 = 1_000_000;
/// How often a full table of buckets is swept of senders gone quiet.
const SWEEP_US: u64 = 1_000_000;

/// What the gate decided for one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// The sender is not in `allow`.
    NotAllowed,
    /// The sender is over `rate_limit`.
    RateLimited,
}

/// A token bucket holding up to one second of `rate` (so a router may burst its
/// whole second at once) and refilled continuously.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u64,
    at_us: u64,
}

impl Bucket {
    fn full(rate: u64, now_us: u64) -> Bucket {
        Bucket {
            tokens: rate * TOKEN,
            at_us: now_us,
        }
    }

    fn take(&mut self, rate: u64, now_us: u64) -> bool {
        // A whole second refills the bucket; capping the interval keeps the
        // product far from overflow (rate ≤ 10^8, interval ≤ 10^6).
        let dt = now_us.saturating_sub(self.at_us).min(1_000_000);
        self.tokens = (self.tokens + dt * rate).min(rate * TOKEN);
        self.at_us = self.at_us.max(now_us);
        if self.tokens >= TOKEN {
            self.tokens -= TOKEN;
            true
        } else {
            false
        }
    }

    /// Full again by `now_us`: as good as a new bucket, so it can go.
    fn refilled(&self, rate: u64, now_us: u64) -> bool {
        now_us.saturating_sub(self.at_us) >= 1_000_000 || self.tokens >= rate * TOKEN
    }
}

/// Applies one collector's [`Admission`].
pub struct Gate {
    admission: Arc<Admission>,
    buckets: HashMap<IpAddr, Bucket>,
    /// Shared by the senders that found the table full.
    overflow: Bucket,
    last_sweep_us: u64,
    /// Turned away since the last [`Gate::take_denied`].
    denied: Denied,
    /// The last sender turned away, for the log line.
    pub last_denied: Option<(SocketAddr, Verdict)>,
    /// `allow_from`'s table as last read (`None`: not read yet).
    senders: Option<Arc<Senders>>,
}

impl Gate {
    pub fn new(admission: Arc<Admission>) -> Gate {
        Gate {
            overflow: Bucket::full(admission.rate_limit.unwrap_or(0) as u64, 0),
            admission,
            buckets: HashMap::new(),
            last_sweep_us: 0,
            denied: Denied::default(),
            last_denied: None,
            senders: None,
        }
    }

    /// Take `allow_from`'s table as last read.
    pub fn set_senders(&mut self, s: Option<Arc<Senders>>) {
        self.senders = s;
    }

    /// The networks the sender `from` may report, when `allow_from` restricts
    /// its flows (`Some(None)`: restricted, and none are its).
    #[inline]
    pub fn networks(&self, from: SocketAddr) -> Option<Option<&octoflow_prefix::Filter>> {
        self.admission.from_redis.as_ref()?;
        Some(self.senders.as_ref().and_then(|s| s.networks(from)))
    }

    /// Take a new configuration (a reload). Buckets are kept when the rate is
    /// unchanged, so a reload cannot be used to reset a sender's limit.
    pub fn set(&mut self, admission: Arc<Admission>) {
        if admission.rate_limit != self.admission.rate_limit {
            self.buckets.clear();
            self.overflow = Bucket::full(admission.rate_limit.unwrap_or(0) as u64, 0);
        }
        self.admission = admission;
    }

    /// Whether this gate admits every datagram without looking.
    pub fn open(&self) -> bool {
        self.admission.allow.is_none()
            && self.admission.rate_limit.is_none()
            && self.admission.from_redis.is_none()
    }

    /// Decide for one datagram from `from` at `now_us`.
    #[inline]
    pub fn check(&mut self, from: SocketAddr, now_us: u64) -> Verdict {
        let v = self.verdict(from, now_us);
        if v != Verdict::Admit {
            self.denied.add(unmap(from.ip()), v == Verdict::RateLimited);
            self.last_denied = Some((from, v));
        }
        v
    }

    fn verdict(&mut self, from: SocketAddr, now_us: u64) -> Verdict {
        if let Some(a) = &self.admission.allow {
            if !a.admits(from) {
                return Verdict::NotAllowed;
            }
        }
        if self.admission.from_redis.is_some()
            && !self.senders.as_ref().is_some_and(|s| s.admits(from))
        {
            return Verdict::NotAllowed;
        }
        let Some(rate) = self.admission.rate_limit else {
            return Verdict::Admit;
        };
        let rate = rate as u64;
        let addr = unmap(from.ip());
        let ok = match self.buckets.get_mut(&addr) {
            Some(b) => b.take(rate, now_us),
            None => {
                if self.buckets.len() >= MAX_BUCKETS {
                    self.sweep(rate, now_us);
                }
                if self.buckets.len() < MAX_BUCKETS {
                    let mut b = Bucket::full(rate, now_us);
                    let ok = b.take(rate, now_us);
                    self.buckets.insert(addr, b);
                    ok
                } else {
                    self.overflow.take(rate, now_us)
                }
            }
        };
        if ok {
            Verdict::Admit
        } else {
            Verdict::RateLimited
        }
    }

    /// Drop the buckets of senders whose bucket has refilled (at most once per
    /// [`SWEEP_US`], so a flood of new addresses does not sweep per datagram).
    fn sweep(&mut self, rate: u64, now_us: u64) {
        if now_us.saturating_sub(self.last_sweep_us) < SWEEP_US && self.last_sweep_us != 0 {
            return;
        }
        self.last_sweep_us = now_us.max(1);
        self.buckets.retain(|_, b| !b.refilled(rate, now_us));
    }

    /// What was turned away since the last call.
    pub fn take_denied(&mut self) -> Denied {
        std::mem::take(&mut self.denied)
    }

    #[cfg(test)]
    fn senders_tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::denied::{DeniedCount, MAX_DENIED};
    use crate::yaml::check::Validator;
    use crate::yaml::raw::Scalar;

    fn gate(allow: Option<&[&str]>, rate: Option<u64>) -> Gate {
        let mut v = Validator::default();
        let a = v.admission(
            "collectors[0]",
            allow.map(|l| l.iter().map(|s| Scalar(s.to_string())).collect()),
            rate,
            None,
            None,
        );
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        Gate::new(Arc::new(a))
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn senders_outside_the_list_are_turned_away_and_counted_by_address() {
        let mut g = gate(Some(&["127.0.0.3"]), None);
        assert!(!g.open());
        assert_eq!(g.check(sa("127.0.0.3:9"), 0), Verdict::Admit);
        for _ in 0..3 {
            assert_eq!(g.check(sa("127.0.0.2:9"), 0), Verdict::NotAllowed);
        }
        let d = g.take_denied();
        assert_eq!(
            d.by_sender[&"127.0.0.2".parse::<IpAddr>().expect("ip")],
            DeniedCount {
                not_allowed: 3,
                rate_limited: 0
            }
        );
        assert_eq!(d.by_sender.len(), 1);
        assert!(g.take_denied().is_empty(), "taken once");
    }

    #[test]
    fn a_sender_gets_its_rate_and_no_more_while_another_keeps_its_own() {
        let mut g = gate(None, Some(1000));
        let (flood, router) = (sa("127.0.0.2:9"), sa("127.0.0.3:9"));
        // Ten seconds, the flood at 10 000/s and the router at 500/s, in steps of
        // 100 µs (one flood datagram each; a router datagram every 2 ms).
        let (mut flood_in, mut router_in) = (0u64, 0u64);
        for step in 0..100_000u64 {
            let now = step * 100;
            if g.check(flood, now) == Verdict::Admit {
                flood_in += 1;
            }
            if step % 20 == 0 && g.check(router, now) == Verdict::Admit {
                router_in += 1;
            }
        }
        assert_eq!(
            router_in, 5000,
            "the router under its limit keeps everything"
        );
        // One second's burst, then 1000/s for the remaining 10 s.
        assert!(
            (10_900..=11_001).contains(&flood_in),
            "flood admitted {flood_in}"
        );
        let d = g.take_denied();
        assert_eq!(d.total().rate_limited, 100_000 - flood_in);
        assert_eq!(d.total().not_allowed, 0);
    }

    #[test]
    fn many_senders_share_one_bucket_once_the_table_is_full() {
        let mut g = gate(None, Some(10));
        let mut admitted = 0;
        // More distinct addresses than buckets, all within one millisecond.
        for i in 0..(MAX_BUCKETS as u32 + 1000) {
            let a = SocketAddr::new(IpAddr::from((0x0a00_0000u32 + i).to_be_bytes()), 9);
            if g.check(a, 1 + i as u64 / 10_000) == Verdict::Admit {
                admitted += 1;
            }
        }
        assert_eq!(g.senders_tracked(), MAX_BUCKETS);
        // Each tracked sender has its burst; the 1000 others share ten tokens.
        assert_eq!(admitted, MAX_BUCKETS + 10);
        // A second later the idle buckets are swept and newcomers get their own.
        let late = sa("192.0.2.1:9");
        assert_eq!(g.check(late, 2_000_000), Verdict::Admit);
        assert!(g.senders_tracked() <= 1);
    }

    #[test]
    fn counted_senders_are_bounded_and_the_rest_are_other() {
        let mut g = gate(Some(&["192.0.2.1"]), None);
        for i in 0..(MAX_DENIED as u32 + 5) {
            let a = SocketAddr::new(IpAddr::from((0x0a00_0000u32 + i).to_be_bytes()), 9);
            g.check(a, 0);
        }
        let d = g.take_denied();
        assert_eq!(d.by_sender.len(), MAX_DENIED);
        assert_eq!(d.other.not_allowed, 5);
        let mut all = Denied::default();
        all.merge(&d);
        all.merge(&d);
        assert_eq!(all.total().not_allowed, 2 * (MAX_DENIED as u64 + 5));
    }

    #[test]
    fn a_reload_swaps_the_list_and_keeps_the_buckets_of_an_unchanged_rate() {
        let mut g = gate(Some(&["127.0.0.2"]), Some(2));
        let s = sa("127.0.0.2:9");
        assert_eq!(g.check(s, 0), Verdict::Admit);
        assert_eq!(g.check(s, 0), Verdict::Admit);
        assert_eq!(g.check(s, 0), Verdict::RateLimited);
        let mut v = Validator::default();
        let b = v.admission(
            "collectors[0]",
            Some(vec![Scalar("127.0.0.0/8".into())]),
            Some(2),
            None,
            None,
        );
        g.set(Arc::new(b));
        assert_eq!(g.check(s, 0), Verdict::RateLimited, "bucket kept");
        assert_eq!(g.check(sa("127.0.0.9:1"), 0), Verdict::Admit, "new list");
        g.set(Arc::new(Admission::default()));
        assert!(g.open());
        assert_eq!(g.check(sa("203.0.113.1:1"), 0), Verdict::Admit);
    }

    #[test]
    fn allow_from_admits_nobody_until_read_then_only_listed_senders() {
        let mut v = Validator::default();
        let a = v.admission(
            "collectors[0]",
            None,
            None,
            Some(&Scalar("redis://127.0.0.1:6379".into())),
            None,
        );
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        let mut g = Gate::new(Arc::new(a));
        assert!(!g.open());
        let s: SocketAddr = "192.0.2.1:2055".parse().unwrap();
        assert_eq!(
            g.check(s, 0),
            Verdict::NotAllowed,
            "not read yet: fail closed"
        );
        assert!(matches!(g.networks(s), Some(None)));
        let table = Senders::from_sets(&["192.0.2.1/2055".to_string()], |_| {
            vec!["10.0.0.0/8".to_string()]
        });
        g.set_senders(Some(Arc::new(table)));
        assert_eq!(g.check(s, 0), Verdict::Admit);
        assert!(g.networks(s).flatten().is_some());
        assert_eq!(
            g.check("192.0.2.1:2056".parse().unwrap(), 0),
            Verdict::NotAllowed
        );
    }
}
