//! The console's API end to end: a server with three stores, three profiles
//! (an admin's and two tenants') and a console takes gen's flows; every answer
//! is checked against `octoflow profile show` and `octoflow query` on the same
//! files, and access control is tried the way a curious tenant would (other
//! ids, edited parameters, filters, a reload that removes a user).
//!
//! Every process is started here and killed by PID; traffic stays on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::console::*;
use common::*;
use serde_json::{json, Value};

#[test]
fn the_api_answers_from_the_files_and_keeps_tenants_apart() {
    let dir = tmpdir("console-api");
    let (conf, wp) = run_server(&dir, |wp| {
        // The console inside the server: the overview has its instances.
        let t = Instant::now();
        loop {
            let s = get(wp, "noc", "/api/v1/status").json();
            let names: Vec<&str> = s["instances"]
                .as_array()
                .map(|a| a.iter().filter_map(|i| i["name"].as_str()).collect())
                .unwrap_or_default();
            if names.contains(&"edge_collector")
                && s["counters"]["collectors"]["edge"]["flows"].as_u64() > Some(0)
            {
                assert_eq!(s["instances"][0]["state"], "RUNNING", "{s}");
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "no status: {s}");
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(get(wp, "foo", "/api/v1/status").status, 403);
        // A reload that removes a user ends its access at once; one that
        // brings it back restores it.
        let conf = dir.join("octoflow.yaml");
        let yaml = std::fs::read_to_string(&conf).expect("config");
        let without: String = yaml
            .lines()
            .filter(|l| !l.contains("name: bar,"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&conf, without.replace("profiles: [bar]", "profiles: [foo]"))
            .expect("config");
        let (code, out) = client(&conf, &["--reload"]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(
            get(wp, "bar", "/api/v1/profiles").status,
            401,
            "bar is gone"
        );
        assert_eq!(get(wp, "foo", "/api/v1/profiles").status, 200);
        std::fs::write(&conf, &yaml).expect("config");
        let (code, out) = client(&conf, &["--reload"]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(
            get(wp, "bar", "/api/v1/profiles").status,
            200,
            "bar is back"
        );
    });
    let conf_s = conf.to_str().expect("utf-8");
    let _console = console_alone(&conf, wp);

    // Who may ask: nobody without credentials, nobody with wrong ones.
    let a = request(wp, "GET", "/api/v1/profiles", "", "");
    assert_eq!(a.status, 401);
    assert!(a.head.contains("WWW-Authenticate: Basic"), "{}", a.head);
    assert_eq!(a.json()["status"], 401);
    assert_eq!(get(wp, "nobody", "/api/v1/profiles").status, 401);
    let a = request(
        wp,
        "GET",
        "/api/v1/profiles",
        &basic("foo").replace("Zm9v", "Zm9w"),
        "",
    );
    assert_eq!(a.status, 401, "a wrong password");
    let a = request(wp, "GET", "/profiles/foo", "", "");
    assert_eq!(a.status, 303);
    assert!(
        a.head.contains("Location: /login?next=%2Fprofiles%2Ffoo"),
        "{}",
        a.head
    );

    // What each may see.
    let ids = |user: &str| -> Vec<String> {
        get(wp, user, "/api/v1/profiles").json()["profiles"]
            .as_array()
            .expect("list")
            .iter()
            .map(|p| p["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(ids("noc"), ["noc", "foo", "bar"]);
    assert_eq!(ids("foo"), ["foo"]);
    assert_eq!(ids("bar"), ["bar"]);
    let w = window();
    for (user, other) in [
        ("foo", "bar"),
        ("foo", "noc"),
        ("bar", "foo"),
        ("foo", "nonexistent"),
    ] {
        for what in [
            "",
            "/series",
            "/top",
            "/flows",
            "/top?field=dstip",
            "/flows?format=csv",
        ] {
            let path = format!("/api/v1/profiles/{other}{what}");
            let a = get(wp, user, &path);
            assert_eq!(a.status, 403, "{user} {path}: {}", a.body);
            assert!(a.json()["error"]
                .as_str()
                .expect("message")
                .contains("forbidden"));
        }
        // The pages too.
        let a = get(wp, user, &format!("/profiles/{other}"));
        assert_eq!(a.status, 403, "{user} /profiles/{other}");
        assert!(!a.body.contains("data-profile=\"bar\"") || user == "bar");
    }
    assert_eq!(
        get(wp, "noc", "/api/v1/profiles/nonexistent/series").status,
        404
    );
    assert_eq!(get(wp, "foo", "/overview").status, 403);
    // Edited parameters: another store, a repeated parameter, junk.
    for q in [
        "store=all",
        "profile=noc",
        "from=1&from=2",
        "channels=tcp",
        "filter=proto%20tcp%20and",
        "from=yesterday",
        "format=xml",
        "n=0&field=srcip",
    ] {
        let a = get(wp, "foo", &format!("/api/v1/profiles/foo/top?{w}&{q}"));
        assert_eq!(a.status, 400, "{q}: {}", a.body);
        assert!(a.json()["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    // Hostile values: a filter nested thousands deep, a step that overflows,
    // a window of too many buckets. Each is a 400, and the console stays up.
    let deep = format!("filter={}proto%20tcp{}", "(".repeat(5000), ")".repeat(5000));
    let nots = format!("filter={}proto%20tcp", "not%20".repeat(2000));
    for path in [
        format!("/api/v1/profiles/foo/top?{w}&{deep}"),
        format!("/api/v1/profiles/foo/flows?{w}&{nots}"),
        "/api/v1/profiles/foo/series?step=2305843009213693952".to_string(),
        "/api/v1/profiles/foo/series?from=0&step=300".to_string(),
    ] {
        let a = get(wp, "foo", &path);
        assert_eq!(a.status, 400, "{}: {}", &path[..80.min(path.len())], a.body);
    }
    assert_eq!(get(wp, "foo", "/api/v1/profiles").status, 200, "still up");

    // A tenant's flows are its store's, and a filter narrows but never widens.
    let foo_store = dir.join("foo");
    let foo_total = query_total(&foo_store, "any");
    assert!(foo_total > 1000, "foo has flows: {foo_total}");
    let top = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/top?{w}&field=srcip&order=flows&n=5"),
    )
    .json();
    assert_eq!(top["total"]["flows"], foo_total, "{top}");
    let flows = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/flows?{w}&limit=10000"),
    )
    .json();
    let list = flows["flows"].as_array().expect("flows");
    assert_eq!(list.len() as u64, foo_total.min(10000));
    for f in list {
        let (s, d) = (
            f["src_addr"].as_str().unwrap_or(""),
            f["dst_addr"].as_str().unwrap_or(""),
        );
        assert!(
            s.starts_with("10.0.1.") || d.starts_with("10.0.1."),
            "not foo's: {f}"
        );
    }
    let widen = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/top?{w}&filter=net%2010.0.2.0%2F24%20or%20any"),
    )
    .json();
    assert_eq!(
        widen["total"]["flows"], foo_total,
        "'or any' stays inside foo"
    );
    let other = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/flows?{w}&filter=net%2010.0.2.0%2F24"),
    )
    .json();
    assert_eq!(
        other["flows"],
        json!([]),
        "bar's prefix through foo's profile"
    );
    let noc = get(
        wp,
        "noc",
        &format!("/api/v1/profiles/noc/top?{w}&filter=net%2010.0.2.0%2F24&field=proto"),
    )
    .json();
    // A profile's flows are those its channels take (nfsen's): bar's ICMP
    // flows pass none of noc's channels.
    assert_eq!(
        noc["total"]["flows"],
        query_total(
            &dir.join("all"),
            "net 10.0.2.0/24 and (proto tcp or proto udp or net 10.0.1.0/24)"
        )
    );
    // A channel subset, and a filter: as `octoflow query` counts them.
    let tcp = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/top?{w}&channels=web&field=dstport"),
    )
    .json();
    assert_eq!(tcp["total"]["flows"], query_total(&foo_store, "proto tcp"));
    let f443 = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/flows?{w}&filter=dst%20port%20443&limit=10000"),
    )
    .json();
    assert_eq!(
        f443["flows"].as_array().expect("list").len() as u64,
        query_total(&foo_store, "dst port 443")
    );
    // Pages of flows: offset and limit cut the same list.
    let page = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/flows?{w}&offset=10&limit=5"),
    )
    .json();
    assert_eq!(page["flows"].as_array().expect("page")[..], list[10..15]);
    assert_eq!(page["more"], true);
    // CSV: `octoflow query -o csv`'s columns; times as RFC 3339 too.
    let csv = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/flows?{w}&format=csv&limit=3"),
    );
    assert!(
        csv.head.contains("text/csv") && csv.head.contains("attachment"),
        "{}",
        csv.head
    );
    let head = octoflow(
        &[
            "query",
            "-R",
            foo_store.to_str().expect("utf-8"),
            "-o",
            "csv",
            "-c",
            "1",
        ],
        None,
    );
    assert_eq!(csv.body.lines().next(), head.lines().next());
    assert_eq!(csv.body.lines().count(), 4);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let rfc = |s: u64| {
        chrono::DateTime::from_timestamp(s as i64, 0)
            .expect("time")
            .to_rfc3339()
            .replace('+', "%2B")
    };
    let by_rfc = get(
        wp,
        "foo",
        &format!(
            "/api/v1/profiles/foo/top?from={}&to={}",
            rfc(now - 3600),
            rfc(now + 600)
        ),
    )
    .json();
    assert_eq!(by_rfc["total"], top["total"]);

    // The graph's numbers are the profile's slots, as `octoflow profile show` has them.
    for (user, id) in [("noc", "noc"), ("foo", "foo"), ("bar", "bar")] {
        let show: Value = serde_json::from_str(&octoflow(
            &["profile", "--config-file", conf_s, "show", id, "--json"],
            None,
        ))
        .expect("json");
        let slots = show["slots"].as_array().expect("slots");
        assert!(!slots.is_empty(), "{id}: slots were written");
        let first = slots[0]["time"].as_u64().expect("time");
        let last = slots[slots.len() - 1]["time"].as_u64().expect("time");
        let s = get(
            wp,
            user,
            &format!(
                "/api/v1/profiles/{id}/series?from={first}&to={}&step=300",
                last + 300
            ),
        )
        .json();
        assert_eq!(s["step"], 300);
        let times = s["times"].as_array().expect("times");
        for slot in slots {
            let t = slot["time"].as_u64().expect("time");
            let i = times
                .iter()
                .position(|x| x.as_u64() == Some(t))
                .expect("slot in the answer");
            for (c, chan) in slot["channels"]
                .as_array()
                .expect("channels")
                .iter()
                .enumerate()
            {
                for (k, class) in chan.as_array().expect("classes").iter().enumerate() {
                    for m in 0..3 {
                        assert_eq!(
                            s["values"][c][k][m][i], class[m],
                            "{id} slot {t} channel {c} class {k} metric {m}"
                        );
                    }
                }
            }
        }
        // Summed into a bigger step, nothing is lost.
        let day = get(
            wp,
            user,
            &format!(
                "/api/v1/profiles/{id}/series?from={}&to={}",
                first - 43_200,
                last + 43_200
            ),
        )
        .json();
        let total = |v: &Value| -> u64 {
            v["values"][0]
                .as_array()
                .expect("classes")
                .iter()
                .map(|c| {
                    c[0].as_array()
                        .expect("flows")
                        .iter()
                        .map(|x| x.as_u64().expect("n"))
                        .sum::<u64>()
                })
                .sum()
        };
        assert_eq!(
            total(&day),
            total(&s),
            "{id}: a day's buckets hold the same flows"
        );
    }
    // The foo profile's slots hold exactly foo's stored flows.
    let s = get(wp, "foo", &format!("/api/v1/profiles/foo/series?{w}")).json();
    let flows_of = |c: usize| -> u64 {
        (0..4)
            .map(|k| {
                s["values"][c][k][0]
                    .as_array()
                    .expect("b")
                    .iter()
                    .map(|x| x.as_u64().expect("n"))
                    .sum::<u64>()
            })
            .sum()
    };
    assert_eq!(flows_of(0) + flows_of(1), foo_total);

    // Log in, use the cookie, log out.
    let a = request(
        wp,
        "POST",
        "/login",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "name=foo&password=wrong&next=%2Fprofiles%2Ffoo",
    );
    assert_eq!(a.status, 401);
    assert!(!a.head.contains("Set-Cookie"));
    let a = request(
        wp,
        "POST",
        "/login",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "name=foo&password=foo+pw+%C3%BC&next=%2F%2Fevil.example%2F",
    );
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(
        a.head.contains("Location: /\r\n"),
        "no redirect off the site: {}",
        a.head
    );
    // A `next` carrying a tab or a line break is not followed (no header
    // smuggled into the answer, no redirect off the site).
    for next in [
        "%2F%09%2Fevil.example",
        "%2F%0D%0ASet-Cookie:%20octoflow_session=x",
        "%2F%5C%5Cevil.example",
    ] {
        let b = request(
            wp,
            "POST",
            "/login",
            "Content-Type: application/x-www-form-urlencoded\r\n",
            &format!("name=foo&password=foo+pw+%C3%BC&next={next}"),
        );
        assert!(b.head.contains("Location: /\r\n"), "{next}: {}", b.head);
        assert_eq!(b.head.matches("Set-Cookie").count(), 1, "{}", b.head);
    }
    let cookie = a
        .head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .expect("cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let jar = format!("Cookie: {}\r\n", cookie.split(';').next().expect("pair"));
    assert_eq!(
        request(wp, "GET", "/api/v1/profiles/foo", &jar, "").status,
        200
    );
    assert_eq!(
        request(wp, "GET", "/api/v1/profiles/bar", &jar, "").status,
        403
    );
    let a = request(
        wp,
        "POST",
        "/login",
        "Origin: http://elsewhere.example\r\n",
        "name=foo&password=x",
    );
    assert_eq!(a.status, 403, "a login form posted from another site");
    assert_eq!(request(wp, "POST", "/logout", &jar, "").status, 303);
    assert_eq!(
        request(wp, "GET", "/api/v1/profiles/foo", &jar, "").status,
        401,
        "the session is gone"
    );
}
