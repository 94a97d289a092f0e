//! `octoflow query`: nfdump's command line over a flow store. The store's
//! files are read by `crate::output::store`; filtering is `octoflow-filter`'s,
//! windows, statistics and aggregation `octoflow-query`'s; [`print`] shapes the
//! output as nfdump does. [`run`] takes the records through a scan function, so
//! it does not care where they come from.

pub mod args;
pub mod print;
pub mod profile;

use std::io::Write;

use octoflow_filter::Filter;
use octoflow_proto::FlowRecord;
use octoflow_query::stats::FIVE_TUPLE;
use octoflow_query::{Counters, Grouping, Order, StatSpec, TopN, Window};

use print::FlowFormat;

/// What the command line asks.
pub struct Query {
    pub window: Window,
    /// `-c`: at most this many flows (that pass the filter) are processed.
    pub limit: Option<u64>,
    /// `-s`: top-N tables; when given, flows are not listed.
    pub stats: Vec<StatSpec>,
    /// `-n`: rows per table (0: all).
    pub top: usize,
    /// `-a` / `-A`: list aggregated flows.
    pub aggregate: Option<Grouping>,
    /// `-O`: the flow list's order (default: as stored).
    pub order: Option<Order>,
    pub format: FlowFormat,
    /// `-N`: numbers unscaled.
    pub plain: bool,
    pub filter: Filter,
}

impl Query {
    /// The record fields the query reads (schema names, `source` for the
    /// source name): the filter's, the window's (`first`), the tables' and the
    /// aggregation's. `None` for a flow listing, which may print any field.
    pub fn fields(&self) -> Option<Vec<&'static str>> {
        if self.stats.is_empty() && self.aggregate.is_none() {
            return None;
        }
        let mut v = self.filter.fields();
        v.extend(["first", "last", "packets", "bytes"]);
        for g in self
            .stats
            .iter()
            .map(|s| &s.grouping)
            .chain(&self.aggregate)
        {
            v.extend(g.fields());
        }
        v.sort_unstable();
        v.dedup();
        Some(v)
    }

    /// `-a` is `-A` on the 5-tuple.
    pub fn five_tuple() -> Grouping {
        Grouping::Fields(FIVE_TUPLE.to_vec())
    }
}

/// A scan hands every stored flow (and its source's name) to a callback until
/// the callback returns false.
pub type Scan<'a> =
    &'a mut dyn FnMut(&mut dyn FnMut(&FlowRecord, &str) -> bool) -> Result<(), String>;

/// `octoflow query`: read the store at `a.dir` for the window and print.
pub fn cli(a: &args::QueryArgs) -> Result<(), String> {
    use crate::output::store::reader;
    let q = a.query()?;
    if !a.dir.is_dir() {
        return Err(format!(
            "-R {}: no such folder (give a store's path, as written in its `path` key)",
            a.dir.display()
        ));
    }
    // Flows are filed by receive time; a flow started before its file's
    // interval, so look one interval-length back (files are picked by name).
    // Files hold flows by receive time, and a flow is received after it
    // started (by up to the exporter's active timeout): files are picked with a
    // day's margin either side, and each flow by its own start.
    const MARGIN_MS: u64 = 86_400_000;
    let files = reader::files_for(
        &a.dir,
        q.window.start_ms.saturating_sub(MARGIN_MS),
        q.window.end_ms.saturating_add(MARGIN_MS),
    )?;
    let fields = q.fields();
    let want = match &fields {
        Some(names) => reader::Columns::Only(names),
        None => reader::Columns::All,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut scan = |f: &mut dyn FnMut(&FlowRecord, &str) -> bool| -> Result<(), String> {
        for p in &files {
            if !reader::scan(p, want, &mut |r, s, _| f(r, s))? {
                break;
            }
        }
        Ok(())
    };
    run(&q, &mut scan, &mut out)?;
    out.flush().map_err(|e| format!("writing the output: {e}"))
}

/// Run `q` over what `scan` yields, printing to `out`.
pub fn run(q: &Query, scan: Scan, out: &mut dyn Write) -> Result<(), String> {
    let mut acc = Acc::new(q);
    acc.feed(q, scan, out)?;
    acc.finish(q, out)
}

fn io(e: std::io::Error) -> String {
    format!("writing the output: {e}")
}

/// What a query gathers from the flows: its tables, its aggregation, the
/// flows kept for `-O`, the totals. A listing without `-O` is printed as the
/// flows come instead.
struct Acc {
    tables: Vec<TopN>,
    agg: Option<TopN>,
    kept: Vec<(FlowRecord, String)>,
    total: Counters,
}

impl Acc {
    fn new(q: &Query) -> Acc {
        Acc {
            tables: q
                .stats
                .iter()
                .map(|s| TopN::new(s.grouping.clone()))
                .collect(),
            agg: q.aggregate.clone().map(TopN::new),
            kept: Vec::new(),
            total: Counters::default(),
        }
    }

    /// Take in what `scan` yields (printing a plain listing to `out`).
    fn feed(&mut self, q: &Query, scan: Scan, out: &mut dyn Write) -> Result<(), String> {
        let listing = self.tables.is_empty() && self.agg.is_none();
        let mut passed = 0u64;
        let mut line = String::new();
        let mut failed: Option<std::io::Error> = None;
        if listing && q.order.is_none() {
            if let Some(h) = print::flow_header(&q.format) {
                writeln!(out, "{h}").map_err(io)?;
            }
        }
        let Acc {
            tables,
            agg,
            kept,
            total,
        } = self;
        scan(&mut |r: &FlowRecord, source: &str| {
            if !q.window.contains(r.first_ms) || !q.filter.matches(r, source) {
                return true;
            }
            if q.limit.is_some_and(|l| passed >= l) {
                return false;
            }
            passed += 1;
            total.add(r);
            for t in tables.iter_mut() {
                t.add(r);
            }
            if let Some(a) = agg.as_mut() {
                a.add(r);
            } else if listing {
                if q.order.is_some() {
                    kept.push((*r, source.to_string()));
                } else {
                    let mut c = Counters::default();
                    c.add(r);
                    line.clear();
                    print::flow(&q.format, r, &c, source, q.plain, &mut line);
                    if let Err(e) = writeln!(out, "{line}") {
                        failed = Some(e);
                        return false;
                    }
                }
            }
            true
        })?;
        match failed {
            Some(e) => Err(io(e)),
            None => Ok(()),
        }
    }

    /// Print the tables, the aggregated flows, the ordered listing and the
    /// summary.
    fn finish(mut self, q: &Query, out: &mut dyn Write) -> Result<(), String> {
        let listing = self.tables.is_empty() && self.agg.is_none();
        let (tables, agg, kept, total) = (&self.tables, &self.agg, &mut self.kept, &self.total);
        let mut line = String::new();
        let csv = q.format.is_csv();
        for (spec, t) in q.stats.iter().zip(tables.iter()) {
            let title = spec.grouping.title().unwrap_or("Flow");
            for o in &spec.orders {
                let tab = t.table(*o, q.top);
                write!(
                    out,
                    "{}",
                    print::table(title, *o, &tab, q.top, csv, q.plain)
                )
                .map_err(io)?;
                if !csv {
                    writeln!(out).map_err(io)?;
                }
            }
        }
        if let (Some(a), Some(g)) = (agg.as_ref(), q.aggregate.as_ref()) {
            let tab = a.table(q.order.unwrap_or(Order::Tstart), 0);
            if let Some(h) = print::flow_header(&q.format) {
                writeln!(out, "{h}").map_err(io)?;
            }
            for (k, c) in &tab.rows {
                // The key's fields, with the group's sums and times.
                let r = FlowRecord {
                    packets: c.packets,
                    bytes: c.bytes,
                    first_ms: c.first_ms,
                    last_ms: c.last_ms,
                    ..g.record(k)
                };
                line.clear();
                print::flow(&q.format, &r, c, "", q.plain, &mut line);
                writeln!(out, "{line}").map_err(io)?;
            }
        }
        if let Some(o) = q.order.filter(|_| listing) {
            let key = |r: &FlowRecord| {
                let mut c = Counters::default();
                c.add(r);
                c.by(o)
            };
            if o.descending() {
                kept.sort_by_key(|(r, _)| std::cmp::Reverse(key(r)));
            } else {
                kept.sort_by_key(|(r, _)| key(r));
            }
            if let Some(h) = print::flow_header(&q.format) {
                writeln!(out, "{h}").map_err(io)?;
            }
            for (r, source) in kept.iter() {
                let mut c = Counters::default();
                c.add(r);
                line.clear();
                print::flow(&q.format, r, &c, source, q.plain, &mut line);
                writeln!(out, "{line}").map_err(io)?;
            }
        }
        if !matches!(
            q.format,
            FlowFormat::Csv | FlowFormat::Json | FlowFormat::Fmt(_)
        ) {
            writeln!(out, "{}", print::summary(total)).map_err(io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flows() -> Vec<(FlowRecord, &'static str)> {
        let f = |src: [u8; 4], dp: u16, proto: u8, packets: u64, first_ms: u64| FlowRecord {
            src_addr: src.into(),
            dst_addr: [198, 51, 100, 1].into(),
            src_port: 40000,
            dst_port: dp,
            proto,
            packets,
            bytes: packets * 100,
            first_ms,
            last_ms: first_ms + 1000,
            ..FlowRecord::default()
        };
        vec![
            (f([10, 0, 0, 1], 80, 6, 10, 1_000_000), "peer1"),
            (f([10, 0, 0, 2], 443, 6, 30, 2_000_000), "peer1"),
            (f([10, 0, 0, 1], 53, 17, 5, 3_000_000), "peer2"),
            (f([10, 0, 0, 1], 80, 6, 7, 4_000_000), "peer2"),
        ]
    }

    fn query(args: &str, filter: &str) -> String {
        let mut q = Query {
            window: Window::ALL,
            limit: None,
            stats: Vec::new(),
            top: 10,
            aggregate: None,
            order: None,
            format: FlowFormat::parse("fmt:%sa %dp %pkt").expect("fmt"),
            plain: true,
            filter: Filter::parse(filter).expect("filter"),
        };
        for a in args.split_whitespace() {
            match a.split_once('=') {
                Some(("s", s)) => q.stats.push(s.parse().expect("stat")),
                Some(("c", n)) => q.limit = n.parse().ok(),
                Some(("O", o)) => q.order = o.parse().ok(),
                Some(("o", f)) => q.format = FlowFormat::parse(f).expect("format"),
                Some(("t", w)) => q.window = Window::parse(w).expect("window"),
                Some(("A", l)) => {
                    q.aggregate = Some(octoflow_query::stats::aggregation(l).expect("A"))
                }
                _ if a == "a" => q.aggregate = Some(Query::five_tuple()),
                _ => panic!("{a}"),
            }
        }
        let data = flows();
        let mut scan = |f: &mut dyn FnMut(&FlowRecord, &str) -> bool| {
            for (r, s) in &data {
                if !f(r, s) {
                    break;
                }
            }
            Ok(())
        };
        let mut out = Vec::new();
        run(&q, &mut scan, &mut out).expect("runs");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn a_filtered_listing_with_a_limit_and_an_order() {
        assert_eq!(
            query("", "proto tcp"),
            "10.0.0.1 80 10\n10.0.0.2 443 30\n10.0.0.1 80 7\n"
        );
        assert_eq!(query("c=2", ""), "10.0.0.1 80 10\n10.0.0.2 443 30\n");
        assert_eq!(
            query("O=packets", "proto tcp"),
            "10.0.0.2 443 30\n10.0.0.1 80 10\n10.0.0.1 80 7\n"
        );
        assert_eq!(query("", "ident peer2"), "10.0.0.1 53 5\n10.0.0.1 80 7\n");
        assert_eq!(
            query("t=1970/01/01.00:33:20-1970/01/01.01:06:40", ""),
            "10.0.0.2 443 30\n10.0.0.1 53 5\n"
        );
    }

    #[test]
    fn aggregation_and_statistics() {
        // -a: the two 10.0.0.1 → :80 flows become one.
        assert_eq!(
            query("a O=packets", "proto tcp"),
            "10.0.0.2 443 30\n10.0.0.1 80 17\n"
        );
        assert_eq!(
            query("A=srcip O=flows", ""),
            "10.0.0.1 0 22\n10.0.0.2 0 30\n"
        );
        let t = query("s=srcip/packets o=csv", "");
        let rows: Vec<&str> = t.lines().collect();
        assert_eq!(
            rows[0],
            "ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp"
        );
        assert!(rows[1].contains(",10.0.0.2,1,25.0,30,"), "{t}");
        assert!(rows[2].contains(",10.0.0.1,3,75.0,22,"), "{t}");
        let text = query("s=dstport/flows o=line", "");
        assert!(
            text.starts_with("Top 10 Dst Port ordered by flows:"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("avg bpp: 100"), "{text}");
    }
}
