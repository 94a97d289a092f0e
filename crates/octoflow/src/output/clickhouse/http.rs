//! A small blocking HTTP/1.1 client, enough for ClickHouse's HTTP interface:
//! one POST per connection (`Connection: close`), its body sent with a
//! `Content-Length`, the answer read whole (by `Content-Length`, chunked, or
//! to the end) within bounds of time and size. No TLS.
//!
//! One connection per request, on purpose: a request is a batch of thousands
//! of rows, so a handshake costs little beside it, and there is no idle
//! keep-alive connection that the server may have closed meanwhile (which
//! would turn a retry of a delivered INSERT into a guess).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Longest wait for a connection, and for any one read or write to progress.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a whole request may take, however it trickles.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(60);
/// Most bytes of an answer's head (status line and headers) and body kept;
/// ClickHouse's answers here are a few kilobytes.
const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 16 << 20;

/// Where the server is: `http://[user[:password]@]host[:port][/path]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// The path requests go to (`/` unless a proxy serves ClickHouse under a
    /// prefix).
    pub path: String,
    /// The user, if the URL names one (for messages: never the password).
    pub user: Option<String>,
    /// `Basic …` credentials, if the URL has a user.
    auth: Option<String>,
}

/// Without the credentials: configurations are logged.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl Endpoint {
    /// ClickHouse's HTTP port.
    pub const DEFAULT_PORT: u16 = 8123;

    /// Parse a `url` key's value; the error says what is wrong in words.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Err(
                "https is not supported yet (no TLS in octoflow's client): give http://, \
                 or put a TLS proxy beside octoflow and give its http:// address"
                    .into(),
            );
        }
        let Some(rest) = lower.strip_prefix("http://").map(|_| &url[7..]) else {
            return Err("is not an http:// URL; give e.g. http://127.0.0.1:8123".into());
        };
        if rest.contains(['?', '#']) {
            return Err("has a query or fragment; give only http://host:port[/path]".into());
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let Some((h, after)) = v6.split_once(']') else {
                return Err("has an unclosed [ in its host".into());
            };
            match after {
                "" => (h, None),
                p => match p.strip_prefix(':') {
                    Some(p) => (h, Some(p)),
                    None => return Err("has text after ]; give [v6-address]:port".into()),
                },
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err("has no usable host; give e.g. http://127.0.0.1:8123".into());
        }
        let port = match port {
            None => Endpoint::DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(format!("{p:?} is not a port (1-65535)")),
            },
        };
        let (user, auth) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, pw) = ui.split_once(':').unwrap_or((ui, ""));
                let (u, pw) = (percent_decode(u)?, percent_decode(pw)?);
                let basic = format!("Basic {}", base64(format!("{u}:{pw}").as_bytes()));
                (Some(u), Some(basic))
            }
        };
        Ok(Endpoint {
            host: host.to_string(),
            port,
            path: path.to_string(),
            user,
            auth,
        })
    }

    /// `host:port`, an IPv6 host in brackets (the `Host` header's form).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `http://[user@]host:port/path`, never the password (for logs and
    /// `octoflow check`).
    pub fn display(&self) -> String {
        let user = self
            .user
            .as_ref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("http://{user}{}{}", self.authority(), self.path)
    }
}

/// A server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }
}

/// POST `body` to the endpoint's path, with `params` (already URL-encoded)
/// as its query string. `Err` is a failure of the connection (refused, reset,
/// timed out, an answer that is not HTTP); any HTTP answer is `Ok`.
pub fn post(ep: &Endpoint, params: &str, body: &[u8]) -> Result<Response, String> {
    post_within(ep, params, body, IO_TIMEOUT, REQUEST_DEADLINE)
}

/// [`post`] with its timeouts given (tests wait less).
fn post_within(
    ep: &Endpoint,
    params: &str,
    body: &[u8],
    io_timeout: Duration,
    total: Duration,
) -> Result<Response, String> {
    let deadline = Instant::now() + total;
    let stream = connect(ep, io_timeout)?;
    let mut head = format!(
        "POST {}{}{} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        ep.path,
        if params.is_empty() { "" } else { "?" },
        params,
        ep.authority(),
        body.len()
    );
    if let Some(a) = &ep.auth {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    let mut w = Deadlined {
        s: &stream,
        io_timeout,
        deadline,
    };
    let sent = w
        .write_all(head.as_bytes())
        .and_then(|()| body.chunks(64 << 10).try_for_each(|c| w.write_all(c)));
    let r = BufReader::new(Deadlined {
        s: &stream,
        io_timeout,
        deadline,
    });
    match (sent, read_response(r)) {
        (_, Ok(answer)) => Ok(answer),
        // A server that refuses a request part-way answers and closes before
        // the body is all sent: its answer says why, the broken pipe does not.
        (Err(e), Err(_)) => Err(format!("sending to {}: {e}", ep.display())),
        (Ok(()), Err(e)) => Err(format!("reading the answer of {}: {e}", ep.display())),
    }
}

fn connect(ep: &Endpoint, io_timeout: Duration) -> Result<TcpStream, String> {
    let addrs = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", ep.host))?;
    let mut last = format!("{} resolves to no address", ep.host);
    for a in addrs {
        match TcpStream::connect_timeout(&a, io_timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = format!("cannot connect to {a}: {e}"),
        }
    }
    Err(last)
}

/// A stream whose every read and write waits at most `io_timeout`, and
/// none past the request's deadline.
struct Deadlined<'a> {
    s: &'a TcpStream,
    io_timeout: Duration,
    deadline: Instant,
}

impl Deadlined<'_> {
    fn budget(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request's time is up",
            ));
        }
        Ok(left.min(self.io_timeout))
    }
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.s.set_read_timeout(Some(self.budget()?))?;
        let mut s = self.s;
        s.read(buf)
    }
}

impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.s.set_write_timeout(Some(self.budget()?))?;
        let mut s = self.s;
        s.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// One line of the head, without its CRLF, counted against `left`.
fn line<R: BufRead>(r: &mut R, left: &mut usize) -> io::Result<String> {
    let mut buf = Vec::new();
    let n = r.take(*left as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    if n > *left || buf.last() != Some(&b'\n') {
        return Err(bad("the answer's head is too long or cut"));
    }
    *left -= n;
    while buf.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| bad("the answer's head is not text"))
}

fn read_response<R: BufRead>(mut r: R) -> io::Result<Response> {
    let mut left = MAX_HEAD;
    let status_line = line(&mut r, &mut left)?;
    let mut parts = status_line.splitn(3, ' ');
    let (proto, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !proto.starts_with("HTTP/1.") {
        return Err(bad(format!("not an HTTP answer: {status_line:?}")));
    }
    let status = code
        .parse::<u16>()
        .map_err(|_| bad(format!("no status in {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let l = line(&mut r, &mut left)?;
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(h, _)| h == n)
            .map(|(_, v)| v.as_str())
    };
    let chunked =
        get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        read_chunked(&mut r)?
    } else if let Some(cl) = get("content-length") {
        let n: usize = cl
            .parse()
            .map_err(|_| bad(format!("Content-Length {cl:?}")))?;
        if n > MAX_BODY {
            return Err(bad(format!("an answer of {n} bytes is too long")));
        }
        let mut body = vec![0; n];
        r.read_exact(&mut body)?;
        body
    } else {
        let mut body = Vec::new();
        r.take(MAX_BODY as u64 + 1).read_to_end(&mut body)?;
        if body.len() > MAX_BODY {
            return Err(bad("the answer is too long"));
        }
        body
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn read_chunked<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut left = MAX_HEAD;
    loop {
        let l = line(r, &mut left)?;
        let size = l.split(';').next().unwrap_or("").trim();
        let n = usize::from_str_radix(size, 16).map_err(|_| bad(format!("chunk size {l:?}")))?;
        if n == 0 {
            // Trailers, up to the empty line.
            while !line(r, &mut left)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + n > MAX_BODY {
            return Err(bad("the answer is too long"));
        }
        let at = body.len();
        body.resize(at + n, 0);
        r.read_exact(&mut body[at..])?;
        if !line(r, &mut left)?.is_empty() {
            return Err(bad("a chunk runs past its size"));
        }
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("has a bad %-escape in its user or password")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "has a user or password that is not UTF-8".into())
}

/// Standard base64 with padding (RFC 4648), for Basic credentials.
fn base64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[cfg(test)]
mod tests;
