//! `octoflow query`'s output, in nfdump's shapes: flow lists as `line`,
//! `long`, `extended`, `csv`, `json` or `fmt:…`, with nfdump's summary line;
//! top-N tables as nfdump prints `-s` (text, or CSV with nfdump's columns
//! `ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp`). Times are UTC.

use std::fmt::Write as _;

use octoflow_proto::schema::{self, Value};
use octoflow_proto::FlowRecord;
use octoflow_query::stats::{proto_name, Table};
use octoflow_query::{Counters, Order};

use crate::tools::dump::Format;

/// How flows are printed (`-o`).
pub enum FlowFormat {
    Line,
    Long,
    Extended,
    Csv,
    Json,
    Fmt(Format),
}

impl FlowFormat {
    pub fn parse(s: &str) -> Result<FlowFormat, String> {
        Ok(match s {
            "line" | "raw" => FlowFormat::Line,
            "long" => FlowFormat::Long,
            "extended" => FlowFormat::Extended,
            "csv" => FlowFormat::Csv,
            "json" => FlowFormat::Json,
            f if f.starts_with("fmt:") => {
                FlowFormat::Fmt(Format::parse(f).map_err(|e| format!("-o {f}: {e}"))?)
            }
            other => {
                return Err(format!(
                    "-o {other}: give line, long, extended, csv, json or 'fmt:%ts %sa %da …'"
                ))
            }
        })
    }

    pub fn is_csv(&self) -> bool {
        matches!(self, FlowFormat::Csv)
    }
}

/// TCP flags as nfdump prints them: `CEUAPRSF`, a dot for each flag not set.
fn tcp_flags(f: u8) -> String {
    "CEUAPRSF"
        .chars()
        .enumerate()
        .map(|(i, c)| if f & (0x80 >> i) != 0 { c } else { '.' })
        .collect()
}

/// `2026-11-29 23:55:40.955` (UTC).
fn time(ms: u64) -> String {
    // Value's rendering is ISO 8601 (`2026-11-29T23:55:40.955Z`).
    let iso = Value::TimeMs(ms).to_string();
    iso.trim_end_matches('Z').replacen('T', " ", 1)
}

/// `hh:mm:ss.mmm`, as nfdump shows durations.
fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}

/// nfdump's scaled numbers (`16.3 M`), or plain with `-N`.
fn num(v: u64, plain: bool) -> String {
    match v {
        _ if plain => v.to_string(),
        v if v >= 1_000_000_000 => format!("{:.1} G", v as f64 / 1e9),
        v if v >= 1_000_000 => format!("{:.1} M", v as f64 / 1e6),
        v => v.to_string(),
    }
}

/// `addr:port` (IPv6 `addr.port`); an ICMP flow's destination port as
/// `type.code` (`icmp`: true for the destination side of an ICMP flow).
fn addr_port(a: std::net::IpAddr, p: u16, icmp: bool) -> String {
    let port = if icmp {
        format!("{}.{}", p >> 8, p & 0xff)
    } else {
        p.to_string()
    };
    if a.is_ipv6() {
        format!("{a}.{port}")
    } else {
        format!("{a}:{port}")
    }
}

/// The flow list's heading, if its format has one.
pub fn flow_header(f: &FlowFormat) -> Option<String> {
    let base = format!(
        "{:<23} {:>12} {:<5} {:>45} -> {:<45}",
        "Date first seen", "Duration", "Proto", "Src IP Addr:Port", "Dst IP Addr:Port"
    );
    match f {
        FlowFormat::Line => Some(format!(
            "{base} {:>8} {:>8} {:>5}",
            "Packets", "Bytes", "Flows"
        )),
        FlowFormat::Long => Some(format!(
            "{base} {:>8} {:>3} {:>8} {:>8} {:>5}",
            "Flags", "Tos", "Packets", "Bytes", "Flows"
        )),
        FlowFormat::Extended => Some(format!(
            "{base} {:>8} {:>3} {:>8} {:>8} {:>8} {:>8} {:>6} {:>5}",
            "Flags", "Tos", "Packets", "Bytes", "pps", "bps", "Bpp", "Flows"
        )),
        FlowFormat::Csv => {
            let mut h = String::from("source");
            for f in schema::FIELDS {
                h.push(',');
                h.push_str(f.name);
            }
            Some(h)
        }
        FlowFormat::Json | FlowFormat::Fmt(_) => None,
    }
}

/// One flow (`c`: its sums, for aggregated flows; a single flow's own
/// otherwise) appended to `l`.
pub fn flow(
    f: &FlowFormat,
    r: &FlowRecord,
    c: &Counters,
    source: &str,
    plain: bool,
    l: &mut String,
) {
    let base = |l: &mut String| {
        let _ = write!(
            l,
            "{:<23} {:>12} {:<5} {:>45} -> {:<45}",
            time(c.first_ms),
            duration(c.duration_ms()),
            proto_name(r.proto),
            addr_port(r.src_addr, r.src_port, false),
            addr_port(r.dst_addr, r.dst_port, r.proto == 1 || r.proto == 58),
        );
    };
    match f {
        FlowFormat::Line => {
            base(l);
            let _ = write!(
                l,
                " {:>8} {:>8} {:>5}",
                num(c.packets, plain),
                num(c.bytes, plain),
                c.flows
            );
        }
        FlowFormat::Long => {
            base(l);
            let _ = write!(
                l,
                " {:>8} {:>3} {:>8} {:>8} {:>5}",
                tcp_flags(r.tcp_flags),
                r.tos,
                num(c.packets, plain),
                num(c.bytes, plain),
                c.flows
            );
        }
        FlowFormat::Extended => {
            base(l);
            let _ = write!(
                l,
                " {:>8} {:>3} {:>8} {:>8} {:>8} {:>8} {:>6} {:>5}",
                tcp_flags(r.tcp_flags),
                r.tos,
                num(c.packets, plain),
                num(c.bytes, plain),
                num(c.pps(), plain),
                num(c.bps(), plain),
                c.bpp(),
                c.flows
            );
        }
        FlowFormat::Csv => {
            l.push_str(source);
            for fld in schema::FIELDS {
                l.push(',');
                fld.render(r, l);
            }
        }
        FlowFormat::Json => {
            let _ = write!(l, "{{\"source\":\"{}\"", source.replace(['"', '\\'], ""));
            for fld in schema::FIELDS {
                let _ = write!(l, ",\"{}\":", fld.name);
                if fld.kind.is_numeric() {
                    fld.render(r, l);
                } else {
                    l.push('"');
                    fld.render(r, l);
                    l.push('"');
                }
            }
            l.push('}');
        }
        FlowFormat::Fmt(fmt) => fmt.render(r, "", l),
    }
}

/// nfdump's closing line for a flow list.
pub fn summary(t: &Counters) -> String {
    format!(
        "Summary: total flows: {}, total bytes: {}, total packets: {}, avg bps: {}, avg pps: {}, avg bpp: {}",
        t.flows,
        t.bytes,
        t.packets,
        t.bps(),
        t.pps(),
        t.bpp()
    )
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// A `-s` table: `title` is nfdump's column name (`Src IP Addr`), `key_of`
/// prints a row's key.
pub fn table(title: &str, order: Order, t: &Table, n: usize, csv: bool, plain: bool) -> String {
    let mut s = String::new();
    if csv {
        s.push_str("ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp\n");
    } else {
        let _ = writeln!(s, "Top {n} {title} ordered by {order}:");
        let _ = writeln!(
            s,
            "{:<23} {:>16} {:<5} {:>40} {:>14} {:>16} {:>16} {:>8} {:>8} {:>5}",
            "Date first seen",
            "Duration",
            "Proto",
            title,
            "Flows(%)",
            "Packets(%)",
            "Bytes(%)",
            "pps",
            "bps",
            "bpp"
        );
    }
    for (k, c) in &t.rows {
        let key: Vec<String> = k.parts().iter().map(|p| p.to_string()).collect();
        let key = key.join(if csv { "|" } else { "  " });
        let (fp, pp, bp) = (
            pct(c.flows, t.total.flows),
            pct(c.packets, t.total.packets),
            pct(c.bytes, t.total.bytes),
        );
        if csv {
            let _ = writeln!(
                s,
                "{},{},{:.3},any,{key},{},{fp:.1},{},{pp:.1},{},{bp:.1},{},{},{}",
                &time(c.first_ms)[..19],
                &time(c.last_ms)[..19],
                c.duration_ms() as f64 / 1000.0,
                c.flows,
                c.packets,
                c.bytes,
                c.pps(),
                c.bps(),
                c.bpp()
            );
        } else {
            let _ = writeln!(
                s,
                "{:<23} {:>16} {:<5} {:>40} {:>14} {:>16} {:>16} {:>8} {:>8} {:>5}",
                time(c.first_ms),
                duration(c.duration_ms()),
                "any",
                key,
                format!("{}({fp:4.1})", num(c.flows, plain)),
                format!("{}({pp:4.1})", num(c.packets, plain)),
                format!("{}({bp:4.1})", num(c.bytes, plain)),
                num(c.pps(), plain),
                num(c.bps(), plain),
                c.bpp()
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use octoflow_query::stats::TopN;
    use octoflow_query::StatSpec;

    fn rec() -> FlowRecord {
        FlowRecord {
            src_addr: [10, 0, 1, 193].into(),
            dst_addr: [198, 51, 100, 39].into(),
            src_port: 57974,
            dst_port: 22,
            proto: 6,
            tcp_flags: 0x1b,
            packets: 162,
            bytes: 114_696,
            first_ms: 1_795_992_940_955,
            last_ms: 1_795_992_968_000,
            ..FlowRecord::default()
        }
    }

    #[test]
    fn flows_print_as_nfdump_lines_csv_json_and_fmt() {
        let r = rec();
        let mut c = Counters::default();
        c.add(&r);
        let mut l = String::new();
        flow(&FlowFormat::Long, &r, &c, "peer1", true, &mut l);
        assert!(
            l.starts_with("2026-11-29 22:55:40.955 00:00:27.045 TCP"),
            "{l}"
        );
        assert!(l.contains("10.0.1.193:57974 -> 198.51.100.39:22"), "{l}");
        assert!(l.contains("...AP.SF"), "{l}");
        l.clear();
        flow(&FlowFormat::Csv, &r, &c, "peer1", true, &mut l);
        assert!(l.starts_with("peer1,"), "{l}");
        l.clear();
        flow(&FlowFormat::Json, &r, &c, "peer1", true, &mut l);
        assert!(
            l.starts_with("{\"source\":\"peer1\"") && l.contains("\"bytes\":114696"),
            "{l}"
        );
        l.clear();
        let f = FlowFormat::parse("fmt:%sa -> %da %byt").expect("fmt");
        flow(&f, &r, &c, "", true, &mut l);
        assert_eq!(l, "10.0.1.193 -> 198.51.100.39 114696");
        assert!(FlowFormat::parse("wide").is_err());
        assert_eq!(summary(&c), "Summary: total flows: 1, total bytes: 114696, total packets: 162, avg bps: 33927, avg pps: 5, avg bpp: 708");
    }

    #[test]
    fn tables_print_as_nfdump_text_and_csv() {
        let spec: StatSpec = "srcip/bytes".parse().expect("spec");
        let mut t = TopN::new(spec.grouping);
        t.add(&rec());
        let tab = t.table(Order::Bytes, 10);
        let text = table("Src IP Addr", Order::Bytes, &tab, 10, false, false);
        assert!(
            text.starts_with("Top 10 Src IP Addr ordered by bytes:\n"),
            "{text}"
        );
        assert!(
            text.contains("10.0.1.193") && text.contains("1(100.0)"),
            "{text}"
        );
        let csv = table("Src IP Addr", Order::Bytes, &tab, 10, true, true);
        assert_eq!(
            csv.lines().nth(1),
            Some("2026-11-29 22:55:40,2026-11-29 22:56:08,27.045,any,10.0.1.193,1,100.0,162,100.0,114696,100.0,5,33927,708")
        );
    }
}
