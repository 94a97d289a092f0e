//! Network labels (`enrichment.networks`): a YAML file of prefixes, each with
//! the name, role, site and tenant operators give it, as akvorado's
//! `networks` do. A flow's source and destination get the labels of the most
//! specific prefix holding them; the store keeps them as columns.
//!
//! ```yaml
//! 10.0.0.0/8: {name: corp, role: customer, site: par1, tenant: foo}
//! 10.0.1.0/24: {name: foo-lan}          # more specific: its own labels only
//! 2001:db8::/32: {name: lab, role: internal}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use octoflow_prefix::{Lpm, Prefix};
use serde::Deserialize;

/// The labels one prefix has; each may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    pub name: Option<String>,
    pub role: Option<String>,
    pub site: Option<String>,
    pub tenant: Option<String>,
}

/// The label kinds, in column order.
pub const KINDS: [&str; 4] = ["name", "role", "site", "tenant"];

impl Labels {
    /// Label `k` of [`KINDS`].
    pub fn get(&self, k: usize) -> Option<&str> {
        match k {
            0 => self.name.as_deref(),
            1 => self.role.as_deref(),
            2 => self.site.as_deref(),
            3 => self.tenant.as_deref(),
            _ => None,
        }
    }
}

/// The file read: prefixes in a longest-prefix table, each to its labels'
/// index + 1 (0: no prefix holds the address).
#[derive(Default)]
pub struct Networks {
    lpm: Lpm<u32>,
    labels: Vec<Labels>,
}

impl std::fmt::Debug for Networks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Networks({} prefixes)", self.labels.len())
    }
}

impl Networks {
    /// The labels' index + 1 for `a` (0 when no prefix holds it), what a
    /// record carries beside it.
    #[inline]
    pub fn index(&self, a: std::net::IpAddr) -> u32 {
        self.lpm.get(a).unwrap_or(0)
    }

    /// The labels of an index from [`Networks::index`].
    pub fn labels(&self, index: u32) -> Option<&Labels> {
        index
            .checked_sub(1)
            .and_then(|i| self.labels.get(i as usize))
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }
}

/// Read `text` (the file `shown`); errors name the file, the prefix and what
/// is wrong.
pub fn parse(text: &str, shown: &str) -> Result<Networks, String> {
    let at = |what: String| format!("enrichment.networks: {shown}: {what}");
    let raw: BTreeMap<String, Labels> = serde_saphyr::from_str(text).map_err(|e| {
        at(format!(
            "{}; give prefixes with their labels, e.g. '10.0.0.0/8: {{name: corp, role: customer, site: par1, tenant: foo}}'",
            e.to_string().lines().next().unwrap_or_default()
        ))
    })?;
    let mut items = Vec::with_capacity(raw.len());
    let mut labels = Vec::with_capacity(raw.len());
    let mut seen: BTreeMap<(std::net::IpAddr, u8), String> = BTreeMap::new();
    for (key, l) in raw {
        let p: Prefix = key.trim().parse().map_err(at)?;
        let p = p.network();
        if let Some(other) = seen.insert((p.addr, p.len), key.clone()) {
            return Err(at(format!("{key:?} is the same network as {other:?}")));
        }
        labels.push(l);
        items.push((p, labels.len() as u32));
    }
    Ok(Networks {
        lpm: Lpm::new(&items),
        labels,
    })
}

/// Read the file at `path`.
pub fn load(path: &Path) -> Result<Networks, String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("enrichment.networks: cannot read {shown}: {e}"))?;
    parse(&text, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_prefix_gives_the_labels() {
        let n = parse(
            "10.0.0.0/8: {name: corp, role: customer, site: par1, tenant: foo}\n\
             10.0.1.0/24: {name: foo-lan}\n\
             2001:db8::/32: {name: lab, role: internal}\n",
            "n.yaml",
        )
        .expect("loads");
        let at = |a: &str| n.labels(n.index(a.parse().unwrap())).cloned();
        assert_eq!(at("10.9.9.9").and_then(|l| l.tenant), Some("foo".into()));
        let lan = at("10.0.1.7").expect("labels");
        assert_eq!(
            (lan.name.as_deref(), lan.role.as_deref()),
            (Some("foo-lan"), None)
        );
        assert_eq!(
            at("2001:db8::1").and_then(|l| l.role),
            Some("internal".into())
        );
        assert_eq!(at("192.0.2.1"), None);
        assert_eq!(
            n.index("::ffff:10.0.1.7".parse().unwrap()),
            n.index("10.0.1.7".parse().unwrap())
        );
    }

    #[test]
    fn a_bad_file_says_where() {
        let e = parse("10.0.0.0/33: {name: x}\n", "n.yaml").expect_err("refused");
        assert!(
            e.starts_with(
                "enrichment.networks: n.yaml: \"10.0.0.0/33\" is not an IP address or CIDR prefix"
            ),
            "{e}"
        );
        let e = parse("10.0.0.0/8: {colour: red}\n", "n.yaml").expect_err("refused");
        assert!(
            e.starts_with("enrichment.networks: n.yaml: ") && e.contains("colour"),
            "{e}"
        );
        let e = parse("10.0.0.0/8: {}\n10.0.0.1/8: {}\n", "n.yaml").expect_err("refused");
        assert!(e.contains("the same network"), "{e}");
    }
}
