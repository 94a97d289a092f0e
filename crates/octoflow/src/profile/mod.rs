//! Profiles and their channels, as nfsen has them: a profile watches one
//! store; each channel is an nfdump filter whose flows, packets and bytes are
//! counted per 5-minute slot (split TCP/UDP/ICMP/other) as the store takes the
//! flows — not by rescanning. `profiles:` in the configuration:
//!
//! ```yaml
//! profiles:
//!   - id: zone1
//!     store: noc-store
//!     keep_days: 400
//!     channels:
//!       - {name: icmp,  filter: 'proto icmp', colour: '#48C6FF'}
//!       - {name: https, filter: 'port 443',   colour: '#A787FF', sign: '-'}
//! ```
//!
//! [`config`] validates them; [`file`] keeps a profile's slots
//! (`<store path>/profiles/<id>.series`, `octoflow_query::Series`'s
//! encoding); [`counter`] counts in the store's thread. The `octoflow profile`
//! commands are `crate::query::profile`'s.

pub mod config;
pub mod counter;
pub mod file;

pub use config::Profile;
