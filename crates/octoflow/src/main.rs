//! The `octoflow` binary: the command line lives in the library (`lib.rs`,
//! `cli.rs`), which the fuzz targets share.

fn main() -> std::process::ExitCode {
    octoflow::main()
}
