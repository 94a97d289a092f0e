//! The metrics endpoint: `GET /metrics` (Prometheus text format) and `GET /status`
//! (JSON), served by one thread with plain std sockets — two fixed documents do not
//! need an HTTP framework. With a token (`super::auth`) every path wants it: 401 and
//! `WWW-Authenticate: Bearer` otherwise.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::telemetry::auth::Token;
use crate::telemetry::metrics::Registry;

pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    let l = TcpListener::bind(addr)
        .map_err(|e| format!("general.metrics_listen: cannot listen on {addr}: {e}"))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("metrics listener: {e}"))?;
    Ok(l)
}

pub fn run(l: TcpListener, reg: Arc<Mutex<Registry>>, token: Option<Token>, stop: Arc<AtomicBool>) {
    while !stop.load(Relaxed) {
        match l.accept() {
            Ok((s, _)) => {
                // The supervisor swaps instances in and out: serve a snapshot.
                let snapshot = reg.lock().map(|r| r.clone()).unwrap_or_default();
                let _ = serve(s, &snapshot, token.as_ref());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn serve(mut s: TcpStream, reg: &Registry, token: Option<&Token>) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut req = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16384 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&req);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    if token.is_some_and(|t| !t.admits(&line)) {
        let body =
            "unauthorized: send Authorization: Bearer <the token in general.metrics_token_file>\n";
        write!(
            s,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"octoflow\"\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return s.flush();
    }
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", reg.prometheus()),
        ("GET", "/status") => ("200 OK", "application/json", reg.status_json()),
        ("GET", "/") => (
            "200 OK",
            "text/plain",
            "octoflow: /metrics (Prometheus), /status (JSON)\n".to_string(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()
}
