//! Sending to a receiver: a connected UDP socket, or a TCP connection carrying IPFIX
//! messages back to back (RFC 7011 §10.4: the message header's length field frames
//! them) that reconnects with exponential backoff.
//!
//! With `preserve_source`, the router's own datagrams go out through the
//! output's raw socket instead ([`super::preserve`]), in their order among the
//! others.
//!
//! A receiver that refuses, vanishes or stops reading costs only this output:
//! errors are counted and logged at most once a minute, TCP writes time out, and
//! while disconnected datagrams are counted as dropped.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use octoflow_encode::{Origin, Out};
use octoflow_udp::Sender;

use super::config::{NetflowConfig, Transport as Proto};
use super::preserve::Preserve;
use crate::telemetry::metrics::OutputMetrics;
use crate::util::RateLimit;
use octoflow_udp::raw::RawSocket;

const TCP_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

pub enum Transport {
    Udp {
        id: String,
        sock: Option<UdpSocket>,
        /// Runs of equal-size datagrams go out with UDP GSO until the kernel says
        /// it cannot (then datagram by datagram, for good).
        sender: Sender,
        target: SocketAddr,
        m: Arc<OutputMetrics>,
        log: RateLimit,
        /// `preserve_source`: the raw socket for the router's own datagrams.
        preserve: Option<Box<Preserve>>,
    },
    Tcp {
        id: String,
        target: SocketAddr,
        stream: Option<TcpStream>,
        next_attempt: Instant,
        backoff: Duration,
        m: Arc<OutputMetrics>,
        log: RateLimit,
    },
}

fn udp_socket(target: SocketAddr) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid")
    } else {
        "[::]:0".parse().expect("valid")
    };
    let s = UdpSocket::bind(local)?;
    s.connect(target)?;
    Ok(s)
}

impl Transport {
    /// `preserve` is the raw socket of a `preserve_source` output (UDP only).
    pub fn new(
        id: &str,
        e: &NetflowConfig,
        m: Arc<OutputMetrics>,
        preserve: Option<RawSocket>,
    ) -> Transport {
        match e.transport {
            Proto::Udp => {
                let mut log = RateLimit::new(Duration::from_secs(60));
                let sock = match udp_socket(e.target) {
                    Ok(s) => Some(s),
                    Err(err) => {
                        log.ready();
                        tracing::error!(exporter = %id, target = %e.target, "cannot open a UDP socket to the receiver: {err}");
                        None
                    }
                };
                m.connected.store(sock.is_some() as u64, Relaxed);
                Transport::Udp {
                    id: id.to_string(),
                    sock,
                    sender: Sender::new(64, e.udp_gso),
                    target: e.target,
                    m,
                    log,
                    preserve: preserve.map(|s| Box::new(Preserve::new(s, e.mtu))),
                }
            }
            Proto::Tcp => Transport::Tcp {
                id: id.to_string(),
                target: e.target,
                stream: None,
                next_attempt: Instant::now(),
                backoff: BACKOFF_MIN,
                m,
                log: RateLimit::new(Duration::from_secs(60)),
            },
        }
    }

    /// Called before encoding: connects TCP when due. True when a new connection
    /// was made (the encoder must send templates again).
    #[must_use = "a new session needs templates again (RFC 7011 §8)"]
    pub fn prepare(&mut self) -> bool {
        match self {
            Transport::Udp {
                sock, target, id, ..
            } => {
                if sock.is_none() {
                    *sock = udp_socket(*target).ok();
                    if sock.is_some() {
                        tracing::info!(exporter = %id, "UDP socket to the receiver open");
                    }
                }
                false
            }
            Transport::Tcp {
                id,
                target,
                stream,
                next_attempt,
                backoff,
                m,
                log,
            } => {
                if stream.is_some() || Instant::now() < *next_attempt {
                    return false;
                }
                match TcpStream::connect_timeout(target, TCP_CONNECT_TIMEOUT) {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        let _ = s.set_write_timeout(Some(TCP_WRITE_TIMEOUT));
                        tracing::info!(exporter = %id, target = %target, "TCP connection to the receiver established");
                        *stream = Some(s);
                        *backoff = BACKOFF_MIN;
                        m.connected.store(1, Relaxed);
                        true
                    }
                    Err(e) => {
                        if log.ready() {
                            tracing::warn!(exporter = %id, target = %target, "cannot connect to the receiver: {e}; retrying in {:?}", *backoff);
                        }
                        *next_attempt = Instant::now() + *backoff;
                        *backoff = (*backoff * 2).min(BACKOFF_MAX);
                        false
                    }
                }
            }
        }
    }

    /// Nothing to send for a while: reconnect a dropped TCP session in the meantime.
    /// True when a new connection was made (as [`Transport::prepare`]).
    #[must_use = "a new session needs templates again (RFC 7011 §8)"]
    pub fn idle(&mut self) -> bool {
        match self {
            Transport::Tcp { stream: None, .. } => self.prepare(),
            _ => false,
        }
    }

    /// Send one datagram (UDP) or message (TCP). False when it was not sent.
    pub fn send(&mut self, d: &[u8]) -> bool {
        match self {
            Transport::Udp {
                id, sock, m, log, ..
            } => {
                let Some(s) = sock else {
                    m.send_errors.fetch_add(1, Relaxed);
                    return false;
                };
                match s.send(d) {
                    Ok(_) => {
                        m.datagrams_sent.fetch_add(1, Relaxed);
                        m.bytes_sent.fetch_add(d.len() as u64, Relaxed);
                        m.datagrams_source_own.fetch_add(1, Relaxed);
                        true
                    }
                    Err(e) => {
                        m.send_errors.fetch_add(1, Relaxed);
                        if log.ready() {
                            tracing::warn!(exporter = %id, "send failed: {e} (is the receiver running?)");
                        }
                        false
                    }
                }
            }
            Transport::Tcp {
                id,
                stream,
                next_attempt,
                backoff,
                m,
                log,
                ..
            } => {
                let Some(s) = stream else {
                    m.disconnected_drops.fetch_add(1, Relaxed);
                    return false;
                };
                match s.write_all(d) {
                    Ok(()) => {
                        m.datagrams_sent.fetch_add(1, Relaxed);
                        m.bytes_sent.fetch_add(d.len() as u64, Relaxed);
                        true
                    }
                    Err(e) => {
                        // A partial write breaks the framing: start a new session.
                        m.send_errors.fetch_add(1, Relaxed);
                        m.connected.store(0, Relaxed);
                        if log.ready() {
                            tracing::warn!(exporter = %id, "TCP write failed: {e}; reconnecting in {:?}", *backoff);
                        }
                        let _ = s.shutdown(std::net::Shutdown::Both);
                        *stream = None;
                        *next_attempt = Instant::now() + *backoff;
                        *backoff = (*backoff * 2).min(BACKOFF_MAX);
                        false
                    }
                }
            }
        }
    }

    /// Send every datagram of `out`: one `sendmmsg` per batch over UDP, message
    /// after message over TCP. True when all went.
    pub fn send_all(&mut self, out: &Out) -> bool {
        if out.datagrams.is_empty() {
            return true;
        }
        match self {
            Transport::Udp {
                id,
                sock,
                m,
                log,
                sender,
                preserve,
                ..
            } => {
                let Some(p) = preserve else {
                    let all: Vec<&[u8]> = out.iter().collect();
                    return send_own(id, sock.as_ref(), sender, m, log, &all);
                };
                // Runs of datagrams that keep their router's source, and runs
                // that go out from octoflow's socket, in order.
                let mut all: Vec<(&[u8], Option<SocketAddr>)> =
                    Vec::with_capacity(out.origins.len());
                for (d, o) in out.iter_origins() {
                    let src = match o {
                        Origin::Router(src) if p.can(id, src, m) => Some(src),
                        _ => None,
                    };
                    all.push((d, src));
                }
                let mut ok = true;
                let mut at = 0;
                while at < all.len() {
                    let raw = all[at].1.is_some();
                    let end = all[at..]
                        .iter()
                        .position(|x| x.1.is_some() != raw)
                        .map_or(all.len(), |n| at + n);
                    if raw {
                        let run: Vec<(SocketAddr, &[u8])> = all[at..end]
                            .iter()
                            .filter_map(|&(d, src)| src.map(|s| (s, d)))
                            .collect();
                        ok &= p.send_run(id, &run, m);
                    } else {
                        let own: Vec<&[u8]> = all[at..end].iter().map(|x| x.0).collect();
                        ok &= send_own(id, sock.as_ref(), sender, m, log, &own);
                    }
                    at = end;
                }
                ok
            }
            Transport::Tcp { .. } => {
                let mut ok = true;
                for d in out.iter() {
                    ok &= self.send(d);
                }
                ok
            }
        }
    }

    pub fn close(&mut self) {
        if let Transport::Tcp { stream, m, .. } = self {
            if let Some(s) = stream.take() {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            m.connected.store(0, Relaxed);
        }
    }
}

/// Send `all` on the output's own UDP socket: runs of equal sizes with GSO, the
/// rest with `sendmmsg`. True when all went.
fn send_own(
    id: &str,
    sock: Option<&UdpSocket>,
    sender: &mut Sender,
    m: &OutputMetrics,
    log: &mut RateLimit,
    all: &[&[u8]],
) -> bool {
    let Some(s) = sock else {
        m.send_errors.fetch_add(all.len() as u64, Relaxed);
        return false;
    };
    let mut at = 0;
    let mut ok = true;
    while at < all.len() {
        let had_gso = sender.gso();
        let res = sender.send_some(s, &all[at..]);
        if had_gso && !sender.gso() {
            tracing::info!(exporter = %id, "UDP segmentation offload unavailable; sending datagram by datagram");
        }
        match res {
            Ok(n) if n > 0 => {
                m.datagrams_sent.fetch_add(n as u64, Relaxed);
                m.datagrams_source_own.fetch_add(n as u64, Relaxed);
                let bytes: usize = all[at..at + n].iter().map(|d| d.len()).sum();
                m.bytes_sent.fetch_add(bytes as u64, Relaxed);
                at += n;
            }
            Ok(_) => break,
            Err(f) => {
                // The datagram (or GSO run) at `at` failed (e.g. ECONNREFUSED
                // from an earlier one): count it and go on.
                ok = false;
                m.send_errors.fetch_add(f.datagrams as u64, Relaxed);
                if log.ready() {
                    tracing::warn!(exporter = %id, "send failed: {} (is the receiver running?)", f.error);
                }
                at += f.datagrams;
            }
        }
    }
    ok
}
