//! `exporters[].preserve_source` end to end, in network namespaces this test
//! makes (`common::netns`; deleted, with every process it started killed by PID,
//! even when it fails):
//!
//! ```text
//!  router ns                 octoflow ns                          receiver ns
//!  10.77.1.2  ── veth ──  10.77.1.1 | 10.77.2.1  ── veth ──  10.77.2.2
//!  fd77:1::2              fd77:1::1 | fd77:2::1              fd77:2::2
//!  octoflow gen           octoflow server (raw sockets)       octoflow sink --sources
//! ```
//!
//! The router's address exists only in the router's namespace, so a receiver
//! that sees it as the source got a datagram octoflow sent with it; and it sees
//! it only if the kernel accepted the headers octoflow wrote (a bad UDP checksum
//! is dropped). Paths: v9 whole and filtered (IPv4 and IPv6), v5 and sFlow
//! filtered, keep the router's address and port; v9 → IPFIX and IPv6 router →
//! IPv4 receiver go out from octoflow's. Skipped, with a message, where
//! namespaces cannot be made (not root, or a kernel that forbids them).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::Lab;
use common::{counter, report, tmpdir, BIN};

/// What a sink printed: total flows, and (datagrams, flows) per source.
struct Received {
    flows: u64,
    datagrams: u64,
    sources: BTreeMap<SocketAddr, (u64, u64)>,
}

fn received(path: &Path) -> Received {
    let text = std::fs::read_to_string(path).expect("sink output");
    let mut sources = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("source ") {
            let addr: SocketAddr = rest
                .split_whitespace()
                .next()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("a source address in {l:?}"));
            sources.insert(addr, (report(rest, "datagrams"), report(rest, "flows")));
        }
    }
    Received {
        flows: report(&text, "flows"),
        datagrams: report(&text, "datagrams"),
        sources,
    }
}

/// What `octoflow gen` sent: (datagrams, flows, flows of the first prefix).
fn sent(path: &Path) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(path).expect("gen output");
    let first = text
        .lines()
        .find(|l| l.starts_with("prefix "))
        .map(|l| report(l, "flows"))
        .expect("per-prefix line");
    (report(&text, "datagrams"), report(&text, "flows"), first)
}

/// The receivers: (exporter id, receiver address).
const RECEIVERS: [(&str, &str); 9] = [
    ("whole4", "10.77.2.2:9001"),
    ("tenant4", "10.77.2.2:9002"),
    ("conv4", "10.77.2.2:9003"),
    ("whole6", "[fd77:2::2]:9001"),
    ("tenant6", "[fd77:2::2]:9002"),
    ("conv6", "[fd77:2::2]:9003"),
    // An IPv6 router's datagrams to an IPv4 receiver cannot keep their source.
    ("cross", "10.77.2.2:9004"),
    // v5 -> v5 and sFlow -> sFlow, filtered: the router's records / samples.
    ("tenant5", "10.77.2.2:9005"),
    ("tenantsf", "10.77.2.2:9006"),
];

fn config(dir: &Path, metrics: u16) -> PathBuf {
    let out = |id: &str, to: &str, version: &str, filters: &str| {
        let a: SocketAddr = to.parse().expect("receiver");
        format!(
            "  - {{id: {id}, collector_host: '{}', collector_port: {}, collector_version: {version}, preserve_source: true{filters}}}\n",
            a.ip(),
            a.port()
        )
    };
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{metrics}}}\n\
         supervisor: {{unix_socket: {}/octoflow.sock, loglevel: info}}\n\
         collectors:\n  \
         - {{id: c4, listen_host: 10.77.1.1, listen_port: 2055, nf_version: 9, mux_to: [whole4, tenant4, conv4]}}\n  \
         - {{id: c6, listen_host: 'fd77:1::1', listen_port: 2055, nf_version: 9, mux_to: [whole6, tenant6, conv6, cross]}}\n  \
         - {{id: c5, listen_host: 10.77.1.1, listen_port: 2056, nf_version: 5, mux_to: [tenant5]}}\n  \
         - {{id: csf, listen_host: 10.77.1.1, listen_port: 6343, nf_version: sflow, mux_to: [tenantsf]}}\n\
         exporters:\n{}{}{}{}{}{}{}{}{}",
        dir.display(),
        out("whole4", RECEIVERS[0].1, "9", ""),
        out("tenant4", RECEIVERS[1].1, "9", ", filters: ['10.0.1.0/24']"),
        out("conv4", RECEIVERS[2].1, "10", ""),
        out("whole6", RECEIVERS[3].1, "9", ""),
        out("tenant6", RECEIVERS[4].1, "9", ", filters: ['2001:db8:1::/64']"),
        out("conv6", RECEIVERS[5].1, "10", ""),
        out("cross", RECEIVERS[6].1, "9", ""),
        out("tenant5", RECEIVERS[7].1, "5", ", filters: ['10.0.1.0/24']"),
        out("tenantsf", RECEIVERS[8].1, "sflow", ", filters: ['10.0.1.0/24']"),
    );
    let path = dir.join("octoflow.yaml");
    std::fs::write(&path, yaml).expect("config");
    path
}

#[test]
fn receivers_see_the_routers_address_and_port_and_every_flow_on_the_paths_that_keep_it() {
    let Some(mut lab) = Lab::build() else { return };
    let (r, x, c) = (lab.r(), lab.x(), lab.c());
    let dir = tmpdir("preserve");
    let metrics = 9310;
    let conf = config(&dir, metrics);

    // The receivers, each reporting what came from which address and port.
    let mut sinks = Vec::new();
    for (id, to) in RECEIVERS {
        let out = dir.join(format!("sink-{id}.txt"));
        let i = lab.spawn(
            &c,
            &[
                "sink",
                "--listen",
                to,
                "--sources",
                "--idle",
                "3",
                "--duration",
                "60",
            ],
            &out,
        );
        sinks.push((id, i, out));
    }
    lab.wait_udp(&c, 9001, 2);
    lab.wait_udp(&c, 9004, 1);
    lab.wait_udp(&c, 9006, 1);

    let server_out = dir.join("server.txt");
    let conf_s = conf.display().to_string();
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let server = {
        let child = Command::new("ip")
            .args(["netns", "exec", &x, "env"])
            .arg(format!("STATE_DIRECTORY={}", state.display()))
            .args([BIN, "server", "--config-file", &conf_s])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&server_out).expect("log"))
            .spawn()
            .expect("octoflow server");
        lab.procs.push(child);
        lab.procs.len() - 1
    };
    lab.wait_udp(&x, 2055, 2);
    lab.wait_udp(&x, 2056, 1);
    lab.wait_udp(&x, 6343, 1);

    // The router: IPv4 and IPv6 NetFlow v9 from known ports, two address ranges
    // each (the tenants take the first), in datagrams larger than the links' MTU
    // (1888 and 2404 bytes: the router's kernel fragments them, and octoflow
    // must fragment them again to keep their source on the whole path).
    let gen =
        |lab: &mut Lab, proto: &str, target: &str, bind: &str, prefixes: [&str; 2], out: &Path| {
            lab.spawn(
                &r,
                &[
                    "gen",
                    "--proto",
                    proto,
                    "--target",
                    target,
                    "--bind",
                    bind,
                    "--count",
                    "300",
                    "--rate",
                    "1000",
                    "--records",
                    "20",
                    "--prefix",
                    prefixes[0],
                    "--prefix",
                    prefixes[1],
                ],
                out,
            )
        };
    let (g4_out, g6_out) = (dir.join("gen4.txt"), dir.join("gen6.txt"));
    let g4 = gen(
        &mut lab,
        "v9",
        "10.77.1.1:2055",
        "10.77.1.2:40001",
        ["10.0.1.0/24", "10.0.2.0/24"],
        &g4_out,
    );
    let g6 = gen(
        &mut lab,
        "v9",
        "[fd77:1::1]:2055",
        "[fd77:1::2]:40002",
        ["2001:db8:1::/64", "2001:db8:2::/64"],
        &g6_out,
    );
    // And v5 and sFlow from two more ports.
    let (g5_out, gs_out) = (dir.join("gen5.txt"), dir.join("gensf.txt"));
    let v4 = ["10.0.1.0/24", "10.0.2.0/24"];
    let g5 = gen(
        &mut lab,
        "v5",
        "10.77.1.1:2056",
        "10.77.1.2:40003",
        v4,
        &g5_out,
    );
    let gs = gen(
        &mut lab,
        "sflow",
        "10.77.1.1:6343",
        "10.77.1.2:40004",
        v4,
        &gs_out,
    );
    for (g, out) in [(g4, &g4_out), (g6, &g6_out), (g5, &g5_out), (gs, &gs_out)] {
        lab.wait(g, Duration::from_secs(30), out);
    }
    for (_, i, out) in &sinks {
        lab.wait(*i, Duration::from_secs(60), out);
    }
    let status = lab.status(&x, metrics);
    // SIGTERM: the server stops cleanly.
    let _ = Command::new("kill")
        .arg(lab.procs[server].id().to_string())
        .status();
    let st = lab.procs[server].wait().expect("server exit");
    let log = std::fs::read_to_string(&server_out).unwrap_or_default();
    assert!(st.success(), "octoflow server exited with {st}:\n{log}");

    let (d4, f4, first4) = sent(&g4_out);
    let (d6, f6, first6) = sent(&g6_out);
    assert!(f4 > 0 && f6 > 0 && first4 > 0 && first6 > 0);
    let router4: SocketAddr = "10.77.1.2:40001".parse().expect("addr");
    let router6: SocketAddr = "[fd77:1::2]:40002".parse().expect("addr");
    let got: BTreeMap<&str, Received> = sinks
        .iter()
        .map(|(id, _, out)| (*id, received(out)))
        .collect();
    let only = |id: &str, from: SocketAddr| {
        let g = &got[id];
        let froms: Vec<&SocketAddr> = g.sources.keys().collect();
        assert_eq!(
            froms,
            vec![&from],
            "{id}: every datagram from the router\n{log}"
        );
    };
    let own = |id: &str, octoflow: &str| {
        let g = &got[id];
        assert!(!g.sources.is_empty(), "{id} got nothing\n{log}");
        for a in g.sources.keys() {
            assert_eq!(
                a.ip().to_string(),
                octoflow,
                "{id}: re-encoded datagrams come from octoflow's own address\n{log}"
            );
        }
    };

    // Same version, no filter: the router's datagrams unchanged, from the router.
    only("whole4", router4);
    assert_eq!((got["whole4"].datagrams, got["whole4"].flows), (d4, f4));
    only("whole6", router6);
    assert_eq!((got["whole6"].datagrams, got["whole6"].flows), (d6, f6));
    // Same version, filtered: the tenant's records, still from the router.
    only("tenant4", router4);
    assert_eq!(got["tenant4"].flows, first4);
    only("tenant6", router6);
    assert_eq!(got["tenant6"].flows, first6);
    // Conversions are octoflow's datagrams: from octoflow's own address.
    own("conv4", "10.77.2.1");
    assert_eq!(got["conv4"].flows, f4);
    own("conv6", "fd77:2::1");
    assert_eq!(got["conv6"].flows, f6);
    // An IPv6 router to an IPv4 receiver: octoflow's address, counted.
    own("cross", "10.77.2.1");
    assert_eq!(got["cross"].flows, f6);
    // v5 -> v5 and sFlow -> sFlow, filtered: from the router too.
    let (_, _, first5) = sent(&g5_out);
    let (_, _, first_sf) = sent(&gs_out);
    assert!(first5 > 0 && first_sf > 0);
    only("tenant5", "10.77.1.2:40003".parse().expect("addr"));
    assert_eq!(got["tenant5"].flows, first5);
    only("tenantsf", "10.77.1.2:40004".parse().expect("addr"));
    assert_eq!(got["tenantsf"].flows, first_sf);

    // The counters say the same.
    assert_eq!(counter(&status, "whole4", "datagrams_source_preserved"), d4);
    assert_eq!(counter(&status, "whole4", "datagrams_source_own"), 0);
    assert_eq!(counter(&status, "conv4", "datagrams_source_preserved"), 0);
    assert!(counter(&status, "conv4", "datagrams_source_own") > 0);
    assert_eq!(counter(&status, "cross", "source_family_mismatch"), d6);
    for (id, _) in RECEIVERS {
        assert_eq!(counter(&status, id, "send_errors"), 0, "{id}\n{status}");
        assert_eq!(counter(&status, id, "source_too_big"), 0, "{id}");
    }
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_cap_net_raw_the_output_does_not_start_and_says_what_to_do() {
    let dir = tmpdir("preserve-eperm");
    let (cp, rp, mp) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let conf = dir.join("octoflow.yaml");
    std::fs::write(
        &conf,
        format!(
            "general: {{metrics_listen: 127.0.0.1:{mp}}}\n\
             supervisor: {{unix_socket: {}/octoflow.sock}}\n\
             collectors: [{{id: c, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [a]}}]\n\
             exporters: [{{id: a, collector_host: 127.0.0.1, collector_port: {rp}, collector_version: 9, preserve_source: true}}]\n",
            dir.display()
        ),
    )
    .expect("config");
    let log = dir.join("server.log");
    // As root, drop CAP_NET_RAW from the bounding set first; anyone else lacks it.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set=-net_raw", "--inh-caps=-net_raw", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let server = common::Child(
        cmd.args(["server", "--config-file"])
            .arg(&conf)
            .env("STATE_DIRECTORY", dir.join("state"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("octoflow server under setpriv"),
    );
    let want = "exporters[0].preserve_source (exporter \"a\"): cannot open a raw socket";
    let t = Instant::now();
    let mut text = String::new();
    while t.elapsed() < Duration::from_secs(10) {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(want) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server);
    assert!(text.contains(want), "{text}");
    assert!(
        text.contains("needs CAP_NET_RAW; run octoflow as root, or grant the capability (systemd: AmbientCapabilities=CAP_NET_RAW"),
        "{text}"
    );
    assert!(
        text.contains("collector running"),
        "the collector runs on: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dropped_to_general_user_a_preserve_source_exporter_still_sends_from_the_router() {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:\t0\t")))
        .unwrap_or(false);
    if !root {
        eprintln!("skipped: dropping to general.user needs root");
        return;
    }
    let dir = tmpdir("preserve-drop");
    let (cp, mp) = (common::free_port(), common::free_port());
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("receiver");
    rx.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let rp = rx.local_addr().expect("receiver address").port();
    let server = common::Server::start(
        &dir,
        &format!(
            "general: {{user: nobody, group: nogroup, metrics_listen: 127.0.0.1:{mp}}}\n\
             collectors: [{{id: c, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [out]}}]\n\
             exporters: [{{id: out, collector_host: 127.0.0.1, collector_port: {rp}, collector_version: 9, preserve_source: true}}]\n"
        ),
        &[cp],
    );
    // Another router on loopback, from a fixed port.
    let target = format!("127.0.0.1:{cp}");
    let out = common::run_gen(&[
        "--target",
        &target,
        "--bind",
        "127.0.0.9:40001",
        "--count",
        "20",
        "--rate",
        "200",
        "--records",
        "5",
    ]);
    let sent = report(&out, "datagrams");
    let mut buf = [0u8; 65536];
    let mut froms = BTreeMap::new();
    for _ in 0..sent {
        match rx.recv_from(&mut buf) {
            Ok((_, from)) => *froms.entry(from).or_insert(0u64) += 1,
            Err(_) => break,
        }
    }
    let log = server.stop();
    assert!(
        log.contains("keeping capabilities CAP_NET_BIND_SERVICE CAP_NET_RAW"),
        "{log}"
    );
    let want: SocketAddr = "127.0.0.9:40001".parse().expect("addr");
    assert_eq!(froms, BTreeMap::from([(want, sent)]), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
