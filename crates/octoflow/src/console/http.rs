//! Just enough HTTP/1.1 for the console, on std sockets: one request per
//! connection (`Connection: close`), a request head of at most 16 KiB and a
//! body of at most 64 KiB (a login form), bounded reads and writes. The
//! console's pages are a handful of small documents and JSON answers; a
//! framework would add more than it saves.

use std::io::{Read, Write};
use std::time::Duration;

/// The longest request head taken.
const MAX_HEAD: usize = 16 * 1024;
/// The longest request body taken.
const MAX_BODY: usize = 64 * 1024;
/// How long a client may take to send its request or take the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take to arrive.
const REQUEST_TIME: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    /// The query string's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of cookie `name`, if sent.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// An `application/x-www-form-urlencoded` body's pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        pairs(&String::from_utf8_lossy(&self.body))
    }
}

/// Read one request. `Ok(None)`: the client closed without sending one.
pub fn read_request(s: &mut impl Read) -> Result<Option<Request>, String> {
    // Each read waits at most IO_TIMEOUT; the whole request, at most this
    // (a client sending a byte at a time does not hold a connection for long).
    let deadline = std::time::Instant::now() + REQUEST_TIME;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err("request head too long".into());
        }
        if std::time::Instant::now() > deadline {
            return Err("request too slow".into());
        }
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err("request cut short".into())
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "request head not UTF-8")?;
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (method, target) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/1.") => (m, t),
        _ => return Err(format!("not an HTTP/1 request line: {first:?}")),
    };
    let mut headers = Vec::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut r = Request {
        method: method.to_string(),
        path: decode(path, false),
        query: pairs(query),
        headers,
        body: Vec::new(),
    };
    let length: usize = match r.header("content-length") {
        Some(v) => v.parse().map_err(|_| format!("bad Content-Length {v:?}"))?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err(format!(
            "request body of {length} bytes: at most {MAX_BODY}"
        ));
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        if std::time::Instant::now() > deadline {
            return Err("request too slow".into());
        }
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("request body cut short".into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    r.body = body;
    Ok(Some(r))
}

/// `a=1&b=x+y` → pairs, percent- and plus-decoded.
pub fn pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect()
}

/// Percent-decoding (and `+` as space in query strings and forms); bytes that
/// are not UTF-8 become U+FFFD.
pub fn decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = &b[i + 1..i + 3];
                let digits = hex.iter().all(u8::is_ascii_hexdigit);
                let text = std::str::from_utf8(hex).ok().filter(|_| digits);
                match text.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn json(status: u16, v: &serde_json::Value) -> Response {
        let mut body = serde_json::to_vec(v).unwrap_or_default();
        body.push(b'\n');
        Response::new(status, "application/json", body)
    }

    /// An error as JSON: `{"error": message, "status": code}`.
    pub fn error(status: u16, message: impl Into<String>) -> Response {
        Response::json(
            status,
            &serde_json::json!({"error": message.into(), "status": status}),
        )
    }

    pub fn redirect(to: &str) -> Response {
        Response::new(303, "text/plain", format!("see {to}\n")).with("Location", to.to_string())
    }

    /// A header; control characters in `value` are dropped (no header can
    /// be smuggled in through a value that came from a request).
    pub fn with(mut self, name: &'static str, value: String) -> Response {
        let value = value.chars().filter(|c| !c.is_control()).collect();
        self.headers.push((name, value));
        self
    }

    /// Write the answer (no body for HEAD).
    pub fn write(&self, s: &mut impl Write, head_only: bool) -> std::io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: same-origin\r\n\
             Content-Security-Policy: default-src 'self'; img-src 'self' data:; frame-ancestors 'none'\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        if !self.headers.iter().any(|(k, _)| *k == "Cache-Control") {
            head.push_str("Cache-Control: no-store\r\n");
        }
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())?;
        if !head_only {
            s.write_all(&self.body)?;
        }
        s.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_with_query_cookies_and_a_form() {
        let raw = b"POST /login?next=%2Fprofiles%2Ffoo&x=a+b HTTP/1.1\r\nHost: h\r\nCookie: a=1; octoflow_session=abc\r\nContent-Length: 22\r\n\r\nname=foo&password=p%26";
        let r = read_request(&mut &raw[..]).expect("parses").expect("one");
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/login"));
        assert_eq!(
            r.query,
            vec![
                ("next".to_string(), "/profiles/foo".to_string()),
                ("x".to_string(), "a b".to_string())
            ]
        );
        assert_eq!(r.cookie("octoflow_session"), Some("abc"));
        assert_eq!(
            r.form(),
            vec![
                ("name".to_string(), "foo".to_string()),
                ("password".to_string(), "p&".to_string())
            ]
        );
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        for raw in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
            b"GET / HTTP/1.1\r\n",
        ] {
            assert!(read_request(&mut &raw[..]).is_err(), "{raw:?}");
        }
        assert!(read_request(&mut &b""[..]).expect("empty").is_none());
        assert_eq!(decode("%zz%4", false), "%zz%4");
        assert_eq!(decode("%+A", false), "%+A");
        assert_eq!(decode("%C3%A9", false), "é");
    }
}
