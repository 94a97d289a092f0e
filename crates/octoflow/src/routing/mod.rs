//! Routing sessions as supervised instances: the passive BGP speaker
//! (`bgp_session`, [`bgp`]) and the BMP station (`bmp_session`, [`bmp`]).
//! Each listens on its own address, runs one thread per connected router,
//! and writes routes into the process's RIBs (`crate::enrich::routing`),
//! which the collectors read. The protocols themselves are `octoflow-bgp`'s
//! (sans-IO); this module is the sockets and threads around them.

pub mod bgp;
pub mod bmp;
mod listener;
pub mod show;

pub use bgp::BgpInstance;
pub use bmp::BmpInstance;
