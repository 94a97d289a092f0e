//! The topology as `octoflow check` prints it: which collector feeds which
//! output, each tenant's prefixes, and the path each input version takes to each
//! receiver — in the words of the encoder's own dispatch.

use std::fmt::Write;

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
        s
    }
}
