//! One peer's routes: a prefix trie per family for longest-prefix match, the
//! attributes interned so routes with the same attributes share one
//! allocation (and the flow records that carry a route share it too).
//!
//! Interned sets nobody uses any more (`Arc::strong_count == 1`: only the
//! intern table holds them) are swept once releases since the last sweep
//! reach the number of sets, so a sweep's cost is amortised over the
//! releases that made its garbage.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use octoflow_prefix::Prefix;
use octoflow_proto::RouteAttrs;
use prefix_trie::PrefixMap;

use crate::msg::{nlri, Update};

/// Fewer releases than this never trigger a sweep.
const SWEEP_MIN: usize = 1024;

/// The routes of one peer (or one BMP monitored peer and RIB).
#[derive(Default)]
pub struct Rib {
    v4: PrefixMap<(u32, u8), Arc<RouteAttrs>>,
    v6: PrefixMap<(u128, u8), Arc<RouteAttrs>>,
    interned: HashSet<Arc<RouteAttrs>>,
    /// Attribute references dropped since the last sweep.
    released: usize,
}

enum Key {
    V4((u32, u8)),
    V6((u128, u8)),
}

/// The trie key of `p`, host bits cleared; `None` for an impossible length.
fn key(p: &Prefix) -> Option<Key> {
    match p.addr {
        IpAddr::V4(a) => Some(Key::V4((u32::from(a) & nlri::mask4(p.len)?, p.len))),
        IpAddr::V6(a) => Some(Key::V6((u128::from(a) & nlri::mask6(p.len)?, p.len))),
    }
}

fn prefix4((a, len): (u32, u8)) -> Prefix {
    Prefix {
        addr: IpAddr::V4(a.into()),
        len,
    }
}

fn prefix6((a, len): (u128, u8)) -> Prefix {
    Prefix {
        addr: IpAddr::V6(a.into()),
        len,
    }
}

impl Rib {
    pub fn new() -> Rib {
        Rib::default()
    }

    /// An UPDATE: its withdrawals, then its announcements with its
    /// attributes (withdrawn too when it is treat-as-withdraw or has none).
    pub fn apply(&mut self, u: &Update) {
        for p in &u.withdrawn {
            self.withdraw(p);
        }
        match &u.attrs {
            Some(a) if !u.treat_as_withdraw => {
                if let Some((first, rest)) = u.announced.split_first() {
                    let a = self.intern(a.clone());
                    for p in rest {
                        self.insert(p, a.clone());
                    }
                    self.insert(first, a);
                }
            }
            _ => {
                for p in &u.announced {
                    self.withdraw(p);
                }
            }
        }
    }

    /// Adds or replaces the route to `prefix`.
    pub fn announce(&mut self, prefix: Prefix, attrs: RouteAttrs) {
        let a = self.intern(attrs);
        self.insert(&prefix, a);
    }

    /// Removes the route to `prefix`; false when there was none.
    pub fn withdraw(&mut self, prefix: &Prefix) -> bool {
        let old = match key(prefix) {
            Some(Key::V4(k)) => self.v4.remove(&k),
            Some(Key::V6(k)) => self.v6.remove(&k),
            None => None,
        };
        let found = old.is_some();
        if found {
            self.release(old);
        }
        found
    }

    fn insert(&mut self, prefix: &Prefix, a: Arc<RouteAttrs>) {
        let old = match key(prefix) {
            Some(Key::V4(k)) => self.v4.insert(k, a),
            Some(Key::V6(k)) => self.v6.insert(k, a),
            None => None,
        };
        if old.is_some() {
            self.release(old);
        }
    }

    fn intern(&mut self, a: RouteAttrs) -> Arc<RouteAttrs> {
        if let Some(x) = self.interned.get(&a) {
            return x.clone();
        }
        let x = Arc::new(a);
        self.interned.insert(x.clone());
        x
    }

    fn release(&mut self, old: Option<Arc<RouteAttrs>>) {
        drop(old);
        self.released += 1;
        if self.released >= self.interned.len().max(SWEEP_MIN) {
            self.sweep();
        }
    }

    /// Drops the interned attribute sets no route (and no one else) holds;
    /// returns how many. Runs by itself as routes go; public for tests and
    /// for an owner that wants the memory back now.
    pub fn sweep(&mut self) -> usize {
        let before = self.interned.len();
        self.interned.retain(|a| Arc::strong_count(a) > 1);
        self.released = 0;
        before - self.interned.len()
    }

    /// The most specific route containing `a` (an IPv4-mapped IPv6 address
    /// is looked up as IPv4).
    #[inline]
    pub fn lookup(&self, a: IpAddr) -> Option<(Prefix, &Arc<RouteAttrs>)> {
        match octoflow_prefix::v4(a) {
            Some(x) => self
                .v4
                .get_lpm(&(u32::from(x), 32))
                .map(|(k, v)| (prefix4(k), v)),
            None => match a {
                IpAddr::V6(x) => self
                    .v6
                    .get_lpm(&(u128::from(x), 128))
                    .map(|(k, v)| (prefix6(k), v)),
                IpAddr::V4(_) => None,
            },
        }
    }

    /// The route to exactly `p`.
    pub fn get(&self, p: &Prefix) -> Option<&Arc<RouteAttrs>> {
        match key(p)? {
            Key::V4(k) => self.v4.get(&k),
            Key::V6(k) => self.v6.get(&k),
        }
    }

    /// The most specific route covering `p` (`p` itself included).
    pub fn covering(&self, p: &Prefix) -> Option<(Prefix, &Arc<RouteAttrs>)> {
        match key(p)? {
            Key::V4(k) => self.v4.get_lpm(&k).map(|(k, v)| (prefix4(k), v)),
            Key::V6(k) => self.v6.get_lpm(&k).map(|(k, v)| (prefix6(k), v)),
        }
    }

    /// Routes per family: (IPv4, IPv6).
    pub fn len(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    pub fn is_empty(&self) -> bool {
        self.v4.len() == 0 && self.v6.len() == 0
    }

    /// Interned attribute sets (including any not swept yet).
    pub fn attr_sets(&self) -> usize {
        self.interned.len()
    }

    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
        self.interned.clear();
        self.released = 0;
    }

    /// Every route, IPv4 then IPv6, each family in prefix order.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &Arc<RouteAttrs>)> {
        let v4 = self.v4.iter().map(|(k, v)| (prefix4(k), v));
        v4.chain(self.v6.iter().map(|(k, v)| (prefix6(k), v)))
    }
}
