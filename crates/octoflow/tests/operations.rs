//! Operations: the systemd unit (`systemd-analyze verify`), readiness
//! notifications against a test NOTIFY_SOCKET, a restart that keeps its templates,
//! and an active/active pair that survives losing one instance.
//!
//! Every process is started here and stopped by PID; traffic stays on 127.0.0.1.

mod common;

use std::net::{IpAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use octoflow_proto::message::{own_template, MessageHeader, MessageWriter};
use octoflow_proto::{Dialect, FlowRecord};

#[test]
fn install_systemd_writes_a_unit_that_systemd_analyze_verifies() {
    let dir = tmpdir("unit");
    let conf = dir.join("octoflow.yaml");
    std::fs::write(
        &conf,
        format!(
            "general: {{systemd_path: {d}/units, template_cache_dir: /var/lib/octoflow}}\n\
             supervisor: {{unix_socket: /run/octoflow/octoflow.sock, logfile: /var/log/octoflow/octoflow.log}}\n\
             collectors:\n  - {{id: edge, listen_port: 2055, nf_version: auto}}\n",
            d = dir.display()
        ),
    )
    .expect("config");
    let out = Command::new(BIN)
        .args(["install-systemd", "--config-file"])
        .arg(&conf)
        .output()
        .expect("install-systemd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("systemctl daemon-reload"), "{text}");
    let unit_path = dir.join("units/octoflow.service");
    let unit = std::fs::read_to_string(&unit_path).expect("unit written");
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "User=octoflow",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "ReadWritePaths=-/run/octoflow -/var/log/octoflow -/var/lib/octoflow",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing in\n{unit}");
    }
    assert!(unit.contains(&format!("ExecStart={BIN} server --config-file ")));
    let v = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .output()
        .expect("systemd-analyze (the README test command installs systemd)");
    assert!(
        v.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn readiness_reload_and_stop_are_notified() {
    let dir = tmpdir("notify");
    let sock_path = dir.join("notify.sock");
    let ns = UnixDatagram::bind(&sock_path).expect("notify socket");
    ns.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let [cp, pm] = [(); 2].map(|_| free_port());
    let conf = dir.join("octoflow.yaml");
    std::fs::write(
        &conf,
        format!(
            "general: {{metrics_listen: 127.0.0.1:{pm}}}\nsupervisor: {{unix_socket: {}/o.sock}}\n\
             collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9}}\n",
            dir.display()
        ),
    )
    .expect("config");
    let child = Child(
        Command::new(BIN)
            .args(["server", "--config-file"])
            .arg(&conf)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("STATE_DIRECTORY", dir.join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server"),
    );
    let mut buf = [0u8; 1024];
    let mut next = || {
        let n = ns.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = next();
    assert!(ready.starts_with("READY=1\nSTATUS=1 running"), "{ready}");
    // READY came after the collector was bound.
    assert!(UdpSocket::bind(("127.0.0.1", cp)).is_err());
    let pid = child.0.id().to_string();
    let _ = Command::new("kill").args(["-HUP", &pid]).status();
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    let usec: u64 = reloading
        .split("MONOTONIC_USEC=")
        .nth(1)
        .and_then(|v| v.trim().parse().ok())
        .expect("a number");
    assert!(usec > 0);
    assert!(next().starts_with("READY=1"));
    let _ = Command::new("kill").arg(&pid).status();
    assert!(next().starts_with("STOPPING=1"));
    let mut c = child;
    assert!(c.0.wait().expect("wait").success());
    let _ = std::fs::remove_dir_all(&dir);
}

const NOW_S: u64 = 1_767_225_600;

/// A v9 datagram from a "router": templates only, or data only.
fn v9(seq: u32, templates: bool, flows: &[FlowRecord]) -> Vec<u8> {
    let mut t4 = own_template(Dialect::V9, false);
    t4.id = 300;
    let mut buf = vec![0u8; 8192];
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(NOW_S * 1000);
    let h = MessageHeader {
        unix_ms: now_ms,
        sys_uptime_ms: 3_600_000,
        sequence: seq,
        domain: 7,
    };
    let mut w = MessageWriter::new(&mut buf, Dialect::V9, h).expect("writer");
    if templates {
        w.add_template(&t4).expect("template");
    }
    for r in flows {
        w.add_record(&t4, r).expect("record");
    }
    let n = w.finish();
    buf.truncate(n);
    buf
}

fn flows(n: u8) -> Vec<FlowRecord> {
    let now_ms = NOW_S * 1000;
    (0..n)
        .map(|i| FlowRecord {
            src_addr: IpAddr::from([10, 0, 1, i]),
            dst_addr: IpAddr::from([198, 51, 100, 1]),
            src_port: 1000 + i as u16,
            dst_port: 443,
            proto: 6,
            packets: 2,
            bytes: 200,
            first_ms: now_ms - 2000,
            last_ms: now_ms - 1000,
            ..FlowRecord::default()
        })
        .collect()
}

/// Templates arrive, octoflow stops, starts again, then data without templates
/// arrives: it is decoded from the persisted cache and delivered.
#[test]
fn a_restart_keeps_templates_and_loses_no_data() {
    let dir = tmpdir("restart");
    let general = format!("template_cache_dir: {}/cache", dir.display());
    restart_keeps_templates(&dir, &general, &dir.join("cache/edge.templates"));
}

/// The same with the original YAML's `general` (no `template_cache_dir`): the
/// templates are kept in `$STATE_DIRECTORY` by default.
#[test]
fn without_template_cache_dir_a_restart_still_keeps_templates() {
    let dir = tmpdir("restart-default");
    // `Server::start` gives each test server its own `$STATE_DIRECTORY`.
    restart_keeps_templates(&dir, "", &dir.join("state/edge.templates"));
}

fn restart_keeps_templates(dir: &std::path::Path, general: &str, cache_file: &std::path::Path) {
    let [cp, pm, rp] = [(); 3].map(|_| free_port());
    let rx = start_nfcapd("nfcapd", rp, &dir.join("rx"));
    let sep = if general.is_empty() { "" } else { ", " };
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}{sep}{general}}}\nsupervisor: {{unix_socket: {d}/o.sock}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [t]}}\n\
         exporters:\n  - {{id: t, collector_host: 127.0.0.1, collector_port: {rp}, collector_version: 10, filters: ['10.0.1.0/24']}}\n",
        d = dir.display()
    );
    let router = UdpSocket::bind("127.0.0.1:0").expect("router socket");
    let srv = Server::start(dir, &yaml, &[cp]);
    router
        .send_to(&v9(0, true, &[]), ("127.0.0.1", cp))
        .expect("send");
    let t = Instant::now();
    while counter(&srv.status(), "edge", "templates_learnt") < 1 {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    srv.stop();
    assert!(cache_file.exists(), "cache saved at shutdown");
    let srv = Server::start(dir, &yaml, &[cp]);
    router
        .send_to(&v9(1, false, &flows(20)), ("127.0.0.1", cp))
        .expect("send");
    let t = Instant::now();
    while counter(&srv.status(), "t", "flows_sent") < 20 {
        assert!(t.elapsed() < Duration::from_secs(10), "{}", srv.status());
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = srv.stop_status();
    assert_eq!(counter(&status, "edge", "template_misses"), 0, "{status}");
    rx.term();
    assert_eq!(nfdump_records(&dir.join("rx")), 20);
    let _ = std::fs::remove_dir_all(dir);
}

/// Two instances share one port (SO_REUSEPORT); the kernel gives each router to
/// one of them. Kill the one a router uses: its flows go on through the other.
#[test]
fn an_active_active_pair_survives_losing_one() {
    let dir = tmpdir("pair");
    let [cp, rp] = [(); 2].map(|_| free_port());
    let rx = start_nfcapd("nfcapd", rp, &dir.join("rx"));
    let mut servers = Vec::new();
    for name in ["one", "two"] {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).expect("dir");
        let pm = free_port();
        let yaml = format!(
            "general: {{metrics_listen: 127.0.0.1:{pm}}}\nsupervisor: {{unix_socket: {d}/o.sock}}\n\
             collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, reuse_port: true, mux_to: [t]}}\n\
             exporters:\n  - {{id: t, collector_host: 127.0.0.1, collector_port: {rp}, collector_version: 9, filters: ['10.0.1.0/24']}}\n",
            d = d.display()
        );
        servers.push(Server::start(&d, &yaml, &[cp]));
    }
    // Both in the port's group before the router sends: a process joining later
    // would take some of its datagrams without having seen its template.
    wait_udp_sockets(cp, 2);
    let gen = |n: u32| -> u64 {
        let out = run_gen(&[
            "--proto",
            "v9",
            "--target",
            &format!("127.0.0.1:{cp}"),
            "--count",
            &n.to_string(),
            "--rate",
            "200",
            "--records",
            "10",
        ]);
        report(&out, "flows")
    };
    let first = gen(20);
    std::thread::sleep(Duration::from_millis(500));
    let got: Vec<u64> = servers
        .iter()
        .map(|s| counter(&s.status(), "t", "flows_sent"))
        .collect();
    assert_eq!(got.iter().sum::<u64>(), first, "{got:?}");
    let busy = got
        .iter()
        .position(|&n| n > 0)
        .expect("one instance took the router");
    // The instance this router used dies.
    let dead = servers.remove(busy);
    let mut c = dead.child;
    let _ = c.0.kill();
    let _ = c.0.wait();
    let second = gen(20);
    let survivor = &servers[0];
    let t = Instant::now();
    while counter(&survivor.status(), "t", "flows_sent") < second {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{}",
            survivor.status()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for s in servers {
        s.stop();
    }
    rx.term();
    assert_eq!(nfdump_records(&dir.join("rx")), first + second);
    let _ = std::fs::remove_dir_all(&dir);
}
