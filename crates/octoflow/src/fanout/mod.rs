//! Fan-out: what a collector hands its outputs ([`Shipment`]), the routes that say
//! which outputs it feeds and with which verdict bit ([`Routes`]), and the
//! outputs' bounded queues ([`queue`]).
//!
//! A collector never waits for an output: it only offers each output's bounded
//! queue ([`crate::fanout::queue`]) the shipment; a full queue drops it for that
//! output alone, counted there.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use octoflow_prefix::{Filter, Verdicts};
use octoflow_proto::{Batch, FlowRecord, RouteAttrs};

pub mod queue;

use crate::telemetry::metrics::OutputMetrics;
use crate::util::Latest;
use queue::{QueueTx, Refused};

/// One decoded datagram, shared by every output the collector feeds.
#[derive(Debug)]
pub struct Decoded {
    /// The router's address (v4-mapped IPv6 unmapped) and port it came from:
    /// what `preserve_source` sends the router's own datagrams from.
    pub from: SocketAddr,
    pub datagram: Vec<u8>,
    pub batch: Batch,
    /// Per record of `batch`, which outputs' filters pass it (bits of the
    /// route's [`Verdicts`] table); empty when no output filters.
    pub verdicts: Vec<u64>,
    /// When the collector received it, Unix ms (the codec keeps no clock, so
    /// the batch does not say).
    pub received_ms: u64,
    /// The name the collector's `sources` give the exporting device, as an
    /// index into [`Origin::sources`]; `None` when it is not named. Found once
    /// per datagram (all its records come from one device).
    pub source: Option<u16>,
    /// Per record of `batch`, the route toward its destination, when the
    /// collector enriches from BGP or BMP (empty otherwise). An `Arc` shared
    /// with the RIB: the record stays `Copy` and small, and the route's AS
    /// path and communities are never copied.
    pub routes: Vec<Option<Arc<RouteAttrs>>>,
    /// Per record of `batch`, its source's and destination's network labels
    /// as indexes into `networks` (0: none), when the collector has
    /// `enrichment.networks` (empty otherwise).
    pub nets: Vec<[u32; 2]>,
    pub networks: Option<Arc<crate::enrich::networks::Networks>>,
}

impl Decoded {
    /// The route of `r`, a record of this datagram's batch.
    #[inline]
    pub fn route_of(&self, r: &FlowRecord) -> Option<&RouteAttrs> {
        if self.routes.is_empty() {
            return None;
        }
        // `r` is an element of `batch.records`: its index from the addresses.
        let i = self.index_of(r)?;
        self.routes.get(i)?.as_deref()
    }

    /// The labels of side `dst` (false: source) of `r`, a record of this
    /// datagram's batch.
    #[inline]
    pub fn labels_of(&self, r: &FlowRecord, dst: bool) -> Option<&crate::enrich::networks::Labels> {
        let n = self.networks.as_ref()?;
        let i = self.index_of(r)?;
        n.labels(self.nets.get(i)?[usize::from(dst)])
    }

    /// The index of `r` in `batch.records`, if it is one of them.
    #[inline]
    fn index_of(&self, r: &FlowRecord) -> Option<usize> {
        let base = self.batch.records.as_ptr() as usize;
        let i = (r as *const FlowRecord as usize).wrapping_sub(base) / size_of::<FlowRecord>();
        std::ptr::eq(self.batch.records.get(i)?, r).then_some(i)
    }
}

/// Where a shipment comes from: the collector, and the names it gives its
/// exporting devices (`collectors[].sources`). Built once when the collector
/// starts and shared by every shipment, so outputs learn it at no cost per record.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub collector: String,
    /// Source names, indexed by [`Decoded::source`].
    pub sources: Vec<String>,
}

impl Default for Decoded {
    fn default() -> Decoded {
        Decoded {
            from: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            datagram: Vec::new(),
            batch: Batch::default(),
            verdicts: Vec::new(),
            received_ms: 0,
            source: None,
            routes: Vec::new(),
            nets: Vec::new(),
            networks: None,
        }
    }
}

/// What a collector hands one output per receive call: the decoded datagrams
/// (shared by every output) and which of their records are this output's.
#[derive(Debug, Clone)]
pub struct Shipment {
    pub origin: Arc<Origin>,
    pub datagrams: Arc<Vec<Arc<Decoded>>>,
    /// This output's bit in each record's verdict word; `None`: it takes every
    /// record (no filter).
    pub bit: Option<u64>,
}

impl Shipment {
    /// The records that are the output's (its verdict bit set), with their
    /// datagram.
    pub fn records(&self) -> impl Iterator<Item = (&Decoded, &FlowRecord)> {
        self.records_of(None)
    }

    /// The records that are the output's, from the datagrams `keep` marks (all
    /// when `None`; a store's `sources`).
    pub fn records_of<'a>(
        &'a self,
        keep: Option<&'a [bool]>,
    ) -> impl Iterator<Item = (&'a Decoded, &'a FlowRecord)> {
        let kept = move |j: usize| keep.is_none_or(|k| k.get(j) == Some(&true));
        self.datagrams
            .iter()
            .enumerate()
            .filter(move |(j, _)| kept(*j))
            .flat_map(move |(_, d)| {
                d.batch
                    .records
                    .iter()
                    .enumerate()
                    .filter(move |(i, _)| match self.bit {
                        None => true,
                        Some(b) => d.verdicts.get(*i).is_some_and(|v| v & b != 0),
                    })
                    .map(move |(_, r)| (&**d, r))
            })
    }
}

/// An output's queue as a collector sees it.
#[derive(Clone)]
pub struct Feed {
    pub tx: QueueTx,
    pub metrics: Arc<OutputMetrics>,
    /// The output's tenant filter, for the collector's [`Verdicts`].
    pub filter: Arc<Filter>,
}

/// A collector's outputs with their verdict bits, and the table that computes
/// the bits.
#[derive(Default)]
pub struct Route {
    /// Each output and its bit (`None`: unfiltered).
    pub feeds: Vec<(Feed, Option<u64>)>,
    /// `None` when no output filters.
    pub table: Option<Verdicts>,
}

impl Route {
    /// Assign each filtered output a bit (in `feeds` order) and build the table.
    /// A collector feeds at most [`Verdicts::MAX`] filtered outputs (the
    /// configuration refuses more), so every filtered output gets its bit.
    fn new(feeds: Vec<Feed>) -> Route {
        Route::build(feeds, false)
    }

    /// This route for a collector that withholds some records from every
    /// output (`allow_from`: flows outside their sender's networks): every
    /// output gets a verdict bit — an unfiltered one with a filter matching
    /// every address — so clearing a record's word withholds it from all.
    pub fn restricted(&self) -> Route {
        Route::build(self.feeds.iter().map(|(f, _)| f.clone()).collect(), true)
    }

    fn build(feeds: Vec<Feed>, every_output_filtered: bool) -> Route {
        let feeds: Vec<Feed> = if every_output_filtered {
            let everything = Arc::new(Filter::everything());
            feeds
                .into_iter()
                .map(|mut f| {
                    if f.filter.is_empty() {
                        f.filter = everything.clone();
                    }
                    f
                })
                .collect()
        } else {
            feeds
        };
        let filtered: Vec<Arc<Filter>> = feeds
            .iter()
            .filter(|f| !f.filter.is_empty())
            .map(|f| f.filter.clone())
            .collect();
        let table = if filtered.is_empty() {
            None
        } else {
            Verdicts::new(filtered)
        };
        let mut next = 0u32;
        let feeds = feeds
            .into_iter()
            .filter_map(|f| {
                if f.filter.is_empty() {
                    return Some((f, None));
                }
                let bit = 1u64 << next;
                next += 1;
                // Without a table there is no bit to select by: this output gets
                // nothing rather than another tenant's flows.
                table.as_ref().map(|_| (f, Some(bit)))
            })
            .collect();
        Route { feeds, table }
    }

    /// Give every output the datagrams of one receive call; `flows` is how many
    /// records they hold (for the drop counters).
    pub fn ship(&self, origin: &Arc<Origin>, datagrams: Vec<Arc<Decoded>>, flows: u64) {
        // One queue operation per output per receive call, not per datagram.
        let n = datagrams.len() as u64;
        let datagrams = Arc::new(datagrams);
        for (f, bit) in &self.feeds {
            let s = Shipment {
                origin: origin.clone(),
                datagrams: datagrams.clone(),
                bit: *bit,
            };
            match f.tx.offer(s) {
                Ok(()) | Err(Refused::Gone) => {}
                Err(Refused::Full) => {
                    f.metrics.queue_drops.fetch_add(n, Relaxed);
                    f.metrics.queue_drop_flows.fetch_add(flows, Relaxed);
                }
            }
        }
    }
}

/// The outputs a collector feeds now. The supervisor replaces the route when
/// outputs start, stop or change; the collector picks the new one up at its next
/// datagram (or within its 100 ms receive timeout), without a lock per datagram.
#[derive(Default)]
pub struct Routes(Latest<Route>);

impl Routes {
    pub fn set(&self, feeds: Vec<Feed>) {
        self.0.set(Route::new(feeds));
    }

    /// The route, when it changed since `seen` (which is updated).
    pub fn changed(&self, seen: &mut u64) -> Option<Arc<Route>> {
        self.0.changed(seen)
    }
}

/// Recycles [`Decoded`] buffers once every output has dropped its reference, so
/// steady-state receiving does not allocate: the datagram buffer and the batch's
/// vectors keep their capacity.
#[derive(Default)]
pub struct Pool {
    free: Vec<Arc<Decoded>>,
    in_flight: VecDeque<Arc<Decoded>>,
}

impl Pool {
    /// Most buffers that may be out with outputs before the pool stops tracking
    /// the oldest (they are then freed by whoever drops them last).
    const MAX_IN_FLIGHT: usize = 16384;
    /// Most spare buffers kept: a burst that queued more gives the rest back.
    const MAX_FREE: usize = 256;

    pub fn take(&mut self) -> Arc<Decoded> {
        while let Some(front) = self.in_flight.front() {
            if Arc::strong_count(front) != 1 {
                break;
            }
            if let Some(r) = self.in_flight.pop_front() {
                self.spare(r);
            }
        }
        self.free.pop().unwrap_or_default()
    }

    pub fn give(&mut self, r: Arc<Decoded>) {
        if Arc::strong_count(&r) == 1 {
            self.spare(r);
            return;
        }
        if self.in_flight.len() == Self::MAX_IN_FLIGHT {
            self.in_flight.pop_front();
        }
        self.in_flight.push_back(r);
    }

    /// Keep a buffer nobody else holds for reuse: its batch is cleared so it pins
    /// no template (the template cache's budget would not see it), and beyond
    /// [`Pool::MAX_FREE`] it is freed.
    fn spare(&mut self, mut r: Arc<Decoded>) {
        if self.free.len() >= Self::MAX_FREE {
            return;
        }
        if let Some(d) = Arc::get_mut(&mut r) {
            d.batch.clear();
            self.free.push(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use octoflow_proto::{Dialect, FieldSpec, Template};

    #[test]
    fn a_recycled_buffer_pins_no_template_and_spare_buffers_are_bounded() {
        let t = Arc::new(
            Template::new(
                300,
                Dialect::Ipfix,
                0,
                vec![FieldSpec {
                    id: 8,
                    len: 4,
                    enterprise: 0,
                }],
            )
            .expect("template"),
        );
        let mut pool = Pool::default();
        let mut bufs: Vec<Arc<Decoded>> = (0..Pool::MAX_FREE + 10).map(|_| pool.take()).collect();
        for b in &mut bufs {
            if let Some(d) = Arc::get_mut(b) {
                d.batch.templates.push(t.clone());
            }
        }
        for b in bufs {
            pool.give(b);
        }
        assert_eq!(
            Arc::strong_count(&t),
            1,
            "a spare buffer keeps an evicted template alive"
        );
        assert_eq!(pool.free.len(), Pool::MAX_FREE);
    }
}
