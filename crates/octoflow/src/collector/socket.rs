//! The collector's socket: bound with a large receive buffer, optionally shared
//! (SO_REUSEPORT) and with UDP GRO.

use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::Duration;

use super::config::Collector;

/// Bind the collector's socket with a large receive buffer. The error names the
/// collector and the address, and says what to check.
pub fn bind(c: &Collector) -> Result<UdpSocket, String> {
    use nix::sys::socket::{
        self as ns, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
    };
    let what = |e: String| {
        format!(
            "collector {:?}: cannot listen on udp {}: {e} (is another process using the port, or is the address not on this host?)",
            c.id, c.listen
        )
    };
    let family = if c.listen.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = ns::socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| what(e.to_string()))?;
    if c.reuse_port {
        // Several processes may share the port; the kernel spreads exporters
        // across them by a hash of their address (README "High availability").
        ns::setsockopt(&fd, sockopt::ReusePort, &true).map_err(|e| what(e.to_string()))?;
    }
    if c.listen.is_ipv6() && c.listen.ip().is_unspecified() {
        // `::` takes IPv4 exporters too (as v4-mapped addresses).
        let _ = ns::setsockopt(&fd, sockopt::Ipv6V6Only, &false);
    }
    ns::bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(c.listen),
    )
    .map_err(|e| what(std::io::Error::from(e).to_string()))?;
    let sock = UdpSocket::from(fd);
    // Best effort: the kernel caps it at net.core.rmem_max (README "Performance").
    let _ = ns::setsockopt(&sock.as_fd(), sockopt::RcvBuf, &c.receive_buffer);
    if c.udp_gro && !octoflow_udp::enable_gro(&sock) {
        tracing::info!(collector = %c.id, "UDP GRO unavailable on this kernel; receiving datagram by datagram");
    }
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| format!("collector {:?}: {e}", c.id))?;
    Ok(sock)
}
