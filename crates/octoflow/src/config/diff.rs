//! What another configuration changes, instance by instance: the lines `reread`
//! prints and the plan `reload` follows.

use super::Spec;

/// How an instance differs between the running and the new configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    Added,
    Changed,
    Removed,
}

impl Difference {
    pub fn word(self) -> &'static str {
        match self {
            Difference::Added => "added",
            Difference::Changed => "changed",
            Difference::Removed => "removed",
        }
    }
}

/// The instances `new` adds, changes or removes against `running`, in a stable
/// order: per kind (collectors, then outputs), the new file's instances in its
/// order, then the removed ones.
pub fn diff(running: &[Spec], new: &[Spec]) -> Vec<(String, Difference)> {
    let mut out = Vec::new();
    let kinds: [fn(&Spec) -> bool; 3] = [
        |s| matches!(s, Spec::Collector(_)),
        |s| matches!(s, Spec::Output(_)),
        |s| matches!(s, Spec::Bgp(_) | Spec::Bmp(_)),
    ];
    for is_kind in kinds {
        for s in new.iter().filter(|s| is_kind(s)) {
            match running.iter().find(|r| r.name() == s.name()) {
                None => out.push((s.name(), Difference::Added)),
                Some(r) if r != s => out.push((s.name(), Difference::Changed)),
                _ => {}
            }
        }
        for r in running.iter().filter(|r| is_kind(r)) {
            if !new.iter().any(|s| s.name() == r.name()) {
                out.push((r.name(), Difference::Removed));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn specs(y: &str) -> Vec<Spec> {
        Config::parse(y).expect("loads").specs()
    }

    #[test]
    fn added_changed_and_removed_instances_are_listed_by_kind() {
        let a = specs(
            "collectors: [{id: c, listen_port: 9995, nf_version: 9, mux_to: [x, w]}]\n\
             exporters:\n- {id: x, collector_host: 127.0.0.1, collector_port: 1, collector_version: 9}\n- {id: w, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9}\n",
        );
        let b = specs(
            "collectors: [{id: c, listen_port: 9995, nf_version: 9, mux_to: [x, z]}, {id: d, listen_port: 9996, nf_version: 5}]\n\
             exporters:\n- {id: x, collector_host: 127.0.0.1, collector_port: 1, collector_version: 10}\n- {id: z, collector_host: 127.0.0.1, collector_port: 3, collector_version: 9}\n",
        );
        let d: Vec<(String, &str)> = diff(&a, &b)
            .into_iter()
            .map(|(n, w)| (n, w.word()))
            .collect();
        assert_eq!(
            d,
            vec![
                ("c_collector".into(), "changed"),
                ("d_collector".into(), "added"),
                ("x_exporter".into(), "changed"),
                ("z_exporter".into(), "added"),
                ("w_exporter".into(), "removed"),
            ]
        );
        assert!(diff(&a, &a).is_empty());
    }
}
