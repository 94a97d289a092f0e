//! `/metrics` and `/status` behind `general.metrics_token_file` (README
//! "Metrics"): 200 with `Authorization: Bearer <token>`, 401 with
//! `WWW-Authenticate: Bearer` without it or with a wrong one, on every path.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{free_port, tmpdir, Server};

/// The whole HTTP response to `GET path` with `headers`.
fn get(port: u16, path: &str, headers: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").expect("write");
    let mut r = String::new();
    s.read_to_string(&mut r).expect("read");
    r
}

#[test]
fn the_endpoints_want_the_bearer_token_when_a_token_file_is_set() {
    let dir = tmpdir("endpoints");
    let token = dir.join("metrics.token");
    std::fs::write(&token, "  0123456789abcdef-token \n").expect("token");
    let (metrics, port) = (free_port(), free_port());
    let s = Server::start(
        &dir,
        &format!(
            "general: {{metrics_listen: 127.0.0.1:{metrics}, metrics_token_file: {}}}\n\
             collectors: [{{id: c, listen_host: 127.0.0.1, listen_port: {port}, nf_version: 9}}]\n",
            token.display()
        ),
        &[port],
    );
    for path in ["/metrics", "/status", "/", "/nothing-here"] {
        for auth in [
            "",
            "Authorization: Bearer wrong\r\n",
            "Authorization: Bearer 0123456789abcdef-tokeN\r\n",
            "Authorization: Basic 0123456789abcdef-token\r\n",
        ] {
            let r = get(metrics, path, auth);
            assert!(
                r.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
                "{path} {auth:?}: {r}"
            );
            assert!(
                r.contains("\r\nWWW-Authenticate: Bearer realm=\"octoflow\"\r\n"),
                "{r}"
            );
            assert!(
                !r.contains("octoflow_"),
                "no counters without the token: {r}"
            );
        }
    }
    let ok = "Authorization: Bearer 0123456789abcdef-token\r\n";
    let r = get(metrics, "/metrics", ok);
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(r.contains("octoflow_"), "{r}");
    // Header names and the scheme are case-insensitive.
    let r = get(
        metrics,
        "/status",
        "authorization: bearer 0123456789abcdef-token\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(r.contains("\"c\""), "{r}");
    let log = s.stop();
    assert!(
        !log.contains("0123456789abcdef-token"),
        "the token is never logged: {log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn metrics_on_a_non_loopback_address_without_a_token_are_warned_about() {
    let dir = tmpdir("endpoints-open");
    let (metrics, port) = (free_port(), free_port());
    let s = Server::start(
        &dir,
        &format!(
            "general: {{metrics_listen: 0.0.0.0:{metrics}}}\n# metrics_listen: 127.0.0.1:{metrics} (for the test helper)\n\
             collectors: [{{id: c, listen_host: 127.0.0.1, listen_port: {port}, nf_version: 9}}]\n"
        ),
        &[port],
    );
    assert!(get(metrics, "/metrics", "").starts_with("HTTP/1.1 200 OK\r\n"));
    let log = s.stop();
    assert_eq!(
        log.matches(&format!("general.metrics_listen: 0.0.0.0:{metrics} is reachable from other hosts and no general.metrics_token_file is set")).count(),
        1,
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
