//! The configuration file as written: the serde structs ([`raw`]), the checks
//! of single values with their key paths ([`check`]), sizes and durations
//! ([`units`]), and what validation asks of the machine ([`env`]). Collectors,
//! output kinds and the whole-file validation (`crate::config`) build on these.

pub mod check;
pub mod env;
pub mod raw;
pub mod units;
