//! Delivering batches to PostgreSQL with `tokio-postgres`, on the delivering
//! thread of [`crate::output::sink`]: on connect the table is made when
//! missing and checked ([`super::schema`]); each batch is one
//! `COPY … FROM STDIN (FORMAT binary)`.
//!
//! `tokio-postgres` rather than its blocking wrapper `postgres`: the wrapper
//! has no timeout for a query or a COPY, so a server that stops answering
//! (stalled, or a network that drops packets) would hold the delivering
//! thread for good. Here every operation runs under [`DEADLINE`] on a
//! current-thread runtime of the client's own, as the Kafka client does.
//!
//! What a failure means for the batch: no connection, a timeout, or a server
//! error about the server's state (out of space, shutting down, a table
//! dropped meanwhile, permissions) is [`Failure::Down`] (retried after a
//! backoff, reconnecting, which makes the table again); an error about the
//! data itself (SQLSTATE classes 22 and 23, and 42 but undefined table and
//! privileges, 54) is [`Failure::Rejected`]: sending it again would fail
//! again and hold up every batch behind it.

use std::time::Duration;

use crate::output::sink::deadline::Deadline;
use bytes::Bytes;
use futures::SinkExt;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::config::PostgresConfig;
use super::encode::Batch;
use super::schema;
use crate::output::sink::{Deliver, Failure};
use octoflow_rows::pgcopy::TRAILER;

/// Longest wait for a connection, a statement or a batch's COPY.
const DEADLINE: Duration = Duration::from_secs(10);

pub struct Copier {
    cfg: PostgresConfig,
    copy: String,
    rt: Deadline,
    conn: Option<Conn>,
}

struct Conn {
    client: Client,
    /// Drives the connection's socket; aborted with it.
    io: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.io.abort();
    }
}

impl Copier {
    pub fn new(cfg: PostgresConfig) -> Result<Copier, String> {
        Ok(Copier {
            copy: schema::copy(&cfg.table),
            cfg,
            rt: Deadline::new("the PostgreSQL client", DEADLINE)?,
            conn: None,
        })
    }

    async fn open(&self) -> Result<Conn, Failure> {
        let mut pg = self.cfg.pg().map_err(Failure::Down)?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(DEADLINE);
        }
        pg.application_name("octoflow");
        let (client, connection) = pg.connect(NoTls).await.map_err(|e| down(&e))?;
        let io = tokio::spawn(async move {
            // Its error reaches the client's next call, which reports it.
            let _ = connection.await;
        });
        let conn = Conn { client, io };
        let t = &self.cfg.table;
        conn.client
            .batch_execute(&schema::create(t))
            .await
            .map_err(|e| down(&e))?;
        let rows = conn
            .client
            .simple_query(&schema::columns_query(t))
            .await
            .map_err(|e| down(&e))?;
        let have: Vec<(String, String)> = rows
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some((
                    r.get(0).unwrap_or_default().to_string(),
                    r.get(1).unwrap_or_default().to_string(),
                )),
                _ => None,
            })
            .collect();
        schema::check(t, &have).map_err(Failure::Down)?;
        Ok(conn)
    }
}

/// A failure that is the server's or the network's, not the batch's.
fn down(e: &tokio_postgres::Error) -> Failure {
    Failure::Down(text(e))
}

/// The error and, from the server, its SQLSTATE and detail.
fn text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} ({}){}",
            db.message(),
            db.code().code(),
            db.detail().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        None => e.to_string(),
    }
}

/// Whether SQLSTATE `code` faults the data rather than the server's state.
fn data_fault(code: &str) -> bool {
    match &code[..code.len().min(2)] {
        "22" | "23" | "54" => true,
        // Undefined table, insufficient privilege: the server's state.
        "42" => !matches!(code, "42P01" | "42501"),
        _ => false,
    }
}

fn failure(e: &tokio_postgres::Error) -> Failure {
    match e.code() {
        Some(c) if data_fault(c.code()) => Failure::Rejected(text(e)),
        _ => down(e),
    }
}

impl Deliver for Copier {
    type Batch = Batch;

    fn connect(&mut self) -> Result<(), Failure> {
        if self.conn.is_some() {
            return Ok(());
        }
        let conn = self.rt.run(self.open())??;
        self.conn = Some(conn);
        Ok(())
    }

    fn deliver(&mut self, b: &mut Batch) -> Result<(), Failure> {
        self.connect()?;
        let Some(conn) = &self.conn else {
            return Err(Failure::Down("not connected".into()));
        };
        let copy = async {
            let sink = conn.client.copy_in::<_, Bytes>(&self.copy).await?;
            let mut sink = std::pin::pin!(sink);
            sink.feed(Bytes::copy_from_slice(&b.data)).await?;
            sink.feed(Bytes::from_static(&TRAILER)).await?;
            sink.as_mut().finish().await
        };
        match self.rt.run(copy) {
            Err(f) => Err(f),
            Ok(Err(e)) => Err(failure(&e)),
            Ok(Ok(n)) if n != b.rows => {
                // Never seen; said rather than hidden.
                tracing::warn!(target = %self.cfg.receiver(), copied = n, rows = b.rows, "the server copied another number of rows than sent");
                Ok(())
            }
            Ok(Ok(_)) => Ok(()),
        }
    }

    fn reset(&mut self) {
        self.conn = None;
    }

    fn target(&self) -> String {
        self.cfg.receiver()
    }
}

#[cfg(test)]
mod tests {
    use super::data_fault;

    #[test]
    fn only_errors_about_the_data_drop_a_batch() {
        for c in ["22P03", "22003", "23505", "42804", "54000"] {
            assert!(data_fault(c), "{c}");
        }
        // Undefined table, privileges, disk full, shutdown, too many
        // connections, read-only, serialization: the server's state.
        for c in [
            "42P01", "42501", "53100", "57P01", "53300", "25006", "40001", "08006",
        ] {
            assert!(!data_fault(c), "{c}");
        }
    }
}
