//! GeoIP databases (MaxMind's format: GeoLite2-ASN, GeoIP2/GeoLite2-Country)
//! as longest-prefix tables: read once when a collector starts — every
//! network and its AS number or country — so a lookup on the collector thread
//! is a prefix-trie walk (`octoflow-prefix`), not a database search. Tables
//! are shared by collectors and kept while their file is unchanged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use maxminddb::geoip2;
use octoflow_prefix::{Lpm, Prefix};

/// Which database a table is read from: the value each network gets, and the
/// key path errors name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An ASN database (GeoLite2-ASN): `autonomous_system_number`.
    Asn,
    /// A country database (GeoIP2/GeoLite2-Country or City): `country.iso_code`,
    /// where MaxMind places the address (not `registered_country`).
    Country,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Asn => "enrichment.geoip.asn",
            Kind::Country => "enrichment.geoip.country",
        }
    }
}

/// A database's networks and their values, for longest-prefix lookups.
pub struct GeoTable<V> {
    lpm: Lpm<V>,
    pub networks: usize,
}

/// AS numbers by network.
pub type AsnTable = GeoTable<u32>;
/// ISO 3166 country codes by network (`*b"SE"`).
pub type CountryTable = GeoTable<[u8; 2]>;

impl<V: Copy> GeoTable<V> {
    pub fn from_items(items: &[(Prefix, V)]) -> GeoTable<V> {
        GeoTable {
            lpm: Lpm::new(items),
            networks: items.len(),
        }
    }

    /// The value of the most specific network holding `a`.
    #[inline]
    pub fn get(&self, a: IpAddr) -> Option<V> {
        self.lpm.get(a)
    }
}

/// Every network of the database at `path` with a value `value` finds in
/// its record (networks share records: each is decoded once).
fn read<V: Copy>(
    path: &Path,
    kind: Kind,
    value: impl Fn(
        &maxminddb::LookupResult<'_, Vec<u8>>,
    ) -> Result<Option<V>, maxminddb::MaxMindDbError>,
) -> Result<Vec<(Prefix, V)>, String> {
    let shown = path.display();
    let key = kind.key();
    let reader = maxminddb::Reader::open_readfile(path)
        .map_err(|e| format!("{key}: cannot open {shown}: {e}"))?;
    let bad = |e: maxminddb::MaxMindDbError| {
        format!("{key}: {shown} is not a readable MaxMind database: {e}")
    };
    let mut items = Vec::new();
    let mut by_offset: HashMap<usize, Option<V>> = HashMap::new();
    for net in reader.networks(Default::default()).map_err(bad)? {
        let net = net.map_err(bad)?;
        let v = match net.offset() {
            Some(o) if by_offset.contains_key(&o) => by_offset[&o],
            off => {
                let v = value(&net).map_err(bad)?;
                if let Some(o) = off {
                    by_offset.insert(o, v);
                }
                v
            }
        };
        let Some(v) = v else { continue };
        let n = net.network().map_err(bad)?;
        items.push((
            Prefix {
                addr: n.ip(),
                len: n.prefix(),
            },
            v,
        ));
    }
    Ok(items)
}

/// Read an ASN database.
pub fn load_asn(path: &Path) -> Result<AsnTable, String> {
    let items = read(path, Kind::Asn, |net| {
        Ok(net
            .decode::<geoip2::Asn>()?
            .and_then(|r| r.autonomous_system_number)
            .filter(|&a| a != 0))
    })?;
    if items.is_empty() {
        return Err(format!(
            "enrichment.geoip.asn: {} holds no AS numbers (is it an ASN database, e.g. GeoLite2-ASN.mmdb?)",
            path.display()
        ));
    }
    Ok(AsnTable::from_items(&items))
}

/// Read a country (or city) database.
pub fn load_country(path: &Path) -> Result<CountryTable, String> {
    let items = read(path, Kind::Country, |net| {
        Ok(net.decode::<geoip2::Country>()?.and_then(|r| {
            let code = r.country.iso_code?.as_bytes();
            <[u8; 2]>::try_from(code)
                .ok()
                .filter(|c| c.iter().all(u8::is_ascii_uppercase))
        }))
    })?;
    if items.is_empty() {
        return Err(format!(
            "enrichment.geoip.country: {} holds no countries (is it a country database, e.g. GeoLite2-Country.mmdb?)",
            path.display()
        ));
    }
    Ok(CountryTable::from_items(&items))
}

type Key = (PathBuf, Option<SystemTime>, u64);

/// A table per file, shared: collectors starting with the same unchanged
/// file get the same table; a changed file replaces its old table.
struct Cache<V>(Mutex<Vec<(Key, Arc<GeoTable<V>>)>>);

impl<V: Copy> Cache<V> {
    const fn new() -> Self {
        Cache(Mutex::new(Vec::new()))
    }

    fn get(
        &self,
        path: &Path,
        kind: Kind,
        load: fn(&Path) -> Result<GeoTable<V>, String>,
    ) -> Result<Arc<GeoTable<V>>, String> {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("{}: cannot read {}: {e}", kind.key(), path.display()))?;
        let key: Key = (path.to_path_buf(), meta.modified().ok(), meta.len());
        let mut cache = match self.0.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some((_, t)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(t.clone());
        }
        let t = Arc::new(load(path)?);
        tracing::info!(file = %path.display(), networks = t.networks, database = ?kind, "GeoIP database loaded");
        cache.retain(|(k, _)| k.0 != key.0);
        cache.push((key, t.clone()));
        Ok(t)
    }
}

/// [`load_asn`], shared while the file is unchanged.
pub fn asn_cached(path: &Path) -> Result<Arc<AsnTable>, String> {
    static CACHE: Cache<u32> = Cache::new();
    CACHE.get(path, Kind::Asn, load_asn)
}

/// [`load_country`], shared while the file is unchanged.
pub fn country_cached(path: &Path) -> Result<Arc<CountryTable>, String> {
    static CACHE: Cache<[u8; 2]> = Cache::new();
    CACHE.get(path, Kind::Country, load_country)
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
        let t = load_asn(&db()).expect("loads");
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
        let Err(e) = load_asn(Path::new("/etc/hostname")) else {
            panic!("refused")
        };
        assert!(
            e.starts_with("enrichment.geoip.asn: cannot open /etc/hostname"),
            "{e}"
        );
        let e = asn_cached(Path::new("/nonexistent.mmdb"))
            .err()
            .expect("refused");
        assert!(e.contains("/nonexistent.mmdb"), "{e}");
    }

    #[test]
    fn maxminds_country_test_database_gives_where_the_address_is() {
        let country_db = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/mmdb/GeoIP2-Country-Test.mmdb");
        let t = load_country(&country_db).expect("loads");
        for (ip, want) in [
            ("89.160.20.112", Some(*b"SE")),
            ("67.43.156.1", Some(*b"BT")),
            ("149.101.100.1", Some(*b"US")),
            ("81.2.69.160", Some(*b"GB")),
            ("2001:218::1", Some(*b"JP")),
            ("214.1.1.1", None),
            ("10.0.0.1", None),
            ("2001:db8::1", None),
        ] {
            assert_eq!(t.get(ip.parse().unwrap()), want, "{ip}");
        }
        let e = load_country(&db())
            .err()
            .expect("an ASN database has no countries");
        assert!(e.starts_with("enrichment.geoip.country: "), "{e}");
    }
}
