//! `bgp_session`: the passive BGP speaker. It accepts connections from the
//! configured peers only, runs each through `octoflow_bgp::Session` on a
//! thread of its own, and keeps the peer's routes in its RIB; when the
//! session ends, the peer's routes go with it (RFC 4271 §8: a closed session
//! withdraws everything it announced).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use octoflow_bgp::session::{Event, Session, SessionConfig};

use super::listener;
use super::SessionKind;
use crate::enrich::config::{BgpConfig, BgpPeer};
use crate::enrich::routing::{ribs, PeerRib};
use crate::instance::Thread;
use crate::util::{now_ms, unmap, RateLimit};

impl SessionKind for BgpConfig {
    const ID: &'static str = "bgp";

    fn start(&self) -> Result<Thread<()>, String> {
        let l = listener::bind(self.listen, "enrichment.bgp.listen")?;
        let peers: Vec<(IpAddr, Vec<IpAddr>)> = self
            .peers
            .iter()
            .map(|p| (p.address, p.devices.clone()))
            .collect();
        ribs().set_bgp_peers(&peers);
        let cfg = self.clone();
        Thread::spawn("bgp".into(), move |ctl| {
            ctl.started();
            let mut refused = RateLimit::new(Duration::from_secs(60));
            listener::serve(l, &ctl, "bgp", |stream, from, stop| {
                accept(&cfg, stream, from, stop, &mut refused)
            });
        })
    }

    /// Stopped (or removed by a reload): no peer, no routes; a start
    /// configures the peers again.
    fn stopped(&self) {
        ribs().set_bgp_peers(&[]);
    }
}

/// Serve a connection if it comes from a configured peer that has none yet.
fn accept(
    cfg: &BgpConfig,
    stream: TcpStream,
    from: SocketAddr,
    stop: Arc<AtomicBool>,
    refused: &mut RateLimit,
) -> Option<Box<dyn FnOnce() + Send>> {
    let addr = unmap(from.ip());
    let Some(peer) = cfg.peers.iter().find(|p| p.address == addr).cloned() else {
        if refused.ready() {
            tracing::warn!(from = %from, "BGP connection from an address that is not in enrichment.bgp.peers: closed");
        }
        return None;
    };
    let rib = ribs().bgp_peer(addr)?;
    if rib.state().connected {
        // One session per peer (RFC 4271 §6.8 collision handling simplified:
        // the session already up is kept).
        if refused.ready() {
            tracing::warn!(peer = %addr, "second BGP connection from a connected peer: closed");
        }
        return None;
    }
    rib.state().connected = true;
    let session = SessionConfig {
        local_asn: cfg.asn,
        router_id: cfg.router_id,
        hold_time: cfg.hold_time,
        peer_asn: peer.asn,
    };
    Some(Box::new(move || {
        let why = run(stream, &peer, session, &rib, &stop);
        let mut st = rib.state();
        st.connected = false;
        st.up_since_ms = 0;
        st.last_error = why.clone();
        drop(st);
        let (v4, v6) = rib.read().len();
        rib.write().clear();
        tracing::info!(peer = %peer.address, routes_withdrawn = v4 + v6, "BGP session ended: {why}");
    }))
}

/// One session until it ends; returns why it ended.
fn run(
    mut stream: TcpStream,
    peer: &BgpPeer,
    cfg: SessionConfig,
    rib: &PeerRib,
    stop: &AtomicBool,
) -> String {
    let mut s = Session::new(cfg, now_ms());
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut why = String::new();
    loop {
        s.transmit(&mut out);
        if !out.is_empty() {
            if let Err(e) = stream.write_all(&out) {
                s.connection_lost(&format!("cannot send: {e}"));
            }
            out.clear();
        }
        // Events first: routes applied under one write lock per read.
        let mut w = None;
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Established {
                    peer_asn,
                    peer_id,
                    hold_time,
                    ..
                } => {
                    let mut st = rib.state();
                    st.up_since_ms = now_ms();
                    st.peer_asn = peer_asn;
                    st.peer_id = peer_id.to_string();
                    tracing::info!(peer = %peer.address, asn = peer_asn, id = %peer_id, hold_time, "BGP session established");
                }
                Event::Update(u) => {
                    let mut st = rib.state();
                    st.updates += u.announced.len() as u64;
                    st.withdrawals += u.withdrawn.len() as u64;
                    drop(st);
                    w.get_or_insert_with(|| rib.write()).apply(&u);
                }
                Event::Closed { reason, .. } => why = reason,
            }
        }
        drop(w);
        if s.is_closed() {
            // What the session queued last (a NOTIFICATION) still goes out.
            s.transmit(&mut out);
            let _ = stream.write_all(&out);
            return if why.is_empty() { "closed".into() } else { why };
        }
        if stop.load(Relaxed) {
            s.shutdown("octoflow stops");
            continue;
        }
        match stream.read(&mut buf) {
            Ok(0) => s.connection_lost("the peer closed the connection"),
            Ok(n) => s.receive(&buf[..n], now_ms()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => s.connection_lost(&format!("cannot read: {e}")),
        }
        let now = now_ms();
        if s.poll_timeout().is_some_and(|t| now >= t) {
            s.handle_timeout(now);
        }
    }
}
