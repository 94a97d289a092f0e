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

/// The set ids of each IPFIX message in a TCP byte stream (RFC 7011 §10.4: the
/// header's length frames the messages).
fn set_ids(stream: &[u8]) -> Vec<Vec<u16>> {
    let mut msgs = Vec::new();
    let mut at = 0;
    while at + 16 <= stream.len() {
        let len = u16::from_be_bytes([stream[at + 2], stream[at + 3]]) as usize;
        if len < 16 || at + len > stream.len() {
            break;
        }
        let m = &stream[at..at + len];
        let mut ids = Vec::new();
        let mut pos = 16;
        while pos + 4 <= m.len() {
            ids.push(u16::from_be_bytes([m[pos], m[pos + 1]]));
            pos += (u16::from_be_bytes([m[pos + 2], m[pos + 3]]) as usize).max(4);
        }
        msgs.push(ids);
        at += len;
    }
    msgs
}

/// RFC 7011 §8: templates are per session; a new TCP connection is a new session,
/// so it must carry the templates before any data, also when it was made while
/// the output had nothing to send.
#[test]
fn every_tcp_session_gets_templates_before_data_even_when_reconnected_while_idle() {
    let dir = tmpdir("tcp-idle");
    let [cp, pm] = [(); 2].map(|_| free_port());
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let tp = listener.local_addr().expect("addr").port();
    let reader = std::thread::spawn(move || {
        // The first session: read a little, then hang up.
        let (mut s, _) = listener.accept().expect("octoflow connects");
        let mut first = [0u8; 64];
        let _ = s.read(&mut first);
        drop(s);
        // The second session, made while octoflow is idle.
        let (mut s, _) = listener.accept().expect("octoflow reconnects");
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        sink
    });
    let mut yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\ncollectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [tcp]}}\nexporters:\n"
    );
    yaml += &exporter_yaml("tcp", tp, "10", FOO, "tcp");
    let srv = Server::start(&dir, &yaml, &[cp]);
    let feed = |n: u32| {
        gen(
            "v9",
            cp,
            n,
            200,
            &["--records", "5", "--prefix", "10.0.1.0/24"],
        )
    };
    feed(10);
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Writes into the hung-up session fail: octoflow drops it.
    feed(10);
    // Idle long enough to reconnect (backoff 250 ms) with nothing to send.
    std::thread::sleep(std::time::Duration::from_secs(2));
    feed(10);
    settle(&srv, "edge", 30);
    srv.stop();
    let second = reader.join().expect("reader");
    let msgs = set_ids(&second);
    let first_data = msgs
        .iter()
        .flatten()
        .position(|&id| id >= 256)
        .expect("data in the second session");
    let first_template = msgs.iter().flatten().position(|&id| id == 2);
    assert!(
        first_template.is_some_and(|t| t < first_data),
        "templates before data in the new session: {msgs:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
