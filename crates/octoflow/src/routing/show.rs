//! `rib show`: what the collector knows, as pmacct's `bgp_table_dump_file`
//! and `gobgp neighbor … adj-in` show it: the sessions, or the routes of one
//! (or all) RIBs, or the route toward one address or covering one prefix.

use std::fmt::Write as _;
use std::net::IpAddr;

use octoflow_prefix::Prefix;

use crate::enrich::routing::{ribs, PeerRib};
use crate::util::now_ms;

/// Most routes `rib show` lists without a prefix or address.
const MAX_LISTED: usize = 100_000;

/// The answer to `rib show [--peer P] [PREFIX|ADDRESS]`; `Err` for a bad
/// argument.
pub fn show(peer: Option<&str>, what: Option<&str>) -> Result<Vec<String>, String> {
    let all = ribs().all();
    let chosen: Vec<_> = match peer {
        None => all,
        Some(p) => {
            let found: Vec<_> = all.into_iter().filter(|r| matches_peer(r, p)).collect();
            if found.is_empty() {
                return Err(format!(
                    "no RIB of peer {p:?} (`octoflow rib show` lists them)"
                ));
            }
            found
        }
    };
    let mut out = Vec::new();
    let Some(what) = what else {
        if peer.is_none() {
            out.push(format!(
                "{:<48} {:>11} {:>8} {:>8} {:>10}  state",
                "rib", "peer AS", "IPv4", "IPv6", "attr sets"
            ));
            for r in &chosen {
                let (v4, v6) = r.read().len();
                let sets = r.read().attr_sets();
                let st = r.state();
                let state = if st.up_since_ms > 0 {
                    format!("up {}s", now_ms().saturating_sub(st.up_since_ms) / 1000)
                } else if st.last_error.is_empty() {
                    "down".to_string()
                } else {
                    format!("down: {}", st.last_error)
                };
                out.push(format!(
                    "{:<48} {:>11} {v4:>8} {v6:>8} {sets:>10}  {state}",
                    r.name, st.peer_asn
                ));
            }
            return Ok(out);
        }
        for r in &chosen {
            let rib = r.read();
            for (p, a) in rib.iter().take(MAX_LISTED) {
                out.push(line(&r.name, p, a));
            }
        }
        return Ok(out);
    };
    let target = parse_target(what)?;
    for r in &chosen {
        let rib = r.read();
        let found = match target {
            Target::Addr(a) => rib.lookup(a),
            Target::Prefix(p) => rib.covering(&p),
        };
        if let Some((p, a)) = found {
            out.push(line(&r.name, p, a));
        }
    }
    if out.is_empty() {
        out.push(format!("no route toward {what}"));
    }
    Ok(out)
}

fn matches_peer(r: &PeerRib, p: &str) -> bool {
    r.name == p || r.name.split(' ').any(|w| w == p)
}

enum Target {
    Addr(IpAddr),
    Prefix(Prefix),
}

fn parse_target(s: &str) -> Result<Target, String> {
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok(Target::Addr(a));
    }
    let bad = || format!("{s:?} is neither an address nor a prefix like 10.0.0.0/24");
    let (a, len) = s.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = a.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(bad());
    }
    Ok(Target::Prefix(Prefix { addr, len }))
}

/// One route as a line: RIB, prefix, next hop, AS path, communities, large
/// communities, MED, local preference, origin.
fn line(rib: &str, p: Prefix, a: &octoflow_proto::RouteAttrs) -> String {
    let mut s = format!(
        "{rib}  {}/{}  nh {}  path [{}]",
        p.addr,
        p.len,
        a.next_hop,
        a.as_path_text()
    );
    if !a.communities().is_empty() {
        let _ = write!(s, "  communities [{}]", a.communities_text());
    }
    if a.large_communities().len() > 0 {
        let _ = write!(s, "  large [{}]", a.large_communities_text());
    }
    if let Some(m) = a.med {
        let _ = write!(s, "  med {m}");
    }
    if let Some(l) = a.local_pref {
        let _ = write!(s, "  local-pref {l}");
    }
    let _ = write!(s, "  origin {}", a.origin.name());
    s
}
