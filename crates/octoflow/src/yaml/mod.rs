//! The configuration file as written: the serde structs ([`raw`]) and the checks
//! of single values with their key paths ([`check`]), sizes and durations
//! ([`units`]). Collectors, output kinds
//! and the whole-file validation (`crate::config`) build on these.

pub mod check;
pub mod raw;
pub mod units;
