//! DuckDB (Python), the independent reader of the store's Parquet files.

use std::process::Command;

/// Run `sql` in DuckDB (Python) and return its rows, one line each, columns
/// separated by `|`.
pub fn duckdb(sql: &str) -> String {
    ensure_duckdb();
    let py = "import duckdb,sys\nfor r in duckdb.sql(sys.argv[1]).fetchall(): print('|'.join(str(x) for x in r))";
    let out = Command::new("python3")
        .args(["-c", py, sql])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "duckdb failed on {sql}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn ensure_duckdb() {
    let have = || {
        Command::new("python3")
            .args(["-c", "import duckdb"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if have() {
        return;
    }
    // Debian 12's Python is "externally managed": a plain install may be refused.
    for extra in [&[][..], &["--break-system-packages"][..]] {
        let _ = Command::new("python3")
            .args(["-m", "pip", "install", "-q", "duckdb"])
            .args(extra)
            .status();
        if have() {
            return;
        }
    }
    panic!("DuckDB for Python is missing and `python3 -m pip install duckdb` failed (scripts/test.sh installs it)");
}
