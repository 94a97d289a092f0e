//! What the console shows, computed from the files the router writes: a
//! profile's slots (its `.series` file, cached while unchanged) summed into
//! buckets, and the profile's flows in a window — top-N tables and flow lists.
//!
//! A profile's flows are those of its store that pass at least one of the
//! chosen channels (all of them by default) *and* the user's filter; the
//! window is by receive time, as the graph's slots are, so a slot's details
//! are the flows that slot counted (nfsen's semantics: nfcapd files by
//! receive time). The user's filter can only narrow: it is ANDed, and no
//! other store is ever opened.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use octoflow_filter::Filter;
use octoflow_proto::FlowRecord;
use octoflow_query::series::{CLASSES, SLOT_MS};
use octoflow_query::{Counters, Order, Series, StatSpec, TopN};
use serde_json::{json, Value};

use crate::output::store::reader;
use crate::profile::{file, Profile};
use crate::query::print::{self, FlowFormat};

/// The most buckets a series answer holds when `step` is not given.
pub const MAX_BUCKETS: u64 = 600;

/// Decoded series files, kept while their size and mtime stay the same (the
/// router appends a slot every five minutes).
#[derive(Default)]
pub struct SeriesCache {
    map: Mutex<HashMap<PathBuf, Cached>>,
}

/// A file's mtime and size when read, and what it held.
type Cached = (SystemTime, u64, Arc<Series>);

impl SeriesCache {
    /// The slots of `[from_ms, to_ms)`: from the decoded copy when it is
    /// current, else read from the file for this window alone (the warmer
    /// decodes the whole file beside).
    pub fn window(
        &self,
        path: &Path,
        channels: usize,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Arc<Series>, String> {
        if let Some(s) = self.current(path, channels) {
            return Ok(s);
        }
        let s = match std::fs::read(path) {
            Ok(b) if b.is_empty() => Series::new(channels),
            Ok(b) => Series::decode_window(&b, Series::slot_of(from_ms), to_ms)
                .map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Series::new(channels),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        check_channels(path, &s, channels)?;
        Ok(Arc::new(s))
    }

    /// The decoded copy, if the file has not changed since.
    fn current(&self, path: &Path, channels: usize) -> Option<Arc<Series>> {
        let stamp = stamp(path)?;
        let map = self.map.lock().ok()?;
        let (t, len, s) = map.get(path)?;
        ((*t, *len) == stamp && s.channels == channels).then(|| s.clone())
    }

    /// Decode the whole file again if it changed (the warmer's call), and keep it.
    pub fn refresh(&self, path: &Path, channels: usize) -> Result<Arc<Series>, String> {
        if let Some(s) = self.current(path, channels) {
            return Ok(s);
        }
        // Stamped before reading: an append meanwhile makes the next call read again.
        let before = stamp(path);
        let s = Arc::new(file::read(path, channels)?);
        check_channels(path, &s, channels)?;
        if let (Some((t, len)), Ok(mut m)) = (before, self.map.lock()) {
            m.insert(path.to_path_buf(), (t, len, s.clone()));
        }
        Ok(s)
    }
}

/// A file's mtime and size.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
}

fn check_channels(path: &Path, s: &Series, channels: usize) -> Result<(), String> {
    if s.channels != channels {
        return Err(format!(
            "{}: written for {} channels, the profile has {} (channels changed: rebuild with `octoflow profile rebuild`)",
            path.display(),
            s.channels,
            channels
        ));
    }
    Ok(())
}

/// The step (ms) for a window: `step_s` if given (whole slots), else the
/// smallest multiple of a slot that keeps to [`MAX_BUCKETS`].
pub fn step_ms(from_ms: u64, to_ms: u64, step_s: Option<u64>) -> Result<u64, String> {
    match step_s {
        Some(s) if s > 0 && s.checked_mul(1000).is_some_and(|ms| ms % SLOT_MS == 0) => Ok(s * 1000),
        Some(s) => Err(format!(
            "step={s}: give a multiple of {} seconds (a slot)",
            SLOT_MS / 1000
        )),
        None => {
            let slots = (to_ms - from_ms).div_ceil(SLOT_MS);
            Ok(slots.div_ceil(MAX_BUCKETS).max(1) * SLOT_MS)
        }
    }
}

/// A profile's series over `[from_ms, to_ms)` in buckets of `step_ms`:
/// `values[channel][class][metric][bucket]`, metrics flows, packets, bytes
/// (sums over the bucket's slots, not rates). Buckets start at the slot that
/// holds `from_ms`.
pub fn series(p: &Profile, s: &Series, from_ms: u64, to_ms: u64, step_ms: u64) -> Value {
    let start = Series::slot_of(from_ms);
    let buckets = (to_ms - start).div_ceil(step_ms) as usize;
    let mut values = vec![vec![vec![vec![0u64; buckets]; 3]; CLASSES.len()]; p.channels.len()];
    for (t, chans) in s.slots.range(start..to_ms) {
        let b = ((t - start) / step_ms) as usize;
        for (c, counts) in chans.iter().enumerate().take(p.channels.len()) {
            for (k, class) in counts.iter().enumerate() {
                for m in 0..3 {
                    values[c][k][m][b] += class[m];
                }
            }
        }
    }
    let times: Vec<u64> = (0..buckets as u64)
        .map(|i| (start + i * step_ms) / 1000)
        .collect();
    json!({
        "profile": p.id,
        "from": start / 1000,
        "to": to_ms / 1000,
        "step": step_ms / 1000,
        "classes": CLASSES,
        "metrics": ["flows", "packets", "bytes"],
        "channels": channels(p),
        "times": times,
        "values": values,
    })
}

/// A profile's channels as the API describes them.
pub fn channels(p: &Profile) -> Value {
    Value::Array(
        p.channels
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "filter": c.text,
                    "colour": c.colour,
                    "sign": if c.negative { "-" } else { "+" },
                })
            })
            .collect(),
    )
}

/// Which of a profile's flows a details request looks at.
pub struct Scope<'a> {
    pub profile: &'a Profile,
    pub store_dir: &'a Path,
    /// Indexes of the chosen channels.
    pub channels: Vec<usize>,
    pub filter: Filter,
    pub from_ms: u64,
    pub to_ms: u64,
}

impl Scope<'_> {
    /// Hand each flow in scope to `f` until it returns false. `fields`: the
    /// record fields `f` reads (`None`: all).
    fn scan(
        &self,
        fields: Option<&[&'static str]>,
        f: &mut dyn FnMut(&FlowRecord, &str) -> bool,
    ) -> Result<(), String> {
        let mut names: Vec<&'static str> = vec!["received"];
        for &i in &self.channels {
            names.extend(self.profile.channels[i].filter.fields());
        }
        names.extend(self.filter.fields());
        let want = match fields {
            Some(extra) => {
                names.extend(extra);
                names.sort_unstable();
                names.dedup();
                reader::Columns::Only(&names)
            }
            None => reader::Columns::All,
        };
        let files = reader::files_for(self.store_dir, self.from_ms, self.to_ms)?;
        let (from, to) = (self.from_ms, self.to_ms);
        for path in &files {
            let go = reader::scan(path, want, &mut |r, source, received| {
                if !(from..to).contains(&received)
                    || !self
                        .channels
                        .iter()
                        .any(|&i| self.profile.channels[i].filter.matches(r, source))
                    || !self.filter.matches(r, source)
                {
                    return true;
                }
                f(r, source)
            })?;
            if !go {
                break;
            }
        }
        Ok(())
    }
}

/// A top-N table of `stat` (`srcip`, `dstport`, … as `octoflow query -s`)
/// ordered by `order`: JSON, or nfdump's CSV.
pub fn top(
    scope: &Scope,
    stat: &str,
    order: Order,
    n: usize,
    csv: bool,
) -> Result<(Value, String), String> {
    let spec: StatSpec = stat
        .parse()
        .map_err(|e: String| e.replace("-s ", "field="))?;
    let mut fields = spec.grouping.fields();
    fields.extend(["first", "last", "packets", "bytes"]);
    let mut t = TopN::new(spec.grouping.clone());
    scope.scan(Some(&fields), &mut |r, _| {
        t.add(r);
        true
    })?;
    let tab = t.table(order, n);
    if csv {
        let title = spec.grouping.title().unwrap_or("Flow");
        return Ok((Value::Null, print::table(title, order, &tab, n, true, true)));
    }
    let rows: Vec<Value> = tab
        .rows
        .iter()
        .map(|(k, c)| {
            let key: Vec<String> = k.parts().iter().map(|p| p.to_string()).collect();
            let mut v = counters(c);
            v["key"] = json!(key.join(" "));
            v
        })
        .collect();
    Ok((
        json!({
            "profile": scope.profile.id,
            "field": spec.name,
            "order": order.to_string(),
            "from": scope.from_ms / 1000,
            "to": scope.to_ms / 1000,
            "groups": tab.groups,
            "total": counters(&tab.total),
            "rows": rows,
        }),
        String::new(),
    ))
}

fn counters(c: &Counters) -> Value {
    json!({
        "flows": c.flows,
        "packets": c.packets,
        "bytes": c.bytes,
        "pps": c.pps(),
        "bps": c.bps(),
        "bpp": c.bpp(),
        "first": c.first_ms as f64 / 1000.0,
        "last": c.last_ms as f64 / 1000.0,
    })
}

/// Flows in scope, as stored, from the `offset`-th for `limit`: the answer's
/// text, JSON (`flows` holds each flow as `octoflow query -o json` prints it,
/// with `more` when flows remain) or `octoflow query -o csv`'s CSV.
pub fn flows(scope: &Scope, offset: u64, limit: u64, csv: bool) -> Result<String, String> {
    let format = if csv {
        FlowFormat::Csv
    } else {
        FlowFormat::Json
    };
    let mut out = String::new();
    if csv {
        out.push_str(&print::flow_header(&format).unwrap_or_default());
        out.push('\n');
    }
    let (mut seen, mut more) = (0u64, false);
    scope.scan(None, &mut |r, source| {
        seen += 1;
        if seen <= offset {
            return true;
        }
        if seen > offset + limit {
            more = true;
            return false;
        }
        let mut c = Counters::default();
        c.add(r);
        if !csv && seen > offset + 1 {
            out.push(',');
        }
        print::flow(&format, r, &c, source, true, &mut out);
        if csv {
            out.push('\n');
        }
        true
    })?;
    if csv {
        return Ok(out);
    }
    // The flows are JSON already: they go into the answer as printed.
    let mut body = json!({
        "profile": scope.profile.id,
        "from": scope.from_ms / 1000,
        "to": scope.to_ms / 1000,
        "offset": offset,
        "limit": limit,
        "more": more,
    })
    .to_string();
    body.pop();
    body.push_str(",\"flows\":[");
    body.push_str(&out);
    body.push_str("]}\n");
    Ok(body)
}
