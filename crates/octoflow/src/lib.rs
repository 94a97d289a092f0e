//! `octoflow`: the flow router. The modules, in the order of the data path:
//! `collector` (receive, decode, verdicts, fan-out) → `output` (encode, send);
//! around them `supervisor` (instances, commands, reload, the server loop),
//! `config`, `control`, `telemetry`, `systemd`, `privileges`; the flow store's
//! readers (`query`, `profile`), the `tools` and the command line (`cli`). See
//! ARCHITECTURE.md.
//!
//! A library only so that the binary (`main.rs`) and the fuzz targets share it:
//! the modules stay private; [`main`] runs the command line and `fuzzing` is the
//! fuzz targets' way in.

mod cli;
mod collector;
mod config;
mod console;
mod control;
mod enrich;
mod fanout;
mod instance;
mod output;
mod privileges;
mod profile;
mod query;
mod redis;
mod routing;
mod supervisor;
mod systemd;
mod telemetry;
mod tools;
mod util;
mod yaml;

use std::process::ExitCode;

/// The `octoflow` command: parse the command line and run what it asks.
pub fn main() -> ExitCode {
    cli::main()
}

#[doc(hidden)]
pub mod benching;
/// The fuzz targets' way in. Not an API.
#[doc(hidden)]
pub mod fuzzing;
