//! Redis's wire protocol, RESP2 (https://redis.io/docs/latest/develop/reference/protocol-spec/):
//! commands as arrays of bulk strings, and the replies a client reads. Sans-IO:
//! [`command`] appends a command to a buffer (pipelining is appending several),
//! [`parse`] reads one reply from the front of a buffer if it is complete.

use std::io::Write as _;

/// Append one command (`HINCRBY key field 5` as its arguments).
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    let _ = write!(out, "*{}\r\n", args.len());
    for a in args {
        let _ = write!(out, "${}\r\n", a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR …`: the server refused the command.
    Error(String),
    Int(i64),
    /// `$-1` is `Bulk(None)`.
    Bulk(Option<Vec<u8>>),
    /// `*-1` is `Array(None)`.
    Array(Option<Vec<Reply>>),
}

/// Malformed input: the connection cannot be trusted any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReply(pub String);

/// Deepest nesting of arrays read (replies here are flat; this bounds the
/// recursion whatever a server sends).
const MAX_DEPTH: usize = 8;
/// Longest bulk string accepted (Redis's own limit is 512 MB; a client of
/// sets of addresses and prefixes needs far less).
const MAX_BULK: usize = 64 << 20;

/// Read one reply from the front of `buf`: `Ok(Some((reply, bytes used)))`,
/// `Ok(None)` when more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, BadReply> {
    parse_at(buf, 0, 0)
}

fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(at..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..end], at + end + 2))
}

fn int(s: &[u8]) -> Result<i64, BadReply> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| BadReply(format!("not a number: {:?}", String::from_utf8_lossy(s))))
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Reply, usize)>, BadReply> {
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let Some((l, next)) = line(buf, at + 1) else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(l).into_owned();
    match kind {
        b'+' => Ok(Some((Reply::Status(text()), next))),
        b'-' => Ok(Some((Reply::Error(text()), next))),
        b':' => Ok(Some((Reply::Int(int(l)?), next))),
        b'$' => {
            let n = int(l)?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), next)));
            }
            let n = n as usize;
            if n > MAX_BULK {
                return Err(BadReply(format!("a bulk string of {n} bytes")));
            }
            if buf.len() < next + n + 2 {
                return Ok(None);
            }
            if &buf[next + n..next + n + 2] != b"\r\n" {
                return Err(BadReply("a bulk string without its line end".into()));
            }
            Ok(Some((
                Reply::Bulk(Some(buf[next..next + n].to_vec())),
                next + n + 2,
            )))
        }
        b'*' => {
            let n = int(l)?;
            if n < 0 {
                return Ok(Some((Reply::Array(None), next)));
            }
            if depth >= MAX_DEPTH {
                return Err(BadReply("arrays nested too deep".into()));
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            let mut at = next;
            for _ in 0..n {
                match parse_at(buf, at, depth + 1)? {
                    Some((r, next)) => {
                        items.push(r);
                        at = next;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), at)))
        }
        k => Err(BadReply(format!("unknown reply type {:?}", k as char))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&mut out, &[b"HINCRBY", b"k", b"bytes_in", b"42"]);
        command(&mut out, &[b"PING"]);
        assert_eq!(
            out,
            b"*4\r\n$7\r\nHINCRBY\r\n$1\r\nk\r\n$8\r\nbytes_in\r\n$2\r\n42\r\n*1\r\n$4\r\nPING\r\n"
        );
    }

    #[test]
    fn every_reply_kind_and_partial_input() {
        let input =
            b"+OK\r\n-ERR wrong\r\n:-7\r\n$3\r\na\r\n\r\n$-1\r\n*2\r\n$1\r\nx\r\n:1\r\n*-1\r\n";
        let mut at = 0;
        let mut got = Vec::new();
        while at < input.len() {
            let (r, n) = parse(&input[at..]).unwrap().unwrap();
            got.push(r);
            at += n;
        }
        assert_eq!(
            got,
            [
                Reply::Status("OK".into()),
                Reply::Error("ERR wrong".into()),
                Reply::Int(-7),
                Reply::Bulk(Some(b"a\r\n".to_vec())),
                Reply::Bulk(None),
                Reply::Array(Some(vec![Reply::Bulk(Some(b"x".to_vec())), Reply::Int(1)])),
                Reply::Array(None),
            ]
        );
        // Every strict prefix of a reply asks for more, never errs.
        let one = b"*2\r\n$5\r\nhello\r\n:12\r\n";
        for cut in 0..one.len() {
            assert_eq!(parse(&one[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":12a\r\n").is_err());
        assert!(parse(b"$3\r\nabcXY").is_err());
        let deep = "*1\r\n".repeat(20);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
