//! A collector: one UDP socket, one thread. It receives export datagrams, keeps
//! only the versions it accepts, decodes them with its own template cache, and hands
//! each decoded datagram to its exporters' queues — never waiting for one: a full
//! queue drops that datagram for that exporter alone, counted there.

use std::collections::VecDeque;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use octoflow_proto::{Batch, Decoder, Version};

use crate::config::Collector;
use crate::filter::{Filter, Verdicts};
use crate::metrics::{CollectorMetrics, ExporterMetrics};
use crate::udp::RecvBatch;
use crate::util::{now_ms, RateLimit};

/// Messages taken per receive call (each a datagram or, with UDP GRO, a run of
/// them).
const BATCH: usize = 64;

/// The decoded datagrams of one receive call, shared by every exporter.
pub type Shipment = Arc<Delivery>;

/// What one receive call gives every exporter.
pub struct Delivery {
    pub items: Vec<Arc<Received>>,
    /// The table the items' `verdicts` were computed with (`None`: none were).
    pub verdicts: Option<Arc<Verdicts>>,
}

/// One decoded datagram, shared by every exporter the collector feeds.
#[derive(Debug, Default)]
pub struct Received {
    pub datagram: Vec<u8>,
    pub batch: Batch,
    /// Per record of `batch`, which tenants' filters pass it (bits of the
    /// delivery's [`Verdicts`] table); empty when there is no table.
    pub verdicts: Vec<u64>,
}

/// Recycles `Received` buffers once every exporter has dropped its reference, so
/// steady-state receiving does not allocate: the datagram buffer and the batch's
/// vectors keep their capacity.
#[derive(Default)]
struct Pool {
    free: Vec<Arc<Received>>,
    in_flight: VecDeque<Arc<Received>>,
}

impl Pool {
    /// Most buffers that may be out with exporters before the pool stops tracking
    /// the oldest (they are then freed by whoever drops them last).
    const MAX_IN_FLIGHT: usize = 16384;

    fn take(&mut self) -> Arc<Received> {
        while let Some(front) = self.in_flight.front() {
            if Arc::strong_count(front) != 1 {
                break;
            }
            if let Some(r) = self.in_flight.pop_front() {
                self.free.push(r);
            }
        }
        self.free.pop().unwrap_or_default()
    }

    fn give(&mut self, r: Arc<Received>) {
        if Arc::strong_count(&r) == 1 {
            self.free.push(r);
            return;
        }
        if self.in_flight.len() == Self::MAX_IN_FLIGHT {
            self.in_flight.pop_front();
        }
        self.in_flight.push_back(r);
    }
}

/// An exporter's queue as a collector sees it.
#[derive(Clone)]
pub struct Feed {
    pub tx: SyncSender<Shipment>,
    pub metrics: Arc<ExporterMetrics>,
    /// The exporter's tenant filter, for the collector's [`Verdicts`].
    pub filter: Arc<Filter>,
}

/// The verdict table for a set of feeds: worth it when one of them filters.
fn verdicts_for(feeds: &[Feed]) -> Option<Arc<Verdicts>> {
    if feeds.iter().all(|f| f.filter.is_empty()) {
        return None;
    }
    Verdicts::new(feeds.iter().map(|f| f.filter.clone()).collect()).map(Arc::new)
}

/// The exporters a collector feeds now. The supervisor replaces the list when
/// exporters start, stop or change; the collector picks the new one up at its next
/// datagram (or within its 100 ms receive timeout), without a lock per datagram.
#[derive(Default)]
pub struct Routes {
    version: AtomicU64,
    feeds: Mutex<Arc<Vec<Feed>>>,
}

impl Routes {
    pub fn set(&self, feeds: Vec<Feed>) {
        if let Ok(mut f) = self.feeds.lock() {
            *f = Arc::new(feeds);
        }
        self.version.fetch_add(1, Relaxed);
    }

    fn get(&self) -> Arc<Vec<Feed>> {
        self.feeds.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

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
    if c.udp_gro && !crate::udp::enable_gro(&sock) {
        tracing::info!(collector = %c.id, "UDP GRO unavailable on this kernel; receiving datagram by datagram");
    }
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| format!("collector {:?}: {e}", c.id))?;
    Ok(sock)
}

/// Save the template cache atomically (write a temporary file, then rename).
pub fn save_cache(path: &PathBuf, dec: &Decoder) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, dec.cache.save())?;
    std::fs::rename(&tmp, path)
}

/// What a collector thread needs besides its socket and decoder.
pub struct Context {
    pub routes: Arc<Routes>,
    pub metrics: Arc<CollectorMetrics>,
    pub stop: Arc<AtomicBool>,
    pub cache_file: Option<PathBuf>,
    /// Set to the thread's id when it runs (shown as the instance's pid).
    pub tid: Arc<AtomicI32>,
}

/// Run until `stop` is set; returns the decoder so its cache can be saved.
pub fn run(c: Collector, sock: UdpSocket, mut decoder: Decoder, cx: Context) -> Decoder {
    let Context {
        routes,
        metrics: m,
        stop,
        cache_file,
        tid,
    } = cx;
    tid.store(nix::unistd::gettid().as_raw(), Relaxed);
    let mut route_version = u64::MAX;
    let mut feeds: Arc<Vec<Feed>> = Arc::default();
    let mut table: Option<Arc<Verdicts>> = None;
    let mut rb = RecvBatch::new(BATCH, 65536);
    let mut errors_log = RateLimit::new(Duration::from_secs(60));
    let mut version_log = RateLimit::new(Duration::from_secs(60));
    let mut last_tick = Instant::now();
    let mut last_save = Instant::now();
    let mut pool = Pool::default();
    tracing::info!(collector = %c.id, listen = %c.listen, accepts = %c.versions, "collector running");
    while !stop.load(Relaxed) {
        let v = routes.version.load(Relaxed);
        if v != route_version {
            route_version = v;
            feeds = routes.get();
            table = verdicts_for(&feeds);
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            decoder.cache.expire_held(now_ms());
            if let Some(f) = &cache_file {
                if last_save.elapsed() >= Duration::from_secs(60) {
                    last_save = Instant::now();
                    if let Err(e) = save_cache(f, &decoder) {
                        tracing::warn!(collector = %c.id, file = %f.display(), "cannot save the template cache: {e}");
                    }
                }
            }
        }
        let n = match rb.recv(&sock) {
            Ok(0) => continue,
            Ok(n) => n,
            Err(e) => {
                m.receive_errors.fetch_add(1, Relaxed);
                if errors_log.ready() {
                    tracing::warn!(collector = %c.id, "receive error: {e}");
                }
                continue;
            }
        };
        let mut shipment: Vec<Arc<Received>> = Vec::with_capacity(n);
        let mut flows = 0u64;
        for i in 0..n {
            let (d, from) = rb.get(i);
            let Some(from) = from else { continue };
            m.datagrams.fetch_add(1, Relaxed);
            m.bytes.fetch_add(d.len() as u64, Relaxed);
            match Version::detect(d) {
                Ok(v) if !c.versions.contains(v) => {
                    m.rejected_version.fetch_add(1, Relaxed);
                    if version_log.ready() {
                        tracing::warn!(collector = %c.id, from = %from, "dropping {} datagrams: this collector accepts {} (nf_version)", crate::config::version_label(v), c.versions);
                    }
                    continue;
                }
                _ => {}
            }
            let exporter = crate::util::unmap(from.ip());
            let mut shared = pool.take();
            let Some(r) = Arc::get_mut(&mut shared) else {
                // Not reachable: the pool only hands out buffers nobody else holds.
                continue;
            };
            r.datagram.clear();
            r.datagram.extend_from_slice(d);
            if let Err(e) = decoder.decode(exporter, d, now_ms(), &mut r.batch) {
                m.decode_error(&e);
                if errors_log.ready() {
                    tracing::warn!(collector = %c.id, from = %from, reason = e.reason(), "malformed datagram skipped: {e}");
                }
                pool.give(shared);
                continue;
            }
            r.verdicts.clear();
            if let Some(t) = &table {
                // While the records are still in this core's cache.
                r.verdicts
                    .extend(r.batch.records.iter().map(|rec| t.flow(rec)));
            }
            let f = r.batch.records.len() as u64;
            flows += f;
            m.flows.fetch_add(f, Relaxed);
            m.template_misses
                .fetch_add(r.batch.template_misses as u64, Relaxed);
            m.templates_learnt
                .fetch_add(r.batch.templates.len() as u64, Relaxed);
            let device = r.batch.sflow.map(|h| h.agent).unwrap_or(exporter);
            m.device(device, f, r.batch.sequence_gap);
            // The pool keeps a handle to reuse the buffer once the exporters are done.
            pool.give(shared.clone());
            shipment.push(shared);
        }
        if shipment.is_empty() {
            continue;
        }
        // One queue operation per exporter per batch, not per datagram.
        let shipment = Arc::new(Delivery {
            items: shipment,
            verdicts: table.clone(),
        });
        for f in feeds.iter() {
            match f.tx.try_send(shipment.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    f.metrics
                        .queue_drops
                        .fetch_add(shipment.items.len() as u64, Relaxed);
                    f.metrics.queue_drop_flows.fetch_add(flows, Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }
    tracing::info!(collector = %c.id, "collector stopped");
    decoder
}
