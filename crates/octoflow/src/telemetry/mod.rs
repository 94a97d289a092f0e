//! What octoflow tells its operators: counters (`/metrics`, `/status`) and logs.

pub mod auth;
pub mod denied;
pub mod http;
pub mod logfile;
pub mod metrics;
