//! What a group of flows adds up to, and the orders nfdump sorts by.

use std::fmt;
use std::str::FromStr;

use octoflow_proto::FlowRecord;

/// The sums of a group of flows (a top-N row, an aggregated flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Earliest start and latest end, Unix ms.
    pub first_ms: u64,
    pub last_ms: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            flows: 0,
            packets: 0,
            bytes: 0,
            first_ms: u64::MAX,
            last_ms: 0,
        }
    }
}

impl Counters {
    #[inline]
    pub fn add(&mut self, r: &FlowRecord) {
        self.flows += 1;
        self.packets += r.packets;
        self.bytes += r.bytes;
        self.first_ms = self.first_ms.min(r.first_ms);
        self.last_ms = self.last_ms.max(r.last_ms);
    }

    pub fn merge(&mut self, o: &Counters) {
        self.flows += o.flows;
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.first_ms = self.first_ms.min(o.first_ms);
        self.last_ms = self.last_ms.max(o.last_ms);
    }

    /// Milliseconds from the first start to the last end (0 when empty).
    pub fn duration_ms(&self) -> u64 {
        self.last_ms.saturating_sub(self.first_ms.min(self.last_ms))
    }

    /// Packets per second over the duration (0 for a zero duration, as nfdump).
    pub fn pps(&self) -> u64 {
        rate(self.packets, self.duration_ms())
    }

    /// Bits per second over the duration.
    pub fn bps(&self) -> u64 {
        rate(self.bytes.saturating_mul(8), self.duration_ms())
    }

    /// Bytes per packet.
    pub fn bpp(&self) -> u64 {
        self.bytes.checked_div(self.packets).unwrap_or(0)
    }

    /// The value `o` sorts by (times for `tstart`/`tend`).
    pub fn by(&self, o: Order) -> u64 {
        match o {
            Order::Flows => self.flows,
            Order::Packets => self.packets,
            Order::Bytes => self.bytes,
            Order::Pps => self.pps(),
            Order::Bps => self.bps(),
            Order::Bpp => self.bpp(),
            Order::Tstart => self.first_ms,
            Order::Tend => self.last_ms,
        }
    }
}

fn rate(n: u64, ms: u64) -> u64 {
    n.saturating_mul(1000).checked_div(ms).unwrap_or(0)
}

/// What a table or a flow list is ordered by. Counts and rates sort largest
/// first; times earliest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    Flows,
    Packets,
    Bytes,
    Pps,
    Bps,
    Bpp,
    Tstart,
    Tend,
}

impl Order {
    pub const NAMES: &'static str = "flows, packets, bytes, pps, bps, bpp, tstart, tend";

    /// Whether larger values come first.
    pub fn descending(self) -> bool {
        !matches!(self, Order::Tstart | Order::Tend)
    }
}

impl FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> Result<Order, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "flows" | "flow" | "records" => Order::Flows,
            "packets" | "pkts" => Order::Packets,
            "bytes" => Order::Bytes,
            "pps" => Order::Pps,
            "bps" => Order::Bps,
            "bpp" => Order::Bpp,
            "tstart" => Order::Tstart,
            "tend" => Order::Tend,
            _ => return Err(format!("{s:?} is not an order ({})", Order::NAMES)),
        })
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Order::Flows => "flows",
            Order::Packets => "packets",
            Order::Bytes => "bytes",
            Order::Pps => "pps",
            Order::Bps => "bps",
            Order::Bpp => "bpp",
            Order::Tstart => "tstart",
            Order::Tend => "tend",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_rates_and_orders() {
        let mut c = Counters::default();
        for (p, b, f, l) in [(10, 1000, 1_000, 3_000), (30, 3000, 2_000, 5_000)] {
            c.add(&FlowRecord {
                packets: p,
                bytes: b,
                first_ms: f,
                last_ms: l,
                ..FlowRecord::default()
            });
        }
        assert_eq!((c.flows, c.packets, c.bytes), (2, 40, 4000));
        assert_eq!(c.duration_ms(), 4000);
        assert_eq!((c.pps(), c.bps(), c.bpp()), (10, 8000, 100));
        assert_eq!(c.by(Order::Tstart), 1000);
        assert_eq!(Counters::default().pps(), 0);
        assert_eq!("BYTES".parse::<Order>(), Ok(Order::Bytes));
        assert!("size".parse::<Order>().is_err());
    }
}
