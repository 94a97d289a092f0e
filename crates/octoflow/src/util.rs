//! Small helpers shared by the daemon's components.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock time, Unix milliseconds (the codec takes time from its caller).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An IPv4 peer on a dual-stack socket appears as `::ffff:a.b.c.d`: use the IPv4
/// address, so a router has one identity whichever socket it reached.
pub fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        a => a,
    }
}

/// Lets a log line through at most once per period, so a broken peer cannot flood
/// the log. What it holds back is not logged; the counters in `/metrics` have it.
pub struct RateLimit {
    period: Duration,
    last: Option<Instant>,
}

impl RateLimit {
    pub fn new(period: Duration) -> Self {
        RateLimit { period, last: None }
    }

    pub fn ready(&mut self) -> bool {
        match self.last {
            Some(t) if t.elapsed() < self.period => false,
            _ => {
                self.last = Some(Instant::now());
                true
            }
        }
    }
}
