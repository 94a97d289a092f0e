//! `bmp_session`: the BMP station (RFC 7854). Routers connect to it and push
//! the RIBs of the peers they monitor; each (router, peer, pre/post-policy)
//! gets a RIB of its own. The router's address is the device whose flows use
//! them. A Peer Down drops that peer's RIB, a closed connection the router's.

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use octoflow_bgp::{BmpError, BmpMessage, BmpReader, PeerKey};

use super::listener;
use super::SessionKind;
use crate::enrich::config::BmpConfig;
use crate::enrich::routing::{ribs, PeerRib};
use crate::instance::Thread;
use crate::util::{now_ms, unmap, RateLimit};

impl SessionKind for BmpConfig {
    const ID: &'static str = "bmp";

    fn start(&self) -> Result<Thread<()>, String> {
        let l = listener::bind(self.listen, "enrichment.bmp.listen")?;
        let cfg = self.clone();
        Thread::spawn("bmp".into(), move |ctl| {
            ctl.started();
            let mut refused = RateLimit::new(Duration::from_secs(60));
            listener::serve(l, &ctl, "bmp", |stream, from, stop| {
                if !cfg.admits(unmap(from.ip())) {
                    if refused.ready() {
                        tracing::warn!(from = %from, "BMP connection from an address not in enrichment.bmp.routers: closed");
                    }
                    return None;
                }
                Some(Box::new(move || station(stream, from, &stop)))
            });
        })
    }
}

/// One router's BMP stream until it ends; then its RIBs go.
fn station(mut stream: TcpStream, from: SocketAddr, stop: &AtomicBool) {
    let router = unmap(from.ip());
    tracing::info!(router = %router, "BMP router connected");
    let mut reader = BmpReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut peers: HashMap<PeerKey, Arc<PeerRib>> = HashMap::new();
    let mut bad = RateLimit::new(Duration::from_secs(60));
    let why = 'conn: loop {
        if stop.load(Relaxed) {
            break "octoflow stops".to_string();
        }
        match stream.read(&mut buf) {
            Ok(0) => break "the router closed the connection".into(),
            Ok(n) => reader.feed(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => break format!("cannot read: {e}"),
        }
        loop {
            let m = match reader.next() {
                Ok(Some(m)) => m,
                Ok(None) => break,
                // The stream is lost: nothing after it can be framed.
                Err(e @ (BmpError::Version(_) | BmpError::Length(_))) => {
                    break 'conn format!("unreadable BMP stream: {e}")
                }
                Err(e) => {
                    if bad.ready() {
                        tracing::warn!(router = %router, "malformed BMP message skipped: {e}");
                    }
                    continue;
                }
            };
            match m {
                BmpMessage::Initiation { sys_name, .. } => {
                    tracing::info!(router = %router, sys_name = sys_name.as_deref().unwrap_or(""), "BMP initiation");
                }
                BmpMessage::Termination => break 'conn "the router sent Termination".into(),
                BmpMessage::PeerUp { peer, .. } => {
                    let rib = ribs().bmp_peer(router, peer.key());
                    let mut st = rib.state();
                    st.connected = true;
                    st.up_since_ms = now_ms();
                    st.peer_asn = peer.asn;
                    st.peer_id = peer.bgp_id.to_string();
                    drop(st);
                    peers.insert(peer.key(), rib);
                }
                BmpMessage::PeerDown { peer, reason } => {
                    peers.remove(&peer.key());
                    ribs().drop_bmp_peer(router, &peer.key());
                    tracing::info!(router = %router, peer = %peer.addr, reason, "BMP peer down: its routes are dropped");
                }
                BmpMessage::RouteMonitoring { peer, update } => {
                    let key = peer.key();
                    let rib = peers
                        .entry(key)
                        .or_insert_with(|| ribs().bmp_peer(router, key));
                    let mut st = rib.state();
                    st.updates += update.announced.len() as u64;
                    st.withdrawals += update.withdrawn.len() as u64;
                    drop(st);
                    rib.write().apply(&update);
                }
                BmpMessage::Statistics { .. } | BmpMessage::Other(_) => {}
            }
        }
    };
    ribs().drop_bmp_router(router);
    tracing::info!(router = %router, "BMP session ended: {why}; its routes are dropped");
}
