//! The supervisor end to end, against the real binary: the seed's client session,
//! reload under load (by `--reload` and by SIGHUP) without losing a flow of the
//! unchanged tenants, crash handling (BACKOFF → FATAL), a refused bad reload, the
//! stale control socket, and log rotation.
//!
//! Every process is started here and stopped by PID; traffic stays on 127.0.0.1.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// The config file the server was started with.
fn conf(s: &Server) -> std::path::PathBuf {
    s.dir.join("octoflow.yaml")
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn nfcapd(port: u16, dir: &Path) -> (Child, std::path::PathBuf) {
    (start_nfcapd("nfcapd", port, dir), dir.to_path_buf())
}

/// Stop nfcapd and count the flow records it stored.
fn nfcapd_records(c: Child, dir: &Path) -> u64 {
    c.term();
    nfdump_records(dir)
}

/// The seed's session: status all → stop one exporter → STOPPED → start it →
/// shutdown → the socket is gone.
#[test]
fn the_seed_session() {
    let dir = tmpdir("seed");
    let [c1, c2, pm] = [(); 3].map(|_| free_port());
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         supervisor: {{unix_socket: {d}/octoflow.sock, loglevel: info}}\n\
         collectors:\n\
         - {{id: cisco-vswitch, listen_host: 127.0.0.1, listen_port: {c1}, nf_version: 10, mux_to: [foo-cacti, bar-graylog, nf-legacy]}}\n\
         - {{id: reverse-proxy, listen_host: 127.0.0.1, listen_port: {c2}, nf_version: sflow, mux_to: [foo-cacti, bar-graylog]}}\n\
         exporters:\n\
         - {{id: foo-cacti, collector_host: 127.0.0.1, collector_port: 9, collector_version: 10, filters: ['10.0.1.0/24', '!10.0.1.254']}}\n\
         - {{id: bar-graylog, collector_host: 127.0.0.1, collector_port: 9, collector_version: 10, filters: ['10.0.2.142', '10.0.2.139']}}\n\
         - {{id: nf-legacy, collector_host: 127.0.0.1, collector_port: 9, collector_version: 5, filters: ['172.16.0.0/12', '!172.17.1.0/24']}}\n",
        d = dir.display()
    );
    let srv = Server::start(&dir, &yaml, &[c1, c2]);
    let conf = conf(&srv);
    let running = |l: &str, name: &str| {
        l.starts_with(&format!("{name:<28} RUNNING pid ")) && l.contains(", uptime 0:00:")
    };
    let (code, out) = client(&conf, &["--status", "all"]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let names = [
        "cisco-vswitch_collector",
        "reverse-proxy_collector",
        "foo-cacti_exporter",
        "bar-graylog_exporter",
        "nf-legacy_exporter",
    ];
    assert_eq!(lines.len(), 5, "{out}");
    for (l, n) in lines.iter().zip(names) {
        assert!(running(l, n), "{l:?}");
    }
    let (code, out) = client(&conf, &["--stop", "foo-cacti_exporter"]);
    assert_eq!((code, out.as_str()), (0, "foo-cacti_exporter: stopped\n"));
    let (code, out) = client(&conf, &["--status", "all"]);
    assert_eq!(code, 3, "a stopped instance makes status exit 3: {out}");
    let l = out.lines().nth(2).expect("third line");
    let rest = l
        .strip_prefix("foo-cacti_exporter           STOPPED ")
        .unwrap_or_else(|| panic!("{l:?}"));
    // "Jun 12 11:42AM"
    assert_eq!(rest.len(), 14, "{rest:?}");
    assert!(rest.ends_with("AM") || rest.ends_with("PM"), "{rest:?}");
    assert!(running(
        out.lines().nth(3).expect("line"),
        "bar-graylog_exporter"
    ));
    let (code, out) = client(&conf, &["--stop", "foo-cacti_exporter"]);
    assert_eq!(
        (code, out.as_str()),
        (1, "foo-cacti_exporter: ERROR (not running)\n")
    );
    let (code, out) = client(&conf, &["--start", "foo-cacti_exporter"]);
    assert_eq!((code, out.as_str()), (0, "foo-cacti_exporter: started\n"));
    let (code, out) = client(&conf, &["--status", "foo-cacti_exporter"]);
    assert_eq!(code, 0);
    assert!(running(out.trim_end(), "foo-cacti_exporter"), "{out}");
    let (code, out) = client(&conf, &["--status", "nope_exporter"]);
    assert_eq!(
        (code, out.as_str()),
        (1, "nope_exporter: ERROR (no such process)\n")
    );
    // A stopped collector frees its port; started again, it takes it back.
    let (code, _) = client(&conf, &["--stop", "cisco-vswitch_collector"]);
    assert_eq!(code, 0);
    drop(std::net::UdpSocket::bind(("127.0.0.1", c1)).expect("the port is free"));
    let (code, out) = client(&conf, &["--start", "cisco-vswitch_collector"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "cisco-vswitch_collector: started\n")
    );
    assert!(std::net::UdpSocket::bind(("127.0.0.1", c1)).is_err());
    // Groups, and the friendlier spelling.
    let (code, out) = client(&conf, &["--restart", "collectors"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(": stopped").count(), 2);
    assert_eq!(out.matches(": started").count(), 2);
    let st = Command::new(BIN)
        .args(["status", "exporters", "--config_file"])
        .arg(&conf)
        .output()
        .expect("status");
    assert_eq!(String::from_utf8_lossy(&st.stdout).lines().count(), 3);
    let (code, out) = client(&conf, &["--shutdown"]);
    assert_eq!((code, out.as_str()), (0, "Shut down\n"));
    let mut child = srv.child;
    let status = child.0.wait().expect("wait");
    assert!(status.success());
    let (code, out) = client(&conf, &["--status", "all"]);
    assert_eq!(code, 4);
    assert_eq!(
        out,
        format!("unix://{}/octoflow.sock no such file\n", dir.display())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn exporter(id: &str, port: u16, version: &str, filters: &str) -> String {
    format!("  - {{id: {id}, collector_host: 127.0.0.1, collector_port: {port}, collector_version: {version}{filters}}}\n")
}

/// While gen streams, add an exporter, remove one and change one filter, by
/// `--reload` and then by SIGHUP: the unchanged receivers get every flow.
#[test]
fn reload_under_load_loses_nothing_for_unchanged_tenants() {
    let dir = tmpdir("reload");
    let [cp, pm, p_keep, p_all, p_change, p_gone, p_new] = [(); 7].map(|_| free_port());
    let (keep_rx, keep_dir) = nfcapd(p_keep, &dir.join("keep"));
    let (all_rx, all_dir) = nfcapd(p_all, &dir.join("all"));
    let (change_rx, _) = nfcapd(p_change, &dir.join("change"));
    let (gone_rx, _) = nfcapd(p_gone, &dir.join("gone"));
    let (new_rx, new_dir) = nfcapd(p_new, &dir.join("new"));
    let head = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\nsupervisor: {{unix_socket: {}/octoflow.sock}}\n",
        dir.display()
    );
    let config = |mux: &str, exporters: &str| {
        format!(
            "{head}collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [{mux}]}}\nexporters:\n{exporters}"
        )
    };
    let keep = exporter("keep", p_keep, "10", ", filters: ['10.0.1.0/24']");
    let all = exporter("all", p_all, "9", "");
    let v1 = config(
        "keep, all, change, gone",
        &(keep.clone()
            + &all
            + &exporter("change", p_change, "10", ", filters: ['172.16.0.0/12']")
            + &exporter("gone", p_gone, "10", ", filters: ['192.168.0.0/16']")),
    );
    let srv = Server::start(&dir, &v1, &[cp]);
    let conf = conf(&srv);
    let gen = std::thread::spawn(move || {
        run_gen(&[
            "--proto",
            "v9",
            "--target",
            &format!("127.0.0.1:{cp}"),
            "--rate",
            "400",
            "--duration",
            "5",
            "--records",
            "20",
            "--prefix",
            "10.0.1.0/24",
            "--prefix",
            "172.16.0.0/12",
            "--prefix",
            "192.168.0.0/16",
        ])
    });
    std::thread::sleep(Duration::from_millis(1500));
    // Reload 1: `gone` removed, `change` gets another filter, `new` added.
    let v2 = config(
        "keep, all, change, new",
        &(keep.clone()
            + &all
            + &exporter("change", p_change, "10", ", filters: ['192.168.0.0/16']")
            + &exporter("new", p_new, "ipfix", ", filters: ['172.16.0.0/12']")),
    );
    std::fs::write(&conf, &v2).expect("write");
    let (code, out) = client(&conf, &["--reread"]);
    assert_eq!(code, 0, "{out}");
    for l in [
        "edge_collector: changed",
        "change_exporter: changed",
        "new_exporter: added",
        "gone_exporter: removed",
    ] {
        assert!(out.contains(l), "reread: {l} missing in\n{out}");
    }
    assert!(!out.contains("keep_exporter"), "{out}");
    let (code, out) = client(&conf, &["--reload"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("gone_exporter: removed"), "{out}");
    assert!(out.contains("new_exporter: started"), "{out}");
    assert!(out.contains("change_exporter: started"), "{out}");
    assert!(
        out.contains("edge_collector: changed (applied in place, no restart)"),
        "{out}"
    );
    assert!(
        !out.contains("keep_exporter") && !out.contains("all_exporter"),
        "{out}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    // Reload 2 by SIGHUP: `change` back to its first filter.
    let v3 = config(
        "keep, all, change, new",
        &(keep
            + &all
            + &exporter("change", p_change, "10", ", filters: ['172.16.0.0/12']")
            + &exporter("new", p_new, "ipfix", ", filters: ['172.16.0.0/12']")),
    );
    std::fs::write(&conf, &v3).expect("write");
    let _ = Command::new("kill")
        .args(["-HUP", &srv.child.0.id().to_string()])
        .status();
    let out = gen.join().expect("gen");
    let per = |p: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("prefix {p} flows=")))
            .expect("per-prefix count")
            .parse()
            .expect("number")
    };
    let total = report(&out, "flows");
    settle(&srv, total);
    let status = srv.stop_status();
    assert!(status.contains("\"new\":"), "{status}");
    assert!(!status.contains("\"gone\":"), "{status}");
    let keep_got = nfcapd_records(keep_rx, &keep_dir);
    let all_got = nfcapd_records(all_rx, &all_dir);
    assert_eq!(
        keep_got,
        per("10.0.1.0/24"),
        "unchanged tenant lost flows: {status}"
    );
    assert_eq!(
        all_got, total,
        "unchanged unfiltered receiver lost flows: {status}"
    );
    let new_got = nfcapd_records(new_rx, &new_dir);
    assert!(
        new_got > 0 && new_got < per("172.16.0.0/12"),
        "new exporter got {new_got}"
    );
    drop(change_rx);
    drop(gone_rx);
    let log = std::fs::read_to_string(dir.join("octoflow.log")).unwrap_or_default();
    assert!(log.contains("SIGHUP: reloading"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Wait until the collector has all `flows`, then a little for the exporters.
fn settle(s: &Server, flows: u64) {
    wait_for("the collector to receive every flow", || {
        counter(&s.status(), "edge", "flows") >= flows
    });
    std::thread::sleep(Duration::from_millis(500));
}

/// A collector whose port is taken goes BACKOFF, then FATAL after
/// `startretries_instances`; the other instances keep running and delivering.
#[test]
fn a_failing_instance_backs_off_then_goes_fatal_and_the_others_run() {
    let dir = tmpdir("fatal");
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let tp = taken.local_addr().expect("addr").port();
    let [cp, pm, rp] = [(); 3].map(|_| free_port());
    let (rx, rx_dir) = nfcapd(rp, &dir.join("rx"));
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         supervisor: {{unix_socket: {}/octoflow.sock, startretries_instances: 2}}\n\
         collectors:\n\
         - {{id: broken, listen_host: 127.0.0.1, listen_port: {tp}, nf_version: 9, mux_to: [t]}}\n\
         - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [t]}}\n\
         exporters:\n{}",
        dir.display(),
        exporter("t", rp, "9", "")
    );
    let srv = Server::start(&dir, &yaml, &[cp]);
    let conf = conf(&srv);
    let (code, out) = client(&conf, &["--status", "broken_collector"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.starts_with(
            "broken_collector             BACKOFF collector \"broken\": cannot listen on udp"
        ),
        "{out}"
    );
    wait_for("FATAL", || {
        client(&conf, &["--status", "broken_collector"])
            .1
            .contains(" FATAL ")
    });
    let (_, out) = client(&conf, &["--status", "all"]);
    assert!(
        out.contains("edge_collector               RUNNING"),
        "{out}"
    );
    assert!(
        out.contains("t_exporter                   RUNNING"),
        "{out}"
    );
    let g = Command::new(BIN)
        .args([
            "gen",
            "--proto",
            "v9",
            "--target",
            &format!("127.0.0.1:{cp}"),
        ])
        .args(["--count", "20", "--rate", "500"])
        .output()
        .expect("gen");
    assert!(g.status.success());
    wait_for("flows", || counter(&srv.status(), "edge", "flows") >= 500);
    std::thread::sleep(Duration::from_millis(300));
    // Free the port: an explicit start brings the FATAL instance back.
    drop(taken);
    let (code, out) = client(&conf, &["--start", "broken_collector"]);
    assert_eq!((code, out.as_str()), (0, "broken_collector: started\n"));
    srv.stop();
    assert_eq!(nfcapd_records(rx, &rx_dir), 500);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An invalid configuration is refused by `--reload`, `--reread` and SIGHUP with
/// the key named; nothing changes.
#[test]
fn a_bad_reload_is_refused_and_nothing_changes() {
    let dir = tmpdir("badreload");
    let [cp, pm] = [(); 2].map(|_| free_port());
    let good = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\nsupervisor: {{unix_socket: {}/octoflow.sock}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [t]}}\nexporters:\n{}",
        dir.display(),
        exporter("t", 9, "9", ", filters: ['10.0.1.0/24']")
    );
    let srv = Server::start(&dir, &good, &[cp]);
    let conf = conf(&srv);
    let (_, before) = client(&conf, &["--status", "all"]);
    std::fs::write(&conf, good.replace("10.0.1.0/24", "10.0.1.300/24")).expect("write");
    for args in [["--reload"], ["--reread"]] {
        let (code, out) = client(&conf, &args);
        assert_eq!(code, 2, "{out}");
        assert!(
            out.contains(
                "exporters[0].filters[0]: \"10.0.1.300/24\" is not an IP address or CIDR prefix"
            ),
            "{out}"
        );
        assert!(
            out.contains("the running configuration is unchanged"),
            "{out}"
        );
    }
    let _ = Command::new("kill")
        .args(["-HUP", &srv.child.0.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(500));
    let (code, after) = client(&conf, &["--status", "all"]);
    assert_eq!(code, 0);
    // Same instances, same threads (pids), still running.
    let pids = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split(", uptime").next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(pids(&before), pids(&after));
    let log = srv.stop();
    assert!(
        log.contains("reload refused, the running configuration stays"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stale socket file from a crash is replaced; a live server's socket is not.
#[test]
fn stale_control_socket_is_replaced_and_a_live_one_refused() {
    let dir = tmpdir("stale");
    let sock = dir.join("octoflow.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).expect("bind"));
    assert!(sock.exists(), "a stale socket file is left behind");
    let [cp, pm] = [(); 2].map(|_| free_port());
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\nsupervisor: {{unix_socket: {}}}\ncollectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9}}\n",
        sock.display()
    );
    let srv = Server::start(&dir, &yaml, &[cp]);
    let conf = conf(&srv);
    let (code, _) = client(&conf, &["--status", "all"]);
    assert_eq!(code, 0);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // A second server on the same socket refuses to start.
    let second = dir.join("second.yaml");
    std::fs::write(
        &second,
        yaml.replace(
            &format!("listen_port: {cp}"),
            &format!("listen_port: {}", free_port()),
        ),
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["server", "--config-file"])
        .arg(&second)
        .env("STATE_DIRECTORY", dir.join("state2"))
        .output()
        .expect("server");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another octoflow server is running on"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    srv.stop();
    assert!(!sock.exists(), "the socket is removed at shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With a small `log_maxMB`, the log rotates and at most `log_max_backups` remain.
#[test]
fn the_log_rotates_and_keeps_at_most_n_backups() {
    let dir = tmpdir("logrotate");
    let [cp, pm] = [(); 2].map(|_| free_port());
    let log = dir.join("log/octoflow.log");
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         supervisor: {{unix_socket: {}/octoflow.sock, logfile: {}, log_maxMB: 0.002, log_max_backups: 2, loglevel: info}}\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9}}\n",
        dir.display(),
        log.display()
    );
    let srv = Server::start(&dir, &yaml, &[cp]);
    let conf = conf(&srv);
    for _ in 0..60 {
        client(&conf, &["--status", "all"]);
    }
    srv.stop();
    let mut names: Vec<String> = std::fs::read_dir(dir.join("log"))
        .expect("log dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["octoflow.log", "octoflow.log.1", "octoflow.log.2"]);
    for n in &names {
        let len = std::fs::metadata(dir.join("log").join(n))
            .expect("meta")
            .len();
        assert!(len <= 2097, "{n}: {len} bytes");
    }
    let current = std::fs::read_to_string(&log).expect("log");
    assert!(current.contains("octoflow server stopped"), "{current}");
    let _ = std::fs::remove_dir_all(&dir);
}
