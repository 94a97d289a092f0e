//! URLs, encodings, and requests against a fake server on 127.0.0.1 that
//! answers in each framing, or not at all.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;
use crate::util::urlencode;

#[test]
fn urls_give_host_port_path_and_credentials_and_https_is_refused_with_a_reason() {
    let e = Endpoint::parse("http://127.0.0.1:8123").expect("url");
    assert_eq!(
        (e.host.as_str(), e.port, e.path.as_str(), e.user.as_deref()),
        ("127.0.0.1", 8123, "/", None)
    );
    let e = Endpoint::parse("HTTP://ch.example").expect("url");
    assert_eq!((e.host.as_str(), e.port), ("ch.example", 8123));
    let e = Endpoint::parse("http://[::1]:9000/clickhouse/").expect("url");
    assert_eq!(
        (e.host.as_str(), e.port, e.path.as_str()),
        ("::1", 9000, "/clickhouse/")
    );
    assert_eq!(e.display(), "http://[::1]:9000/clickhouse/");
    let e = Endpoint::parse("http://writer:p%40ss@10.1.2.3:8123").expect("url");
    assert_eq!(e.user.as_deref(), Some("writer"));
    assert_eq!(e.auth.as_deref(), Some("Basic d3JpdGVyOnBAc3M="));
    assert_eq!(
        e.display(),
        "http://writer@10.1.2.3:8123/",
        "never the password"
    );

    let err = |u: &str| Endpoint::parse(u).expect_err(u);
    assert!(err("https://127.0.0.1:8443").starts_with("https is not supported yet"));
    assert!(err("127.0.0.1:8123").starts_with("is not an http:// URL"));
    assert_eq!(err("http://h:0"), "\"0\" is not a port (1-65535)");
    assert_eq!(err("http://h:99999"), "\"99999\" is not a port (1-65535)");
    assert!(err("http://:8123").starts_with("has no usable host"));
    assert!(err("http://h:8123/?database=x").starts_with("has a query"));
}

#[test]
fn base64_and_urlencode_follow_their_rfcs() {
    for (plain, enc) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), enc, "{plain}");
    }
    assert_eq!(
        urlencode("INSERT INTO f.t (A, B) FORMAT RowBinary"),
        "INSERT%20INTO%20f.t%20%28A%2C%20B%29%20FORMAT%20RowBinary"
    );
}

/// A one-shot server: reads the request (head and `Content-Length` body),
/// hands it to the test through the join handle, answers `reply`.
fn serve(reply: &'static [u8]) -> (Endpoint, JoinHandle<(String, Vec<u8>)>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = l.local_addr().expect("addr").port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            let n = s.read(&mut buf).expect("read");
            got.extend_from_slice(&buf[..n]);
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8(got[..head_end].to_vec()).expect("head");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("Content-Length");
        while got.len() < head_end + len {
            let n = s.read(&mut buf).expect("read");
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(reply).expect("reply");
        (head, got[head_end..].to_vec())
    });
    let ep = Endpoint::parse(&format!("http://127.0.0.1:{port}/ch")).expect("url");
    (ep, h)
}

#[test]
fn a_post_sends_its_query_and_body_and_reads_a_content_length_answer() {
    let (ep, h) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nOk.");
    let r = post(&ep, "query=SELECT%201", b"\x01\x02\x03").expect("answer");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"Ok."[..]));
    assert_eq!(r.header("x-a"), Some("b"));
    let (head, body) = h.join().expect("server");
    assert!(
        head.starts_with("POST /ch?query=SELECT%201 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("Connection: close\r\n"), "{head}");
    assert_eq!(body, b"\x01\x02\x03");
}

#[test]
fn chunked_and_read_to_the_end_answers_are_read_whole() {
    let (ep, _h) = serve(
        b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nCode:\r\n0b;ext=1\r\n 60, e.disp\r\n0\r\n\r\n",
    );
    let r = post(&ep, "", b"SELECT 1").expect("answer");
    assert_eq!((r.status, r.text().as_str()), (500, "Code: 60, e.disp"));
    let (ep, _h) = serve(b"HTTP/1.0 404 Not Found\r\n\r\nno such table\n");
    let r = post(&ep, "", b"").expect("answer");
    assert_eq!((r.status, r.text().as_str()), (404, "no such table"));
}

#[test]
fn no_server_a_silent_server_and_a_garbled_answer_are_errors_within_the_timeouts() {
    // Nobody listens: refused at once.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("listen")
        .local_addr()
        .expect("addr")
        .port();
    let ep = Endpoint::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    let e = post(&ep, "", b"").expect_err("refused");
    assert!(e.contains("cannot connect"), "{e}");

    // Accepts and never answers: the read times out.
    let l = TcpListener::bind("127.0.0.1:0").expect("listen");
    let ep = Endpoint::parse(&format!("http://{}", l.local_addr().expect("addr"))).expect("url");
    let t = Instant::now();
    let e = post_within(
        &ep,
        "",
        b"x",
        Duration::from_millis(200),
        Duration::from_secs(5),
    )
    .expect_err("silent");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(e.starts_with("reading the answer"), "{e}");
    drop(l);

    let (ep, _h) = serve(b"SSH-2.0-OpenSSH\r\n");
    let e = post(&ep, "", b"").expect_err("not http");
    assert!(e.contains("not an HTTP answer"), "{e}");
    let (ep, _h) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n");
    let e = post(&ep, "", b"").expect_err("too long");
    assert!(e.contains("too long"), "{e}");
    let (ep, _h) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
    assert!(post(&ep, "", b"").is_err(), "a body cut short");
}

#[test]
fn an_answer_sent_before_the_body_is_read_is_the_result_not_the_broken_pipe() {
    let l = TcpListener::bind("127.0.0.1:0").expect("listen");
    let ep = Endpoint::parse(&format!("http://{}", l.local_addr().expect("addr"))).expect("url");
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).expect("read");
        s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 8\r\n\r\nCode: 27")
            .expect("answer");
        // Closing with unread data resets the connection mid-body.
    });
    let r = post(&ep, "", &vec![0u8; 16 << 20]).expect("the answer");
    assert_eq!((r.status, r.text().as_str()), (400, "Code: 27"));
    h.join().expect("server");
}
