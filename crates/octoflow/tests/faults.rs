//! Faults in `octoflow server`: a receiver with nothing listening, a TCP receiver
//! that stops reading, and malformed datagrams cost the other receivers nothing.
//!
//! Every process is started here and killed by PID; all traffic stays on 127.0.0.1.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use common::flows::*;
use common::receivers::*;
use common::*;

#[test]
fn dead_and_stalled_receivers_and_malformed_input_cost_the_others_nothing() {
    let dir = tmpdir("faults");
    let [cp, good, dead, pm] = [(); 4].map(|_| free_port());
    // A TCP receiver that accepts and then never reads, with a small window.
    let stalled = TcpListener::bind("127.0.0.1:0").expect("listener");
    {
        use std::os::fd::AsFd;
        let _ = nix::sys::socket::setsockopt(
            &stalled.as_fd(),
            nix::sys::socket::sockopt::RcvBuf,
            &4096,
        );
    }
    let tcp_port = stalled.local_addr().expect("addr").port();
    let rx = Receiver::nfcapd("nfcapd", good, &dir.join("good"));
    let mut yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\ncollectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [good, dead, stalled]}}\nexporters:\n"
    );
    yaml += &exporter_yaml("good", good, "10", FOO, "udp");
    yaml += &exporter_yaml("dead", dead, "9", "", "udp");
    yaml += &format!(
        "  - {{id: stalled, collector_host: 127.0.0.1, collector_port: {tcp_port}, collector_proto: tcp, collector_version: 10, queue_datagrams: 16}}\n"
    );
    let srv = Server::start(&dir, &yaml, &[cp]);
    let (conn, _) = stalled.accept().expect("octoflow connects");
    // Malformed datagrams interleaved with good traffic.
    let bad = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let garbage: [&[u8]; 4] = [
        b"\x00\x0a\x00\x30garbage",                  // IPFIX, length disagrees
        b"\x00\x09\x00\x01\x00\x00",                 // v9, truncated header
        b"\x00\x07\x00\x01abcdefghijklmnopqrstuvwx", // unknown version 7
        &[0u8; 3],                                   // too short for anything
    ];
    let sender = std::thread::spawn(move || {
        gen(
            "ipfix",
            cp,
            4000,
            2000,
            &[
                "--records",
                "25",
                "--prefix",
                "10.0.1.0/24",
                "--prefix",
                "192.168.0.0/16",
            ],
        )
    });
    for _ in 0..10 {
        for g in garbage {
            bad.send_to(g, ("127.0.0.1", cp)).expect("send");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let flows = sender.join().expect("gen thread");
    settle(&srv, "edge", 4040);
    let status = srv.status();
    let log = srv.stop();
    drop(conn);
    let Got {
        records: n,
        seq_failures: seq,
        ..
    } = rx.finish();
    let matched = counter(&status, "good", "flows_matched");
    assert!(matched > flows / 3, "{status}");
    assert_eq!(counter(&status, "good", "flows_sent"), matched, "{status}");
    assert_eq!(
        n, matched,
        "every flow of the good receiver's tenant arrived\n{log}"
    );
    assert_eq!(seq, 0);
    assert_eq!(counter(&status, "edge", "flows"), flows, "{status}");
    assert_eq!(counter(&status, "edge", "datagrams"), 4000 + 40, "{status}");
    let errors: u64 = ["bad_message_length", "truncated", "unknown_version"]
        .iter()
        .map(|r| {
            status
                .split(&format!("\"{r}\":"))
                .nth(1)
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_ascii_digit())
                        .collect::<String>()
                        .parse::<u64>()
                        .unwrap_or(0)
                })
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(errors, 40, "every malformed datagram counted: {status}");
    assert!(counter(&status, "dead", "send_errors") > 0, "{status}");
    let stalled_lost = counter(&status, "stalled", "queue_drops")
        + counter(&status, "stalled", "send_errors")
        + counter(&status, "stalled", "disconnected_drops");
    assert!(
        stalled_lost > 0,
        "the stalled TCP receiver cannot have taken everything: {status}"
    );
    assert_eq!(counter(&status, "good", "queue_drops"), 0, "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}
