//! Any bytes as a configuration file: the whole loader and validator
//! (`octoflow::fuzzing::config`, offline) must never panic, and a file that loads
//! must load again with nothing changed.
//!
//! Two modes, by the first byte:
//! - anything but 0: the bytes are the file (invalid UTF-8 replaced);
//! - 0: the rest, split on 0 bytes, are values spliced in turn into the slots of a
//!   valid configuration (ports, addresses, prefixes, sizes, durations, versions,
//!   ids), so that mutations reach the validation of each value and the checks
//!   across instances rather than stopping at the YAML parser. An empty piece
//!   keeps the slot's valid default.
#![no_main]
use libfuzzer_sys::fuzz_target;

/// A configuration with every value checked by the validator marked `$`; the
/// marks are filled in order from `DEFAULTS` or the input.
const TEMPLATE: &str = "\
general:
  metrics_listen: $
  template_cache_dir: $
supervisor:
  unix_socket: $
  logfile: $
  log_maxMB: $
  log_max_backups: $
  loglevel: $
  startretries_instances: $
collectors:
  - id: $
    listen_host: $
    listen_port: $
    nf_version: $
    mux_to: [$, b]
    receive_buffer: $
    template_memory: $
    reuse_port: $
    udp_gro: $
  - id: s
    listen_port: $
    nf_version: $
    mux_to: [$]
exporters:
  - id: $
    type: $
    collector_host: $
    collector_port: $
    collector_version: $
    collector_proto: $
    filters: [$, '!10.0.1.254']
    mtu: $
    template_refresh_secs: $
    template_refresh_packets: $
    queue_datagrams: $
    listen_host: $
    listen_port: $
    sampling_scaling: $
  - id: b
    collector_host: '::1'
    collector_port: $
    collector_version: $
    filters: [$]
  - id: c
    collector_host: 127.0.0.1
    collector_port: 9005
    collector_version: $
    filters: [$]
";

/// Each slot's valid value, in the template's order.
const DEFAULTS: &[&str] = &[
    "127.0.0.1:9555",     // general.metrics_listen
    "off",                // general.template_cache_dir
    "/tmp/octoflow.sock", // supervisor.unix_socket
    "/tmp/octoflow.log",  // supervisor.logfile
    "50",                 // supervisor.log_maxMB
    "10",                 // supervisor.log_max_backups
    "info",               // supervisor.loglevel
    "3",                  // supervisor.startretries_instances
    "routers",            // collectors[0].id
    "127.0.0.1",          // collectors[0].listen_host
    "2055",               // collectors[0].listen_port
    "auto",               // collectors[0].nf_version
    "a",                  // collectors[0].mux_to[0]
    "8388608",            // collectors[0].receive_buffer
    "67108864",           // collectors[0].template_memory
    "false",              // collectors[0].reuse_port
    "true",               // collectors[0].udp_gro
    "6343",               // collectors[1].listen_port
    "sflow",              // collectors[1].nf_version
    "c",                  // collectors[1].mux_to[0]
    "a",                  // exporters[0].id
    "netflow",            // exporters[0].type
    "127.0.0.1",          // exporters[0].collector_host
    "9001",               // exporters[0].collector_port
    "10",                 // exporters[0].collector_version
    "tcp",                // exporters[0].collector_proto
    "'10.0.1.0/24'",      // exporters[0].filters[0]
    "1500",               // exporters[0].mtu
    "20",                 // exporters[0].template_refresh_secs
    "100",                // exporters[0].template_refresh_packets
    "4096",               // exporters[0].queue_datagrams
    "127.0.0.1",          // exporters[0].listen_host
    "9501",               // exporters[0].listen_port
    "false",              // exporters[0].sampling_scaling
    "9002",               // exporters[1].collector_port
    "9",                  // exporters[1].collector_version
    "'10.0.2.142'",       // exporters[1].filters[0]
    "sflow",              // exporters[2].collector_version
    "'192.168.0.0/16'",   // exporters[2].filters[0]
];

fn spliced(data: &[u8]) -> String {
    let mut pieces = data.split(|&b| b == 0);
    let mut out = String::with_capacity(TEMPLATE.len() + data.len());
    let mut slot = 0;
    for part in TEMPLATE.split('$') {
        if slot > 0 {
            match pieces.next().filter(|p| !p.is_empty()) {
                Some(p) => out.push_str(&String::from_utf8_lossy(p)),
                None => out.push_str(DEFAULTS[slot - 1]),
            }
        }
        out.push_str(part);
        slot += 1;
    }
    debug_assert_eq!(slot - 1, DEFAULTS.len());
    out
}

fuzz_target!(|data: &[u8]| {
    let yaml = match data.split_first() {
        Some((0, rest)) => spliced(rest),
        _ => String::from_utf8_lossy(data).into_owned(),
    };
    let _ = octoflow::fuzzing::config(&yaml);
});
