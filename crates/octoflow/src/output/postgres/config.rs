//! The `postgres` output kind's configuration: the connection string (`dsn`,
//! libpq's `key=value` form or a `postgresql://` URL) and the table, validated
//! with their key paths.

use std::str::FromStr;

use tokio_postgres::config::{Host, SslMode};

use crate::output::sink::SinkSettings;
use crate::yaml::check::Validator;
use crate::yaml::raw::{RawExporter, Scalar};

/// A `postgres` output: the tenant's flows as rows of `table`.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// As written (it may hold a password: never shown).
    pub dsn: String,
    /// `user@host:port/dbname`, for logs and `octoflow check`.
    pub shown: String,
    /// `name` or `schema.name`, lower case (PostgreSQL folds unquoted names).
    pub table: String,
    pub sink: SinkSettings,
}

/// Without the password: configurations are logged.
impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("dsn", &redact(&self.dsn))
            .field("table", &self.table)
            .field("sink", &self.sink)
            .finish()
    }
}

impl PostgresConfig {
    pub const DEFAULT_TABLE: &'static str = "flows";

    /// `postgres postgres@127.0.0.1:5432/postgres table flows`.
    pub fn receiver(&self) -> String {
        format!("postgres {} table {}", self.shown, self.table)
    }

    pub fn describe(&self) -> String {
        format!(
            "binary COPY into the flow-pipeline inserter's table; {}",
            self.sink.describe()
        )
    }

    /// The connection settings (validated when loaded).
    pub fn pg(&self) -> Result<tokio_postgres::Config, String> {
        tokio_postgres::Config::from_str(&self.dsn).map_err(|e| e.to_string())
    }
}

/// The DSN with its password replaced by `…` (in `password=…` and in a URL's
/// `user:password@`), for error messages.
pub fn redact(dsn: &str) -> String {
    if let Some(scheme_end) = dsn.find("://") {
        let rest = &dsn[scheme_end + 3..];
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..auth_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                return format!(
                    "{}{}:…{}",
                    &dsn[..scheme_end + 3],
                    &rest[..colon],
                    &rest[at..]
                );
            }
        }
        return dsn.to_string();
    }
    let mut out = String::new();
    let mut rest = dsn;
    while let Some(i) = rest.find("password") {
        out.push_str(&rest[..i]);
        let after = rest[i + 8..].trim_start();
        let Some(v) = after.strip_prefix('=') else {
            out.push_str("password");
            rest = &rest[i + 8..];
            continue;
        };
        let v = v.trim_start();
        let end = if let Some(q) = v.strip_prefix('\'') {
            q.find('\'').map_or(v.len(), |e| e + 2)
        } else {
            v.find(char::is_whitespace).unwrap_or(v.len())
        };
        out.push_str("password=…");
        rest = &v[end..];
    }
    out.push_str(rest);
    out
}

/// `user@host:port/dbname` of parsed settings (libpq's defaults where left
/// out: port 5432, the database named as the user).
fn shown(c: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = c
                .get_ports()
                .get(i)
                .or(c.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match h {
                Host::Tcp(h) if h.contains(':') => format!("[{h}]:{port}"),
                Host::Tcp(h) => format!("{h}:{port}"),
                Host::Unix(p) => format!("{}:{port}", p.display()),
            }
        })
        .collect();
    let user = c.get_user().unwrap_or("?");
    format!(
        "{user}@{}/{}",
        hosts.join(","),
        c.get_dbname().unwrap_or(user)
    )
}

/// `flows` or `public.flows`: unquoted names PostgreSQL keeps as written.
fn plain_table(t: &str) -> bool {
    let part = |p: &str| {
        let mut c = p.chars();
        c.next().is_some_and(|f| f.is_ascii_lowercase() || f == '_')
            && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == '_')
            && p.len() <= 63
    };
    match t.split_once('.') {
        Some((s, n)) => part(s) && part(n),
        None => part(t),
    }
}

impl Validator {
    /// The `postgres` kind's keys of `exporters[i]` (path `p`).
    pub fn postgres(&mut self, p: &str, e: RawExporter) -> Option<PostgresConfig> {
        let errors = self.errors.len();
        self.foreign_keys(p, "postgres", &e);
        let mut dsn = None;
        match &e.dsn {
            None => self.err(
                format!("{p}.dsn"),
                "missing; give the connection string, e.g. 'host=127.0.0.1 port=5432 user=postgres dbname=flows' or postgresql://postgres@127.0.0.1:5432/flows",
            ),
            Some(Scalar(d)) => match tokio_postgres::Config::from_str(d) {
                Err(why) => self.err(format!("{p}.dsn"), format!("{:?}: {why}", redact(d))),
                Ok(c) if c.get_hosts().is_empty() => self.err(
                    format!("{p}.dsn"),
                    format!("{:?} names no host; add host=… (or the URL's host)", redact(d)),
                ),
                Ok(c) if c.get_user().is_none() => self.err(
                    format!("{p}.dsn"),
                    format!("{:?} names no user; add user=… (or the URL's user@)", redact(d)),
                ),
                Ok(c) if c.get_ssl_mode() == SslMode::Require => self.err(
                    format!("{p}.dsn"),
                    format!(
                        "{:?} asks for sslmode=require: TLS is not supported yet; give sslmode=disable or prefer",
                        redact(d)
                    ),
                ),
                Ok(c) => dsn = Some((d.clone(), shown(&c))),
            },
        }
        let table = match &e.table {
            None => PostgresConfig::DEFAULT_TABLE.to_string(),
            Some(Scalar(t)) => {
                if !plain_table(t) {
                    self.err(
                        format!("{p}.table"),
                        format!("{t:?} is not a table name octoflow takes (lower-case letters, digits, _; optionally schema.table)"),
                    );
                }
                t.clone()
            }
        };
        let sink = self.sink_settings(p, &e);
        match dsn {
            Some((dsn, shown)) if self.errors.len() == errors => Some(PostgresConfig {
                dsn,
                shown,
                table,
                sink,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;
    use crate::config::Config;

    fn parse(keys: &str) -> Result<Config, Vec<String>> {
        Config::parse_one_output("postgres", keys)
    }

    fn errors(keys: &str) -> Vec<String> {
        parse(keys).err().unwrap_or_default()
    }

    fn pg(keys: &str) -> super::PostgresConfig {
        let c = parse(keys).expect("loads");
        let crate::output::OutputKind::Postgres(p) = &c.outputs[0].kind else {
            panic!("a postgres output");
        };
        p.clone()
    }

    #[test]
    fn a_postgres_output_takes_a_dsn_in_either_form_and_a_table() {
        let p = pg("dsn: 'host=127.0.0.1 port=5432 user=postgres dbname=postgres', linger_ms: 100");
        assert_eq!(
            p.receiver(),
            "postgres postgres@127.0.0.1:5432/postgres table flows"
        );
        assert_eq!(p.sink.linger_ms, 100);
        let p = pg(
            "dsn: 'postgresql://writer:s3cret@db.example:6432/netflow', table: public.flows_raw",
        );
        assert_eq!(
            p.receiver(),
            "postgres writer@db.example:6432/netflow table public.flows_raw"
        );
        assert!(p.dsn.contains("s3cret"));
        assert!(!format!("{p:?}").contains("s3cret"), "never the password");
        assert!(!p.receiver().contains("s3cret"), "never the password");
        let p = pg("dsn: 'host=::1 user=u'");
        assert_eq!(p.shown, "u@[::1]:5432/u", "libpq's defaults");
    }

    #[test]
    fn bad_postgres_keys_are_refused_with_their_key_paths_and_no_password() {
        assert_eq!(
            errors("table: flows"),
            ["exporters[0].dsn: missing; give the connection string, e.g. 'host=127.0.0.1 port=5432 user=postgres dbname=flows' or postgresql://postgres@127.0.0.1:5432/flows"]
        );
        assert_eq!(
            errors("dsn: 'user=postgres password=hunter2 dbname=x'"),
            ["exporters[0].dsn: \"user=postgres password=… dbname=x\" names no host; add host=… (or the URL's host)"]
        );
        let e = errors("dsn: 'host=h user=u port=seventy'");
        assert!(
            e[0].starts_with("exporters[0].dsn: \"host=h user=u port=seventy\": "),
            "{e:?}"
        );
        assert_eq!(
            errors("dsn: 'postgresql://u:pw@h/db?sslmode=require', table: 'Flows; drop'"),
            [
                "exporters[0].dsn: \"postgresql://u:…@h/db?sslmode=require\" asks for sslmode=require: TLS is not supported yet; give sslmode=disable or prefer",
                "exporters[0].table: \"Flows; drop\" is not a table name octoflow takes (lower-case letters, digits, _; optionally schema.table)"
            ]
        );
        assert_eq!(
            errors("dsn: 'host=h user=u', url: 'http://x'"),
            ["exporters[0].url: is a key of type clickhouse/redis; this exporter is type postgres (remove it, or set type: clickhouse)"]
        );
    }

    #[test]
    fn passwords_are_redacted_in_both_forms() {
        assert_eq!(
            redact("host=h password='a b' user=u"),
            "host=h password=… user=u"
        );
        assert_eq!(redact("password = x"), "password=…");
        assert_eq!(redact("postgres://u:p@ss@h:1/d"), "postgres://u:…@h:1/d");
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
    }
}
