//! A small blocking Redis client for the `redis` output and `allow_from`:
//! `redis://[[user]:password@]host[:port][/db]` URLs, one TCP connection with
//! timeouts, pipelined commands. The protocol itself (commands, replies) is
//! `octoflow_rows::resp`, sans-IO; this is the I/O around it.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::time::Duration;

use octoflow_rows::resp::{self, Reply};

/// Where a Redis server is and how to log in.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: u32,
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl std::fmt::Display for RedisUrl {
    /// The URL without its password (for logs and `octoflow check`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "redis://{host}:{}/{}", self.port, self.db)
    }
}

impl FromStr for RedisUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<RedisUrl, String> {
        let rest = s.strip_prefix("redis://").ok_or(
            "give a redis:// URL, e.g. redis://127.0.0.1:6379 (rediss:// TLS is not supported)",
        )?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((h, "")) => (h, 0),
            Some((h, d)) => (
                h,
                d.parse::<u32>()
                    .map_err(|_| format!("{d:?} is not a database number"))?,
            ),
            None => (rest, 0),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or("an unclosed [ in the host")?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        let port = match port {
            None => 6379,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{p:?} is not a port"))?,
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some(("", pw)) => (None, Some(pw.to_string())),
                Some((u, pw)) => (Some(u.to_string()), Some(pw.to_string())),
                None => (None, Some(a.to_string())),
            },
        };
        Ok(RedisUrl {
            host,
            port,
            user,
            password,
            db,
        })
    }
}

/// Why a call failed.
#[derive(Debug)]
pub enum RedisError {
    /// No connection, a broken one, or a timeout: reconnect and retry.
    Io(String),
    /// The server answered with an error.
    Refused(String),
}

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisError::Io(e) => write!(f, "{e}"),
            RedisError::Refused(e) => write!(f, "the server refused: {e}"),
        }
    }
}

/// One connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connect, log in and select the database, each step within `timeout`.
    pub fn open(u: &RedisUrl, timeout: Duration) -> Result<Conn, RedisError> {
        let io = |e: std::io::Error| RedisError::Io(format!("redis {u}: {e}"));
        let addr = (u.host.as_str(), u.port)
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| RedisError::Io(format!("redis {u}: the host has no address")))?;
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
        stream.set_read_timeout(Some(timeout)).map_err(io)?;
        stream.set_write_timeout(Some(timeout)).map_err(io)?;
        let _ = stream.set_nodelay(true);
        let mut c = Conn {
            stream,
            buf: Vec::new(),
        };
        let mut hello = Vec::new();
        let mut n = 0;
        if let Some(pw) = &u.password {
            match &u.user {
                Some(user) => resp::command(&mut hello, &[b"AUTH", user.as_bytes(), pw.as_bytes()]),
                None => resp::command(&mut hello, &[b"AUTH", pw.as_bytes()]),
            }
            n += 1;
        }
        if u.db != 0 {
            resp::command(&mut hello, &[b"SELECT", u.db.to_string().as_bytes()]);
            n += 1;
        }
        if n > 0 {
            for r in c.run(&hello, n)? {
                if let Reply::Error(e) = r {
                    return Err(RedisError::Refused(e));
                }
            }
        }
        Ok(c)
    }

    /// Send `commands` (RESP, `n` of them, pipelined) and read their `n`
    /// replies. A reply that is an error is returned as such, in its place.
    pub fn run(&mut self, commands: &[u8], n: usize) -> Result<Vec<Reply>, RedisError> {
        let io = |e: std::io::Error| RedisError::Io(e.to_string());
        self.stream.write_all(commands).map_err(io)?;
        let mut replies = Vec::with_capacity(n);
        self.buf.clear();
        let mut at = 0;
        let mut chunk = [0u8; 16384];
        while replies.len() < n {
            match resp::parse(&self.buf[at..]) {
                Ok(Some((r, used))) => {
                    replies.push(r);
                    at += used;
                    continue;
                }
                Ok(None) => {}
                Err(e) => return Err(RedisError::Io(format!("a malformed reply: {}", e.0))),
            }
            let got = self.stream.read(&mut chunk).map_err(io)?;
            if got == 0 {
                return Err(RedisError::Io("the server closed the connection".into()));
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
        Ok(replies)
    }

    /// `SMEMBERS key` as text members (members that are not UTF-8 are skipped).
    pub fn smembers(&mut self, key: &str) -> Result<Vec<String>, RedisError> {
        let mut cmd = Vec::new();
        resp::command(&mut cmd, &[b"SMEMBERS", key.as_bytes()]);
        match self.run(&cmd, 1)?.pop() {
            Some(Reply::Array(Some(items))) => Ok(items
                .into_iter()
                .filter_map(|r| match r {
                    Reply::Bulk(Some(b)) => String::from_utf8(b).ok(),
                    _ => None,
                })
                .collect()),
            Some(Reply::Error(e)) => Err(RedisError::Refused(e)),
            other => Err(RedisError::Io(format!(
                "SMEMBERS {key}: unexpected {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RedisUrl;

    #[test]
    fn urls_with_and_without_credentials_ports_and_databases() {
        let u: RedisUrl = "redis://127.0.0.1:6379".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.db, u.password),
            ("127.0.0.1", 6379, 0, None)
        );
        let u: RedisUrl = "redis://:s3cret@redis.example/2".parse().unwrap();
        assert_eq!(
            (u.port, u.db, u.user, u.password.as_deref()),
            (6379, 2, None, Some("s3cret"))
        );
        let u: RedisUrl = "redis://flows:pw@[::1]:6380/".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_deref()),
            ("::1", 6380, Some("flows"))
        );
        assert_eq!(
            u.to_string(),
            "redis://[::1]:6380/0",
            "no password in what is shown"
        );
        for bad in [
            "http://x",
            "redis://",
            "redis://h:0",
            "redis://h:99999",
            "redis://h/x",
            "redis://[::1",
        ] {
            assert!(bad.parse::<RedisUrl>().is_err(), "{bad}");
        }
    }
}
