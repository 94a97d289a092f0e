//! Trust at the edge, end to end: a collector's `allow` list and per-sender
//! `rate_limit` turn senders away before decoding, an allowed router keeps every
//! flow while another loopback address floods the same port, and a reload
//! changes the list without a restart or a lost datagram.
//!
//! Routers are `octoflow gen --bind 127.0.0.X:0` (loopback addresses other than
//! 127.0.0.1); receivers are nfcapd. Every process is killed by PID.

mod common;

use std::time::Duration;

use common::flows::*;
use common::*;

/// Whether `/status` lists `sender` in the collector's table of senders turned away.
fn status_has_sender(status: &str, collector: &str, sender: &str) -> bool {
    let at = status
        .find(&format!("\"{collector}\":{{"))
        .expect("collector in /status");
    let rest = &status[at..];
    let rest = &rest[rest.find("\"denied\":{").expect("denied table")..];
    // The table ends at the first `}}`: its last sender's object, then its own.
    let table = &rest[..rest.find("}}").unwrap_or(rest.len())];
    table.contains(&format!("\"{sender}\":{{"))
}

fn gen_from(bind: &str, port: u16, rate: &str, seconds: &str, prefix: &str) -> (u64, u64) {
    let out = run_gen(&[
        "--proto",
        "v9",
        "--bind",
        bind,
        "--target",
        &format!("127.0.0.1:{port}"),
        "--rate",
        rate,
        "--duration",
        seconds,
        "--records",
        "25",
        "--prefix",
        prefix,
        "--pool",
        "64",
    ]);
    (report(&out, "datagrams"), report(&out, "flows"))
}

fn config(pm: u16, cp: u16, rx: u16, admission: &str) -> String {
    format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\ncollectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [router]{admission}}}\nexporters:\n{}",
        exporter_yaml("router", rx, "9", ", filters: ['10.0.3.0/24']", "udp")
    )
}

/// 100 000 datagrams/s from a sender outside `allow` hit the port while the
/// allowed router sends: the router's receiver gets exactly its flows, and the
/// flood is counted per sender, never decoded.
#[test]
fn an_allowed_router_keeps_every_flow_while_a_disallowed_sender_floods() {
    let dir = tmpdir("allow-flood");
    let [cp, pm, rx] = [(); 3].map(|_| free_port());
    let got = start_nfcapd("nfcapd", rx, &dir.join("router"));
    let srv = Server::start(
        &dir,
        &config(pm, cp, rx, ", allow: ['127.0.0.3', '10.0.0.0/8']"),
        &[cp],
    );
    let flood =
        std::thread::spawn(move || gen_from("127.0.0.2:0", cp, "100000", "4", "10.0.3.0/24"));
    std::thread::sleep(Duration::from_millis(500));
    let (router_dg, router_flows) = gen_from("127.0.0.3:0", cp, "1000", "2", "10.0.3.0/24");
    let (flood_dg, _) = flood.join().expect("flood");
    settle(&srv, "edge", router_dg);
    let status = srv.status();
    let metrics = http_get(pm, "/metrics");
    srv.stop();
    got.term();
    let stored = nfdump_records(&dir.join("router"));
    println!("router: {router_dg} datagrams, {router_flows} flows; flood: {flood_dg} datagrams");
    assert_eq!(stored, router_flows, "the allowed router's flows, exactly");
    assert_eq!(
        counter(&status, "edge", "flows"),
        router_flows,
        "only the router's datagrams were decoded"
    );
    let denied = counter(&status, "edge", "not_allowed");
    let received = counter(&status, "edge", "datagrams");
    assert_eq!(
        received,
        router_dg + denied,
        "every datagram received is the router's or turned away"
    );
    assert!(
        denied > 0 && denied <= flood_dg,
        "{denied} of {flood_dg} counted"
    );
    assert!(status_has_sender(&status, "edge", "127.0.0.2"), "{status}");
    assert!(!status_has_sender(&status, "edge", "127.0.0.3"), "{status}");
    assert!(
        metrics.contains(&format!(
            "octoflow_collector_denied_datagrams_total{{collector=\"edge\",sender=\"127.0.0.2\",reason=\"allow\"}} {denied}"
        )),
        "{metrics}"
    );
}

/// One sender floods at ten times its `rate_limit` while a second, under the
/// limit, keeps every flow; the flood gets its limit and no more.
#[test]
fn a_flooding_sender_gets_its_rate_limit_and_another_keeps_every_flow() {
    let dir = tmpdir("rate-limit");
    let [cp, pm, rx] = [(); 3].map(|_| free_port());
    let got = start_nfcapd("nfcapd", rx, &dir.join("router"));
    let srv = Server::start(&dir, &config(pm, cp, rx, ", rate_limit: 2000"), &[cp]);
    // The flood's flows are outside the router output's filter: its receiver
    // sees only the router's.
    let flood =
        std::thread::spawn(move || gen_from("127.0.0.2:0", cp, "20000", "3", "10.0.2.0/24"));
    std::thread::sleep(Duration::from_millis(300));
    let (router_dg, router_flows) = gen_from("127.0.0.3:0", cp, "1000", "2", "10.0.3.0/24");
    let (flood_dg, _) = flood.join().expect("flood");
    settle(&srv, "edge", router_dg);
    let status = srv.status();
    srv.stop();
    got.term();
    let stored = nfdump_records(&dir.join("router"));
    assert_eq!(
        stored, router_flows,
        "the router under its limit keeps every flow"
    );
    let limited = counter(&status, "edge", "rate_limited");
    let received = counter(&status, "edge", "datagrams");
    let admitted_flood = received - router_dg - limited;
    println!("flood: {flood_dg} sent, {admitted_flood} admitted, {limited} over the limit");
    // One second's burst plus 2000/s over the flood's ~3 s (and scheduling slack).
    assert!(
        admitted_flood <= 2000 + 2000 * 5,
        "{admitted_flood} admitted"
    );
    assert!(limited > 0);
    assert!(status_has_sender(&status, "edge", "127.0.0.2"), "{status}");
    assert!(!status_has_sender(&status, "edge", "127.0.0.3"), "{status}");
}

/// While the router streams, `allow` is widened by `--reload`: the collector is
/// changed in place (no restart), the router loses nothing, and the newly
/// allowed sender's datagrams are decoded from then on.
#[test]
fn a_reload_changes_the_allow_list_without_a_restart_or_a_lost_datagram() {
    let dir = tmpdir("allow-reload");
    let [cp, pm, rx] = [(); 3].map(|_| free_port());
    let got = start_nfcapd("nfcapd", rx, &dir.join("router"));
    let srv = Server::start(&dir, &config(pm, cp, rx, ", allow: ['127.0.0.3']"), &[cp]);
    let conf = srv.dir.join("octoflow.yaml");
    let router = std::thread::spawn(move || gen_from("127.0.0.3:0", cp, "500", "4", "10.0.3.0/24"));
    let other = std::thread::spawn(move || gen_from("127.0.0.2:0", cp, "500", "4", "10.0.2.0/24"));
    std::thread::sleep(Duration::from_millis(1500));
    let before = counter(&srv.status(), "edge", "not_allowed");
    std::fs::write(
        &conf,
        format!(
            "supervisor: {{unix_socket: {}/octoflow.sock}}\n{}",
            dir.display(),
            config(pm, cp, rx, ", allow: ['127.0.0.2', '127.0.0.3']")
        ),
    )
    .expect("write");
    let (code, out) = client(&conf, &["--reload"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("edge_collector: changed (applied in place, no restart)"),
        "{out}"
    );
    let (router_dg, router_flows) = router.join().expect("router");
    let (other_dg, other_flows) = other.join().expect("other");
    settle(&srv, "edge", router_dg + other_dg);
    let status = srv.status();
    let log = srv.stop();
    got.term();
    assert_eq!(
        nfdump_records(&dir.join("router")),
        router_flows,
        "router flows across the reload"
    );
    let after = counter(&status, "edge", "not_allowed");
    assert!(before > 0, "127.0.0.2 was turned away before the reload");
    assert!(
        after < other_dg,
        "127.0.0.2 admitted after the reload ({after} of {other_dg} turned away)"
    );
    let decoded = counter(&status, "edge", "flows");
    assert!(
        decoded > router_flows && decoded < router_flows + other_flows,
        "{decoded}"
    );
    assert_eq!(
        log.matches("collector running").count(),
        1,
        "no restart:\n{log}"
    );
}
