//! `console:`: where the web console listens, its optional TLS, its users and
//! what each may see, validated with key paths.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::yaml::check::Validator;
use crate::yaml::raw::RawConsole;

/// `console.listen` when not given: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// `console.session_hours` when not given.
pub const DEFAULT_SESSION_HOURS: u64 = 12;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Console {
    pub listen: SocketAddr,
    pub tls: Option<Tls>,
    pub users: Vec<User>,
    /// A login lasts this long (the cookie's and the server's limit).
    pub session_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// A PHC string (`$argon2id$v=19$…`), as `octoflow console hash-password` prints.
    pub password_hash: String,
    pub role: Role,
}

/// What a user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Every profile, and the instances' status.
    Admin,
    /// These profiles (ids in `profiles[]`) and nothing else.
    Tenant(Vec<String>),
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether this user may see profile `id`.
    pub fn may_see(&self, id: &str) -> bool {
        match &self.role {
            Role::Admin => true,
            Role::Tenant(ids) => ids.iter().any(|p| p == id),
        }
    }
}

impl Validator {
    /// The `console` section; `profiles` are the ids of `profiles[]`.
    pub fn console(&mut self, c: RawConsole, profiles: &[String]) -> Option<Console> {
        let errors = self.errors.len();
        let listen_text = c.listen.map_or(DEFAULT_LISTEN.to_string(), |s| s.0);
        let listen = match listen_text.trim().parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                self.err(
                    "console.listen",
                    format!("{listen_text:?} is not an address like 127.0.0.1:8080"),
                );
                DEFAULT_LISTEN.parse().ok()?
            }
        };
        let tls = c.tls.and_then(|t| {
            let mut file = |key: &str, v: Option<String>| -> Option<PathBuf> {
                let path = format!("console.tls.{key}");
                let Some(p) = self.path_of(&path, v.clone()) else {
                    if v.is_none() {
                        self.err(&path, "missing; TLS needs both cert and key (PEM files)");
                    }
                    return None;
                };
                if let Err(why) = self.env.readable(&p) {
                    self.err(&path, format!("cannot read {}: {why}", p.display()));
                    return None;
                }
                Some(p)
            };
            let cert = file("cert", t.cert);
            let key = file("key", t.key);
            Some(Tls {
                cert: cert?,
                key: key?,
            })
        });
        if tls.is_none() && !listen.ip().is_loopback() {
            self.warn(format!(
                "console.listen: {listen} is reachable from other hosts without console.tls: passwords and session cookies cross the network in clear"
            ));
        }
        let session_hours = c.session_hours.unwrap_or(DEFAULT_SESSION_HOURS);
        if !(1..=24 * 31).contains(&session_hours) {
            self.err(
                "console.session_hours",
                format!("{session_hours} is out of range: give 1 to 744 (31 days)"),
            );
        }
        let mut users: Vec<User> = Vec::new();
        let raw_users = c.users.unwrap_or_default();
        if raw_users.is_empty() {
            self.err(
                "console.users",
                "missing or empty: give at least one user, e.g. {name: noc, password_hash: '…', role: admin} (hash with `octoflow console hash-password`)",
            );
        }
        for (i, u) in raw_users.into_iter().enumerate() {
            let at = format!("console.users[{i}]");
            let name = match u.name.map(|s| s.0) {
                Some(n) if valid_name(&n) => n,
                Some(n) => {
                    self.err(
                        format!("{at}.name"),
                        format!("{n:?}: give 1 to 64 letters, digits, '.', '_', '-' or '@'"),
                    );
                    continue;
                }
                None => {
                    self.err(format!("{at}.name"), "missing");
                    continue;
                }
            };
            if users.iter().any(|o| o.name == name) {
                self.err(format!("{at}.name"), format!("{name:?} is given twice"));
            }
            let password_hash = match u.password_hash.map(|s| s.0) {
                Some(h) if argon2::PasswordHash::new(&h).is_ok() => h,
                Some(h) => {
                    let shown: String = h.chars().take(24).collect();
                    self.err(
                        format!("{at}.password_hash"),
                        format!("{shown:?}… is not a password hash (PHC string); make one with `octoflow console hash-password`"),
                    );
                    continue;
                }
                None => {
                    self.err(
                        format!("{at}.password_hash"),
                        "missing; make one with `octoflow console hash-password`",
                    );
                    continue;
                }
            };
            let listed: Option<Vec<String>> =
                u.profiles.map(|v| v.into_iter().map(|s| s.0).collect());
            let role = match (u.role.as_ref().map(|r| r.0.as_str()), listed) {
                (Some("admin"), None) => Role::Admin,
                (Some("admin"), Some(_)) => {
                    self.err(
                        format!("{at}.profiles"),
                        "an admin sees every profile: leave profiles out, or make the user a tenant",
                    );
                    continue;
                }
                (Some("tenant") | None, Some(ids)) if !ids.is_empty() => {
                    for (k, id) in ids.iter().enumerate() {
                        if !profiles.contains(id) {
                            self.err(
                                format!("{at}.profiles[{k}]"),
                                format!(
                                    "{id:?} is not a profile id (profiles: {})",
                                    if profiles.is_empty() {
                                        "none".to_string()
                                    } else {
                                        profiles.join(", ")
                                    }
                                ),
                            );
                        }
                    }
                    Role::Tenant(ids)
                }
                (Some("tenant") | None, _) => {
                    self.err(
                        format!("{at}.profiles"),
                        "missing or empty: a tenant user sees the profiles listed here (or give role: admin)",
                    );
                    continue;
                }
                (Some(r), _) => {
                    self.err(
                        format!("{at}.role"),
                        format!("{r:?} is not a role: give admin or tenant"),
                    );
                    continue;
                }
            };
            users.push(User {
                name,
                password_hash,
                role,
            });
        }
        if self.errors.len() > errors {
            return None;
        }
        Some(Console {
            listen,
            tls,
            users,
            session_secs: session_hours * 3600,
        })
    }
}

fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const HASH: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";

    fn parse(console: &str) -> Result<Config, Vec<String>> {
        Config::parse(&format!(
            "collectors: [{{id: c, listen_port: 2055, nf_version: 10, mux_to: [st]}}]\n\
             exporters: [{{id: st, type: store, path: /tmp/octoflow-console-config-test}}]\n\
             profiles: [{{id: foo, store: st, channels: [{{name: all, filter: any}}]}}]\n\
             console: {console}\n"
        ))
    }

    #[test]
    fn users_roles_and_profiles() {
        let c = parse(&format!(
            "{{users: [{{name: noc, password_hash: '{HASH}', role: admin}}, {{name: foo, password_hash: '{HASH}', profiles: [foo]}}]}}"
        ))
        .expect("valid")
        .console
        .expect("console");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.users[0].is_admin() && c.users[0].may_see("anything"));
        assert!(c.users[1].may_see("foo") && !c.users[1].may_see("noc"));
        assert_eq!(c.session_secs, 12 * 3600);
    }

    #[test]
    fn bad_keys_name_their_path() {
        let e = parse(&format!(
            "{{listen: 'nowhere', users: [{{name: foo, password_hash: 'secret', profiles: [bar]}}, {{name: x, password_hash: '{HASH}', role: admin, profiles: [foo]}}, {{name: y1, password_hash: '{HASH}', role: boss, profiles: [foo]}}, {{name: z, password_hash: '{HASH}'}}]}}"
        ))
        .expect_err("invalid");
        let all = e.join("\n");
        for want in [
            "console.listen: \"nowhere\" is not an address",
            "console.users[0].password_hash: \"secret\"… is not a password hash",
            "console.users[1].profiles: an admin sees every profile",
            "console.users[2].role: \"boss\" is not a role",
            "console.users[3].profiles: missing or empty",
        ] {
            assert!(all.contains(want), "{want}\nin:\n{all}");
        }
        let e = parse(&format!(
            "{{users: [{{name: foo, password_hash: '{HASH}', profiles: [bar]}}]}}"
        ))
        .expect_err("unknown profile");
        assert!(
            e.join("\n").contains(
                "console.users[0].profiles[0]: \"bar\" is not a profile id (profiles: foo)"
            ),
            "{e:?}"
        );
        let e = parse("{users: []}").expect_err("no users");
        assert!(
            e.join("\n").contains("console.users: missing or empty"),
            "{e:?}"
        );
        let e = parse(&format!(
            "{{tls: {{cert: /nonexistent.pem}}, users: [{{name: noc, password_hash: '{HASH}', role: admin}}]}}"
        ))
        .expect_err("tls");
        let all = e.join("\n");
        assert!(
            all.contains("console.tls.cert: cannot read /nonexistent.pem"),
            "{all}"
        );
        assert!(all.contains("console.tls.key: missing"), "{all}");
    }
}
