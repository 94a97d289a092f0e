//! An output's queue: bounded in datagrams, as `queue_datagrams` says. A
//! collector sends a whole receive call's datagrams as one [`Shipment`]; the
//! count of datagrams waiting decides whether it fits. A collector never waits:
//! what does not fit is dropped for this output alone, and counted.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use super::Shipment;

/// The sending side, one per output, cloned into every collector's route.
#[derive(Clone)]
pub struct QueueTx {
    tx: SyncSender<Shipment>,
    waiting: Arc<AtomicUsize>,
    limit: usize,
}

/// The output thread's side.
pub struct QueueRx {
    rx: Receiver<Shipment>,
    waiting: Arc<AtomicUsize>,
}

/// A queue for at most `datagrams` datagrams.
pub fn queue(datagrams: usize) -> (QueueTx, QueueRx) {
    let limit = datagrams.max(1);
    // Each shipment holds at least one datagram, so a channel of `limit`
    // shipments never fills before the count does.
    let (tx, rx) = sync_channel(limit);
    let waiting = Arc::new(AtomicUsize::new(0));
    (
        QueueTx {
            tx,
            waiting: waiting.clone(),
            limit,
        },
        QueueRx { rx, waiting },
    )
}

/// Why a shipment was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// It would take the queue past `queue_datagrams`.
    Full,
    /// The output has stopped.
    Gone,
}

impl QueueTx {
    /// Queue `s` if its datagrams fit, without waiting.
    pub fn offer(&self, s: Shipment) -> Result<(), Refused> {
        let n = s.datagrams.len();
        // Reserve first, so two collectors feeding one output cannot both pass.
        if self.waiting.fetch_add(n, Relaxed) + n > self.limit {
            self.waiting.fetch_sub(n, Relaxed);
            return Err(Refused::Full);
        }
        match self.tx.try_send(s) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.waiting.fetch_sub(n, Relaxed);
                Err(match e {
                    TrySendError::Full(_) => Refused::Full,
                    TrySendError::Disconnected(_) => Refused::Gone,
                })
            }
        }
    }
}

impl QueueRx {
    fn taken(&self, s: Shipment) -> Shipment {
        self.waiting.fetch_sub(s.datagrams.len(), Relaxed);
        s
    }

    pub fn recv_timeout(&self, wait: Duration) -> Result<Shipment, RecvTimeoutError> {
        self.rx.recv_timeout(wait).map(|s| self.taken(s))
    }

    pub fn try_recv(&self) -> Option<Shipment> {
        self.rx.try_recv().ok().map(|s| self.taken(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fanout::Decoded;

    fn shipment(n: usize) -> Shipment {
        Shipment {
            origin: Arc::default(),
            datagrams: Arc::new((0..n).map(|_| Arc::new(Decoded::default())).collect()),
            bit: None,
        }
    }

    #[test]
    fn queue_datagrams_counts_datagrams_not_shipments() {
        let (tx, rx) = queue(10);
        assert_eq!(tx.offer(shipment(6)), Ok(()));
        assert_eq!(tx.offer(shipment(5)), Err(Refused::Full), "6 + 5 > 10");
        assert_eq!(tx.offer(shipment(4)), Ok(()), "6 + 4 = 10 fits");
        assert_eq!(tx.offer(shipment(1)), Err(Refused::Full));
        assert_eq!(rx.try_recv().map(|s| s.datagrams.len()), Some(6));
        assert_eq!(tx.offer(shipment(6)), Ok(()), "room again once taken");
        drop(rx);
        assert_eq!(tx.offer(shipment(0)), Err(Refused::Gone));
    }
}
