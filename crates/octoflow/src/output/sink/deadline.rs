//! For clients that are async (`rskafka`, `tokio-postgres`): a current-thread
//! tokio runtime of the delivering thread's own (the rest of octoflow has
//! none), and every wait on the server bounded, so a server that accepts a
//! connection and then never answers costs a counted failure and a retry, not
//! the thread.

use std::future::Future;
use std::time::Duration;

use tokio::runtime::Runtime;

use super::Failure;

pub struct Deadline {
    rt: Runtime,
    limit: Duration,
}

impl Deadline {
    /// `client` names the client in the error, e.g. "the Kafka client".
    pub fn new(client: &str, limit: Duration) -> Result<Deadline, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start {client}'s runtime: {e}"))?;
        Ok(Deadline { rt, limit })
    }

    /// Run `f` to its end, or give up after the limit (the server is then
    /// taken as away: [`Failure::Down`]).
    pub fn run<T>(&self, f: impl Future<Output = T>) -> Result<T, Failure> {
        self.rt
            .block_on(async { tokio::time::timeout(self.limit, f).await })
            .map_err(|_| Failure::Down(format!("no answer within {:?}", self.limit)))
    }
}
