//! The topology as `octoflow check` prints it: which collector feeds which
//! output, each tenant's prefixes, and the path each input version takes to each
//! receiver — in the words of the encoder's own dispatch — then who the server
//! runs as and who may read its endpoints.

use std::fmt::Write;

use super::run_as::names;
use super::Config;

impl Config {
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "collectors:");
        for c in &self.collectors {
            let _ = writeln!(
                s,
                "  {:<24} udp {:<22} accepts {:<8} -> {}",
                c.instance_name(),
                c.listen.to_string(),
                c.versions.to_string(),
                if c.mux_to.is_empty() {
                    "(nothing)".to_string()
                } else {
                    c.mux_to.join(", ")
                }
            );
            if let Some(e) = &c.enrichment {
                let _ = writeln!(s, "      enrichment: {}", e.describe());
            }
            if c.admission != Default::default() {
                let _ = writeln!(s, "      {}", c.admission);
            }
        }
        let _ = writeln!(s, "exporters:");
        for o in &self.outputs {
            let unfiltered = o.filter.is_empty();
            let _ = writeln!(s, "  {:<24} {}", o.instance_name(), o.kind.receiver());
            let tenant = if unfiltered {
                "everything (no filters)".to_string()
            } else {
                o.filter
                    .entries()
                    .iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let _ = writeln!(s, "      tenant: {tenant}");
            if let Some(st) = o.store() {
                let _ = writeln!(s, "      files: {}", st.describe());
            }
            for c in self.collectors.iter().filter(|c| c.mux_to.contains(&o.id)) {
                if o.store().is_some() {
                    // Every version becomes rows alike: one line per collector.
                    let _ = writeln!(
                        s,
                        "      from {}: {} flows as rows (every field, receive time, collector, source)",
                        c.id, c.versions
                    );
                    continue;
                }
                for vin in c.versions.iter() {
                    let path = o.kind.path_text(vin, unfiltered);
                    let _ = writeln!(s, "      from {}: {path}", c.id);
                }
            }
        }
        let _ = writeln!(s, "server:");
        let _ = match &self.general.run_as {
            Some(r) => writeln!(
                s,
                "  runs as: user {} (uid {}), group {} (gid {}), keeping {} (dropped from root after opening sockets and files)",
                r.user,
                r.uid,
                r.group,
                r.gid,
                names(&self.capabilities())
            ),
            None => writeln!(s, "  runs as: whoever starts it (general.user not set)"),
        };
        if self.needs_net_raw() {
            let _ = writeln!(
                s,
                "  needs: CAP_NET_RAW (exporters with preserve_source send through raw sockets)"
            );
        }
        let _ = match (self.general.metrics_listen, &self.general.metrics_token) {
            (None, _) => writeln!(s, "  metrics: off"),
            (Some(a), Some((p, _))) => writeln!(
                s,
                "  metrics: http://{a}/metrics, /status; bearer token from {}",
                p.display()
            ),
            (Some(a), None) if a.ip().is_loopback() => writeln!(
                s,
                "  metrics: http://{a}/metrics, /status; loopback only, no token"
            ),
            (Some(a), None) => writeln!(
                s,
                "  metrics: http://{a}/metrics, /status; NO TOKEN: anyone who reaches the port reads the counters (set general.metrics_token_file)"
            ),
        };
        if let Some(c) = &self.console {
            let users: Vec<String> = c
                .users
                .iter()
                .map(|u| match &u.role {
                    super::console::Role::Admin => format!("{} (admin)", u.name),
                    super::console::Role::Tenant(p) => format!("{} ({})", u.name, p.join(", ")),
                })
                .collect();
            let _ = writeln!(
                s,
                "  console: {}://{}/ for {}",
                if c.tls.is_some() { "https" } else { "http" },
                c.listen,
                users.join(", ")
            );
        }
        s
    }
}
