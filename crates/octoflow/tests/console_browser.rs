//! The console in a real browser: headless Chromium (chromedriver) logs in,
//! reads the graph against the API, toggles a channel, filters, zooms, meets
//! another tenant's pages, logs out, and saves screenshots of each page; and
//! the console over HTTPS.
//!
//! Every process is started here and killed by PID; traffic stays on 127.0.0.1.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::console::*;
use common::webdriver::Browser;
use common::*;
use serde_json::json;

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

/// A self-signed P-256 certificate for `ip` (openssl), and its key.
fn self_signed(cert: &Path, key: &Path, ip: &str) {
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext"])
        .arg(format!("subjectAltName=IP:{ip}"))
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl (the README test command installs it)");
    assert!(st.success(), "openssl req -x509");
}

#[test]
fn tls_serves_https_with_secure_cookies_and_a_bad_key_is_refused() {
    let dir = tmpdir("console-tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    self_signed(&cert, &key, "127.0.0.1");
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
    self_signed(&other, &dir.join("other-key.pem"), "127.0.0.2");
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
