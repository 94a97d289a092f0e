//! The two threads of a stream or database output.
//!
//! The encoding thread (the instance's) takes shipments from the output's
//! queue, adds the tenant's records to the open batch, and hands the batch on
//! when it holds `batch_rows` rows or its first row waited `linger_ms`. A batch
//! that would take the waiting bytes past `max_buffer_bytes` is dropped there
//! and counted; nothing here ever waits for the server.
//!
//! The delivering thread takes batches in order and delivers each, retrying a
//! server that is away with exponential backoff (0.1 s doubling to 10 s). A
//! batch the server refuses is counted and dropped. When the output stops,
//! what is still waiting gets [`STOP_GRACE`] to be delivered; the rest is
//! counted as dropped.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Deliver, Encode, Failure, SinkSettings};
use crate::fanout::queue::QueueRx;
use crate::instance::ThreadCtl;
use crate::telemetry::metrics::OutputMetrics;
use crate::util::RateLimit;

/// How long batches still waiting at stop may take to be delivered.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// The longest the encoding thread waits for a shipment before it looks at
/// the open batch's age.
const TICK: Duration = Duration::from_millis(50);

/// A batch on its way, with what it counts for.
struct Waiting<B> {
    batch: B,
    rows: u64,
    bytes: u64,
}

/// Run until asked to stop.
pub fn run<E, D>(
    id: String,
    set: SinkSettings,
    mut enc: E,
    dl: D,
    rx: QueueRx,
    m: Arc<OutputMetrics>,
    ctl: ThreadCtl,
) where
    E: Encode,
    D: Deliver<Batch = E::Batch>,
{
    ctl.started();
    let target = dl.target();
    tracing::info!(exporter = %id, %target, "{}", set.describe());
    let (tx, brx) = mpsc::channel::<Waiting<E::Batch>>();
    // Set once the encoding thread is done: the delivering thread then has
    // STOP_GRACE for what is left.
    let done = Arc::new(AtomicBool::new(false));
    let delivering = {
        let (id, m, done) = (id.clone(), m.clone(), done.clone());
        std::thread::Builder::new()
            .name(format!("d:{id}"))
            .spawn(move || deliver_loop(id, dl, brx, m, done))
    };
    let delivering = match delivering {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(exporter = %id, "cannot start the delivering thread: {e}");
            return;
        }
    };
    let mut open = Open::<E> {
        batch: enc.batch(),
        since: None,
    };
    let linger = Duration::from_millis(set.linger_ms);
    loop {
        let shipment = if ctl.stopping() {
            rx.try_recv()
        } else {
            match rx.recv_timeout(TICK) {
                Ok(s) => Some(s),
                Err(RecvTimeoutError::Timeout) => {
                    if open.since.is_some_and(|t| t.elapsed() >= linger) {
                        open.hand_on(&mut enc, &tx, &set, &m);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => None,
            }
        };
        let Some(s) = shipment else { break };
        let mut n = 0u64;
        for (d, r) in s.records() {
            enc.add(&mut open.batch, d, r);
            n += 1;
            if open.since.is_none() {
                open.since = Some(Instant::now());
            }
            if E::rows(&open.batch) >= set.batch_rows {
                open.hand_on(&mut enc, &tx, &set, &m);
            }
        }
        m.flows_matched.fetch_add(n, Relaxed);
        if open.since.is_some_and(|t| t.elapsed() >= linger) {
            open.hand_on(&mut enc, &tx, &set, &m);
        }
    }
    open.hand_on(&mut enc, &tx, &set, &m);
    drop(tx);
    done.store(true, Relaxed);
    if delivering.join().is_err() {
        tracing::error!(exporter = %id, "the delivering thread panicked");
    }
    tracing::info!(
        exporter = %id,
        delivered = m.sink.rows_delivered.load(Relaxed),
        dropped = m.sink.rows_dropped.load(Relaxed),
        rejected = m.sink.rows_rejected.load(Relaxed),
        "stopped"
    );
}

/// The batch being filled.
struct Open<E: Encode> {
    batch: E::Batch,
    /// When its first row came (`None`: empty).
    since: Option<Instant>,
}

impl<E: Encode> Open<E> {
    /// Hand the batch to the delivering thread, or drop it when the buffer is
    /// full; start a new one.
    fn hand_on(
        &mut self,
        enc: &mut E,
        tx: &Sender<Waiting<E::Batch>>,
        set: &SinkSettings,
        m: &OutputMetrics,
    ) {
        if self.since.take().is_none() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, enc.batch());
        let (rows, bytes) = (E::rows(&batch), E::bytes(&batch));
        let waiting = &m.sink.buffer_bytes;
        if waiting.load(Relaxed) + bytes > set.max_buffer_bytes {
            m.sink.rows_dropped.fetch_add(rows, Relaxed);
            return;
        }
        waiting.fetch_add(bytes, Relaxed);
        if let Err(mpsc::SendError(w)) = tx.send(Waiting { batch, rows, bytes }) {
            // The delivering thread is gone (it only ends after this thread).
            waiting.fetch_sub(w.bytes, Relaxed);
            m.sink.rows_dropped.fetch_add(w.rows, Relaxed);
        }
    }
}

fn deliver_loop<D: Deliver>(
    id: String,
    mut dl: D,
    rx: Receiver<Waiting<D::Batch>>,
    m: Arc<OutputMetrics>,
    done: Arc<AtomicBool>,
) {
    let mut log = RateLimit::new(Duration::from_secs(60));
    let mut backoff = BACKOFF_FIRST;
    let target = dl.target();
    let mut report = |e: &Failure, m: &OutputMetrics| {
        if log.ready() {
            match e {
                Failure::Down(why) => tracing::warn!(
                    exporter = %id,
                    %target,
                    waiting_bytes = m.sink.buffer_bytes.load(Relaxed),
                    "cannot deliver, retrying with backoff (rows wait up to max_buffer_bytes, then are dropped and counted): {why}"
                ),
                Failure::Rejected(why) => tracing::error!(
                    exporter = %id,
                    %target,
                    "the server refused a batch, its rows are dropped (sink_rows_rejected): {why}"
                ),
            }
        }
    };
    // Connect at once, so `connected` says the truth before the first flow.
    match dl.connect() {
        Ok(()) => m.connected.store(1, Relaxed),
        Err(e) => {
            m.sink.errors.fetch_add(1, Relaxed);
            report(&e, &m);
            dl.reset();
        }
    }
    let mut stop_at: Option<Instant> = None;
    let past_grace = |stop_at: &mut Option<Instant>| {
        if done.load(Relaxed) {
            let t = *stop_at.get_or_insert_with(|| Instant::now() + STOP_GRACE);
            Instant::now() >= t
        } else {
            false
        }
    };
    while let Ok(mut w) = rx.recv() {
        loop {
            if past_grace(&mut stop_at) {
                m.sink.rows_dropped.fetch_add(w.rows, Relaxed);
                break;
            }
            match dl.deliver(&mut w.batch) {
                Ok(()) => {
                    m.connected.store(1, Relaxed);
                    m.sink.rows_delivered.fetch_add(w.rows, Relaxed);
                    m.sink.batches.fetch_add(1, Relaxed);
                    m.flows_sent.fetch_add(w.rows, Relaxed);
                    m.bytes_sent.fetch_add(w.bytes, Relaxed);
                    backoff = BACKOFF_FIRST;
                    break;
                }
                Err(e @ Failure::Rejected(_)) => {
                    m.sink.rows_rejected.fetch_add(w.rows, Relaxed);
                    report(&e, &m);
                    break;
                }
                Err(e @ Failure::Down(_)) => {
                    m.connected.store(0, Relaxed);
                    m.sink.errors.fetch_add(1, Relaxed);
                    m.send_errors.fetch_add(1, Relaxed);
                    report(&e, &m);
                    dl.reset();
                    sleep_unless_done(backoff, &done);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        m.sink.buffer_bytes.fetch_sub(w.bytes, Relaxed);
    }
}

/// Sleep `d`, waking early once the output is stopping (its remaining
/// batches get [`STOP_GRACE`], not a full backoff).
fn sleep_unless_done(d: Duration, done: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if done.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(50).min(d));
            return;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
}
