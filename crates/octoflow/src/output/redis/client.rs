//! Writing a batch of counters to Redis: every hash's `HINCRBY`s and its
//! `EXPIRE`, and the networks' set, pipelined inside one `MULTI`/`EXEC`, so a
//! batch counts entirely or not at all (a connection lost before `EXEC`
//! applies nothing, and the batch is sent again).

use std::time::Duration;

use octoflow_rows::resp::{self, Reply};

use super::config::RedisConfig;
use super::counters::{Batch, FIELDS};
use crate::output::sink::{Deliver, Failure};
use crate::redis::{Conn, RedisError};

const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Writer {
    cfg: RedisConfig,
    /// `octoflow:<output id>:`
    prefix: String,
    /// The networks as key text, by index.
    names: Vec<String>,
    conn: Option<Conn>,
    cmds: Vec<u8>,
}

impl Writer {
    pub fn new(id: &str, cfg: RedisConfig) -> Writer {
        Writer {
            prefix: format!("octoflow:{id}:"),
            names: cfg.networks.iter().map(|n| n.to_string()).collect(),
            cfg,
            conn: None,
            cmds: Vec::new(),
        }
    }
}

fn down(e: RedisError) -> Failure {
    match e {
        RedisError::Io(e) => Failure::Down(e),
        RedisError::Refused(e) => Failure::Down(format!("login refused: {e}")),
    }
}

impl Deliver for Writer {
    type Batch = Batch;

    fn connect(&mut self) -> Result<(), Failure> {
        if self.conn.is_none() {
            self.conn = Some(Conn::open(&self.cfg.url, TIMEOUT).map_err(down)?);
        }
        Ok(())
    }

    fn deliver(&mut self, b: &mut Batch) -> Result<(), Failure> {
        if b.sums.is_empty() {
            return Ok(());
        }
        self.connect()?;
        let c = &mut self.cmds;
        c.clear();
        resp::command(c, &[b"MULTI"]);
        let mut n = 1;
        let expire = self.cfg.expire_secs.to_string();
        let mut key = String::new();
        let mut num = String::new();
        for (&(net, at), sums) in &b.sums {
            key.clear();
            key.push_str(&self.prefix);
            key.push_str(&self.names[net as usize]);
            key.push(':');
            key.push_str(&at.to_string());
            for (field, v) in FIELDS.iter().zip(sums) {
                if *v > 0 {
                    num.clear();
                    num.push_str(&v.to_string());
                    resp::command(
                        c,
                        &[b"HINCRBY", key.as_bytes(), field.as_bytes(), num.as_bytes()],
                    );
                    n += 1;
                }
            }
            resp::command(c, &[b"EXPIRE", key.as_bytes(), expire.as_bytes()]);
            n += 1;
        }
        let set = format!("{}networks", self.prefix);
        let mut sadd: Vec<&[u8]> = vec![b"SADD", set.as_bytes()];
        sadd.extend(self.names.iter().map(|s| s.as_bytes()));
        resp::command(c, &sadd);
        resp::command(c, &[b"EXEC"]);
        n += 2;
        let Some(conn) = &mut self.conn else {
            return Err(Failure::Down("not connected".into()));
        };
        let replies = conn.run(c, n).map_err(down)?;
        // Inside MULTI each command answers QUEUED (or an error that aborts
        // the transaction); EXEC answers with the results, or an error.
        if let Some(Reply::Error(e)) = replies.iter().find(|r| matches!(r, Reply::Error(_))) {
            return Err(Failure::Rejected(e.clone()));
        }
        match replies.last() {
            Some(Reply::Array(Some(results))) => {
                match results.iter().find(|r| matches!(r, Reply::Error(_))) {
                    Some(Reply::Error(e)) => Err(Failure::Rejected(e.clone())),
                    _ => Ok(()),
                }
            }
            other => Err(Failure::Rejected(format!("EXEC answered {other:?}"))),
        }
    }

    fn reset(&mut self) {
        self.conn = None;
    }

    fn target(&self) -> String {
        self.cfg.receiver()
    }
}
