//! The web console end to end: a server with three stores, three profiles
//! (an admin's and two tenants') and a console takes gen's flows; the API and
//! the pages are checked against `octoflow profile show` and `octoflow query`
//! on the same files, access control is tried the way a curious tenant would
//! (other ids, edited parameters, filters), and a real headless Chromium
//! (chromedriver) logs in, reads the graph, toggles a channel, zooms, and saves
//! screenshots of each page.
//!
//! Every process is started here and killed by PID; traffic stays on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::flows::{gen, settle};
use common::webdriver::Browser;
use common::*;
use serde_json::{json, Value};

const USERS: [(&str, &str); 3] = [("noc", "noc-pw"), ("foo", "foo pw ü"), ("bar", "bar-pw")];

fn octoflow(args: &[&str], stdin: Option<&str>) -> String {
    let mut c = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("octoflow");
    if let Some(s) = stdin {
        c.stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write");
    }
    drop(c.stdin.take());
    let out = c.wait_with_output().expect("octoflow");
    assert!(
        out.status.success(),
        "octoflow {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The server's configuration: every flow in `all`; 10.0.1.0/24 (foo) and
/// 10.0.2.0/24 (bar) in their own stores; a profile on each; the console.
fn config(dir: &Path, cp: u16, pm: u16, wp: u16) -> String {
    let hashes: Vec<String> = USERS
        .iter()
        .map(|(_, pw)| {
            octoflow(&["console", "hash-password"], Some(&format!("{pw}\n")))
                .trim()
                .to_string()
        })
        .collect();
    let d = dir.display();
    format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}
collectors:
  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [all, foo-st, bar-st]}}
exporters:
  - {{id: all, type: store, path: {d}/all, flush_secs: 1}}
  - {{id: foo-st, type: store, path: {d}/foo, flush_secs: 1, filters: ['10.0.1.0/24']}}
  - {{id: bar-st, type: store, path: {d}/bar, flush_secs: 1, filters: ['10.0.2.0/24']}}
profiles:
  - id: noc
    store: all
    channels:
      - {{name: tcp, filter: 'proto tcp', colour: '#4e79a7'}}
      - {{name: udp, filter: 'proto udp'}}
      - {{name: foo, filter: 'net 10.0.1.0/24', sign: '-'}}
  - id: foo
    store: foo-st
    channels:
      - {{name: web, filter: 'proto tcp'}}
      - {{name: other, filter: 'not proto tcp'}}
  - id: bar
    store: bar-st
    channels:
      - {{name: everything, filter: any}}
console:
  listen: 127.0.0.1:{wp}
  users:
    - {{name: noc, role: admin, password_hash: '{}'}}
    - {{name: foo, profiles: [foo], password_hash: '{}'}}
    - {{name: bar, profiles: [bar], password_hash: '{}'}}
",
        hashes[0], hashes[1], hashes[2]
    )
}

/// A server run: gen's flows from three prefixes into the collector, then a
/// stop (which writes the profiles' open slots). `during` runs while it is up.
fn run_server(dir: &Path, during: impl FnOnce(u16)) -> (PathBuf, u16) {
    let [cp, pm, wp] = [(); 3].map(|_| free_port());
    let yaml = config(dir, cp, pm, wp);
    let srv = Server::start(dir, &yaml, &[cp]);
    wait_tcp(wp);
    gen(
        "ipfix",
        cp,
        300,
        3000,
        &[
            "--prefix",
            "10.0.1.0/24",
            "--prefix",
            "10.0.2.0/24",
            "--prefix",
            "172.16.0.0/12",
        ],
    );
    settle(&srv, "edge", 300);
    during(wp);
    srv.stop();
    (dir.join("octoflow.yaml"), wp)
}

fn wait_tcp(port: u16) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `octoflow console` alone on the stopped server's files.
fn console_alone(conf: &Path, port: u16) -> Child {
    let c = Child(
        Command::new(BIN)
            .args(["console", "--config-file"])
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("octoflow console"),
    );
    wait_tcp(port);
    c
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request; `user`: Basic credentials of one of [`USERS`] (or a raw header).
fn request(port: u16, method: &str, path: &str, headers: &str, body: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("console");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    Answer {
        status: head[9..12].parse().expect("status"),
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn basic(user: &str) -> String {
    let pw = USERS
        .iter()
        .find(|(u, _)| *u == user)
        .map_or("wrong", |(_, p)| p);
    format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

fn get(port: u16, user: &str, path: &str) -> Answer {
    request(port, "GET", path, &basic(user), "")
}

/// Total flows `octoflow query` finds in a store with `filter`.
fn query_total(store: &Path, filter: &str) -> u64 {
    let out = octoflow(
        &[
            "query",
            "-R",
            store.to_str().expect("utf-8"),
            "-n",
            "1",
            "-s",
            "proto/flows",
            filter,
        ],
        None,
    );
    let at = out.find("total flows: ").expect("summary") + 13;
    out[at..]
        .split(',')
        .next()
        .expect("n")
        .parse()
        .expect("number")
}

/// A window covering the whole run (receive times are the last minutes).
fn window() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    format!("from={}&to={}", now - 3600, now + 600)
}

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

/// Where the screenshots go (kept after the run).
fn shots() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&d).expect("screenshots dir");
    d
}

fn login(b: &Browser, base: &str, path: &str, user: &str) {
    b.goto(&format!("{base}{path}"));
    b.wait("return document.body.dataset.page === 'login'", 10);
    let pw = USERS.iter().find(|(u, _)| *u == user).expect("user").1;
    b.type_into(&b.find("#name"), user);
    b.type_into(&b.find("#password"), pw);
    b.click(&b.find("#submit"));
    b.wait("return document.body.dataset.page !== 'login'", 10);
}

/// Per graph path: (channel, values).
fn paths(b: &Browser) -> Vec<(String, Vec<u64>)> {
    b.find_all("svg#graph path.series")
        .iter()
        .map(|p| {
            let vals = b.attr(p, "data-values").unwrap_or_default();
            (
                b.attr(p, "data-channel").unwrap_or_default(),
                vals.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|v| v.parse().expect("number"))
                    .collect(),
            )
        })
        .collect()
}

/// The graph's flows per channel for the window the page shows, from the API.
fn api_flows(wp: u16, user: &str, id: &str, from: &str, to: &str) -> Vec<(String, Vec<u64>)> {
    let s = get(
        wp,
        user,
        &format!("/api/v1/profiles/{id}/series?from={from}&to={to}"),
    )
    .json();
    s["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .enumerate()
        .map(|(c, ch)| {
            let n = s["times"].as_array().expect("times").len();
            let v = (0..n)
                .map(|i| {
                    (0..4)
                        .map(|k| s["values"][c][k][0][i].as_u64().expect("n"))
                        .sum()
                })
                .collect();
            (ch["name"].as_str().expect("name").to_string(), v)
        })
        .collect()
}

fn ready(b: &Browser) {
    b.wait("return document.body.dataset.state === 'ready'", 20);
}

#[test]
fn a_browser_logs_in_reads_the_graph_toggles_and_zooms() {
    let dir = tmpdir("console-browser");
    let out = shots();
    let browser = Browser::start(&dir);
    let b = &browser;
    let (conf, wp) = run_server(&dir, |wp| {
        // The admin's overview, while the server runs.
        let base = format!("http://127.0.0.1:{wp}");
        login(b, &base, "/", "noc");
        assert!(b.url().ends_with("/overview"), "{}", b.url());
        b.wait(
            "return document.querySelectorAll('#instances tbody tr').length >= 4",
            20,
        );
        // Rates need two samples (one every 10 s).
        b.wait(
            "return document.querySelectorAll('#rates-collectors path.rate').length === 1",
            30,
        );
        let rows = b.text(&b.find("#instances"));
        assert!(
            rows.contains("edge_collector") && rows.contains("RUNNING"),
            "{rows}"
        );
        b.screenshot(&out.join("overview.png"));
    });
    let _console = console_alone(&conf, wp);
    let base = format!("http://127.0.0.1:{wp}");

    // A tenant logs in and lands on its profile.
    b.goto(&format!("{base}/login"));
    b.screenshot(&out.join("login.png"));
    login(b, &base, "/profiles/foo", "foo");
    assert!(b.url().contains("/profiles/foo"), "{}", b.url());
    ready(b);
    let first_ms = b.exec("return document.body.dataset.firstReadyMs", json!([]));
    let w = b.find("#window");
    let (from, to) = (
        b.attr(&w, "data-from").expect("from"),
        b.attr(&w, "data-to").expect("to"),
    );
    let drawn = paths(b);
    assert_eq!(drawn.len(), 2, "one series per channel: {drawn:?}");
    assert_eq!(
        drawn,
        api_flows(wp, "foo", "foo", &from, &to),
        "the graph is the profile's series"
    );
    assert!(
        drawn.iter().any(|(_, v)| v.iter().sum::<u64>() > 0),
        "flows in the window"
    );
    let top_flows: u64 = b
        .attr(&b.find("#top"), "data-flows")
        .expect("top")
        .parse()
        .expect("n");
    let want = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/top?from={from}&to={to}"),
    )
    .json();
    assert_eq!(top_flows, want["total"]["flows"].as_u64().expect("n"));
    assert!(top_flows > 0);
    b.screenshot(&out.join("profile.png"));

    // Toggling a channel off removes its series, and the details follow.
    b.click(&b.find("input.channel[data-channel='other']"));
    b.wait(
        "return document.querySelectorAll('svg#graph path.series').length === 1",
        10,
    );
    assert_eq!(paths(b)[0].0, "web");
    let web = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/top?from={from}&to={to}&channels=web"),
    )
    .json();
    b.wait(
        &format!(
            "return document.querySelector('#top').dataset.flows === '{}'",
            web["total"]["flows"]
        ),
        10,
    );
    b.screenshot(&out.join("profile-one-channel.png"));
    b.click(&b.find("input.channel[data-channel='other']"));
    b.wait(
        "return document.querySelectorAll('svg#graph path.series').length === 2",
        10,
    );

    // A filter in the details box.
    b.type_into(&b.find("#filter"), "proto udp");
    b.click(&b.find("#apply"));
    let udp = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/top?from={from}&to={to}&filter=proto%20udp"),
    )
    .json();
    b.wait(
        &format!(
            "return document.querySelector('#top').dataset.flows === '{}'",
            udp["total"]["flows"]
        ),
        10,
    );
    b.screenshot(&out.join("details-filtered.png"));
    b.exec("document.querySelector('#filter').value = ''", json!([]));

    // Zoom: drag from the middle to past the plot's right end (where the
    // flows are: the zoom stops at the window's end); the
    // window and the details change.
    let g = b.find("svg#graph");
    b.drag(&g, (150, 0), (575, 0));
    b.wait(
        &format!("return document.querySelector('#window').dataset.from !== '{from}'"),
        10,
    );
    ready(b);
    let w = b.find("#window");
    let (zf, zt) = (
        b.attr(&w, "data-from").expect("from"),
        b.attr(&w, "data-to").expect("to"),
    );
    let (f0, t0, f1, t1): (u64, u64, u64, u64) = (
        from.parse().expect("n"),
        to.parse().expect("n"),
        zf.parse().expect("n"),
        zt.parse().expect("n"),
    );
    assert!(
        f0 < f1 && f1 < t1 && t1 <= t0 && t1 - f1 < t0 - f0,
        "zoomed inside: {f0}-{t0} → {f1}-{t1}"
    );
    assert_eq!(paths(b), api_flows(wp, "foo", "foo", &zf, &zt));
    let dw = b.find("#details-window");
    assert_eq!(b.attr(&dw, "data-from").as_deref(), Some(zf.as_str()));
    let zoomed = get(
        wp,
        "foo",
        &format!("/api/v1/profiles/foo/top?from={zf}&to={zt}"),
    )
    .json();
    assert!(
        zoomed["total"]["flows"].as_u64() > Some(0),
        "the zoomed window holds the flows"
    );
    b.wait(
        &format!(
            "return document.querySelector('#top').dataset.flows === '{}'",
            zoomed["total"]["flows"]
        ),
        10,
    );
    b.screenshot(&out.join("profile-zoomed.png"));

    // Another tenant's data is out of reach, by URL and from the page's own script.
    b.goto(&format!("{base}/profiles/bar"));
    b.wait("return document.body.dataset.page === 'forbidden'", 10);
    b.screenshot(&out.join("forbidden.png"));
    let status = b.exec_async(
        "const done = arguments[0]; Promise.all(['/api/v1/profiles/bar/series', '/api/v1/profiles/noc/flows', '/api/v1/status', '/api/v1/profiles/foo/top?store=all']\
         .map(u => fetch(u).then(r => r.status))).then(done)",
        json!([]),
    );
    assert_eq!(status, json!([403, 403, 403, 400]));

    // Logging out ends the session.
    b.goto(&format!("{base}/profiles/foo"));
    ready(b);
    b.click(&b.find("#logout"));
    b.wait("return document.body.dataset.page === 'login'", 10);
    let after = b.exec_async(
        "fetch('/api/v1/profiles').then(r => arguments[0](r.status))",
        json!([]),
    );
    assert_eq!(after, json!(401));

    // Sizes: the page, its script and style.
    let size: usize = ["/profiles/foo", "/assets/console.js", "/assets/console.css"]
        .iter()
        .map(|p| get(wp, "foo", p).body.len())
        .sum();
    println!("console: first render of the profile page (graph and details drawn) {first_ms} ms after navigation; the page, its script and style: {size} bytes");
    for f in [
        "login",
        "overview",
        "profile",
        "profile-one-channel",
        "details-filtered",
        "profile-zoomed",
        "forbidden",
    ] {
        let p = out.join(format!("{f}.png"));
        assert!(
            std::fs::metadata(&p)
                .map(|m| m.len() > 2_000)
                .unwrap_or(false),
            "{}",
            p.display()
        );
        println!("screenshot: {}", p.display());
    }
}

#[test]
fn tls_serves_https_with_secure_cookies_and_a_bad_key_is_refused() {
    let dir = tmpdir("console-tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success());
    let wp = free_port();
    let hash = octoflow(&["console", "hash-password"], Some("pw\n"));
    let yaml = |cert: &Path| {
        format!(
            "supervisor: {{unix_socket: {d}/octoflow.sock}}
collectors: [{{id: c, listen_port: {cp}, nf_version: 10, mux_to: [st]}}]
exporters: [{{id: st, type: store, path: {d}/st}}]
profiles: [{{id: p, store: st, channels: [{{name: all, filter: any}}]}}]
console:
  listen: 127.0.0.1:{wp}
  tls: {{cert: {}, key: {}}}
  users: [{{name: noc, role: admin, password_hash: '{}'}}]
",
            cert.display(),
            key.display(),
            hash.trim(),
            d = dir.display(),
            cp = free_port(),
        )
    };
    let conf = dir.join("octoflow.yaml");
    std::fs::write(&conf, yaml(&cert)).expect("config");
    let _console = console_alone(&conf, wp);
    let curl = |args: &[&str]| -> String {
        let out = Command::new("curl")
            .args(["-s", "-i", "--max-time", "10", "--cacert"])
            .arg(&cert)
            .args(args)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let page = curl(&[&format!("https://127.0.0.1:{wp}/login")]);
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("id=\"login\""),
        "{page}"
    );
    let login = curl(&[
        "-d",
        "name=noc&password=pw",
        &format!("https://127.0.0.1:{wp}/login"),
    ]);
    let cookie = login
        .lines()
        .find(|l| l.starts_with("Set-Cookie:"))
        .unwrap_or_default();
    assert!(cookie.contains("; Secure"), "{login}");
    let api = curl(&[
        "-u",
        "noc:pw",
        &format!("https://127.0.0.1:{wp}/api/v1/profiles"),
    ]);
    assert!(
        api.starts_with("HTTP/1.1 200") && api.contains("\"id\":\"p\""),
        "{api}"
    );
    // Plain HTTP to the TLS port gets no page.
    let plain = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{wp}/login"),
        ])
        .output()
        .expect("curl");
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("id=\"login\""));

    // A key that is not the certificate's: refused at start, saying so.
    let other = dir.join("other.pem");
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=x",
            "-keyout",
        ])
        .arg(dir.join("other-key.pem"))
        .arg("-out")
        .arg(&other)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success());
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        yaml(&other).replace(
            &format!("127.0.0.1:{wp}"),
            &format!("127.0.0.1:{}", free_port()),
        ),
    )
    .expect("config");
    let out = Command::new(BIN)
        .args(["console", "--config-file"])
        .arg(&bad)
        .output()
        .expect("console");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("console.tls: the certificate and key do not go together"),
        "{err}"
    );
}
