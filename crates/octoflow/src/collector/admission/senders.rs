//! `allow_from`: the senders a collector accepts, and the networks each may
//! report, read from Redis in netflow.io's layout and re-read every
//! `refresh_secs`:
//! - set `senders`: members `IP/port` (slash notation, IPv4 or IPv6), e.g.
//!   `192.0.2.1/2055`, `2001:db8::1/4739`;
//! - per sender, set `sender:IP/port`: the prefixes (CIDR) it may report.
//!
//! A datagram from a sender not in `senders` is turned away before decoding
//! (`not_allowed`, as with `allow`); of an accepted sender's flows, only those
//! with the source or destination in its prefixes are kept
//! (`flows_outside_networks` counts the rest).
//!
//! Until the first read succeeds nobody is admitted (a collector that trusts
//! a list must not start open). When Redis is away later, the last list read
//! stays in force and the failure is counted and logged.
//!
//! [`Senders::from_sets`] builds the table from the sets' text (no I/O);
//! [`Refresher`] is the thread that reads them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use octoflow_prefix::{Entry, Filter};

use crate::redis::{Conn, RedisUrl};
use crate::telemetry::metrics::CollectorMetrics;
use crate::util::{unmap, Latest};

/// Where a collector reads its senders (`allow_from`, `refresh_secs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSource {
    pub url: RedisUrl,
    pub refresh_secs: u64,
}

impl RedisSource {
    pub const DEFAULT_REFRESH_SECS: u64 = 30;
}

/// The senders read, each with the networks it may report (`None`: its set
/// is empty or missing, so none of its flows are kept).
#[derive(Debug, Default)]
pub struct Senders {
    by_sender: HashMap<SocketAddr, Option<Filter>>,
    /// Members that did not parse, for the log.
    pub bad: Vec<String>,
}

/// `192.0.2.1/2055` or `2001:db8::1/4739` as a socket address (unmapped).
pub fn parse_sender(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.trim().rsplit_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    Some(SocketAddr::new(unmap(ip), port))
}

impl Senders {
    /// Build from the `senders` set's members and, per member, its networks'
    /// set (`nets(member)`).
    pub fn from_sets(members: &[String], mut nets: impl FnMut(&str) -> Vec<String>) -> Senders {
        let mut s = Senders::default();
        for m in members {
            let Some(addr) = parse_sender(m) else {
                s.bad.push(format!("senders: {m:?} is not IP/port"));
                continue;
            };
            let mut entries = Vec::new();
            for n in nets(m) {
                match n.trim().parse::<Entry>() {
                    Ok(e) if !e.negated => entries.push(e),
                    _ => s.bad.push(format!("sender:{m}: {n:?} is not a prefix")),
                }
            }
            let filter = (!entries.is_empty()).then(|| Filter::new(&entries));
            s.by_sender.insert(addr, filter);
        }
        s
    }

    /// Whether `from` is a listed sender.
    #[inline]
    pub fn admits(&self, from: SocketAddr) -> bool {
        self.by_sender
            .contains_key(&SocketAddr::new(unmap(from.ip()), from.port()))
    }

    /// The networks `from` may report (`None`: none, or not a sender).
    #[inline]
    pub fn networks(&self, from: SocketAddr) -> Option<&Filter> {
        self.by_sender
            .get(&SocketAddr::new(unmap(from.ip()), from.port()))
            .and_then(|f| f.as_ref())
    }

    pub fn len(&self) -> usize {
        self.by_sender.len()
    }
}

/// The thread that reads the sets every `refresh_secs` and publishes the
/// table; stopped (and joined) when dropped.
pub struct Refresher {
    pub source: RedisSource,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// Answer within this, or Redis counts as away until the next refresh.
const TIMEOUT: Duration = Duration::from_secs(5);

impl Refresher {
    pub fn start(
        collector: &str,
        source: RedisSource,
        out: Arc<Latest<Option<Arc<Senders>>>>,
        m: Arc<CollectorMetrics>,
    ) -> Refresher {
        let stop = Arc::new(AtomicBool::new(false));
        let (id, src, flag) = (collector.to_string(), source.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name(format!("r:{collector}"))
            .spawn(move || refresh_loop(&id, &src, &out, &m, &flag))
            .map_err(|e| tracing::error!(collector = %collector, "cannot start the allow_from reader: {e}; nobody is admitted"))
            .ok();
        Refresher {
            source,
            stop,
            handle,
        }
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Read the table once.
fn read(src: &RedisSource) -> Result<Senders, String> {
    let mut c = Conn::open(&src.url, TIMEOUT).map_err(|e| e.to_string())?;
    let members = c.smembers("senders").map_err(|e| e.to_string())?;
    let mut nets = HashMap::new();
    for m in &members {
        let n = c
            .smembers(&format!("sender:{m}"))
            .map_err(|e| e.to_string())?;
        nets.insert(m.clone(), n);
    }
    Ok(Senders::from_sets(&members, |m| {
        nets.remove(m).unwrap_or_default()
    }))
}

fn refresh_loop(
    id: &str,
    src: &RedisSource,
    out: &Latest<Option<Arc<Senders>>>,
    m: &CollectorMetrics,
    stop: &AtomicBool,
) {
    let mut failing = false;
    let mut last: Option<usize> = None;
    loop {
        match read(src) {
            Ok(s) => {
                for b in s.bad.iter().take(3) {
                    tracing::warn!(collector = %id, url = %src.url, "allow_from: skipped {b}");
                }
                if failing || last != Some(s.len()) {
                    tracing::info!(collector = %id, url = %src.url, senders = s.len(), "allow_from: senders read");
                }
                failing = false;
                last = Some(s.len());
                m.allow_from_reads.fetch_add(1, Relaxed);
                out.set(Some(Arc::new(s)));
            }
            Err(e) => {
                m.allow_from_errors.fetch_add(1, Relaxed);
                if !failing {
                    let keep = if last.is_some() {
                        "the senders last read stay in force"
                    } else {
                        "nobody is admitted until a read succeeds"
                    };
                    tracing::warn!(collector = %id, url = %src.url, "allow_from: cannot read the senders ({e}); {keep}; retrying every {}s", src.refresh_secs);
                }
                failing = true;
            }
        }
        let next = Instant::now() + Duration::from_secs(src.refresh_secs);
        while Instant::now() < next {
            if stop.load(Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_in_slash_notation_with_their_networks() {
        let members = vec![
            "192.0.2.1/2055".to_string(),
            "2001:db8::1/4739".to_string(),
            "198.51.100.9/9995".to_string(),
            "bogus".to_string(),
            "192.0.2.2/0".to_string(),
        ];
        let s = Senders::from_sets(&members, |m| match m {
            "192.0.2.1/2055" => vec!["10.1.0.0/16".into(), "2001:db8:1::/48".into()],
            "2001:db8::1/4739" => vec!["10.2.0.0/16".into(), "nonsense".into()],
            _ => vec![],
        });
        assert_eq!(s.len(), 3);
        assert_eq!(s.bad.len(), 3, "{:?}", s.bad);
        let a = |t: &str| t.parse::<SocketAddr>().unwrap();
        assert!(s.admits(a("192.0.2.1:2055")));
        assert!(
            s.admits(a("[::ffff:192.0.2.1]:2055")),
            "a v4-mapped sender is the IPv4 one"
        );
        assert!(!s.admits(a("192.0.2.1:2056")), "another source port");
        assert!(!s.admits(a("192.0.2.3:2055")));
        let n = s.networks(a("192.0.2.1:2055")).expect("networks");
        assert!(n.flow("10.1.2.3".parse().unwrap(), "8.8.8.8".parse().unwrap()));
        assert!(n.flow("8.8.8.8".parse().unwrap(), "2001:db8:1::5".parse().unwrap()));
        assert!(!n.flow("10.2.0.1".parse().unwrap(), "8.8.8.8".parse().unwrap()));
        assert!(
            s.networks(a("198.51.100.9:9995")).is_none(),
            "no networks: nothing kept"
        );
        assert!(s.admits(a("198.51.100.9:9995")));
    }
}
