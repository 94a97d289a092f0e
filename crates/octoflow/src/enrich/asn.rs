//! A GeoIP ASN database (MaxMind's format, e.g. GeoLite2-ASN) as a
//! longest-prefix table: read once when a collector starts — every network
//! and its AS number — so a lookup on the collector thread is a prefix-trie
//! walk (`octoflow-prefix`), not a database search. Tables are shared by
//! collectors and kept while their file is unchanged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use maxminddb::geoip2;
use octoflow_prefix::{Lpm, Prefix};

pub struct AsnTable {
    lpm: Lpm<u32>,
    pub networks: usize,
}

impl AsnTable {
    pub fn from_items(items: &[(Prefix, u32)]) -> AsnTable {
        AsnTable {
            lpm: Lpm::new(items),
            networks: items.len(),
        }
    }

    /// The AS number of the most specific network holding `a`.
    #[inline]
    pub fn get(&self, a: IpAddr) -> Option<u32> {
        self.lpm.get(a)
    }
}

/// Read every network of the database at `path`.
pub fn load(path: &Path) -> Result<AsnTable, String> {
    let shown = path.display();
    let reader = maxminddb::Reader::open_readfile(path)
        .map_err(|e| format!("enrichment.geoip.asn: cannot open {shown}: {e}"))?;
    let bad = |e: maxminddb::MaxMindDbError| {
        format!("enrichment.geoip.asn: {shown} is not a readable MaxMind ASN database: {e}")
    };
    let mut items = Vec::new();
    // Networks share records: decode each record once.
    let mut by_offset: HashMap<usize, u32> = HashMap::new();
    for net in reader.networks(Default::default()).map_err(bad)? {
        let net = net.map_err(bad)?;
        let asn = match net.offset() {
            Some(o) if by_offset.contains_key(&o) => by_offset[&o],
            off => {
                let a = net
                    .decode::<geoip2::Asn>()
                    .map_err(bad)?
                    .and_then(|r| r.autonomous_system_number)
                    .unwrap_or(0);
                if let Some(o) = off {
                    by_offset.insert(o, a);
                }
                a
            }
        };
        if asn == 0 {
            continue;
        }
        let n = net.network().map_err(bad)?;
        items.push((
            Prefix {
                addr: n.ip(),
                len: n.prefix(),
            },
            asn,
        ));
    }
    if items.is_empty() {
        return Err(format!(
            "enrichment.geoip.asn: {shown} holds no AS numbers (is it an ASN database, e.g. GeoLite2-ASN.mmdb?)"
        ));
    }
    Ok(AsnTable::from_items(&items))
}

type Key = (PathBuf, Option<SystemTime>, u64);

/// [`load`], shared: collectors starting with the same unchanged file get
/// the same table.
pub fn load_cached(path: &Path) -> Result<Arc<AsnTable>, String> {
    static CACHE: Mutex<Vec<(Key, Arc<AsnTable>)>> = Mutex::new(Vec::new());
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("enrichment.geoip.asn: cannot read {}: {e}", path.display()))?;
    let key: Key = (path.to_path_buf(), meta.modified().ok(), meta.len());
    let mut cache = match CACHE.lock() {
        Ok(c) => c,
        Err(p) => p.into_inner(),
    };
    if let Some((_, t)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(t.clone());
    }
    let t = Arc::new(load(path)?);
    tracing::info!(file = %path.display(), networks = t.networks, "GeoIP ASN database loaded");
    // One table per file: a changed file replaces its old table.
    cache.retain(|(k, _)| k.0 != key.0);
    cache.push((key, t.clone()));
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/mmdb/GeoLite2-ASN-Test.mmdb")
    }

    #[test]
    fn maxminds_test_database_gives_its_known_answers() {
        let t = load(&db()).expect("loads");
        for (ip, want) in [
            ("1.0.0.1", Some(15169)),
            ("1.128.0.1", Some(1221)),
            ("12.81.92.1", Some(7018)),
            ("12.81.96.1", Some(7018)),
            ("67.43.156.1", Some(35908)),
            ("89.160.20.129", Some(29518)),
            ("149.101.100.1", Some(6167)),
            ("214.1.1.1", Some(721)),
            ("216.160.83.56", Some(209)),
            ("2001:1700::1", Some(6730)),
            ("2001:2000::1", Some(1299)),
            ("2001:4600::1", Some(2119)),
            ("2c0f:ff40::1", Some(10474)),
            ("::ffff:1.128.0.1", Some(1221)),
            ("81.2.69.160", None),
            ("10.0.0.1", None),
            ("192.0.2.1", None),
            ("2001:db8::1", None),
        ] {
            assert_eq!(t.get(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_with_its_name() {
        let Err(e) = load(Path::new("/etc/hostname")) else {
            panic!("refused")
        };
        assert!(
            e.starts_with("enrichment.geoip.asn: cannot open /etc/hostname"),
            "{e}"
        );
        let e = load_cached(Path::new("/nonexistent.mmdb"))
            .err()
            .expect("refused");
        assert!(e.contains("/nonexistent.mmdb"), "{e}");
    }
}
