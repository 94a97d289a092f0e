//! The octoflow daemon and tools as a library: the binary (`main.rs`) is the CLI
//! over these modules; benchmarks and tests use them directly.

pub mod collector;
pub mod config;
pub mod control;
pub mod dump;
pub mod exporter;
pub mod filter;
pub mod gen;
pub mod http;
pub mod logfile;
pub mod metrics;
pub mod pcap;
pub mod prefix;
pub mod sink;
pub mod supervisor;
pub mod systemd;
pub mod udp;
pub mod util;
