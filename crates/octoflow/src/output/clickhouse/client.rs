//! Delivering batches to ClickHouse over its HTTP interface, on the
//! delivering thread of [`crate::output::sink`]: on connect, the database and
//! tables are made when missing and an existing table is checked (see
//! [`super::schema`]); each batch is then one `INSERT … FORMAT RowBinary`.
//!
//! What a failure means for the batch: no connection, a timeout, or an
//! answer that is not HTTP is [`Failure::Down`] (retried after a backoff).
//! An HTTP error is [`Failure::Rejected`] (the batch is counted and dropped:
//! sending it again would fail again and hold up every batch behind it),
//! except the errors that say the server, not the batch, is at fault for now
//! ([`TRANSIENT`]): those are `Down`, and a table dropped meanwhile is made
//! again by the reconnect.

use super::config::ClickhouseConfig;
use super::encode::Batch;
use super::http::{self, Response};
use super::schema;
use crate::output::sink::{Deliver, Failure};

/// ClickHouse error codes (`src/Common/ErrorCodes.cpp`) that say nothing
/// about the batch: retrying it later may succeed.
const TRANSIENT: &[(u32, &str)] = &[
    (60, "UNKNOWN_TABLE"),
    (81, "UNKNOWN_DATABASE"),
    (159, "TIMEOUT_EXCEEDED"),
    (164, "READONLY"),
    (192, "UNKNOWN_USER"),
    (193, "WRONG_PASSWORD"),
    (194, "REQUIRED_PASSWORD"),
    (202, "TOO_MANY_SIMULTANEOUS_QUERIES"),
    (203, "NO_FREE_CONNECTION"),
    (209, "SOCKET_TIMEOUT"),
    (210, "NETWORK_ERROR"),
    (236, "ABORTED"),
    (241, "MEMORY_LIMIT_EXCEEDED"),
    (242, "TABLE_IS_READ_ONLY"),
    (252, "TOO_MANY_PARTS"),
    (279, "ALL_CONNECTION_TRIES_FAILED"),
    (285, "TOO_FEW_LIVE_REPLICAS"),
    (286, "UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE"),
    (319, "UNKNOWN_STATUS_OF_INSERT"),
    (394, "QUERY_WAS_CANCELLED"),
    (425, "SYSTEM_ERROR"),
    (516, "AUTHENTICATION_FAILED"),
    (999, "KEEPER_EXCEPTION"),
];

pub struct Inserter {
    cfg: ClickhouseConfig,
    /// `query=INSERT …`, URL-encoded once.
    insert: String,
    /// The tables are there and take the rows (checked since the last failure).
    ready: bool,
}

impl Inserter {
    pub fn new(cfg: ClickhouseConfig) -> Inserter {
        let insert = format!(
            "query={}",
            crate::util::urlencode(&schema::insert(&cfg.database, cfg.schema))
        );
        Inserter {
            cfg,
            insert,
            ready: false,
        }
    }

    /// Run one statement (sent as the body); its answer's text.
    fn query(&self, sql: &str) -> Result<String, Failure> {
        let r = http::post(&self.cfg.endpoint, "", sql.as_bytes()).map_err(Failure::Down)?;
        if r.status == 200 {
            Ok(String::from_utf8_lossy(&r.body).into_owned())
        } else {
            Err(Failure::Down(format!(
                "{} refused {:?}: {}",
                self.cfg.endpoint.display(),
                sql.split(" (").next().unwrap_or(sql),
                error_text(&r)
            )))
        }
    }

    /// Make what is missing and check what is there.
    fn prepare(&self) -> Result<(), Failure> {
        let db = &self.cfg.database;
        for sql in schema::create(db, self.cfg.schema) {
            self.query(&sql)?;
        }
        let t = schema::table(self.cfg.schema);
        let have = self.query(&format!(
            "SELECT name, type FROM system.columns WHERE database = '{db}' AND table = '{t}' FORMAT TabSeparated"
        ))?;
        let have: Vec<(String, String)> = have
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(n, ty)| (unescape(n), unescape(ty)))
            .collect();
        let want = schema::columns(self.cfg.schema);
        let add = schema::missing(db, self.cfg.schema, &want, &have).map_err(Failure::Down)?;
        for c in add {
            self.query(&format!(
                "ALTER TABLE {db}.{t} ADD COLUMN {} {}",
                c.name, c.ty
            ))?;
            tracing::info!(table = %format!("{db}.{t}"), column = %c.name, "added a column for a new field");
        }
        Ok(())
    }
}

/// What a refused INSERT means for its batch.
fn failure(r: &Response) -> Failure {
    let text = error_text(r);
    let code = r
        .header("x-clickhouse-exception-code")
        .and_then(|c| c.parse().ok())
        .or_else(|| error_code(&text));
    let transient = matches!(r.status, 502..=504)
        || code.is_some_and(|c| TRANSIENT.iter().any(|(t, _)| *t == c));
    if transient {
        Failure::Down(text)
    } else {
        Failure::Rejected(text)
    }
}

/// The server's message, on one line and not too long for a log line.
fn error_text(r: &Response) -> String {
    let t = r.text().replace('\n', " ");
    let t: String = t.chars().take(400).collect();
    format!("HTTP {}: {t}", r.status)
}

/// The code of ClickHouse's `Code: 60, e.displayText() = DB::Exception: …`
/// (18.x) or `Code: 60. DB::Exception: …` (later).
fn error_code(text: &str) -> Option<u32> {
    let at = text.find("Code: ")? + 6;
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A TabSeparated value with its backslash escapes undone.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

impl Deliver for Inserter {
    type Batch = Batch;

    fn connect(&mut self) -> Result<(), Failure> {
        if !self.ready {
            self.prepare()?;
            self.ready = true;
        }
        Ok(())
    }

    fn deliver(&mut self, b: &mut Batch) -> Result<(), Failure> {
        self.connect()?;
        let r = http::post(&self.cfg.endpoint, &self.insert, &b.data).map_err(Failure::Down)?;
        if r.status == 200 {
            Ok(())
        } else {
            Err(failure(&r))
        }
    }

    fn reset(&mut self) {
        self.ready = false;
    }

    fn target(&self) -> String {
        self.cfg.receiver()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_batch_is_dropped_only_when_the_server_faults_the_batch() {
        // 18.16's words for a batch it cannot parse: the batch's fault.
        let bad = answer(500, "Code: 33, e.displayText() = DB::Exception: Cannot read all data. Bytes read: 3. Bytes expected: 4., e.what() = DB::Exception\n");
        assert!(
            matches!(failure(&bad), Failure::Rejected(t) if t.starts_with("HTTP 500: Code: 33"))
        );
        // A table dropped meanwhile, or a server too busy: retry, remake.
        for b in [
            "Code: 60, e.displayText() = DB::Exception: Table flows.flows_raw doesn't exist., e.what() = DB::Exception",
            "Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts",
        ] {
            assert!(matches!(failure(&answer(500, b)), Failure::Down(_)), "{b}");
        }
        assert!(matches!(failure(&answer(503, "proxy")), Failure::Down(_)));
        assert!(matches!(
            failure(&answer(400, "what")),
            Failure::Rejected(_)
        ));
        let mut h = answer(500, "no code in the text");
        h.headers
            .push(("x-clickhouse-exception-code".into(), "241".into()));
        assert!(
            matches!(failure(&h), Failure::Down(_)),
            "the header's code counts"
        );
    }

    #[test]
    fn codes_and_tab_separated_values_are_read() {
        assert_eq!(error_code("Code: 60, e.displayText()"), Some(60));
        assert_eq!(error_code("Code: 1000. DB::Exception"), Some(1000));
        assert_eq!(error_code("Unknown error"), None);
        assert_eq!(
            unescape(r"Enum8(\'unknown\' = 0, \'ingress\' = 1)"),
            "Enum8('unknown' = 0, 'ingress' = 1)"
        );
        assert_eq!(unescape(r"a\tb\\c"), "a\tb\\c");
    }
}
