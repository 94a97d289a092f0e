//! The `kafka` output kind's configuration: brokers, topic, message format,
//! partitioning key and compression, validated with their key paths.

use crate::output::sink::SinkSettings;
use crate::yaml::check::Validator;
use crate::yaml::raw::{RawExporter, Scalar};

/// A `kafka` output: each flow one message on `topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    pub topic: String,
    pub format: Format,
    pub key: Key,
    pub compression: Compression,
    pub sink: SinkSettings,
}

/// What a message holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// goflow2's `FlowMessage`, length-delimited (`proto/flow.proto`).
    Protobuf,
    /// One JSON object with goflow2's key names.
    Json,
}

/// How messages are keyed, and so partitioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The exporting device's address: one device's flows stay in order on
    /// one partition.
    Exporter,
    /// No key: batches go round the partitions.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    const NAMES: &'static [(&'static str, Compression)] = &[
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];

    pub fn name(self) -> &'static str {
        Compression::NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("none", |(n, _)| n)
    }
}

impl KafkaConfig {
    /// `kafka 127.0.0.1:9092 topic flows`, as `octoflow check` prints it.
    pub fn receiver(&self) -> String {
        format!("kafka {} topic {}", self.brokers.join(","), self.topic)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} messages, key {}, compression {}; {}",
            match self.format {
                Format::Protobuf => "protobuf (goflow2 FlowMessage, length-delimited)",
                Format::Json => "JSON (goflow2 keys)",
            },
            match self.key {
                Key::Exporter => "exporter",
                Key::None => "none",
            },
            self.compression.name(),
            self.sink.describe()
        )
    }
}

impl Validator {
    /// The `kafka` kind's keys of `exporters[i]` (path `p`).
    pub fn kafka(&mut self, p: &str, e: RawExporter) -> Option<KafkaConfig> {
        let errors = self.errors.len();
        self.foreign_keys(p, "kafka", &e);
        let mut brokers = Vec::new();
        match &e.brokers {
            None => self.err(
                format!("{p}.brokers"),
                "missing; give the bootstrap brokers, e.g. ['127.0.0.1:9092']",
            ),
            Some(list) if list.is_empty() => self.err(
                format!("{p}.brokers"),
                "is empty; give at least one broker, e.g. ['127.0.0.1:9092']",
            ),
            Some(list) => {
                for (i, Scalar(b)) in list.iter().enumerate() {
                    let port_ok = b.rsplit_once(':').is_some_and(|(h, port)| {
                        !h.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
                    });
                    if port_ok {
                        brokers.push(b.clone());
                    } else {
                        self.err(
                            format!("{p}.brokers[{i}]"),
                            format!("{b:?} is not host:port; give e.g. 127.0.0.1:9092"),
                        );
                    }
                }
            }
        }
        let topic = match &e.topic {
            None => {
                self.err(format!("{p}.topic"), "missing; give the topic, e.g. flows");
                String::new()
            }
            Some(Scalar(t)) => {
                // Kafka's own rule for topic names.
                let legal = !t.is_empty()
                    && t.len() <= 249
                    && t != "."
                    && t != ".."
                    && t.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
                if !legal {
                    self.err(
                        format!("{p}.topic"),
                        format!("{t:?} is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)"),
                    );
                }
                t.clone()
            }
        };
        let format = match e.format.as_ref().map(|s| s.0.as_str()) {
            None | Some("protobuf") => Format::Protobuf,
            Some("json") => Format::Json,
            Some(f) => {
                self.err(
                    format!("{p}.format"),
                    format!("{f:?} is not a format (protobuf, json)"),
                );
                Format::Protobuf
            }
        };
        let key = match e.key.as_ref().map(|s| s.0.as_str()) {
            None | Some("exporter") => Key::Exporter,
            Some("none") => Key::None,
            Some(k) => {
                self.err(
                    format!("{p}.key"),
                    format!("{k:?} is not a key (exporter, none)"),
                );
                Key::Exporter
            }
        };
        let compression = match e.compression.as_ref().map(|s| s.0.as_str()) {
            None => Compression::None,
            Some(c) => match Compression::NAMES.iter().find(|(n, _)| *n == c) {
                Some((_, c)) => *c,
                None => {
                    self.err(
                        format!("{p}.compression"),
                        format!("{c:?} is not a compression (none, gzip, snappy, lz4, zstd)"),
                    );
                    Compression::None
                }
            },
        };
        let sink = self.sink_settings(p, &e);
        (self.errors.len() == errors).then_some(KafkaConfig {
            brokers,
            topic,
            format,
            key,
            compression,
            sink,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Compression, Format, Key};
    use crate::config::Config;

    fn parse(keys: &str) -> Result<Config, Vec<String>> {
        Config::parse_one_output("kafka", keys)
    }

    fn errors(keys: &str) -> Vec<String> {
        parse(keys).err().unwrap_or_default()
    }

    #[test]
    fn a_kafka_output_takes_the_issues_keys_with_defaults() {
        let c = parse(
            "brokers: ['127.0.0.1:9092', 'kafka-2.example:9093'], topic: flows, format: protobuf, \
             key: exporter, compression: lz4, linger_ms: 50, max_buffer_bytes: 64M",
        )
        .expect("loads");
        let crate::output::OutputKind::Kafka(k) = &c.outputs[0].kind else {
            panic!("a kafka output");
        };
        assert_eq!(k.brokers, ["127.0.0.1:9092", "kafka-2.example:9093"]);
        assert_eq!(
            (k.topic.as_str(), k.format, k.key),
            ("flows", Format::Protobuf, Key::Exporter)
        );
        assert_eq!(k.compression, Compression::Lz4);
        assert_eq!(
            (k.sink.linger_ms, k.sink.max_buffer_bytes, k.sink.batch_rows),
            (50, 64 << 20, 10_000)
        );
        let c = parse("brokers: ['b:1'], topic: t, format: json, key: none").expect("loads");
        let crate::output::OutputKind::Kafka(k) = &c.outputs[0].kind else {
            panic!("a kafka output");
        };
        assert_eq!(
            (k.format, k.key, k.compression),
            (Format::Json, Key::None, Compression::None)
        );
        assert_eq!(k.receiver(), "kafka b:1 topic t");
    }

    #[test]
    fn bad_kafka_keys_are_refused_with_their_key_paths() {
        assert_eq!(
            errors("topic: flows"),
            ["exporters[0].brokers: missing; give the bootstrap brokers, e.g. ['127.0.0.1:9092']"]
        );
        assert_eq!(
            errors("brokers: ['127.0.0.1'], topic: 'a b'"),
            [
                "exporters[0].brokers[0]: \"127.0.0.1\" is not host:port; give e.g. 127.0.0.1:9092",
                "exporters[0].topic: \"a b\" is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)"
            ]
        );
        assert_eq!(
            errors("brokers: ['b:1'], topic: t, format: avro, key: flow, compression: brotli"),
            [
                "exporters[0].format: \"avro\" is not a format (protobuf, json)",
                "exporters[0].key: \"flow\" is not a key (exporter, none)",
                "exporters[0].compression: \"brotli\" is not a compression (none, gzip, snappy, lz4, zstd)"
            ]
        );
        assert_eq!(
            errors("brokers: ['b:1'], topic: t, max_buffer_bytes: 10K, linger_ms: 0"),
            [
                "exporters[0].linger_ms: 0 is out of range; give 1 to 60000 ms",
                "exporters[0].max_buffer_bytes: 10240 bytes is too small; give at least 1M"
            ]
        );
        assert_eq!(
            errors("brokers: ['b:1'], topic: t, path: /x"),
            ["exporters[0].path: is a key of type store; this exporter is type kafka (remove it, or set type: store)"]
        );
        assert_eq!(
            parse("brokers: ['b:1'], topic: t, collector_port: 9").err().unwrap_or_default(),
            ["exporters[0].collector_port: is a key of type netflow; this exporter is type kafka (remove it, or set type: netflow)"]
        );
    }
}
