//! `octoflow sink`: a counting receiver for load tests and smoke tests. It takes
//! datagrams with `recvmmsg`, decodes them (so flows are counted exactly, templates
//! and all), and prints the totals when the stream goes quiet.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use octoflow_proto::{Batch, Decoder, Limits};

use octoflow_udp::RecvBatch;

pub struct SinkArgs {
    pub listen: SocketAddr,
    /// Stop after this long without a datagram (once one has arrived).
    pub idle: f64,
    /// Stop after this long in any case.
    pub duration: Option<f64>,
    /// Count datagrams and bytes only.
    pub no_decode: bool,
    /// Count per source address and port too.
    pub sources: bool,
}

#[derive(Debug, Default)]
pub struct Counts {
    pub datagrams: u64,
    pub flows: u64,
    pub bytes: u64,
    pub errors: u64,
    /// Per source address and port (with [`SinkArgs::sources`]).
    pub per_source: BTreeMap<SocketAddr, SourceCounts>,
}

/// What came from one source address and port.
#[derive(Debug, Default, Clone, Copy)]
pub struct SourceCounts {
    pub datagrams: u64,
    pub flows: u64,
}

pub fn run(a: SinkArgs) -> Result<Counts, String> {
    let sock =
        UdpSocket::bind(a.listen).map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    let _ = nix::sys::socket::setsockopt(
        &sock.as_fd(),
        nix::sys::socket::sockopt::RcvBuf,
        &(16 << 20),
    );
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    // Runs a GSO sender sends arrive in one piece (and are cut back by RecvBatch).
    octoflow_udp::enable_gro(&sock);
    eprintln!("listening on {}", a.listen);
    let mut rb = RecvBatch::new(64, 65536);
    let mut dec = Decoder::new(Limits::default());
    let mut batch = Batch::default();
    let mut c = Counts::default();
    let start = Instant::now();
    let mut last = None::<Instant>;
    let now_ms = || crate::util::now_ms();
    loop {
        if a.duration
            .is_some_and(|d| start.elapsed().as_secs_f64() >= d)
            || last.is_some_and(|l| l.elapsed().as_secs_f64() >= a.idle)
        {
            break;
        }
        let n = match rb.recv(&sock) {
            Ok(0) => continue,
            Ok(n) => n,
            Err(e) => return Err(format!("receive: {e}")),
        };
        last = Some(Instant::now());
        if a.no_decode && n < 64 {
            // A counting sink stands in for a collector on another machine: it
            // lets datagrams gather for a millisecond (its buffer holds far more)
            // rather than wake for each, so it takes little of the CPU it shares
            // with what is measured.
            std::thread::sleep(Duration::from_millis(1));
        }
        for i in 0..n {
            let (d, from) = rb.get(i);
            c.datagrams += 1;
            c.bytes += d.len() as u64;
            let mut per = match from {
                Some(f) if a.sources => Some(c.per_source.entry(f).or_default()),
                _ => None,
            };
            if let Some(p) = per.as_deref_mut() {
                p.datagrams += 1;
            }
            if a.no_decode {
                continue;
            }
            let ip = crate::util::unmap(from.map(|f| f.ip()).unwrap_or(a.listen.ip()));
            match dec.decode(ip, d, now_ms(), &mut batch) {
                Ok(_) => {
                    let n = batch.records.len() as u64;
                    c.flows += n;
                    if let Some(p) = per {
                        p.flows += n;
                    }
                }
                Err(_) => c.errors += 1,
            }
        }
    }
    Ok(c)
}
