//! Producing a batch to Kafka with `rskafka`, on the delivering thread of
//! [`crate::output::sink`]: a current-thread tokio runtime of its own (the rest
//! of octoflow has none), the topic created when missing, one produce request
//! per partition, all in flight at once.
//!
//! Delivery is at least once: when a broker fails part-way, the whole batch is
//! produced again after the reconnect, so partitions that had taken their part
//! get it twice.

use std::time::Duration;

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression as Codec, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use rskafka::BackoffConfig;

use super::config::{Compression, KafkaConfig, Key};
use super::encode::Batch;
use crate::output::sink::deadline::Deadline;
use crate::output::sink::{Deliver, Failure};

/// Partitions of a topic octoflow creates (when the broker does not have it):
/// enough for a few consumers to share it.
const NEW_TOPIC_PARTITIONS: i32 = 4;
/// Longest wait for any one broker operation; past it the broker counts as
/// away (rskafka's own retries stop at the same deadline).
const DEADLINE: Duration = Duration::from_secs(10);

pub struct Producer {
    cfg: KafkaConfig,
    rt: Deadline,
    conn: Option<Conn>,
    /// `Key::None`: the partition the next batch goes to.
    next: usize,
}

struct Conn {
    /// Kept for the partition clients' shared broker connections.
    _client: Client,
    partitions: Vec<PartitionClient>,
}

impl Producer {
    pub fn new(cfg: KafkaConfig) -> Result<Producer, String> {
        Ok(Producer {
            cfg,
            rt: Deadline::new("the Kafka client", DEADLINE)?,
            conn: None,
            next: 0,
        })
    }

    fn codec(&self) -> Codec {
        match self.cfg.compression {
            Compression::None => Codec::NoCompression,
            Compression::Gzip => Codec::Gzip,
            Compression::Snappy => Codec::Snappy,
            Compression::Lz4 => Codec::Lz4,
            Compression::Zstd => Codec::Zstd,
        }
    }
}

/// A refusal the same batch would get again: count it, do not retry.
fn failure(e: KafkaError) -> Failure {
    match &e {
        KafkaError::ServerError {
            protocol_error:
                ProtocolError::MessageTooLarge
                | ProtocolError::RecordListTooLarge
                | ProtocolError::CorruptMessage
                | ProtocolError::InvalidRecord
                | ProtocolError::UnsupportedCompressionType
                | ProtocolError::TopicAuthorizationFailed
                | ProtocolError::InvalidTopicException,
            ..
        } => Failure::Rejected(e.to_string()),
        _ => Failure::Down(e.to_string()),
    }
}

async fn connect(cfg: &KafkaConfig) -> Result<Conn, KafkaError> {
    let client = ClientBuilder::new(cfg.brokers.clone())
        .client_id("octoflow")
        .backoff_config(BackoffConfig {
            deadline: Some(DEADLINE),
            ..BackoffConfig::default()
        })
        .build()
        .await?;
    let find = |topics: &[rskafka::topic::Topic]| {
        topics
            .iter()
            .find(|t| t.name == cfg.topic)
            .map(|t| t.partitions.iter().copied().collect::<Vec<i32>>())
    };
    let mut parts = find(&client.list_topics().await?);
    if parts.is_none() {
        let ctl = client.controller_client()?;
        match ctl
            .create_topic(&cfg.topic, NEW_TOPIC_PARTITIONS, 1, 5_000)
            .await
        {
            Ok(()) => {}
            // Made meanwhile by another producer: fine.
            Err(KafkaError::ServerError {
                protocol_error: ProtocolError::TopicAlreadyExists,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
        tracing::info!(topic = %cfg.topic, partitions = NEW_TOPIC_PARTITIONS, "created Kafka topic");
        parts = find(&client.list_topics().await?);
    }
    let mut parts = parts.unwrap_or_default();
    if parts.is_empty() {
        return Err(KafkaError::InvalidResponse(format!(
            "topic {} has no partitions",
            cfg.topic
        )));
    }
    parts.sort_unstable();
    let mut partitions = Vec::with_capacity(parts.len());
    for p in parts {
        partitions.push(
            client
                .partition_client(cfg.topic.clone(), p, UnknownTopicHandling::Error)
                .await?,
        );
    }
    Ok(Conn {
        _client: client,
        partitions,
    })
}

impl Deliver for Producer {
    type Batch = Batch;

    fn connect(&mut self) -> Result<(), Failure> {
        if self.conn.is_some() {
            return Ok(());
        }
        let conn = self
            .rt
            .run(connect(&self.cfg))?
            .map_err(|e| Failure::Down(e.to_string()))?;
        self.conn = Some(conn);
        Ok(())
    }

    fn deliver(&mut self, b: &mut Batch) -> Result<(), Failure> {
        self.connect()?;
        let codec = self.codec();
        let Some(conn) = &self.conn else {
            return Err(Failure::Down("not connected".into()));
        };
        let n = conn.partitions.len();
        let mut per: Vec<Vec<Record>> = (0..n).map(|_| Vec::new()).collect();
        let round = self.next % n;
        // The records built for the first attempt, moved into the requests;
        // a retry builds them again from the batch's compact copy.
        let msgs = match std::mem::take(&mut b.built) {
            first if first.len() == b.ends.len() => first,
            _ => b.rebuild(),
        };
        for (hash, rec) in msgs {
            let p = match self.cfg.key {
                Key::Exporter => (hash % n as u64) as usize,
                Key::None => round,
            };
            per[p].push(rec);
        }
        self.next = self.next.wrapping_add(1);
        let sends = conn
            .partitions
            .iter()
            .zip(per)
            .filter(|(_, recs)| !recs.is_empty())
            .map(|(pc, recs)| pc.produce(recs, codec));
        self.rt
            .run(futures::future::join_all(sends))?
            .into_iter()
            .try_for_each(|r| r.map(drop).map_err(failure))
    }

    fn reset(&mut self) {
        self.conn = None;
    }

    fn target(&self) -> String {
        self.cfg.receiver()
    }
}
