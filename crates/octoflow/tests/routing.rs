//! Routing-aware flows with a real BGP speaker: Debian's gobgpd (AS 65001)
//! connects to octoflow's passive speaker (AS 65000) and announces a small
//! table; flows from `octoflow gen` then carry, per flow, the origin AS, BGP
//! next hop and prefix length the table implies — at nfcapd (a converting v9
//! output, nfdump's `%sas %das %nhb %dmk`) and in a store (the AS path and
//! communities columns, read by DuckDB). When gobgpd's session drops, the
//! peer's routes go and the next flows carry none.
//!
//! The flows come in as IPFIX and leave as v9: a converting output carries
//! the enrichment. (A same-version output forwards the router's own bytes,
//! byte for byte, and so carries what the router sent.)
//!
//! Everything runs on 127.0.0.1; gobgpd's API is a unix socket in the test's
//! folder, and it is stopped by its PID.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::duckdb::duckdb;
use common::flows::settle;
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

/// The table gobgpd announces: (family, prefix, next hop, AS path it adds
/// after its own 65001, communities, large communities).
const ROUTES: &[(&str, &str, &str, &str, &str, &str)] = &[
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
         enrichment:\n  bmp: {{listen: '127.0.0.1:{mp}'}}\n\
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
    let target = format!("127.0.0.1:{cp}");
    let args = [
        "--proto",
        "ipfix",
        "--count",
        "30",
        "--records",
        "10",
        "--rate",
        "2000",
        "--target",
        &target,
        "--prefix",
        "10.0.1.0/24",
    ];
    run_gen(&args);
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
    let nf = Command::new("nfdump")
        .arg("-R")
        .arg(dir.join("nf"))
        .args(["-q", "-N", "-o", "fmt:%sa %da %sas %das %nhb"])
        .output()
        .expect("nfdump");
    let text = String::from_utf8_lossy(&nf.stdout);
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

#[test]
fn a_bgp_peers_routes_give_every_flow_its_as_path_next_hop_and_communities() {
    let dir = tmpdir("routing");
    let (pm, cp, np, bp) = (free_port(), free_port(), free_port(), free_port());
    let asn = root().join("tests/fixtures/mmdb/GeoLite2-ASN-Test.mmdb");
    let country = root().join("tests/fixtures/mmdb/GeoIP2-Country-Test.mmdb");
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         enrichment:\n  bgp: {{listen: '127.0.0.1:{bp}', asn: 65000, router_id: 192.0.2.1, hold_time: 30, peers: [{{address: 127.0.0.1, asn: 65001}}]}}\n  \
         geoip: {{asn: '{}', country: '{}'}}\n  as_source: [device, bgp, geoip]\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [nf, st]}}\n\
         exporters:\n  - {{id: nf, collector_host: 127.0.0.1, collector_port: {np}, collector_version: 9}}\n  \
         - {{id: st, type: store, path: {}, rotate_secs: 60}}\n",
        asn.display(),
        country.display(),
        dir.join("store").display()
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

    // Phase 1: flows from 10.0.1.0/24 (a BGP route), 89.160.20.112/28 (only
    // the GeoIP databases: AS29518, in SE) and 2001:1700::/27 toward 198.51.100.0/24 and
    // 2001:db8:ff::/64 (gen's destinations).
    let target = format!("127.0.0.1:{cp}");
    let gen = |prefixes: &[&str], count: &str| {
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
    };
    gen(&["10.0.1.0/24", "89.160.20.112/28", "2001:1700::/27"], "60");
    settle(&s, "edge", 60);

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
    gen(&["10.0.2.0/24"], "20");
    settle(&s, "edge", 80);
    s.stop();
    nfcapd.term();

    // nfcapd: each flow's ASes, BGP next hop and destination mask.
    let nf = Command::new("nfdump")
        .arg("-R")
        .arg(dir.join("nf"))
        .args(["-q", "-N", "-o", "fmt:%sa %da %sas %das %nhb %dmk"])
        .output()
        .expect("nfdump");
    let text = String::from_utf8_lossy(&nf.stdout);
    let (mut phase1, mut phase2, mut swedish, mut via_3) = (0, 0, 0, 0);
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 6 {
            continue;
        }
        let (sa, da, sas, das, nhb, dmk) = (f[0], f[1], f[2], f[3], f[4], f[5]);
        if sa.starts_with("10.0.2.") {
            // No routes any more: nothing from BGP (the GeoIP database does
            // not know 10/8).
            assert_eq!((sas, das, nhb), ("0", "0", "0.0.0.0"), "{l}");
            phase2 += 1;
            continue;
        }
        phase1 += 1;
        let want_sas = if sa.starts_with("10.0.1.") {
            "64510"
        } else if sa.starts_with("89.160.20.") {
            swedish += 1;
            "29518"
        } else {
            "6730"
        };
        assert_eq!(sas, want_sas, "{l}");
        let last: u32 = da
            .rsplit(['.', ':'])
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        let want = if da.contains(':') {
            ("64501", "3fff::1", "48")
        } else if last >= 128 {
            via_3 += 1;
            ("64496", "192.0.2.3", "25")
        } else {
            ("64500", "192.0.2.2", "24")
        };
        assert_eq!((das, nhb, dmk), want, "{l}");
    }
    assert!(phase1 >= 600 && phase2 >= 200, "{phase1} {phase2}:\n{text}");

    // The store: the destination route's AS path and communities per flow
    // (null after the session dropped), as an independent reader sees them.
    let files = format!("{}/**/*.parquet", dir.join("store").display());
    let rows = duckdb(&format!(
        "SELECT coalesce(as_path, '-'), coalesce(communities, '-'), coalesce(large_communities, '-'), \
         coalesce(src_addr_v4 >> 8 = 655362, false) AS phase2 /* 10.0.2.0/24 */, count(*) FROM read_parquet('{files}', union_by_name = true) \
         GROUP BY ALL ORDER BY ALL"
    ));
    let got: Vec<&str> = rows.lines().collect();
    let (mut routed, mut unrouted) = (0u64, 0u64);
    for r in &got {
        let f: Vec<&str> = r.split('|').collect();
        let n: u64 = f[4].parse().unwrap();
        match (f[0], f[1], f[2], f[3]) {
            ("65001 4200000000 64500", "65001:666", "65001:64500:1", "False")
            | ("65001 64496", "64496:7", "-", "False")
            | ("65001 64501", "-", "-", "False") => routed += n,
            ("-", "-", "-", "True") => unrouted += n,
            other => panic!("unexpected row {other:?} in\n{rows}"),
        }
    }
    assert_eq!((routed, unrouted), (phase1, phase2), "{rows}");

    // Countries: the source's from the country database; the destinations
    // (documentation addresses) have none.
    let countries = duckdb(&format!(
        "SELECT count(*) FILTER (WHERE src_country = 'SE'), count(src_country), count(dst_country) \
         FROM read_parquet('{files}', union_by_name = true)"
    ));
    assert!(swedish > 0);
    assert_eq!(countries, format!("{swedish}|{swedish}|0"), "{countries}");

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
    assert_eq!(
        count("src geo SE and dst as 64500 or src geo SE and dst as 64496"),
        swedish
    );
    assert_eq!(count("dst as 64501"), count("inet6"));
}
