//! Redis, netflow.io's two jobs, against Debian's `redis-server` (started and
//! stopped here by PID): the `redis` output's per-network counters equal what
//! `octoflow gen` says it sent, and a collector's `allow_from` admits only the
//! senders listed in Redis and keeps only their networks' flows, picks up
//! changes without a restart, and keeps its list when Redis goes away.
//!
//! Traffic stays on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::replay::wait_status;
use common::servers::{Db, Kind};
use common::*;

/// Sum of each hash field over the keys of one network, all intervals.
fn sums(redis: &Db, output: &str, network: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    let keys = redis.redis_cli(&[
        "--scan",
        "--pattern",
        &format!("octoflow:{output}:{network}:*"),
    ]);
    for k in keys.lines().filter(|k| !k.is_empty()) {
        let ttl: i64 = redis.redis_cli(&["TTL", k]).parse().unwrap();
        assert!(ttl > 0 && ttl <= 3600, "{k} expires within the hour: {ttl}");
        let kv = redis.redis_cli(&["HGETALL", k]);
        let v: Vec<&str> = kv.lines().collect();
        for p in v.chunks(2) {
            *m.entry(p[0].to_string()).or_default() += p[1].parse::<u64>().unwrap();
        }
    }
    m
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn gen_from(port: u16, bind: Option<u16>, datagrams: u32, prefixes: &[&str]) -> String {
    let target = format!("127.0.0.1:{port}");
    let count = datagrams.to_string();
    let mut args = vec!["--proto", "ipfix", "--target", &target, "--count", &count];
    args.extend(["--records", "20", "--rate", "5000"]);
    let b = bind.map(|p| format!("127.0.0.1:{p}"));
    if let Some(b) = &b {
        args.extend(["--bind", b]);
    }
    for p in prefixes {
        args.extend(["--prefix", p]);
    }
    run_gen(&args)
}

fn prefix_flows(out: &str, p: &str) -> u64 {
    out.lines()
        .find(|l| l.starts_with(&format!("prefix {p} ")))
        .map(|l| report(l, "flows"))
        .unwrap_or_else(|| panic!("prefix {p} in {out}"))
}

#[test]
fn per_network_counters_equal_what_was_sent_and_survive_a_redis_restart() {
    let dir = tmpdir("redis-counters");
    let mut redis = Db::start(Kind::Redis, &dir.join("redis"));
    let (pm, cp) = (free_port(), free_port());
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [counters]}}\n\
         exporters:\n  - {{id: counters, type: redis, url: 'redis://{}', networks: ['10.0.1.0/24', '172.16.0.0/12', '2001:db8:1::/64', '198.51.100.0/24', '2001:db8::/32'], interval_secs: 60, expire: 1h, linger_ms: 50}}\n",
        redis.addr()
    );
    let s = Server::start(&dir, &yaml, &[cp]);
    let out = gen_from(
        cp,
        None,
        300,
        &["10.0.1.0/24", "172.16.0.0/12", "2001:db8:1::/64"],
    );
    let total = report(&out, "flows");
    let (packets, bytes) = (report(&out, "packets"), report(&out, "bytes"));
    wait_for("every flow counted", || {
        counter(&s.status(), "counters", "sink_rows_delivered") == total
    });
    // Out of each source network: exactly gen's flows from its prefix.
    let mut out_flows = 0;
    let (mut out_packets, mut out_bytes) = (0, 0);
    for p in ["10.0.1.0/24", "172.16.0.0/12", "2001:db8:1::/64"] {
        let m = sums(&redis, "counters", p);
        assert_eq!(
            m.get("flows_out").copied().unwrap_or(0),
            prefix_flows(&out, p),
            "{p}: {m:?}"
        );
        assert!(!m.contains_key("flows_in"), "{p} receives nothing: {m:?}");
        out_flows += m["flows_out"];
        out_packets += m["packets_out"];
        out_bytes += m["bytes_out"];
    }
    assert_eq!((out_flows, out_packets, out_bytes), (total, packets, bytes));
    // Into the destination networks: every flow, once (IPv4 into
    // 198.51.100.0/24, IPv6 into 2001:db8::/32 — the most specific network
    // holding each address counts it, so 2001:db8:1::/64's own sources are
    // not counted again in /32 as out).
    let v4_in = sums(&redis, "counters", "198.51.100.0/24");
    let v6_in = sums(&redis, "counters", "2001:db8::/32");
    let flows_in =
        v4_in.get("flows_in").copied().unwrap_or(0) + v6_in.get("flows_in").copied().unwrap_or(0);
    let bytes_in =
        v4_in.get("bytes_in").copied().unwrap_or(0) + v6_in.get("bytes_in").copied().unwrap_or(0);
    assert_eq!((flows_in, bytes_in), (total, bytes), "{v4_in:?} {v6_in:?}");
    let nets = redis.redis_cli(&["SMEMBERS", "octoflow:counters:networks"]);
    assert_eq!(nets.lines().count(), 5, "{nets}");

    // Redis killed: counts wait; a fresh Redis gets them once it is back.
    redis.kill();
    let out2 = gen_from(cp, None, 100, &["10.0.1.0/24"]);
    let more = report(&out2, "flows");
    wait_for("errors while Redis is away", || {
        let st = s.status();
        counter(&st, "counters", "flows_matched") == total + more
            && counter(&st, "counters", "sink_errors") > 0
    });
    redis.restart();
    wait_for("the waiting counts delivered", || {
        counter(&s.status(), "counters", "sink_rows_delivered") == total + more
    });
    let m = sums(&redis, "counters", "10.0.1.0/24");
    assert_eq!(
        m["flows_out"], more,
        "only what waited reached the new Redis: {m:?}"
    );
    let st = s.stop_status();
    assert_eq!(counter(&st, "counters", "sink_rows_dropped"), 0, "{st}");
}

#[test]
fn allow_from_admits_listed_senders_keeps_their_networks_and_follows_changes() {
    let dir = tmpdir("redis-allow-from");
    let mut redis = Db::start(Kind::Redis, &dir.join("redis"));
    let (pm, cp) = (free_port(), free_port());
    let (listed, unlisted, later) = (free_port(), free_port(), free_port());
    redis.redis_cli(&[
        "SADD",
        "senders",
        &format!("127.0.0.1/{listed}"),
        "2001:db8::1/2055",
    ]);
    redis.redis_cli(&[
        "SADD",
        &format!("sender:127.0.0.1/{listed}"),
        "10.0.1.0/25",
        "2001:db8:1::/64",
    ]);
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [counters, all], allow_from: 'redis://{}', refresh_secs: 1}}\n\
         exporters:\n  - {{id: counters, type: redis, url: 'redis://{}', networks: ['10.0.1.0/24', '2001:db8:1::/64', '172.16.0.0/12'], expire: 1h, linger_ms: 50}}\n  \
         - {{id: all, type: store, path: {}}}\n",
        redis.addr(),
        redis.addr(),
        dir.join("store").display()
    );
    let s = Server::start(&dir, &yaml, &[cp]);
    wait_for("the senders read", || {
        counter(&s.status(), "edge", "allow_from_reads") > 0
    });

    // A listed sender: only flows touching its networks are kept, for every
    // output (the unfiltered store too).
    let out = gen_from(
        cp,
        Some(listed),
        200,
        &["10.0.1.0/24", "172.16.0.0/12", "2001:db8:1::/64"],
    );
    let sent = report(&out, "flows");
    // An unlisted sender (another source port): turned away whole.
    gen_from(cp, Some(unlisted), 50, &["10.0.1.0/24"]);
    let st = wait_status(&s, 30, "both senders seen", |st| {
        counter(st, "edge", "not_allowed") == 50 && counter(st, "edge", "flows") == sent
    });
    let outside = counter(&st, "edge", "flows_outside_networks");
    let kept = sent - outside;
    // gen spreads sources evenly over a prefix: 10.0.1.0/25 is about half
    // of 10.0.1.0/24; 172.16/12 is none of the sender's; the IPv6 prefix all.
    let v6 = prefix_flows(&out, "2001:db8:1::/64");
    let v4_24 = prefix_flows(&out, "10.0.1.0/24");
    assert!(kept > v6 && kept < v6 + v4_24, "kept {kept}: {out}");
    wait_for("kept flows in both outputs", || {
        let st = s.status();
        counter(&st, "counters", "sink_rows_delivered") == kept
            && counter(&st, "all", "flows_matched") == kept
    });
    let m = sums(&redis, "counters", "10.0.1.0/24");
    let m6 = sums(&redis, "counters", "2001:db8:1::/64");
    assert_eq!(m["flows_out"] + m6["flows_out"], kept, "{m:?} {m6:?}");
    assert_eq!(m6["flows_out"], v6);
    assert!(
        sums(&redis, "counters", "172.16.0.0/12").is_empty(),
        "not the sender's network"
    );

    // A sender added in Redis is admitted within refresh_secs, no restart.
    redis.redis_cli(&["SADD", "senders", &format!("127.0.0.1/{later}")]);
    redis.redis_cli(&[
        "SADD",
        &format!("sender:127.0.0.1/{later}"),
        "172.16.0.0/12",
    ]);
    std::thread::sleep(Duration::from_millis(2500));
    let out3 = gen_from(cp, Some(later), 20, &["172.16.0.0/12"]);
    let n3 = report(&out3, "flows");
    wait_for("the new sender's flows", || {
        counter(&s.status(), "counters", "sink_rows_delivered") == kept + n3
    });

    // Redis away: the list last read stays in force (the collector neither
    // opens up nor shuts everyone out), and the failed reads are counted.
    redis.kill();
    wait_for("a failed read", || {
        counter(&s.status(), "edge", "allow_from_errors") > 0
    });
    gen_from(cp, Some(unlisted), 10, &["10.0.1.0/24"]);
    gen_from(cp, Some(later), 10, &["172.16.0.0/12"]);
    wait_for("the list still applied", || {
        let st = s.status();
        counter(&st, "edge", "not_allowed") == 60
            && counter(&st, "all", "flows_matched") == kept + n3 + 200
    });
    let st = s.stop_status();
    assert_eq!(counter(&st, "edge", "rate_limited"), 0, "{st}");
}
