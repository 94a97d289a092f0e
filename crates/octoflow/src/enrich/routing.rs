//! The RIBs the collectors look flows up in: one per BGP peer (filled by the
//! `bgp` session's connections) and one per peer a BMP-exporting router
//! monitors (filled by the `bmp` station). The process has one [`Ribs`]
//! ([`ribs`]): sessions write, collector threads read.
//!
//! Which RIBs a flow uses is decided by its exporting device: the BGP peer
//! whose `devices` list it (by default the peer's own address), else the
//! peers monitored by the BMP router of the same address. Among several RIBs
//! the most specific route wins; on a tie, the first in [`Ribs::for_device`]'s
//! order (BGP, then BMP's Loc-RIB, post-policy, pre-policy).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use octoflow_bgp::bmp::PeerKey;
use octoflow_bgp::Rib;
use octoflow_prefix::Prefix;
use octoflow_proto::RouteAttrs;

/// What `rib show` and the metrics say about a session.
#[derive(Debug, Clone, Default)]
pub struct PeerState {
    /// A connection is being served (BGP: one per peer).
    pub connected: bool,
    /// Unix ms when the session came up; 0 while it is down.
    pub up_since_ms: u64,
    pub peer_asn: u32,
    pub peer_id: String,
    /// Why it last went down.
    pub last_error: String,
    pub updates: u64,
    pub withdrawals: u64,
}

/// One peer's routes and its session's state.
pub struct PeerRib {
    /// `bgp 192.0.2.10`, or `bmp 192.0.2.1 peer 10.0.0.2 pre-policy`.
    pub name: String,
    rib: RwLock<Rib>,
    pub state: Mutex<PeerState>,
}

impl PeerRib {
    pub fn new(name: String) -> Arc<PeerRib> {
        Arc::new(PeerRib {
            name,
            rib: RwLock::new(Rib::new()),
            state: Mutex::new(PeerState::default()),
        })
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Rib> {
        self.rib.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Rib> {
        self.rib.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, PeerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Every RIB of the process.
#[derive(Default)]
pub struct Ribs {
    /// BGP peers by address.
    bgp: RwLock<HashMap<IpAddr, Arc<PeerRib>>>,
    /// Device → the BGP peer whose RIB its flows use.
    devices: RwLock<HashMap<IpAddr, IpAddr>>,
    /// BMP routers by address, each with its monitored peers.
    bmp: RwLock<HashMap<IpAddr, HashMap<PeerKey, Arc<PeerRib>>>>,
    /// Changes whenever the set of RIBs a device maps to may have changed, so
    /// collectors know when their per-device lists are stale.
    generation: AtomicU64,
}

/// The process's RIBs.
pub fn ribs() -> &'static Ribs {
    static RIBS: LazyLock<Ribs> = LazyLock::new(Ribs::default);
    &RIBS
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// BMP RIBs in lookup order: Loc-RIB, post-policy, pre-policy, then by peer.
fn bmp_rank(k: &PeerKey) -> (u8, [u8; 16]) {
    let kind = match (k.peer_type, k.post_policy) {
        (octoflow_bgp::bmp::PEER_TYPE_LOC_RIB, _) => 0,
        (_, true) => 1,
        (_, false) => 2,
    };
    let a = match k.addr {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    };
    (kind, a)
}

impl Ribs {
    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Relaxed);
    }

    /// Make the configured BGP peers exactly `peers` (address, devices):
    /// RIBs of peers still configured are kept, others dropped.
    pub fn set_bgp_peers(&self, peers: &[(IpAddr, Vec<IpAddr>)]) {
        let mut bgp = write(&self.bgp);
        bgp.retain(|a, _| peers.iter().any(|(p, _)| p == a));
        for (a, _) in peers {
            bgp.entry(*a)
                .or_insert_with(|| PeerRib::new(format!("bgp {a}")));
        }
        let mut devices = write(&self.devices);
        devices.clear();
        for (a, ds) in peers {
            for d in ds {
                devices.insert(*d, *a);
            }
        }
        self.changed();
    }

    /// The RIB of configured BGP peer `a`.
    pub fn bgp_peer(&self, a: IpAddr) -> Option<Arc<PeerRib>> {
        read(&self.bgp).get(&a).cloned()
    }

    /// The RIB of a peer monitored by BMP router `router`, made on first use.
    pub fn bmp_peer(&self, router: IpAddr, key: PeerKey) -> Arc<PeerRib> {
        if let Some(p) = read(&self.bmp).get(&router).and_then(|m| m.get(&key)) {
            return p.clone();
        }
        let mut bmp = write(&self.bmp);
        let peers = bmp.entry(router).or_default();
        let p = peers
            .entry(key)
            .or_insert_with(|| {
                let policy = match (key.peer_type, key.post_policy) {
                    (octoflow_bgp::bmp::PEER_TYPE_LOC_RIB, _) => "loc-rib",
                    (_, true) => "post-policy",
                    (_, false) => "pre-policy",
                };
                PeerRib::new(format!("bmp {router} peer {} {policy}", key.addr))
            })
            .clone();
        drop(bmp);
        self.changed();
        p
    }

    /// Forget BMP router `router` and its peers' routes (its session ended).
    pub fn drop_bmp_router(&self, router: IpAddr) {
        if write(&self.bmp).remove(&router).is_some() {
            self.changed();
        }
    }

    /// Forget one monitored peer (Peer Down).
    pub fn drop_bmp_peer(&self, router: IpAddr, key: &PeerKey) {
        if let Some(m) = write(&self.bmp).get_mut(&router) {
            if m.remove(key).is_some() {
                self.changed();
            }
        }
    }

    /// The RIBs flows from `device` are looked up in, first first.
    pub fn for_device(&self, device: IpAddr) -> Vec<Arc<PeerRib>> {
        let mut out = Vec::new();
        if let Some(peer) = read(&self.devices).get(&device) {
            if let Some(p) = read(&self.bgp).get(peer) {
                out.push(p.clone());
            }
        }
        if let Some(m) = read(&self.bmp).get(&device) {
            let mut peers: Vec<(&PeerKey, &Arc<PeerRib>)> = m.iter().collect();
            peers.sort_by_key(|(k, _)| bmp_rank(k));
            out.extend(peers.into_iter().map(|(_, p)| p.clone()));
        }
        out
    }

    /// Every RIB, BGP peers first, for `rib show`.
    pub fn all(&self) -> Vec<Arc<PeerRib>> {
        let mut bgp: Vec<_> = read(&self.bgp).values().cloned().collect();
        bgp.sort_by(|a, b| a.name.cmp(&b.name));
        let mut bmp: Vec<_> = read(&self.bmp)
            .values()
            .flat_map(|m| m.values().cloned())
            .collect();
        bmp.sort_by(|a, b| a.name.cmp(&b.name));
        bgp.extend(bmp);
        bgp
    }
}

/// The best route toward `a` among `ribs` (already read-locked): the most
/// specific prefix; on a tie the first RIB's.
#[inline]
pub fn best<'a>(
    ribs: &'a [RwLockReadGuard<'a, Rib>],
    a: IpAddr,
) -> Option<(Prefix, &'a Arc<RouteAttrs>)> {
    let mut found: Option<(Prefix, &Arc<RouteAttrs>)> = None;
    for r in ribs {
        if let Some((p, attrs)) = r.lookup(a) {
            if found.as_ref().is_none_or(|(q, _)| p.len > q.len) {
                found = Some((p, attrs));
            }
        }
    }
    found
}
