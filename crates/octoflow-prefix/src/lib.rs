//! Prefixes and longest-prefix matching in one reusable place.
//!
//! - [`Prefix`]: an IPv4 or IPv6 CIDR prefix (or a bare address).
//! - [`Lpm`]: the value of the most specific prefix that contains an address.
//! - [`Filter`] and [`Verdicts`]: octoflow's tenant filters (most specific entry
//!   wins, source or destination) and all of a collector's filters evaluated at
//!   once, one bit per output.
//!
//! No I/O, no clock; the collector computes verdicts on its thread, the encoder
//! only reads the bits.
#![warn(unreachable_pub)]

mod lpm;
mod prefix;
mod tenant;

pub use lpm::{v4, Lpm};
pub use prefix::Prefix;
pub use tenant::{Entry, Filter, Verdicts};
