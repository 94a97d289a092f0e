//! Small helpers shared by the daemon's components.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock time, Unix milliseconds (the codec takes time from its caller).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `s` for a URL's query string or path: every byte but the unreserved ones
/// (RFC 3986 §2.3) as `%XX`.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

/// A value one thread replaces and another picks up without a lock per use: the
/// reader polls [`Latest::changed`] (one atomic load) and takes the lock only
/// when the version moved. Collectors take their routes and their admission
/// rules this way, so a reload changes them without a restart.
#[derive(Default)]
pub struct Latest<T> {
    version: AtomicU64,
    value: Mutex<Arc<T>>,
}

impl<T> Latest<T> {
    pub fn new(v: T) -> Latest<T> {
        Latest {
            version: AtomicU64::new(1),
            value: Mutex::new(Arc::new(v)),
        }
    }

    pub fn set(&self, v: T) {
        if let Ok(mut cur) = self.value.lock() {
            *cur = Arc::new(v);
        }
        self.version.fetch_add(1, Relaxed);
    }

    /// The value, when it changed since `seen` (which is updated).
    pub fn changed(&self, seen: &mut u64) -> Option<Arc<T>> {
        let v = self.version.load(Relaxed);
        if v == *seen {
            return None;
        }
        *seen = v;
        self.value.lock().map(|r| r.clone()).ok()
    }
}
