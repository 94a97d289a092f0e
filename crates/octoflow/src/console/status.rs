//! The overview's numbers: every [`SAMPLE_SECS`] the console asks the server
//! for its instances' states (the control socket's `status`, as `octoflow
//! client --status`) and counters (`GET /status` of `general.metrics_listen`),
//! and keeps a day of samples in memory for the rate graphs. The console reads
//! only what any operator's tool could: it works the same beside the server or
//! inside it. Kept in memory only: a restarted console starts a new day.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::telemetry::auth::Token;

/// Seconds between samples.
pub const SAMPLE_SECS: u64 = 10;
/// Samples kept: one day.
const KEEP: usize = (86_400 / SAMPLE_SECS) as usize + 1;

/// Where the server answers.
#[derive(Clone)]
pub struct Source {
    pub socket: PathBuf,
    pub metrics: Option<SocketAddr>,
    pub token: Option<Token>,
}

/// One sample: Unix seconds, and per instance id its flows in (collectors) or
/// out (outputs) and its flows lost, as running totals.
struct Sample {
    t: u64,
    totals: HashMap<String, [u64; 2]>,
}

#[derive(Default)]
pub struct Status {
    /// The last answers: instance lines, counters, and what failed.
    last: Mutex<(Vec<[String; 3]>, Value, Option<String>)>,
    history: Mutex<VecDeque<Sample>>,
}

/// Counters of a collector that count flows or datagrams refused or lost.
const COLLECTOR_LOSSES: [&str; 4] = [
    "not_allowed",
    "rate_limited",
    "receive_errors",
    "rejected_version",
];
/// Counters of an output that count flows it lost.
const OUTPUT_LOSSES: [&str; 7] = [
    "queue_drop_flows",
    "disconnected_drops",
    "unconvertible",
    "too_large",
    "store_rows_lost",
    "sink_rows_dropped",
    "sink_rows_rejected",
];
/// Counters of an output that count flows it delivered.
const OUTPUT_DELIVERED: [&str; 3] = ["flows_sent", "store_rows", "sink_rows_delivered"];

fn sum(v: &Value, names: &[&str]) -> u64 {
    names.iter().filter_map(|n| v.get(*n)?.as_u64()).sum()
}

/// Per instance id: [flows in or out, flows lost].
fn totals(counters: &Value) -> HashMap<String, [u64; 2]> {
    let mut m = HashMap::new();
    if let Some(cs) = counters.get("collectors").and_then(Value::as_object) {
        for (id, c) in cs {
            let decode: u64 = c
                .get("decode_errors")
                .and_then(Value::as_object)
                .map(|d| d.values().filter_map(Value::as_u64).sum())
                .unwrap_or(0);
            m.insert(
                format!("{id}_collector"),
                [sum(c, &["flows"]), sum(c, &COLLECTOR_LOSSES) + decode],
            );
        }
    }
    if let Some(es) = counters.get("exporters").and_then(Value::as_object) {
        for (id, e) in es {
            m.insert(
                format!("{id}_exporter"),
                [sum(e, &OUTPUT_DELIVERED), sum(e, &OUTPUT_LOSSES)],
            );
        }
    }
    m
}

/// `GET /status` of the metrics endpoint.
fn fetch(addr: SocketAddr, token: Option<&Token>) -> Result<Value, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let auth = token.map_or(String::new(), |t| {
        format!("Authorization: Bearer {}\r\n", t.secret())
    });
    write!(
        s,
        "GET /status HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .map_err(|e| format!("{addr}: {e}"))?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "{addr}/status: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    serde_json::from_str(body).map_err(|e| format!("{addr}/status: {e}"))
}

impl Status {
    /// Take one sample now.
    pub fn sample(&self, src: &Source, now_s: u64) {
        let mut failed = Vec::new();
        let instances = match crate::control::ask(&src.socket, "status all") {
            Ok((lines, _)) => lines
                .iter()
                .map(|l| {
                    let mut it = l.split_whitespace();
                    let name = it.next().unwrap_or_default().to_string();
                    let state = it.next().unwrap_or_default().to_string();
                    [name, state, it.collect::<Vec<_>>().join(" ")]
                })
                .collect(),
            Err(e) => {
                failed.push(format!("control socket: {e}"));
                Vec::new()
            }
        };
        let counters = match src.metrics {
            Some(a) => fetch(a, src.token.as_ref()).unwrap_or_else(|e| {
                failed.push(format!("metrics: {e}"));
                Value::Null
            }),
            None => {
                failed.push("general.metrics_listen is not set: no counters".into());
                Value::Null
            }
        };
        if !counters.is_null() {
            if let Ok(mut h) = self.history.lock() {
                h.push_back(Sample {
                    t: now_s,
                    totals: totals(&counters),
                });
                while h.len() > KEEP {
                    h.pop_front();
                }
            }
        }
        if let Ok(mut l) = self.last.lock() {
            *l = (
                instances,
                counters,
                (!failed.is_empty()).then(|| failed.join("; ")),
            );
        }
    }

    /// Sample every [`SAMPLE_SECS`] until `stop`.
    pub fn run(self: Arc<Status>, src: Source, stop: Arc<AtomicBool>) {
        while !stop.load(Relaxed) {
            self.sample(&src, crate::util::now_ms() / 1000);
            for _ in 0..SAMPLE_SECS * 10 {
                if stop.load(Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// The overview as JSON: instances (state, detail, rates over the last
    /// sample), the raw counters, and per instance a day of rates.
    pub fn json(&self) -> Value {
        let (instances, counters, error) = self.last.lock().map(|l| l.clone()).unwrap_or_default();
        let h = self.history.lock();
        let h: Vec<&Sample> = h.as_ref().map(|h| h.iter().collect()).unwrap_or_default();
        let times: Vec<u64> = h.iter().skip(1).map(|s| s.t).collect();
        let mut rates: HashMap<&str, [Vec<f64>; 2]> = HashMap::new();
        for (i, w) in h.windows(2).enumerate() {
            let dt = (w[1].t.saturating_sub(w[0].t)).max(1) as f64;
            for (id, now) in &w[1].totals {
                // An instance that appeared in this sample has no rate yet.
                let Some(before) = w[0].totals.get(id) else {
                    continue;
                };
                let e = rates
                    .entry(id.as_str())
                    .or_insert_with(|| [vec![0.0; times.len()], vec![0.0; times.len()]]);
                for k in 0..2 {
                    // A counter that went down was restarted: count from zero.
                    let d = if now[k] >= before[k] {
                        now[k] - before[k]
                    } else {
                        now[k]
                    };
                    e[k][i] = d as f64 / dt;
                }
            }
        }
        let list: Vec<Value> = instances
            .iter()
            .map(|[name, state, detail]| {
                let r = rates.get(name.as_str());
                let last = |k: usize| r.and_then(|r| r[k].last().copied()).unwrap_or(0.0);
                json!({
                    "name": name,
                    "state": state,
                    "detail": detail,
                    "flows_per_s": last(0),
                    "lost_per_s": last(1),
                })
            })
            .collect();
        let series: serde_json::Map<String, Value> = rates
            .iter()
            .map(|(id, [f, l])| (id.to_string(), json!({"flows_per_s": f, "lost_per_s": l})))
            .collect();
        json!({
            "sample_secs": SAMPLE_SECS,
            "error": error,
            "instances": list,
            "counters": counters,
            "history": {"times": times, "series": series},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_per_instance_from_the_status_document() {
        let v: Value = serde_json::from_str(
            r#"{"collectors":{"edge":{"flows":100,"not_allowed":2,"rate_limited":1,"receive_errors":0,"decode_errors":{"short":4}}},
                "exporters":{"st":{"store_rows":90,"store_rows_lost":3},"n":{"flows_sent":7,"queue_drop_flows":5}}}"#,
        )
        .expect("json");
        let t = totals(&v);
        assert_eq!(t["edge_collector"], [100, 7]);
        assert_eq!(t["st_exporter"], [90, 3]);
        assert_eq!(t["n_exporter"], [7, 5]);
    }

    #[test]
    fn rates_from_two_samples_and_a_restart() {
        let s = Status::default();
        let push = |t, n| {
            s.history.lock().expect("lock").push_back(Sample {
                t,
                totals: HashMap::from([("a_collector".to_string(), [n, 0])]),
            })
        };
        push(100, 1000);
        push(110, 3000);
        push(120, 500);
        let j = s.json();
        assert_eq!(j["history"]["times"], json!([110, 120]));
        assert_eq!(
            j["history"]["series"]["a_collector"]["flows_per_s"],
            json!([200.0, 50.0])
        );
    }
}
