//! Routing-aware flows with a real BGP speaker: Debian's gobgpd (AS 65001)
//! connects to octoflow's passive speaker (AS 65000) and announces a small
//! table; a real exporter's capture (softflowd) and `octoflow gen`'s flows
//! then carry, per flow, the origin AS, BGP next hop and prefix lengths the
//! table implies — at nfcapd (a converting v9 output, nfdump's `%sas %das
//! %nhb %smk %dmk`), in a store (the AS path, communities and country
//! columns, read by DuckDB, and `octoflow query`'s filters) and on Kafka
//! (goflow2's `as_path` and `bgp_next_hop`, decoded by protoc). When gobgpd's
//! session drops, the peer's routes go and the next flows carry none. The
//! same table through BMP is the second test.
//!
//! The flows come in as IPFIX and leave as v9: a converting output carries
//! the enrichment. (A same-version output forwards the router's own bytes,
//! byte for byte, and so carries what the router sent.)
//!
//! Everything runs on 127.0.0.1; gobgpd's API is a unix socket in the test's
//! folder, and it is stopped by its PID.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::duckdb::duckdb;
use common::flows::settle;
use common::goflow::{consume, protoc_decode};
use common::replay::replay;
use common::servers::{Db, Kind};
use common::*;

/// gobgpd with one neighbour, octoflow at 127.0.0.1:`port`, kept down until
/// the routes are in.
fn start_gobgpd(dir: &Path, port: u16, extra: &str) -> Child {
    let conf = dir.join("gobgpd.toml");
    std::fs::write(
        &conf,
        format!(
            "[global.config]\n  as = 65001\n  router-id = \"127.0.0.2\"\n  port = -1\n{extra}\
             [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"127.0.0.1\"\n    peer-as = 65000\n    admin-down = true\n\
             \x20 [neighbors.transport.config]\n    remote-port = {port}\n    local-address = \"127.0.0.1\"\n\
             \x20 [neighbors.timers.config]\n    connect-retry = 5\n\
             \x20 [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n\
             \x20 [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv6-unicast\"\n"
        ),
    )
    .unwrap();
    let sock = dir.join("gobgp.sock");
    let child = Child(
        Command::new("gobgpd")
            .arg("-f")
            .arg(&conf)
            .arg("--api-hosts")
            .arg(format!("unix://{}", sock.display()))
            .args(["--pprof-disable", "-p"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("gobgpd.log")).unwrap())
            .spawn()
            .expect("gobgpd (scripts/test.sh installs Debian's gobgpd)"),
    );
    let t = Instant::now();
    while gobgp(dir, &["global"]).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "gobgpd did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    child
}

/// `gobgp` against the test's gobgpd.
fn gobgp(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("gobgp")
        .arg("--target")
        .arg(format!("unix://{}", dir.join("gobgp.sock").display()))
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `octoflow gen`: `count` IPFIX datagrams of 10 flows from `prefixes` to
/// the collector on `port`.
fn gen_ipfix(port: u16, prefixes: &[&str], count: &str) {
    let target = format!("127.0.0.1:{port}");
    let mut a = vec![
        "--proto",
        "ipfix",
        "--count",
        count,
        "--records",
        "10",
        "--rate",
        "2000",
        "--target",
        &target,
    ];
    for p in prefixes {
        a.extend(["--prefix", p]);
    }
    run_gen(&a);
}

/// nfdump's `fmt:` fields of every flow nfcapd stored in `nf`, one line each
/// (`-6`: whole IPv6 addresses; nfdump shortens them otherwise).
fn nfdump_fields(nf: &Path, fields: &str) -> String {
    let out = Command::new("nfdump")
        .arg("-R")
        .arg(nf)
        .args(["-q", "-N", "-6", "-o", &format!("fmt:{fields}")])
        .output()
        .expect("nfdump");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `octoflow rib show ARGS` against the test's server.
fn rib_show(conf: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["rib", "--config-file"])
        .arg(conf)
        .arg("show")
        .args(args)
        .output()
        .expect("octoflow rib show");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// One of [`ROUTES`]: (family, prefix, next hop, AS path gobgpd adds after
/// its own 65001, communities, large communities).
type Route = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// The table gobgpd announces.
const ROUTES: &[Route] = &[
    (
        "ipv4",
        "198.51.100.0/24",
        "192.0.2.2",
        "4200000000,64500",
        "65001:666",
        "65001:64500:1",
    ),
    (
        "ipv4",
        "198.51.100.128/25",
        "192.0.2.3",
        "64496",
        "64496:7",
        "",
    ),
    ("ipv4", "10.0.1.0/24", "192.0.2.4", "64510", "", ""),
    ("ipv6", "2001:db8:ff::/48", "3fff::1", "64501", "", ""),
];

/// Put [`ROUTES`] into gobgpd's table.
fn announce(dir: &Path) {
    for (af, p, nh, path, comm, large) in ROUTES {
        let mut a = vec![
            "global", "rib", "-a", af, "add", p, "nexthop", nh, "aspath", path,
        ];
        if !comm.is_empty() {
            a.extend(["community", comm]);
        }
        if !large.is_empty() {
            a.extend(["large-community", large]);
        }
        gobgp(dir, &a).unwrap_or_else(|e| panic!("gobgp {a:?}: {e}"));
    }
}

/// The same table through BMP (RFC 7854): gobgpd, as a router, reports its
/// Loc-RIB to octoflow's station; the router's address (127.0.0.1) is the
/// device whose flows use it. When the router goes, so do its routes.
#[test]
fn a_bmp_routers_loc_rib_gives_flows_their_routes_and_goes_with_the_router() {
    let dir = tmpdir("routing-bmp");
    let (pm, cp, np, mp) = (free_port(), free_port(), free_port(), free_port());
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         enrichment:\n  bmp: {{listen: '127.0.0.1:{mp}', routers: [127.0.0.0/8]}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [nf]}}\n\
         exporters:\n  - {{id: nf, collector_host: 127.0.0.1, collector_port: {np}, collector_version: 9}}\n"
    );
    let nfcapd = start_nfcapd("nfcapd", np, &dir.join("nf"));
    wait_udp(np);
    let s = Server::start(&dir, &yaml, &[cp]);
    let conf = dir.join("octoflow.yaml");
    let bmp = format!(
        "[[bmp-servers]]\n  [bmp-servers.config]\n    address = \"127.0.0.1\"\n    port = {mp}\n    route-monitoring-policy = \"local-rib\"\n"
    );
    // No BGP neighbour that connects: an unused port.
    let router = start_gobgpd(&dir, free_port(), &bmp);
    announce(&dir);
    let t = Instant::now();
    loop {
        let one = rib_show(&conf, &["198.51.100.200"]);
        if one.contains("198.51.100.128/25") {
            assert!(one.starts_with("bmp 127.0.0.1 peer"), "{one}");
            assert!(one.contains("nh 192.0.2.3  path [64496]"), "{one}");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no routes through BMP:\n{one}\n{}\n{}",
            rib_show(&conf, &[]),
            std::fs::read_to_string(dir.join("gobgpd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    gen_ipfix(cp, &["10.0.1.0/24"], "30");
    settle(&s, "edge", 30);
    let during = rib_show(&conf, &[]);
    router.term();
    let t = Instant::now();
    while !rib_show(&conf, &["198.51.100.200"]).contains("no route") {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{}",
            rib_show(&conf, &[])
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    s.stop();
    nfcapd.term();
    let text = nfdump_fields(&dir.join("nf"), "%sa %da %sas %das %nhb");
    let mut n = 0;
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 5 {
            continue;
        }
        n += 1;
        let last: u32 = f[1]
            .rsplit('.')
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        // A Loc-RIB path has no neighbour AS in front: the router's own routes.
        let want = if last >= 128 {
            ("64496", "192.0.2.3")
        } else {
            ("64500", "192.0.2.2")
        };
        assert_eq!((f[2], (f[3], f[4])), ("64510", want), "{l}\n{during}");
    }
    assert!(n >= 300, "{n}:\n{text}");
}

/// The route [`ROUTES`] give `a` by longest match: (next hop, origin AS,
/// prefix length, AS path as received, communities, large communities).
fn route_for(
    a: &str,
) -> Option<(
    &'static str,
    &'static str,
    u8,
    String,
    &'static str,
    &'static str,
)> {
    let a: IpAddr = a.parse().ok()?;
    let mut best: Option<(u8, &Route)> = None;
    for r in ROUTES {
        let (net, len) = r.1.split_once('/').expect("prefix");
        let (net, len): (IpAddr, u8) = (net.parse().expect("net"), len.parse().expect("len"));
        let inside = match (a, net) {
            (IpAddr::V4(x), IpAddr::V4(n)) => {
                let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                u32::from(x) & m == u32::from(n) & m
            }
            (IpAddr::V6(x), IpAddr::V6(n)) => {
                let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                u128::from(x) & m == u128::from(n) & m
            }
            _ => false,
        };
        if inside && best.is_none_or(|(l, _)| len > l) {
            best = Some((len, r));
        }
    }
    best.map(|(len, r)| {
        let origin = r.3.rsplit(',').next().expect("path");
        // gobgpd puts its own AS first on eBGP.
        let path = format!("65001 {}", r.3.replace(',', " "));
        (r.2, origin, len, path, r.4, r.5)
    })
}

#[test]
fn a_bgp_peers_routes_give_every_flow_its_as_path_next_hop_and_communities() {
    let dir = tmpdir("routing");
    let kafka = Db::start(Kind::Kafka, &dir.join("kafka"));
    let ch = Db::start(Kind::ClickHouse, &dir);
    let (pm, cp, np, bp) = (free_port(), free_port(), free_port(), free_port());
    let country = root().join("tests/fixtures/mmdb/GeoIP2-Country-Test.mmdb");
    let networks = dir.join("networks.yaml");
    std::fs::write(
        &networks,
        "10.0.1.0/24: {name: foo-lan, role: customer, site: par1, tenant: foo}\n\
         198.51.100.0/24: {name: transit-x, role: transit}\n",
    )
    .unwrap();
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         enrichment:\n  bgp: {{listen: '127.0.0.1:{bp}', asn: 65000, router_id: 192.0.2.1, hold_time: 30, peers: [{{address: 127.0.0.1, asn: 65001}}]}}\n  \
         geoip: {{country: '{}'}}\n  networks: '{}'\n  as_source: [device, bgp]\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [nf, st, k, ch]}}\n\
         exporters:\n  - {{id: nf, collector_host: 127.0.0.1, collector_port: {np}, collector_version: 9}}\n  \
         - {{id: st, type: store, path: {}, rotate_secs: 60}}\n  \
         - {{id: k, type: kafka, brokers: ['{}'], topic: flows, format: protobuf, linger_ms: 20}}\n  \
         - {{id: ch, type: clickhouse, url: 'http://127.0.0.1:{}', database: octo, schema: octoflow, linger_ms: 100}}\n",
        country.display(),
        networks.display(),
        dir.join("store").display(),
        kafka.addr(),
        ch.http_port
    );
    let nfcapd = start_nfcapd("nfcapd", np, &dir.join("nf"));
    wait_udp(np);
    let s = Server::start(&dir, &yaml, &[cp]);
    let conf = dir.join("octoflow.yaml");
    let speaker = start_gobgpd(&dir, bp, "");
    announce(&dir);
    gobgp(&dir, &["neighbor", "127.0.0.1", "enable"]).expect("enable");
    // gobgpd connects 5-10 s after the neighbour is enabled (hard-coded).
    let t = Instant::now();
    loop {
        let table = rib_show(&conf, &[]);
        let line = table.lines().find(|l| l.starts_with("bgp 127.0.0.1"));
        if line.is_some_and(|l| {
            l.split_whitespace().nth(3) == Some("3") && l.split_whitespace().nth(4) == Some("1")
        }) {
            assert!(
                line.is_some_and(|l| l.contains(" 65001 ") && l.contains("up ")),
                "{table}"
            );
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "gobgpd's routes did not arrive:\n{table}\n{}",
            std::fs::read_to_string(dir.join("gobgpd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The session is a supervised instance.
    let (code, status) = client(&conf, &["--status", "sessions"]);
    assert!(
        code == 0 && status.contains("bgp_session") && status.contains("RUNNING"),
        "{status}"
    );
    // What the collector knows, as a person asks it.
    let one = rib_show(&conf, &["198.51.100.200"]);
    assert!(
        one.contains("198.51.100.128/25  nh 192.0.2.3  path [65001 64496]  communities [64496:7]"),
        "{one}"
    );
    let covering = rib_show(&conf, &["--peer", "127.0.0.1", "198.51.100.0/26"]);
    assert!(
        covering.contains("198.51.100.0/24  nh 192.0.2.2  path [65001 4200000000 64500]  communities [65001:666]  large [65001:64500:1]"),
        "{covering}"
    );

    // Phase 1: a real exporter's capture (softflowd's IPFIX: 10.0.1.0/24,
    // 198.51.100.0/24 and 2001:db8:ff::/48 among its addresses, others the
    // table does not hold), then gen's flows from 89.160.20.112/28 (SE in
    // the country database) toward 198.51.100.0/24 and 2001:db8:ff::/64.
    replay("softflowd-ipfix", 1, cp);
    let gen = |prefixes: &[&str], count: &str| gen_ipfix(cp, prefixes, count);
    gen(&["89.160.20.112/28", "2001:db8:1::/64"], "40");
    settle(&s, "edge", 40);

    // Phase 2: the session drops; the peer's routes go with it.
    speaker.term();
    let t = Instant::now();
    while !rib_show(&conf, &[])
        .lines()
        .any(|l| l.starts_with("bgp 127.0.0.1") && l.contains("down"))
    {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{}",
            rib_show(&conf, &[])
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(rib_show(&conf, &["198.51.100.200"]).contains("no route toward 198.51.100.200"));
    gen(&["100.64.0.0/24"], "20");
    settle(&s, "edge", 60);
    std::thread::sleep(Duration::from_secs(1));
    let ch_rows = |sql: &str| ch.clickhouse_query(sql).trim().to_string();
    let t = Instant::now();
    while ch_rows("SELECT count() FROM octo.flows")
        .parse::<usize>()
        .unwrap_or(0)
        < 300
    {
        assert!(t.elapsed() < Duration::from_secs(30), "ClickHouse rows");
        std::thread::sleep(Duration::from_millis(300));
    }
    s.stop();
    nfcapd.term();

    // nfcapd: each flow's ASes, BGP next hop and masks as the table implies.
    let text = nfdump_fields(&dir.join("nf"), "%sa %da %sas %das %nhb %smk %dmk");
    let (mut phase1, mut phase2, mut swedish, mut via_3, mut routed) = (0, 0, 0, 0, 0);
    // Network labels do not depend on BGP: counted over both phases.
    let (mut from_lan, mut to_transit, mut labelled_src, mut labelled_dst) = (0, 0, 0, 0);
    let labelled = |a: &str| a.starts_with("10.0.1.") || a.starts_with("198.51.100.");
    let unknown = |nh: &str| nh == "0.0.0.0" || nh == "::";
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 7 {
            continue;
        }
        let (sa, da, sas, das, nhb, smk, dmk) = (f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
        from_lan += usize::from(sa.starts_with("10.0.1."));
        to_transit += usize::from(da.starts_with("198.51.100."));
        labelled_src += usize::from(labelled(sa));
        labelled_dst += usize::from(labelled(da));
        if sa.starts_with("100.64.0.") {
            // No routes any more: nothing from BGP.
            assert_eq!((sas, das, nhb), ("0", "0", "0.0.0.0"), "{l}");
            phase2 += 1;
            continue;
        }
        phase1 += 1;
        swedish += usize::from(sa.starts_with("89.160.20."));
        let src = route_for(sa);
        assert_eq!(sas, src.as_ref().map_or("0", |r| r.1), "source AS: {l}");
        assert_eq!(
            smk,
            src.as_ref().map_or("0".into(), |r| r.2.to_string()),
            "{l}"
        );
        match route_for(da) {
            Some((nh, origin, len, ..)) => {
                assert_eq!(
                    (das, nhb, dmk),
                    (origin, nh, len.to_string().as_str()),
                    "{l}"
                );
                via_3 += usize::from(nh == "192.0.2.3");
                routed += 1;
            }
            None => assert!(das == "0" && unknown(nhb) && dmk == "0", "no route: {l}"),
        }
    }
    assert!(
        phase1 >= 100 && phase2 >= 200 && routed >= 50 && via_3 > 0 && swedish > 0,
        "{phase1} {phase2} {routed} {via_3} {swedish}:\n{text}"
    );

    // The store: the destination route's AS path and communities per flow
    // (null without a route), as an independent reader sees them.
    let files = format!("{}/**/*.parquet", dir.join("store").display());
    let rows = duckdb(&format!(
        "SELECT coalesce(as_path, '-'), coalesce(communities, '-'), coalesce(large_communities, '-'), count(*) \
         FROM read_parquet('{files}', union_by_name = true) GROUP BY ALL ORDER BY ALL"
    ));
    let mut stored = std::collections::BTreeMap::new();
    for r in rows.lines() {
        let f: Vec<&str> = r.split('|').collect();
        stored.insert(
            (f[0].to_string(), f[1].to_string(), f[2].to_string()),
            f[3].parse::<usize>().unwrap(),
        );
    }
    let routed_stored: usize = stored
        .iter()
        .filter(|(k, _)| k.0 != "-")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(routed_stored, routed, "{rows}");
    for (path, comm, large) in stored.keys().filter(|k| k.0 != "-") {
        let r = ROUTES
            .iter()
            .find(|r| format!("65001 {}", r.3.replace(',', " ")) == *path)
            .unwrap_or_else(|| panic!("a path gobgpd did not announce: {path}"));
        let or_dash = |x: &str| {
            if x.is_empty() {
                "-".to_string()
            } else {
                x.to_string()
            }
        };
        assert_eq!(
            (comm.clone(), large.clone()),
            (or_dash(r.4), or_dash(r.5)),
            "{rows}"
        );
    }

    // Countries: the source's from the country database.
    let countries = duckdb(&format!(
        "SELECT count(*) FILTER (WHERE src_country = 'SE'), count(src_country) \
         FROM read_parquet('{files}', union_by_name = true)"
    ));
    assert_eq!(countries, format!("{swedish}|{swedish}"), "{countries}");

    // Network labels: the most specific prefix's, on either side.
    let labels = duckdb(&format!(
        "SELECT count(*) FILTER (WHERE src_net_name = 'foo-lan' AND src_net_role = 'customer' \
         AND src_net_site = 'par1' AND src_net_tenant = 'foo'), count(src_net_name), \
         count(*) FILTER (WHERE dst_net_name = 'transit-x' AND dst_net_role = 'transit' AND dst_net_site IS NULL), \
         count(dst_net_name) FROM read_parquet('{files}', union_by_name = true)"
    ));
    assert!(from_lan > 0 && to_transit > 0);
    assert_eq!(
        labels,
        format!("{from_lan}|{labelled_src}|{to_transit}|{labelled_dst}"),
        "{labels}"
    );

    // And `octoflow query` filters on what enrichment added.
    let count = |filter: &str| {
        let q = Command::new(BIN)
            .args(["query", "-R"])
            .arg(dir.join("store"))
            .args(["-N", "-o", "csv", filter])
            .output()
            .expect("octoflow query");
        assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
        String::from_utf8_lossy(&q.stdout)
            .lines()
            .count()
            .saturating_sub(1)
    };
    assert_eq!(count("bgpnext ip 192.0.2.3"), via_3);
    assert_eq!(count("src geo SE"), swedish);

    // Kafka: goflow2's as_path (its last number the origin) and bgp_next_hop.
    let msgs = consume(&kafka, "flows", phase1 + phase2);
    assert_eq!(msgs.len(), phase1 + phase2);
    let flows = protoc_decode(&dir, &msgs);
    let mut on_kafka = 0;
    for f in &flows {
        let plain = |k: &str| {
            f.get(k)
                .map(|a| a.trim_start_matches("::ffff:").to_string())
        };
        let da = plain("dst_addr").expect("dst_addr");
        match route_for(&da) {
            Some((nh, origin, ..))
                if !plain("src_addr")
                    .unwrap_or_default()
                    .starts_with("100.64.0.") =>
            {
                assert_eq!(
                    (
                        f.get("as_path").map(String::as_str),
                        plain("bgp_next_hop").as_deref()
                    ),
                    (Some(origin), Some(nh)),
                    "{f:?}"
                );
                on_kafka += 1;
            }
            _ => assert!(
                !f.contains_key("as_path") && !f.contains_key("bgp_communities"),
                "{f:?}"
            ),
        }
    }
    assert_eq!(on_kafka, routed);

    // ClickHouse (the octoflow layout): the same paths, as text columns.
    let by_path = ch_rows(
        "SELECT as_path, communities, large_communities, count() FROM octo.flows \
         WHERE as_path != '' GROUP BY as_path, communities, large_communities ORDER BY as_path",
    );
    let mut in_ch = 0;
    for l in by_path.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        let r = ROUTES
            .iter()
            .find(|r| format!("65001 {}", r.3.replace(',', " ")) == f[0])
            .unwrap_or_else(|| panic!("a path gobgpd did not announce: {l}"));
        assert_eq!((f[1], f[2]), (r.4, r.5), "{l}");
        in_ch += f[3].parse::<usize>().unwrap();
    }
    assert_eq!(in_ch, routed, "{by_path}");
}
