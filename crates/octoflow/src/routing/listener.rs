//! What the BGP speaker and the BMP station share: a listening socket polled
//! so the thread sees its stop flag, and one thread per accepted connection,
//! all stopped and joined with it.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::instance::ThreadCtl;

/// How often a blocked read or accept looks at the stop flag.
pub const POLL: Duration = Duration::from_millis(200);

/// Bind `addr` for `what` (`enrichment.bgp.listen`, …), with an error that
/// says what to do.
pub fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, String> {
    let l = TcpListener::bind(addr).map_err(|e| {
        let hint = if e.kind() == ErrorKind::PermissionDenied {
            " (a port below 1024 needs root or CAP_NET_BIND_SERVICE)"
        } else if e.kind() == ErrorKind::AddrInUse {
            " (another process listens there: is a routing daemon running?)"
        } else {
            ""
        };
        format!("{what}: cannot listen on {addr}: {e}{hint}")
    })?;
    l.set_nonblocking(true)
        .map_err(|e| format!("{what}: {addr}: {e}"))?;
    Ok(l)
}

/// Accept connections until the instance stops; `accept` decides for each
/// (peer address) whether to serve it, and returns the connection's work.
/// Every connection thread is stopped and joined before this returns.
pub fn serve(
    listener: TcpListener,
    ctl: &ThreadCtl,
    name: &str,
    mut accept: impl FnMut(TcpStream, SocketAddr, Arc<AtomicBool>) -> Option<Box<dyn FnOnce() + Send>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while !ctl.stopping() {
        match listener.accept() {
            Ok((stream, from)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(POLL));
                let _ = stream.set_nodelay(true);
                if let Some(work) = accept(stream, from, stop.clone()) {
                    match std::thread::Builder::new()
                        .name(format!("{name}:{}", from.ip()))
                        .spawn(work)
                    {
                        Ok(h) => conns.push(h),
                        Err(e) => {
                            tracing::warn!(instance = name, peer = %from, "cannot start a thread for the connection: {e}")
                        }
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                tracing::warn!(instance = name, "accept failed: {e}");
                std::thread::sleep(POLL);
            }
        }
        // Reap connections that ended.
        let (done, running): (Vec<_>, Vec<_>) = conns.into_iter().partition(|h| h.is_finished());
        for h in done {
            let _ = h.join();
        }
        conns = running;
    }
    stop.store(true, Relaxed);
    for h in conns {
        let _ = h.join();
    }
}
