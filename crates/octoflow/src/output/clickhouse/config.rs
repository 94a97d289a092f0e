//! The `clickhouse` output kind's configuration: the server's HTTP URL, the
//! database, and which tables the flows go to (`schema`), validated with their
//! key paths.

use super::http::Endpoint;
use crate::output::sink::SinkSettings;
use crate::yaml::check::Validator;
use crate::yaml::raw::{RawExporter, Scalar};

/// A `clickhouse` output: the tenant's flows as rows of `database`'s tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickhouseConfig {
    pub endpoint: Endpoint,
    pub database: String,
    pub schema: Schema,
    pub sink: SinkSettings,
}

/// Which tables octoflow makes and fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// The GoFlow flow-pipeline's: `flows_raw`, and `flows_5m` (5-minute sums
    /// per AS pair and Ethernet type) fed by its materialized view.
    FlowPipeline,
    /// `flows`: every field of octoflow's field schema.
    Octoflow,
}

impl Schema {
    const NAMES: &'static [(&'static str, Schema)] = &[
        ("flow-pipeline", Schema::FlowPipeline),
        ("octoflow", Schema::Octoflow),
    ];

    pub fn name(self) -> &'static str {
        Schema::NAMES
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("flow-pipeline", |(n, _)| n)
    }
}

impl ClickhouseConfig {
    pub const DEFAULT_DATABASE: &'static str = "default";

    /// `clickhouse http://127.0.0.1:8123/ database flows`, as `octoflow check`
    /// prints it (never a password).
    pub fn receiver(&self) -> String {
        format!(
            "clickhouse {} database {}",
            self.endpoint.display(),
            self.database
        )
    }

    pub fn describe(&self) -> String {
        let tables = match self.schema {
            Schema::FlowPipeline => "flows_raw, flows_5m fed by its view",
            Schema::Octoflow => "flows, a column per field",
        };
        format!(
            "RowBinary inserts into {tables} (schema {}); {}",
            self.schema.name(),
            self.sink.describe()
        )
    }
}

/// A ClickHouse identifier octoflow writes without quoting.
pub fn plain_identifier(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && s.len() <= 64
}

impl Validator {
    /// The `clickhouse` kind's keys of `exporters[i]` (path `p`).
    pub fn clickhouse(&mut self, p: &str, e: RawExporter) -> Option<ClickhouseConfig> {
        let errors = self.errors.len();
        self.foreign_keys(p, "clickhouse", &e);
        let endpoint = match &e.url {
            None => {
                self.err(
                    format!("{p}.url"),
                    "missing; give the server's HTTP interface, e.g. http://127.0.0.1:8123",
                );
                None
            }
            Some(Scalar(u)) => match Endpoint::parse(u) {
                Ok(ep) => Some(ep),
                Err(why) => {
                    // The URL may hold a password: name it without.
                    let shown = match u.find('@') {
                        Some(at) => format!(
                            "{}…@{}",
                            &u[..u.find("//").map_or(0, |i| i + 2)],
                            &u[at + 1..]
                        ),
                        None => u.clone(),
                    };
                    self.err(format!("{p}.url"), format!("{shown:?} {why}"));
                    None
                }
            },
        };
        let database = match &e.database {
            None => ClickhouseConfig::DEFAULT_DATABASE.to_string(),
            Some(Scalar(d)) => {
                if !plain_identifier(d) {
                    self.err(
                        format!("{p}.database"),
                        format!("{d:?} is not a database name octoflow takes (letters, digits, _; not starting with a digit)"),
                    );
                }
                d.clone()
            }
        };
        let schema = match e.schema.as_ref().map(|s| s.0.as_str()) {
            None => Schema::FlowPipeline,
            Some(s) => match Schema::NAMES.iter().find(|(n, _)| *n == s) {
                Some((_, s)) => *s,
                None => {
                    self.err(
                        format!("{p}.schema"),
                        format!("{s:?} is not a schema (flow-pipeline, octoflow)"),
                    );
                    Schema::FlowPipeline
                }
            },
        };
        let sink = self.sink_settings(p, &e);
        match endpoint {
            Some(endpoint) if self.errors.len() == errors => Some(ClickhouseConfig {
                endpoint,
                database,
                schema,
                sink,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Schema;
    use crate::config::Config;

    fn parse(keys: &str) -> Result<Config, Vec<String>> {
        Config::parse_one_output("clickhouse", keys)
    }

    fn errors(keys: &str) -> Vec<String> {
        parse(keys).err().unwrap_or_default()
    }

    #[test]
    fn a_clickhouse_output_takes_the_issues_keys_with_defaults() {
        let c = parse(
            "url: 'http://127.0.0.1:8123', database: flows, schema: flow-pipeline, batch_rows: 5000",
        )
        .expect("loads");
        let crate::output::OutputKind::Clickhouse(k) = &c.outputs[0].kind else {
            panic!("a clickhouse output");
        };
        assert_eq!(
            (
                k.endpoint.host.as_str(),
                k.endpoint.port,
                k.database.as_str()
            ),
            ("127.0.0.1", 8123, "flows")
        );
        assert_eq!(k.schema, Schema::FlowPipeline);
        assert_eq!(
            (k.sink.batch_rows, k.sink.linger_ms),
            (5000, 200),
            "the sink's keys, with their defaults"
        );
        assert_eq!(
            k.receiver(),
            "clickhouse http://127.0.0.1:8123/ database flows"
        );
        let c = parse("url: 'http://u:secret@ch:8124', schema: octoflow").expect("loads");
        let crate::output::OutputKind::Clickhouse(k) = &c.outputs[0].kind else {
            panic!("a clickhouse output");
        };
        assert_eq!(
            (k.database.as_str(), k.schema),
            ("default", Schema::Octoflow)
        );
        assert_eq!(
            k.receiver(),
            "clickhouse http://u@ch:8124/ database default"
        );
        assert!(!format!("{k:?}").contains("secret"), "never the password");
    }

    #[test]
    fn bad_clickhouse_keys_are_refused_with_their_key_paths() {
        assert_eq!(
            errors("database: flows"),
            ["exporters[0].url: missing; give the server's HTTP interface, e.g. http://127.0.0.1:8123"]
        );
        assert_eq!(
            errors("url: 'https://u:secret@ch:8443'"),
            ["exporters[0].url: \"https://…@ch:8443\" https is not supported yet (no TLS in octoflow's client): give http://, or put a TLS proxy beside octoflow and give its http:// address"]
        );
        assert_eq!(
            errors("url: 'http://ch:0', database: 'flows; DROP', schema: goflow"),
            [
                "exporters[0].url: \"http://ch:0\" \"0\" is not a port (1-65535)",
                "exporters[0].database: \"flows; DROP\" is not a database name octoflow takes (letters, digits, _; not starting with a digit)",
                "exporters[0].schema: \"goflow\" is not a schema (flow-pipeline, octoflow)"
            ]
        );
        assert_eq!(
            errors("url: 'http://ch', batch_rows: 0, topic: flows"),
            [
                "exporters[0].topic: is a key of type kafka; this exporter is type clickhouse (remove it, or set type: kafka)",
                "exporters[0].batch_rows: 0 is out of range; give 1 to 1000000 rows"
            ]
        );
        assert_eq!(
            errors("url: 'http://ch', dsn: 'host=x'"),
            ["exporters[0].dsn: is a key of type postgres; this exporter is type clickhouse (remove it, or set type: postgres)"]
        );
    }
}
