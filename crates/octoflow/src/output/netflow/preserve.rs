//! `exporters[].preserve_source`: the router's own datagrams (the paths where
//! `octoflow_encode::Path::preserves_source`: whole datagrams and same-version
//! copies) go to the receiver with the router's address and port as their
//! source, as samplicator's `-S` does, so a receiver that tells routers apart by
//! source address sees each router as if it exported there directly.
//!
//! They go through a raw socket (`octoflow_udp::raw`, headers from
//! `octoflow_udp::spoof`), which needs CAP_NET_RAW and no routing set up; the
//! alternative, `IP_TRANSPARENT` with a socket bound to each router's address,
//! needs a privilege too (CAP_NET_RAW or CAP_NET_ADMIN), a socket per router and policy
//! routing for replies that never come. What cannot keep its source is counted:
//! a router of the other address family than the receiver's (sent from
//! octoflow's own socket instead), and a datagram the kernel refuses as over the
//! route's MTU (it does not fragment raw sockets' datagrams: octoflow fragments
//! those over the exporter's `mtu` itself, so this happens only when the route's
//! MTU is smaller than that: dropped).

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use octoflow_udp::raw::{RawSender, RawSocket};

use crate::telemetry::metrics::OutputMetrics;
use crate::util::RateLimit;

/// The raw socket of a `preserve_source` output.
pub struct Preserve {
    raw: RawSender,
    log: RateLimit,
    family_log: RateLimit,
}

/// Open the raw socket when the output starts, so a missing privilege stops it
/// with a message that names the key and says what to do.
pub fn open(index: usize, id: &str, target: SocketAddr) -> Result<RawSocket, String> {
    match RawSocket::open(target) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(format!(
            "exporters[{index}].preserve_source (exporter {id:?}): cannot open a raw socket ({e}): sending with the routers' addresses needs CAP_NET_RAW; run octoflow as root, or grant the capability (systemd: AmbientCapabilities=CAP_NET_RAW; otherwise setcap cap_net_raw+ep on the binary), or remove preserve_source"
        )),
        Err(e) => Err(format!(
            "exporters[{index}].preserve_source (exporter {id:?}): cannot open a raw socket to {target}: {e}"
        )),
    }
}

impl Preserve {
    /// The sender of the socket [`open`] opened (in the output's thread).
    /// Datagrams whose packet would exceed `mtu` (the exporter's) go out in
    /// fragments.
    pub fn new(sock: RawSocket, mtu: usize) -> Preserve {
        Preserve {
            raw: RawSender::new(sock, mtu),
            log: RateLimit::new(Duration::from_secs(60)),
            family_log: RateLimit::new(Duration::from_secs(60)),
        }
    }

    /// Whether a datagram from `src` can keep its source here (the receiver's
    /// family); the others are counted and go out from octoflow's socket.
    pub fn can(&mut self, id: &str, src: SocketAddr, m: &OutputMetrics) -> bool {
        if self.raw.can_send_from(src) {
            return true;
        }
        m.source_family_mismatch.fetch_add(1, Relaxed);
        if self.family_log.ready() {
            tracing::warn!(exporter = %id, router = %src, target = %self.raw.dst(), "preserve_source: the router and the receiver are of different address families; its datagrams go out from octoflow's own address");
        }
        false
    }

    /// Send each datagram of `run` to the receiver from its source, in as few
    /// `sendmmsg` calls as the batch size allows. False when one was not sent.
    pub fn send_run(&mut self, id: &str, run: &[(SocketAddr, &[u8])], m: &OutputMetrics) -> bool {
        let mut ok = true;
        let mut at = 0;
        while at < run.len() {
            match self.raw.send_some(&run[at..]) {
                Ok(0) => break,
                Ok(n) => {
                    let bytes: usize = run[at..at + n].iter().map(|x| x.1.len()).sum();
                    m.datagrams_sent.fetch_add(n as u64, Relaxed);
                    m.bytes_sent.fetch_add(bytes as u64, Relaxed);
                    m.datagrams_source_preserved.fetch_add(n as u64, Relaxed);
                    at += n;
                }
                Err(e) => {
                    // About the datagram at `at`: count it and go on after it.
                    ok = false;
                    let (src, d) = run[at];
                    m.send_errors.fetch_add(1, Relaxed);
                    let too_big = e.too_big();
                    if too_big {
                        m.source_too_big.fetch_add(1, Relaxed);
                    }
                    if self.log.ready() {
                        if too_big {
                            tracing::warn!(exporter = %id, router = %src, "preserve_source: a datagram of {} bytes (or one of its fragments) is over the MTU of the route to the receiver and was dropped: set the exporter's mtu to that route's (octoflow fragments what exceeds it; the kernel does not fragment a raw socket's datagrams)", d.len());
                        } else {
                            tracing::warn!(exporter = %id, router = %src, "preserve_source: send failed: {e}");
                        }
                    }
                    at += 1;
                }
            }
        }
        ok
    }
}
