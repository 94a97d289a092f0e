//! The command-line tools beside the server: `dump` (a troubleshooting decoder,
//! live or from a capture), `gen` (a load and demo generator), `sink` (a
//! counting receiver for load tests), and the pcap reader they share.

pub mod dump;
pub mod gen;
pub mod pcap;
pub mod sink;
