//! The command line: `server`, `client` and its shortcuts (`status`, `start`,
//! `stop`, `restart`, `reload`), `check`, `install-systemd`, `query`, `profile`,
//! `dump`, `gen`, `sink` and the hidden `generate-docs`.

use octoflow_prefix as prefix;

use crate::telemetry::logfile;
use crate::tools::{dump, gen, sink};
use crate::{config, control, query, supervisor, systemd};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

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

/// `octoflow rib …`.
#[derive(Subcommand)]
enum RibCmd {
    /// The RIBs and their sessions; with --peer, a RIB's routes; with an
    /// address or prefix, the route toward it in each RIB.
    Show {
        /// A RIB: its name as listed (`bgp 192.0.2.10`) or its peer's address.
        #[arg(long, value_name = "PEER")]
        peer: Option<String>,
        /// An address (longest match) or a prefix (the route covering it).
        #[arg(value_name = "PREFIX|ADDRESS")]
        what: Option<String>,
    },
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the flow router in the foreground: collectors, tenant filters, exporters.
    Server {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Count what arrives on a UDP port (datagrams, bytes, and decoded flows), for
    /// load and smoke tests; prints the totals once the stream goes quiet.
    Sink {
        /// Listen on HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        listen: SocketAddr,
        /// Stop after S seconds without a datagram (once one arrived).
        #[arg(long, value_name = "S", default_value_t = 2.0)]
        idle: f64,
        /// Stop after S seconds in any case.
        #[arg(long, value_name = "S")]
        duration: Option<f64>,
        /// Count datagrams and bytes only (no decoding).
        #[arg(long)]
        no_decode: bool,
        /// Also print the totals per source address and port.
        #[arg(long)]
        sources: bool,
    },
    /// Control a running server, with the original octoflow client's flags.
    #[command(group(clap::ArgGroup::new("action").required(true).args(["status", "start", "stop", "restart", "reread", "reload", "shutdown"])))]
    Client {
        #[command(flatten)]
        config: ConfigArg,
        /// Show instances: a name (`foo_exporter`), `all`, `collectors` or `exporters`.
        #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "all")]
        status: Option<String>,
        /// Start an instance, `all`, `collectors` or `exporters`.
        #[arg(long, value_name = "NAME")]
        start: Option<String>,
        /// Stop an instance, `all`, `collectors` or `exporters`.
        #[arg(long, value_name = "NAME")]
        stop: Option<String>,
        /// Stop and start again.
        #[arg(long, value_name = "NAME")]
        restart: Option<String>,
        /// Read the configuration file again and report added, changed and removed instances; apply nothing.
        #[arg(long)]
        reread: bool,
        /// Apply the configuration file: start added, stop removed, restart changed instances.
        #[arg(long)]
        reload: bool,
        /// Stop the server.
        #[arg(long)]
        shutdown: bool,
    },
    /// Show instances (same as `client --status`).
    Status {
        #[command(flatten)]
        config: ConfigArg,
        /// An instance, `all`, `collectors` or `exporters`.
        #[arg(default_value = "all")]
        name: String,
    },
    /// Start instances (same as `client --start`).
    Start {
        #[command(flatten)]
        config: ConfigArg,
        name: String,
    },
    /// Stop instances (same as `client --stop`).
    Stop {
        #[command(flatten)]
        config: ConfigArg,
        name: String,
    },
    /// Restart instances (same as `client --restart`).
    Restart {
        #[command(flatten)]
        config: ConfigArg,
        name: String,
    },
    /// Apply the configuration file again (same as `client --reload`).
    Reload {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Write the systemd unit into `general.systemd_path` and print what to run next.
    InstallSystemd {
        #[command(flatten)]
        config: ConfigArg,
        /// The octoflow binary the unit runs (default: this one).
        #[arg(long, value_name = "PATH")]
        exe: Option<PathBuf>,
        /// Write the unit here instead of `general.systemd_path` (for packagers).
        #[arg(long, value_name = "DIR")]
        unit_dir: Option<PathBuf>,
    },
    /// Write the man page and shell completions (for packagers), generated from this
    /// command line's own definition.
    #[command(hide = true)]
    GenerateDocs {
        /// Folder to write octoflow.1 and the completions into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
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
    /// Query a flow store with nfdump's command line: filter, -s statistics, -a/-A aggregation.
    Query {
        #[command(flatten)]
        args: query::args::QueryArgs,
    },
    /// nfsen's profiles: list them, or show a profile's 5-minute slots per channel.
    Profile {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        cmd: query::profile::ProfileCmd,
    },
    /// The web console (profiles' graphs and details, per user): serve the
    /// configuration's `console` section, or print a password's hash for it.
    Console {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        cmd: Option<ConsoleCmd>,
    },
    /// What the running server's BGP and BMP sessions know (as pmacct's
    /// bgp_table_dump_file): `rib show` lists the RIBs, `rib show --peer P`
    /// a RIB's routes, `rib show ADDRESS|PREFIX` the route toward it in each.
    Rib {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        cmd: RibCmd,
    },
    /// Send generated NetFlow/IPFIX/sFlow to a collector, and report what was sent.
    Gen {
        /// Where to send, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        target: SocketAddr,
        /// Send from this HOST:PORT (port 0: any), e.g. 127.0.0.2:0 to act as
        /// another router on loopback.
        #[arg(long, value_name = "HOST:PORT")]
        bind: Option<SocketAddr>,
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
        /// Build N datagrams up front and send them in turn with fresh sequence
        /// numbers: for load tests beyond what building each datagram allows
        /// (their flow times are those of the start).
        #[arg(long, value_name = "N", default_value_t = 0)]
        pool: usize,
        /// Send runs of equal-size datagrams with UDP GSO (one system call and one
        /// trip down the stack per run), so the generator takes less of the CPU it
        /// shares with what it tests. Receivers still get single datagrams.
        #[arg(long)]
        gso: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ConsoleCmd {
    /// Read a password (the first line of stdin) and print its Argon2id hash,
    /// for `console.users[].password_hash`.
    HashPassword,
}

/// `octoflow console hash-password`.
fn hash_password() -> Result<(), String> {
    let mut line = String::new();
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("password (shown as typed): ");
    }
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from stdin: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err("no password on stdin: give one line, e.g. `echo 'secret' | octoflow console hash-password`".into());
    }
    println!("{}", crate::console::auth::hash_password(password)?);
    Ok(())
}

fn generate_docs(out: &std::path::Path) -> Result<(), String> {
    let err = |e: std::io::Error| format!("writing into {}: {e}", out.display());
    std::fs::create_dir_all(out).map_err(err)?;
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(err)?;
    std::fs::write(out.join("octoflow.1"), page).map_err(err)?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut Cli::command(), "octoflow", out).map_err(err)?;
    }
    Ok(())
}

fn init_logging(s: &config::Supervisor) -> Result<(), String> {
    let file = match &s.logfile {
        Some(p) => Some(
            logfile::RotatingFile::open(p, s.log_max_bytes, s.log_max_backups)
                .map_err(|e| format!("supervisor.logfile: cannot open {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let ansi = file.is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr());
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // The Kafka client logs every connection it makes at INFO: octoflow's own
    // lines say what matters (connected, failing, counts), so it only gets
    // to warn.
    let quiet = tracing_subscriber::filter::Targets::new()
        .with_default(s.loglevel)
        .with_target("rskafka", tracing::Level::WARN.min(s.loglevel));
    let _ = tracing_subscriber::fmt()
        .with_max_level(s.loglevel)
        .with_writer(logfile::Tee { file })
        .with_target(false)
        .with_ansi(ansi)
        .finish()
        .with(quiet)
        .try_init();
    Ok(())
}

/// Send a control command to the server named by the configuration's socket.
fn control(config: &std::path::Path, command: &str) -> ExitCode {
    match config::Config::socket_path(config) {
        Ok(socket) => ExitCode::from(control::client(&socket, command) as u8),
        Err(e) => {
            eprintln!("octoflow: {e}");
            ExitCode::from(control::exit::USAGE as u8)
        }
    }
}

/// A command whose reader went away (`octoflow query … | head`) ends there,
/// quietly, as Unix tools do: SIGPIPE back to its default. Rust ignores it, so
/// the next print would fail and panic. Not for the server, whose sockets
/// must not kill it when a receiver goes away.
fn quiet_on_closed_stdout() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_DFL installs no handler of ours; nothing else has changed
    // SIGPIPE's disposition at this point (no thread has started).
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Parse the command line and run what it asks.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.cmd, Cmd::Server { .. }) {
        quiet_on_closed_stdout();
    }
    let r = match cli.cmd {
        Cmd::Server { config } => config::Config::load(&config.config_file)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                init_logging(&c.supervisor)?;
                supervisor::server::run(c)
            }),
        Cmd::Client {
            config,
            status,
            start,
            stop,
            restart,
            reread,
            reload,
            shutdown,
        } => {
            let command = if let Some(n) = status {
                format!("status {n}")
            } else if let Some(n) = start {
                format!("start {n}")
            } else if let Some(n) = stop {
                format!("stop {n}")
            } else if let Some(n) = restart {
                format!("restart {n}")
            } else if reread {
                "reread".into()
            } else if reload {
                "reload".into()
            } else if shutdown {
                "shutdown".into()
            } else {
                unreachable!("clap requires one action")
            };
            return control(&config.config_file, &command);
        }
        Cmd::Sink {
            listen,
            idle,
            duration,
            no_decode,
            sources,
        } => sink::run(sink::SinkArgs {
            listen,
            idle,
            duration,
            no_decode,
            sources,
        })
        .map(|c| {
            println!(
                "received datagrams={} flows={} bytes={} errors={}",
                c.datagrams, c.flows, c.bytes, c.errors
            );
            for (from, s) in &c.per_source {
                println!("source {from} datagrams={} flows={}", s.datagrams, s.flows);
            }
        }),
        Cmd::Status { config, name } => {
            return control(&config.config_file, &format!("status {name}"))
        }
        Cmd::Start { config, name } => {
            return control(&config.config_file, &format!("start {name}"))
        }
        Cmd::Stop { config, name } => return control(&config.config_file, &format!("stop {name}")),
        Cmd::Restart { config, name } => {
            return control(&config.config_file, &format!("restart {name}"))
        }
        Cmd::Reload { config } => return control(&config.config_file, "reload"),
        Cmd::Rib {
            config,
            cmd: RibCmd::Show { peer, what },
        } => {
            let c = control::Command::RibShow { peer, what };
            return control(&config.config_file, &c.to_string());
        }
        Cmd::GenerateDocs { out } => generate_docs(&out),
        Cmd::InstallSystemd {
            config,
            exe,
            unit_dir,
        } => config::Config::load(&config.config_file)
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                if let Some(d) = unit_dir {
                    c.general.systemd_path = d;
                }
                let exe = match exe {
                    Some(e) => e,
                    None => std::env::current_exe().map_err(|e| {
                        format!("cannot tell where this binary is: {e}; give --exe")
                    })?,
                };
                systemd::install(&c, &exe).map(|m| print!("{m}"))
            }),
        Cmd::Query { args } => query::cli(&args),
        Cmd::Profile { config, cmd } => config::Config::load(&config.config_file)
            .map_err(|e| e.to_string())
            .and_then(|c| query::profile::run(&c, &cmd)),
        Cmd::Console {
            cmd: Some(ConsoleCmd::HashPassword),
            ..
        } => hash_password(),
        Cmd::Console { config, cmd: None } => config::Config::load(&config.config_file)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                // Alone, the console logs to stderr (the server's log file is the server's).
                let mut s = c.supervisor.clone();
                s.logfile = None;
                init_logging(&s)?;
                crate::console::serve::run_alone(c)
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
            bind,
            proto,
            rate,
            duration,
            count,
            records,
            prefixes,
            template_every,
            sampling,
            seed,
            pool,
            gso,
        } => {
            if count.is_none() && duration.is_none() {
                Err("gen needs --count N or --duration S".to_string())
            } else {
                gen::run(gen::GenArgs {
                    target,
                    bind,
                    proto,
                    rate,
                    duration,
                    count,
                    records,
                    prefixes: prefixes.clone(),
                    template_every,
                    seed,
                    sampling,
                    pool,
                    gso,
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
