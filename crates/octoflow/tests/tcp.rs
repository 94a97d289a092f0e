//! IPFIX over TCP from `octoflow server` is framed so that tshark reads every
//! message; the sampling interval reaches an IPFIX and a v5 receiver.
//!
//! Every process is started here and killed by PID; all traffic stays on 127.0.0.1.

mod common;

use std::io::Read;
use std::net::TcpListener;

use common::flows::*;
use common::receivers::*;
use common::*;

/// IPFIX over TCP (RFC 7011 §10.4): tshark reassembles the stream and reads every
/// flow; the sampling interval set by the exporter reaches the receiver.
#[test]
fn ipfix_over_tcp_is_framed_and_sampling_arrives() {
    let dir = tmpdir("tcp");
    let [cp, pm, pu] = [(); 3].map(|_| free_port());
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let tp = listener.local_addr().expect("addr").port();
    let cap = Receiver::dumpcap(tp, &dir, true);
    let capu = Receiver::dumpcap(pu, &dir, false);
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("octoflow connects");
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        sink.len()
    });
    let mut yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\ncollectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [tcp, conv]}}\nexporters:\n"
    );
    yaml += &exporter_yaml("tcp", tp, "10", FOO, "tcp");
    yaml += &exporter_yaml("conv", pu, "5", &format!("{FOO}, udp_gso: false"), "udp");
    let srv = Server::start(&dir, &yaml, &[cp]);
    let flows = gen(
        "v9",
        cp,
        50,
        200,
        &[
            "--records",
            "20",
            "--prefix",
            "10.0.1.0/24",
            "--sampling",
            "64",
        ],
    );
    settle(&srv, "edge", 50);
    let status = srv.status();
    srv.stop();
    let bytes = reader.join().expect("reader");
    assert!(bytes > 0);
    let matched = counter(&status, "tcp", "flows_matched");
    assert_eq!(matched, counter(&status, "tcp", "flows_sent"), "{status}");
    assert!(
        matched >= flows * 9 / 10,
        "10.0.1.254 is the only excluded host: {status}"
    );
    // IPFIX over TCP: every flow, each with the sampling interval.
    let rows = tshark_fields(
        &stop_capture(cap),
        &format!("tcp.port=={tp}"),
        &["cflow.srcaddr", "cflow.sampling_interval"],
    );
    let addrs: usize = rows.iter().map(|r| r[0].len()).sum();
    assert_eq!(
        addrs as u64, matched,
        "tshark reads every flow of the TCP stream"
    );
    let intervals: Vec<&String> = rows.iter().flat_map(|r| r[1].iter()).collect();
    assert!(
        !intervals.is_empty() && intervals.iter().all(|v| *v == "64"),
        "sampling interval 64 reaches the IPFIX receiver: {intervals:?}"
    );
    // v9 → v5: the v5 header carries the interval (mode bits 01, 14-bit interval).
    let rows = tshark_fields(
        &stop_capture(capu),
        &format!("udp.port=={pu}"),
        &["cflow.samplerate"],
    );
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r[0] == ["64"]),
        "v5 sampling: {rows:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
