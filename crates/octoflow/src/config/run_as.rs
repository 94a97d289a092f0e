//! Who the server runs as: `general.user` and `general.group`, resolved against
//! the system's accounts when the configuration loads (so `octoflow check` says
//! when one is missing), and **the capabilities the server keeps** after dropping
//! to them ([`Config::capabilities`]). That one decision serves the drop
//! (`crate::privileges`), the unit `install-systemd` writes (`crate::systemd`) and
//! what `octoflow check` prints.

use caps::Capability;
use nix::unistd::{Gid, Group, Uid, User};

use super::{Config, Output};
use crate::yaml::check::Validator;
use crate::yaml::raw::Scalar;

/// The account the server drops to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub uid: u32,
    /// `general.group`, else the user's own group.
    pub group: String,
    pub gid: u32,
}

impl Config {
    /// The capabilities the server keeps after dropping to `general.user`, in
    /// every thread, and no others:
    ///
    /// - `CAP_NET_BIND_SERVICE`, always. Collectors bind their ports when they
    ///   start, and they start again after the drop: on a restart (`client
    ///   restart`, a crash, a changed collector) and when a reload adds one. A
    ///   capability given up cannot be taken back, so keeping it only when the
    ///   file names a port below 1024 today would make a later reload that adds
    ///   one fail. It lets the process bind low ports and nothing else.
    /// - `CAP_NET_RAW` when an output sends through a raw socket ([`sends_raw`]).
    pub fn capabilities(&self) -> Vec<Capability> {
        let mut keep = vec![Capability::CAP_NET_BIND_SERVICE];
        if self.outputs.iter().any(sends_raw) {
            keep.push(Capability::CAP_NET_RAW);
        }
        keep
    }
}

/// Whether an output sends through a raw socket, which needs `CAP_NET_RAW`:
/// `exporters[].preserve_source` (datagrams sent with the router's own source
/// address).
fn sends_raw(o: &Output) -> bool {
    o.needs_net_raw()
}

/// `CAP_A CAP_B`, as systemd and the log write them.
pub fn names(caps: &[Capability]) -> String {
    caps.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Validator {
    /// `general.user` and `general.group`: names or numeric ids of accounts that
    /// exist here.
    pub(super) fn run_as(&mut self, user: Option<Scalar>, group: Option<Scalar>) -> Option<RunAs> {
        let Some(Scalar(u)) = user else {
            if let Some(Scalar(g)) = group {
                self.err(
                    "general.group",
                    format!("{g:?} without general.user: give the user to drop to as well"),
                );
            }
            return None;
        };
        let u = u.trim();
        let found = match u.parse::<u32>() {
            Ok(n) => User::from_uid(Uid::from_raw(n)),
            Err(_) => User::from_name(u),
        };
        let user = match found {
            Ok(Some(x)) => x,
            Ok(None) => {
                self.err(
                    "general.user",
                    format!("{u:?} is not a user on this system (create one, e.g. useradd --system --user-group --no-create-home --shell /usr/sbin/nologin {u})"),
                );
                return None;
            }
            Err(e) => {
                self.err("general.user", format!("{u:?}: cannot look it up: {e}"));
                return None;
            }
        };
        if user.uid.is_root() {
            self.err(
                "general.user",
                format!("{u:?} is root (uid 0): leave the key out to run as root"),
            );
            return None;
        }
        let (group, gid) = match group {
            None => {
                let name = Group::from_gid(user.gid)
                    .ok()
                    .flatten()
                    .map_or_else(|| user.gid.to_string(), |g| g.name);
                (name, user.gid)
            }
            Some(Scalar(g)) => {
                let g = g.trim();
                let found = match g.parse::<u32>() {
                    Ok(n) => Group::from_gid(Gid::from_raw(n)),
                    Err(_) => Group::from_name(g),
                };
                match found {
                    Ok(Some(x)) => (x.name, x.gid),
                    Ok(None) => {
                        self.err(
                            "general.group",
                            format!("{g:?} is not a group on this system (leave the key out for the user's own group)"),
                        );
                        return None;
                    }
                    Err(e) => {
                        self.err("general.group", format!("{g:?}: cannot look it up: {e}"));
                        return None;
                    }
                }
            }
        };
        Some(RunAs {
            user: user.name,
            uid: user.uid.as_raw(),
            group,
            gid: gid.as_raw(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn errors(y: &str) -> Vec<String> {
        Config::parse(y).expect_err("should be refused")
    }

    #[test]
    fn user_and_group_resolve_and_unknown_ones_are_refused_with_their_key_path() {
        let c = Config::parse("general: {user: nobody}\n").expect("nobody exists");
        let r = c.general.run_as.expect("run_as");
        assert_eq!((r.user.as_str(), r.uid), ("nobody", 65534));
        let c = Config::parse("general: {user: 65534, group: 0}\n").expect("numeric ids");
        let r = c.general.run_as.expect("run_as");
        assert_eq!(
            (r.user.as_str(), r.gid, r.group.as_str()),
            ("nobody", 0, "root")
        );
        assert_eq!(
            errors("general: {user: no-such-user-here}\n"),
            vec!["general.user: \"no-such-user-here\" is not a user on this system (create one, e.g. useradd --system --user-group --no-create-home --shell /usr/sbin/nologin no-such-user-here)"]
        );
        assert_eq!(
            errors("general: {user: nobody, group: no-such-group-here}\n"),
            vec!["general.group: \"no-such-group-here\" is not a group on this system (leave the key out for the user's own group)"]
        );
        assert_eq!(
            errors("general: {group: nogroup}\n"),
            vec![
                "general.group: \"nogroup\" without general.user: give the user to drop to as well"
            ]
        );
        assert!(errors("general: {user: root}\n")[0].starts_with("general.user: \"root\" is root"));
    }

    #[test]
    fn only_cap_net_bind_service_is_kept_without_raw_sockets() {
        let c = Config::parse(
            "collectors: [{id: a, listen_port: 2055, nf_version: 9, mux_to: [b]}]\n\
             exporters: [{id: b, collector_host: 127.0.0.1, collector_port: 9996, collector_version: 9}]\n",
        )
        .expect("loads");
        assert_eq!(
            super::names(&c.capabilities()),
            "CAP_NET_BIND_SERVICE",
            "kept even with no port below 1024: a reload may add one"
        );
    }

    #[test]
    fn cap_net_raw_is_kept_when_an_exporter_preserves_the_source() {
        let c = Config::parse(
            "collectors: [{id: a, listen_port: 2055, nf_version: 9, mux_to: [b]}]\n\
             exporters: [{id: b, collector_host: 127.0.0.1, collector_port: 9996, collector_version: 9, preserve_source: true}]\n",
        )
        .expect("loads");
        assert_eq!(
            super::names(&c.capabilities()),
            "CAP_NET_BIND_SERVICE CAP_NET_RAW"
        );
    }
}
