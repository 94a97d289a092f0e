//! What `octoflow query` computes over flow records, as nfdump does, without
//! touching files (the store reads them; this crate only sees records):
//!
//! - [`window`]: nfdump's `-t 'yyyy/MM/dd.hh:mm:ss[-yyyy/MM/dd.hh:mm:ss]'`;
//! - [`counters`]: what a group of flows sums to, and the orders (`flows`,
//!   `packets`, `bytes`, `pps`, `bps`, `bpp`, and for flow lists `tstart`,
//!   `tend`);
//! - [`stats`]: `-s FIELD[/ORDER…]` top-N tables, and `-a`/`-A` aggregation
//!   (a top-N over the chosen key fields);
//! - [`series`]: profiles' channels in nfsen's 5-minute slots, counted as flows
//!   arrive, and their compact encoding.
//!
//! Filtering is `octoflow-filter`'s; output formats are the binary's.

#![warn(unreachable_pub)]

pub mod counters;
pub mod series;
pub mod stats;
pub mod window;

pub use counters::{Counters, Order};
pub use series::Series;
pub use stats::{Key, KeyField, StatSpec, Table, TopN};
pub use window::Window;
