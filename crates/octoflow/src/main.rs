//! `octoflow`: the command-line entry point.

mod collector;
mod config;
mod dump;
mod exporter;
mod filter;
mod gen;
mod http;
mod metrics;
mod pcap;
mod prefix;
mod server;
mod util;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "octoflow",
    version,
    about = "Flow router: collect, filter per tenant, replicate, convert and ship NetFlow v5/v9, IPFIX and sFlow"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// `--config-file F` (also the original `--config_file F`).
#[derive(clap::Args)]
struct ConfigArg {
    /// The octoflow YAML configuration.
    #[arg(long = "config-file", alias = "config_file", value_name = "FILE", default_value = config::DEFAULT_PATH)]
    config_file: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the flow router in the foreground: collectors, tenant filters, exporters.
    Server {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Validate a configuration and print its topology (exit 0 when it loads).
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Decode export traffic (live or from a capture) and print the flows.
    Dump {
        /// Listen for export datagrams on HOST:PORT (UDP).
        #[arg(long, value_name = "HOST:PORT", conflicts_with = "pcap")]
        listen: Option<SocketAddr>,
        /// Read a pcap/pcapng capture of export traffic (any UDP port; version per datagram).
        #[arg(long, value_name = "FILE")]
        pcap: Option<PathBuf>,
        /// With --pcap: only datagrams sent to this UDP port.
        #[arg(long)]
        port: Option<u16>,
        /// Stop after printing N flows.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Stop after S seconds (live).
        #[arg(long, value_name = "S")]
        duration: Option<f64>,
        /// Output shape.
        #[arg(long, value_enum, default_value = "text")]
        output: dump::Output,
        /// nfdump-like line format, e.g. 'fmt:%ts %pr %sap -> %dap %pkt %byt'.
        #[arg(long, value_name = "FMT")]
        format: Option<String>,
    },
    /// Send generated NetFlow/IPFIX/sFlow to a collector, and report what was sent.
    Gen {
        /// Where to send, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        target: SocketAddr,
        /// Export protocol.
        #[arg(long, value_enum, default_value = "v9")]
        proto: gen::Proto,
        /// Datagrams per second (0 = as fast as possible).
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Stop after S seconds.
        #[arg(long, value_name = "S")]
        duration: Option<f64>,
        /// Stop after N datagrams.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Flow records (sFlow: samples) per datagram.
        #[arg(long, default_value_t = 25)]
        records: usize,
        /// Source address ranges, used in turn (repeatable; IPv6 too).
        #[arg(long = "prefix", value_name = "CIDR", default_values_t = vec!["10.0.1.0/24".parse::<prefix::Prefix>().expect("valid")])]
        prefixes: Vec<prefix::Prefix>,
        /// Send templates with every N-th datagram (v9/IPFIX).
        #[arg(long, default_value_t = 20)]
        template_every: u64,
        /// Sampling interval to announce (1-in-N; 0 = unsampled).
        #[arg(long, default_value_t = 0)]
        sampling: u32,
        /// PRNG seed (same seed, same flows).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn init_logging(level: tracing::Level) {
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Server { config } => config::Config::load(&config.config_file)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                init_logging(c.supervisor.loglevel);
                server::run(c)
            }),
        Cmd::Check { config } => config::Config::load(&config.config_file)
            .map_err(|e| e.to_string())
            .map(|c| {
                print!("{}", c.describe());
                for w in &c.warnings {
                    println!("warning: {w}");
                }
                println!("{}: OK", c.path.display());
            }),
        Cmd::Dump {
            listen,
            pcap,
            port,
            count,
            duration,
            output,
            format,
        } => dump::run(dump::DumpArgs {
            listen,
            pcap,
            count,
            duration,
            port,
            output,
            format,
        }),
        Cmd::Gen {
            target,
            proto,
            rate,
            duration,
            count,
            records,
            prefixes,
            template_every,
            sampling,
            seed,
        } => {
            if count.is_none() && duration.is_none() {
                Err("gen needs --count N or --duration S".to_string())
            } else {
                gen::run(gen::GenArgs {
                    target,
                    proto,
                    rate,
                    duration,
                    count,
                    records,
                    prefixes: prefixes.clone(),
                    template_every,
                    seed,
                    sampling,
                })
                .map(|s| {
                    println!(
                        "sent datagrams={} flows={} packets={} bytes={}",
                        s.datagrams, s.flows, s.packets, s.bytes
                    );
                    for (p, n) in prefixes.iter().zip(&s.per_prefix) {
                        println!("prefix {p} flows={n}");
                    }
                })
            }
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("octoflow: {e}");
            ExitCode::from(2)
        }
    }
}
