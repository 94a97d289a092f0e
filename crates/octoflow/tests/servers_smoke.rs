//! The real database servers of `common::servers` start, answer their real clients and
//! stop without leaving a process behind (scripts/servers.sh install puts them here).
mod common;

use common::servers::{alive, Db, Kind};
use std::net::TcpListener;

/// Stop `db`; its process must be gone and its port(s) free again.
fn stop_and_check(mut db: Db) {
    let pid = db.pid;
    assert!(db.running(), "{:?} pid {pid} died before its stop", db.kind);
    db.stop();
    assert!(
        !alive(pid),
        "{:?} pid {pid} still alive after stop",
        db.kind
    );
    assert!(!db.running());
    db.stop(); // idempotent
    for p in [db.port, db.tcp_port] {
        if p != 0 {
            TcpListener::bind(("127.0.0.1", p))
                .unwrap_or_else(|e| panic!("port {p} of {:?} still taken: {e}", db.kind));
        }
    }
}

#[test]
fn kafka_produce_consume() {
    let dir = common::tmpdir("servers-kafka");
    let db = Db::start(Kind::Kafka, &dir);
    let sent: Vec<String> = (0..10).map(|i| format!("flow-{i:02}")).collect();
    // the topic is created by this first produce (with 4 partitions)
    db.kcat_input(&["-P", "-t", "smoke"], (sent.join("\n") + "\n").as_bytes());
    let got = db.kcat(&["-C", "-t", "smoke", "-o", "beginning", "-e", "-q"]);
    let mut got: Vec<String> = String::from_utf8(got)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    got.sort(); // the 4 partitions interleave
    assert_eq!(got, sent);
    stop_and_check(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn clickhouse_create_insert_select() {
    let dir = common::tmpdir("servers-clickhouse");
    let db = Db::start(Kind::ClickHouse, &dir);
    assert_eq!(db.port, db.http_port);
    assert_ne!(db.http_port, db.tcp_port);
    db.clickhouse_query(
        "CREATE TABLE t (id UInt32, name String, ts DateTime) ENGINE = MergeTree ORDER BY id",
    );
    // (not 0: 18.16 prints a zero DateTime as 0000-00-00 00:00:00)
    db.clickhouse_query("INSERT INTO t VALUES (2, 'b', 172800), (1, 'a', 86400)");
    assert_eq!(
        db.clickhouse_query("SELECT id, name, ts FROM t ORDER BY id"),
        "1\ta\t1970-01-02 00:00:00\n2\tb\t1970-01-03 00:00:00" // the server's timezone is UTC
    );
    stop_and_check(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn postgres_create_insert_select_survives_kill() {
    let dir = common::tmpdir("servers-postgres");
    let mut db = Db::start(Kind::Postgres, &dir);
    db.psql("CREATE TABLE t (id int PRIMARY KEY, src inet)");
    db.psql("INSERT INTO t VALUES (2, '2001:db8::1'), (1, '10.0.0.1')");
    assert_eq!(
        db.psql("SELECT id, src FROM t ORDER BY id"),
        "1|10.0.0.1\n2|2001:db8::1"
    );
    // a crash right after the commit loses nothing; the restart is on the same port
    let (pid, port) = (db.pid, db.port);
    db.kill();
    assert!(!alive(pid), "postgres pid {pid} alive after kill");
    db.restart();
    assert_eq!(db.port, port);
    assert_ne!(db.pid, pid);
    assert_eq!(db.psql("SELECT count(*) FROM t"), "2");
    stop_and_check(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn redis_sadd_smembers() {
    let dir = common::tmpdir("servers-redis");
    let db = Db::start(Kind::Redis, &dir);
    assert_eq!(
        db.redis_cli(&[
            "SADD",
            "tenants:a",
            "10.0.1.0/24",
            "2001:db8:1::/48",
            "10.0.1.0/24"
        ]),
        "2" // the duplicate is not added
    );
    let members = db.redis_cli(&["SMEMBERS", "tenants:a"]);
    let mut members: Vec<&str> = members.lines().collect();
    members.sort();
    assert_eq!(members, ["10.0.1.0/24", "2001:db8:1::/48"]);
    stop_and_check(db);
    std::fs::remove_dir_all(&dir).unwrap();
}
