//! A small W3C WebDriver client over std sockets, for Debian's `chromedriver`
//! and headless `chromium`: sessions, navigation, elements, script, pointer
//! actions and screenshots. The driver is started on a free 127.0.0.1 port
//! and killed by PID; the browser, which the driver starts, is found by its
//! own `--user-data-dir` in /proc and killed by PID too.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::{free_port, Child};

/// The key W3C WebDriver names elements by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Option<Child>,
    port: u16,
    session: String,
    profile: PathBuf,
}

/// One HTTP/1.1 request to the driver; its JSON answer.
fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let b = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
        b.len()
    )
    .map_err(|e| e.to_string())?;
    // chromedriver may keep the connection open: read the head, then
    // Content-Length bytes.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let (head, length) = loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before an answer".into());
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..i]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .ok_or_else(|| format!("no Content-Length: {head}"))?;
            raw.drain(..i + 4);
            break (head, length);
        }
    };
    while raw.len() < length {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("answer cut short".into());
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&raw[..length]).to_string();
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{method} {path}: {}", v["value"]));
    }
    Ok(v["value"].clone())
}

impl Browser {
    /// chromedriver and a headless chromium (1280×900), with a profile under `dir`.
    pub fn start(dir: &Path) -> Browser {
        let port = free_port();
        let driver = Child(
            Command::new("chromedriver")
                .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver (the README test command installs chromium-driver)"),
        );
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "chromedriver did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = dir.join("chromium-profile");
        std::fs::create_dir_all(&profile).expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/lib/chromium/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                         "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                         format!("--user-data-dir={}", profile.display())],
            }
        }}});
        let v = match call(port, "POST", "/session", Some(&caps)) {
            Ok(v) => v,
            Err(e) => {
                // The driver may have started a browser that never answered.
                kill_browser(&profile);
                panic!("no browser session: {e}");
            }
        };
        let session = v["sessionId"].as_str().expect("sessionId").to_string();
        Browser {
            driver: Some(driver),
            port,
            session,
            profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        call(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .expect("navigate");
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .expect("url")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn find_all(&self, css: &str) -> Vec<String> {
        self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .expect("find elements")
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e[ELEMENT].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
    }

    pub fn find(&self, css: &str) -> String {
        self.find_all(css)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element {css:?} on {}", self.url()))
    }

    pub fn click(&self, el: &str) {
        self.cmd("POST", &format!("/element/{el}/click"), Some(json!({})))
            .expect("click");
    }

    pub fn type_into(&self, el: &str, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .expect("type");
    }

    pub fn text(&self, el: &str) -> String {
        self.cmd("GET", &format!("/element/{el}/text"), None)
            .expect("text")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn attr(&self, el: &str, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{el}/attribute/{name}"), None)
            .expect("attribute")
            .as_str()
            .map(String::from)
    }

    /// Run `script` (a function body; `arguments` as given); its return value.
    pub fn exec(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .expect("script")
    }

    /// Run an async script (its last argument is the callback).
    pub fn exec_async(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
        .expect("async script")
    }

    /// Wait until `script` returns true (at most `secs`).
    pub fn wait(&self, script: &str, secs: u64) {
        let t = Instant::now();
        while self.exec(script, json!([])) != json!(true) {
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "timed out waiting for `{script}` on {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Press the mouse at `from` (x, y from the element's centre) and release at `to`.
    pub fn drag(&self, el: &str, from: (i64, i64), to: (i64, i64)) {
        let origin = json!({ ELEMENT: el });
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{
                "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [
                    {"type": "pointerMove", "duration": 0, "origin": origin, "x": from.0, "y": from.1},
                    {"type": "pointerDown", "button": 0},
                    {"type": "pointerMove", "duration": 200, "origin": origin, "x": (from.0 + to.0) / 2, "y": to.1},
                    {"type": "pointerMove", "duration": 200, "origin": origin, "x": to.0, "y": to.1},
                    {"type": "pointerUp", "button": 0}
                ]
            }]})),
        )
        .expect("drag");
        let _ = self.cmd("DELETE", "/actions", None);
    }

    pub fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None).expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("base64 PNG");
        std::fs::write(path, png).expect("write screenshot");
    }
}

/// The PIDs of processes whose command line names the browser profile `profile`.
fn browser_pids(profile: &Path) -> Vec<i32> {
    let needle = format!("--user-data-dir={}", profile.display());
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline)
            .replace('\0', " ")
            .contains(&needle)
        {
            pids.push(pid);
        }
    }
    pids
}

/// Wait up to 5 s for the browser of `profile` to end, then kill what is left, by PID.
fn kill_browser(profile: &Path) {
    let t = Instant::now();
    loop {
        let left = browser_pids(profile);
        if left.is_empty() || t.elapsed() > Duration::from_secs(5) {
            for pid in left {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.cmd("DELETE", "", None);
        // What the session's end left behind, by PID; then the driver.
        kill_browser(&self.profile);
        drop(self.driver.take());
    }
}
