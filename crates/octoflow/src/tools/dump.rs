//! `octoflow dump`: decode export traffic, live or from a capture, and print flows
//! as text, CSV, JSON lines or an nfdump-like `--format`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use octoflow_proto::schema::{self, Field, Value};
use octoflow_proto::{Batch, Decoder, FlowRecord, Limits, Version};
use octoflow_query::stats::proto_name;

use crate::tools::pcap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Csv,
    Json,
}

/// The one output column (and `--format` token) that is not a field of the record
/// (those come from [`schema::FIELDS`]): the datagram's export version.
const VERSION_KEY: &str = "version";
const VERSION_TOKEN: &str = "%ver";

/// Every `--format` token and the field it stands for (`None`: the version).
fn tokens() -> impl Iterator<Item = (&'static str, Option<&'static Field>)> {
    schema::all()
        .filter_map(|f| Some((f.token?, Some(f))))
        .chain([(VERSION_TOKEN, None)])
}

enum Piece {
    Lit(String),
    Field(&'static Field),
    Version,
}

/// A parsed `--format` string: literal text and `%` tokens (longest token first).
pub struct Format(Vec<Piece>);

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        let s = s.strip_prefix("fmt:").unwrap_or(s);
        let mut out = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        'outer: while let Some(c) = rest.chars().next() {
            if c == '%' {
                let mut best: Option<(&str, Option<&'static Field>)> = None;
                for (tok, field) in tokens() {
                    if rest.starts_with(tok) && best.is_none_or(|(b, _)| tok.len() > b.len()) {
                        best = Some((tok, field));
                    }
                }
                if let Some((tok, field)) = best {
                    if !lit.is_empty() {
                        out.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    out.push(field.map_or(Piece::Version, Piece::Field));
                    rest = &rest[tok.len()..];
                    continue 'outer;
                }
                let known: Vec<_> = tokens().map(|t| t.0).collect();
                return Err(format!(
                    "--format: unknown token at {:?}; known tokens: {}",
                    rest.chars().take(6).collect::<String>(),
                    known.join(" ")
                ));
            }
            lit.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !lit.is_empty() {
            out.push(Piece::Lit(lit));
        }
        Ok(Format(out))
    }

    /// Append `r` in this format (`version` for `%ver`).
    pub fn render(&self, r: &FlowRecord, version: &str, l: &mut String) {
        for p in &self.0 {
            match p {
                Piece::Lit(s) => l.push_str(s),
                Piece::Field(f) => f.render(r, l),
                Piece::Version => l.push_str(version),
            }
        }
    }
}

/// What `dump` counts, printed on stderr at the end.
#[derive(Default)]
pub struct Summary {
    pub datagrams: u64,
    pub by_version: BTreeMap<&'static str, u64>,
    pub flows: u64,
    pub errors: BTreeMap<&'static str, u64>,
    pub template_misses: u64,
    pub sequence_gaps: u64,
    pub counter_samples: u64,
    pub skipped_samples: u64,
    pub printed: u64,
}

/// Prints decoded batches in the chosen shape.
pub struct Printer<W: Write> {
    out: W,
    output: Output,
    format: Option<Format>,
    header_done: bool,
    line: String,
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, output: Output, format: Option<Format>) -> Self {
        Printer {
            out,
            output,
            format,
            header_done: false,
            line: String::new(),
        }
    }

    pub fn record(&mut self, v: Version, r: &FlowRecord) -> io::Result<()> {
        let l = &mut self.line;
        l.clear();
        if let Some(fmt) = &self.format {
            fmt.render(r, v.name(), l);
        } else {
            match self.output {
                Output::Csv => {
                    if !self.header_done {
                        write!(self.out, "{VERSION_KEY}")?;
                        for f in schema::FIELDS {
                            write!(self.out, ",{}", f.name)?;
                        }
                        writeln!(self.out)?;
                        self.header_done = true;
                    }
                    l.push_str(v.name());
                    for f in schema::FIELDS {
                        l.push(',');
                        f.render(r, l);
                    }
                }
                Output::Json => {
                    let _ = write!(l, "{{\"{VERSION_KEY}\":\"{}\"", v.name());
                    for f in schema::FIELDS {
                        let _ = write!(l, ",\"{}\":", f.name);
                        if f.kind.is_numeric() {
                            f.render(r, l);
                        } else {
                            l.push('"');
                            f.render(r, l);
                            l.push('"');
                        }
                    }
                    l.push('}');
                }
                Output::Text => {
                    if !self.header_done {
                        writeln!(
                            self.out,
                            "{:<24} {:>8} {:<5} {:>45} -> {:<45} {:>8} {:>10} {:>6}",
                            "Date first seen",
                            "Duration",
                            "Proto",
                            "Src IP Addr:Port",
                            "Dst IP Addr:Port",
                            "Packets",
                            "Bytes",
                            "Flags"
                        )?;
                        self.header_done = true;
                    }
                    let _ = write!(
                        l,
                        "{:<24} {:>8} {:<5} {:>45} -> {:<45} {:>8} {:>10} {:>6}",
                        Value::TimeMs(r.first_ms).to_string(),
                        Value::DurationMs(r.last_ms.saturating_sub(r.first_ms)).to_string(),
                        proto_name(r.proto),
                        Value::AddrPort(r.src_addr, r.src_port).to_string(),
                        Value::AddrPort(r.dst_addr, r.dst_port).to_string(),
                        r.packets,
                        r.bytes,
                        tcp_flags(r.tcp_flags)
                    );
                }
            }
        }
        writeln!(self.out, "{}", self.line)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn tcp_flags(f: u8) -> String {
    let names = ['F', 'S', 'R', 'P', 'A', 'U', 'E', 'C'];
    let mut s: String = ".".repeat(6);
    for (i, n) in names.iter().enumerate().take(6) {
        if f & (1 << i) != 0 {
            s.replace_range(5 - i..6 - i, &n.to_string());
        }
    }
    s
}

impl Summary {
    pub fn add(&mut self, v: Version, b: &Batch) {
        self.datagrams += 1;
        *self.by_version.entry(v.name()).or_default() += 1;
        self.flows += b.records.len() as u64;
        self.template_misses += b.template_misses as u64;
        self.sequence_gaps += b.sequence_gap as u64;
        self.counter_samples += b.counter_samples.len() as u64;
        self.skipped_samples += b.skipped as u64;
    }

    pub fn print(&self, dec: &Decoder, extra: &str) {
        let mut s = format!("datagrams: {}", self.datagrams);
        for (v, n) in &self.by_version {
            let name = match *v {
                "5" => "v5",
                "9" => "v9",
                "10" => "ipfix",
                _ => "sflow",
            };
            let _ = write!(s, " ({name} {n})");
        }
        let _ = write!(s, "\nflows: {}", self.flows);
        let errs: u64 = self.errors.values().sum();
        let _ = write!(s, "\nerrors: {errs}");
        for (r, n) in &self.errors {
            let _ = write!(s, " ({r} {n})");
        }
        let st = dec.cache.stats;
        let _ = write!(
            s,
            "\ntemplates learnt: {} (withdrawn {}, now known {})\ntemplate misses: {} (held {}, released {}, dropped {})\nsequence gaps: {}",
            st.templates_learnt,
            st.templates_withdrawn,
            dec.cache.template_count(),
            self.template_misses,
            st.held,
            st.released,
            st.held_dropped,
            self.sequence_gaps
        );
        if self.counter_samples + self.skipped_samples > 0 {
            let _ = write!(
                s,
                "\nsflow counter samples: {}, non-IP flow samples: {}",
                self.counter_samples, self.skipped_samples
            );
        }
        eprintln!("{s}{extra}");
    }
}

/// Options of one dump run.
pub struct DumpArgs {
    pub listen: Option<SocketAddr>,
    pub pcap: Option<std::path::PathBuf>,
    pub count: Option<u64>,
    pub duration: Option<f64>,
    pub port: Option<u16>,
    pub output: Output,
    pub format: Option<String>,
}

pub fn run(a: DumpArgs) -> Result<(), String> {
    let format = a.format.as_deref().map(Format::parse).transpose()?;
    let stdout = io::stdout();
    let mut p = Printer::new(io::BufWriter::new(stdout.lock()), a.output, format);
    let mut dec = Decoder::new(Limits::default());
    let mut batch = Batch::default();
    let mut sum = Summary::default();
    let limit = a.count.unwrap_or(u64::MAX);
    let mut handle = |dec: &mut Decoder,
                      sum: &mut Summary,
                      p: &mut Printer<_>,
                      from: IpAddr,
                      data: &[u8],
                      now: u64|
     -> io::Result<bool> {
        match dec.decode(from, data, now, &mut batch) {
            Ok(v) => {
                sum.add(v, &batch);
                for r in &batch.records {
                    if sum_flows_done(sum, limit) {
                        return Ok(true);
                    }
                    p.record(v, r)?;
                    sum.printed += 1;
                }
            }
            Err(e) => *sum.errors.entry(e.reason()).or_default() += 1,
        }
        Ok(sum_flows_done(sum, limit))
    };
    let io_err = |e: io::Error| format!("writing output: {e}");
    if let Some(path) = &a.pcap {
        let data = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let mut res = Ok(());
        let mut done = false;
        let skipped = pcap::for_each_udp(&data, |u| {
            if done || res.is_err() || a.port.is_some_and(|port| port != u.dst_port) {
                return;
            }
            match handle(&mut dec, &mut sum, &mut p, u.src, u.payload, u.ts_ms) {
                Ok(d) => done = d,
                Err(e) => res = Err(e),
            }
        })
        .map_err(|e| format!("{}: {e}", path.display()))?;
        res.map_err(io_err)?;
        p.flush().map_err(io_err)?;
        sum.print(
            &dec,
            &format!("\ncapture: {} non-UDP frames skipped", skipped.non_udp),
        );
        return Ok(());
    }
    let Some(listen) = a.listen else {
        return Err("dump needs --listen HOST:PORT or --pcap FILE".into());
    };
    let sock = UdpSocket::bind(listen).map_err(|e| format!("binding {listen}: {e}"))?;
    eprintln!("listening on {listen}");
    let start = Instant::now();
    let deadline = a.duration.map(|s| start + Duration::from_secs_f64(s));
    let mut buf = vec![0u8; 65536];
    loop {
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(w) if !w.is_zero() => w,
                _ => break,
            },
            None => Duration::from_millis(500),
        };
        sock.set_read_timeout(Some(wait.min(Duration::from_millis(500))))
            .map_err(|e| format!("socket: {e}"))?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                if handle(&mut dec, &mut sum, &mut p, from.ip(), &buf[..n], now).map_err(io_err)? {
                    break;
                }
                p.flush().map_err(io_err)?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(format!("receiving on {listen}: {e}")),
        }
    }
    p.flush().map_err(io_err)?;
    sum.print(&dec, "");
    Ok(())
}

fn sum_flows_done(s: &Summary, limit: u64) -> bool {
    s.printed >= limit
}

#[cfg(test)]
mod tests {
    use super::*;
    use octoflow_proto::Direction;

    fn samples() -> Vec<FlowRecord> {
        let a = FlowRecord {
            icmp_type: 0,
            icmp_code: 0,
            ..FlowRecord::example()
        };
        let b = FlowRecord {
            src_addr: "2001:db8::1".parse().expect("ip"),
            dst_addr: "2001:db8:ffff::2".parse().expect("ip"),
            dst_port: 0x0300,
            proto: 58,
            icmp_type: 3,
            icmp_code: 0,
            packets: 1,
            bytes: 1500,
            first_ms: 0,
            last_ms: 86_400_000 * 400 + 1,
            direction: Direction::Ingress,
            exporter: "2001:db8::fe".parse().expect("ip"),
            next_hop: "fe80::1".parse().expect("ip"),
            ..FlowRecord::default()
        };
        vec![a, b, FlowRecord::default()]
    }

    fn print(output: Output, format: Option<&str>) -> String {
        let mut out = Vec::new();
        {
            let fmt = format.map(|f| Format::parse(f).expect("format"));
            let mut p = Printer::new(&mut out, output, fmt);
            for (v, r) in [Version::Ipfix, Version::V5, Version::Sflow]
                .into_iter()
                .zip(samples())
            {
                p.record(v, &r).expect("print");
            }
            p.flush().expect("flush");
        }
        String::from_utf8(out).expect("utf-8")
    }

    /// Every `--format` token, in the order they were listed before the schema.
    const ALL_TOKENS: &str = "fmt:%ts|%te|%td|%pr|%sap|%dap|%sa|%da|%sp|%dp|%pkt|%byt|%flg|%tos|%in|%out|%sas|%das|%smk|%dmk|%nh|%svln|%dvln|%smc|%dmc|%dir|%sr|%ra|%eng|%ver|x";

    /// What `dump` prints, pinned byte for byte as it was printed before the fields
    /// came from `octoflow_proto::schema`.
    #[test]
    fn output_is_pinned() {
        assert_eq!(
            print(Output::Csv, None),
            concat!(
                r#"version,exporter,domain,first,last,src_addr,dst_addr,src_port,dst_port,proto,tos,tcp_flags,packets,bytes,input_if,output_if,src_as,dst_as,src_mask,dst_mask,next_hop,src_vlan,dst_vlan,src_mac,dst_mac,direction,sampling_interval,icmp_type,icmp_code,bgp_next_hop,src_country,dst_country"#,
                "\n",
                r#"10,198.51.100.7,258,2025-12-31T23:59:50.123Z,2025-12-31T23:59:59.007Z,10.0.0.1,192.0.2.200,51234,443,6,40,27,12,9000,4,70000,64512,4200000000,24,16,10.0.0.254,10,4094,02:00:5e:10:ab:cd,ff:ee:00:01:02:03,egress,1000,0,0,192.0.2.1,SE,JP"#,
                "\n",
                r#"5,2001:db8::fe,0,1970-01-01T00:00:00.000Z,1971-02-05T00:00:00.001Z,2001:db8::1,2001:db8:ffff::2,0,768,58,0,0,1,1500,0,0,0,0,0,0,fe80::1,0,0,00:00:00:00:00:00,00:00:00:00:00:00,ingress,0,3,0,0.0.0.0,,"#,
                "\n",
                r#"sflow,0.0.0.0,0,1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.000Z,0.0.0.0,0.0.0.0,0,0,0,0,0,0,0,0,0,0,0,0,0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,unknown,0,0,0,0.0.0.0,,"#,
                "\n",
            ),
            "csv"
        );
        assert_eq!(
            print(Output::Json, None),
            concat!(
                r#"{"version":"10","exporter":"198.51.100.7","domain":258,"first":"2025-12-31T23:59:50.123Z","last":"2025-12-31T23:59:59.007Z","src_addr":"10.0.0.1","dst_addr":"192.0.2.200","src_port":51234,"dst_port":443,"proto":6,"tos":40,"tcp_flags":27,"packets":12,"bytes":9000,"input_if":4,"output_if":70000,"src_as":64512,"dst_as":4200000000,"src_mask":24,"dst_mask":16,"next_hop":"10.0.0.254","src_vlan":10,"dst_vlan":4094,"src_mac":"02:00:5e:10:ab:cd","dst_mac":"ff:ee:00:01:02:03","direction":"egress","sampling_interval":1000,"icmp_type":0,"icmp_code":0,"bgp_next_hop":"192.0.2.1","src_country":"SE","dst_country":"JP"}"#,
                "\n",
                r#"{"version":"5","exporter":"2001:db8::fe","domain":0,"first":"1970-01-01T00:00:00.000Z","last":"1971-02-05T00:00:00.001Z","src_addr":"2001:db8::1","dst_addr":"2001:db8:ffff::2","src_port":0,"dst_port":768,"proto":58,"tos":0,"tcp_flags":0,"packets":1,"bytes":1500,"input_if":0,"output_if":0,"src_as":0,"dst_as":0,"src_mask":0,"dst_mask":0,"next_hop":"fe80::1","src_vlan":0,"dst_vlan":0,"src_mac":"00:00:00:00:00:00","dst_mac":"00:00:00:00:00:00","direction":"ingress","sampling_interval":0,"icmp_type":3,"icmp_code":0,"bgp_next_hop":"0.0.0.0","src_country":"","dst_country":""}"#,
                "\n",
                r#"{"version":"sflow","exporter":"0.0.0.0","domain":0,"first":"1970-01-01T00:00:00.000Z","last":"1970-01-01T00:00:00.000Z","src_addr":"0.0.0.0","dst_addr":"0.0.0.0","src_port":0,"dst_port":0,"proto":0,"tos":0,"tcp_flags":0,"packets":0,"bytes":0,"input_if":0,"output_if":0,"src_as":0,"dst_as":0,"src_mask":0,"dst_mask":0,"next_hop":"0.0.0.0","src_vlan":0,"dst_vlan":0,"src_mac":"00:00:00:00:00:00","dst_mac":"00:00:00:00:00:00","direction":"unknown","sampling_interval":0,"icmp_type":0,"icmp_code":0,"bgp_next_hop":"0.0.0.0","src_country":"","dst_country":""}"#,
                "\n",
            ),
            "json"
        );
        assert_eq!(
            print(Output::Text, None),
            concat!(
                r#"Date first seen          Duration Proto                              Src IP Addr:Port -> Dst IP Addr:Port                               Packets      Bytes  Flags"#,
                "\n",
                r#"2025-12-31T23:59:50.123Z    8.884 TCP                                  10.0.0.1:51234 -> 192.0.2.200:443                                     12       9000 .AP.SF"#,
                "\n",
                r#"1970-01-01T00:00:00.000Z 34560000.001 ICMP6                               [2001:db8::1]:0 -> [2001:db8:ffff::2]:768                               1       1500 ......"#,
                "\n",
                r#"1970-01-01T00:00:00.000Z    0.000 0                                         0.0.0.0:0 -> 0.0.0.0:0                                            0          0 ......"#,
                "\n",
            ),
            "text"
        );
        assert_eq!(
            print(Output::Text, Some(ALL_TOKENS)),
            concat!(
                r#"2025-12-31T23:59:50.123Z|2025-12-31T23:59:59.007Z|8.884|6|10.0.0.1:51234|192.0.2.200:443|10.0.0.1|192.0.2.200|51234|443|12|9000|27|40|4|70000|64512|4200000000|24|16|10.0.0.254|10|4094|02:00:5e:10:ab:cd|ff:ee:00:01:02:03|egress|1000|198.51.100.7|258|10|x"#,
                "\n",
                r#"1970-01-01T00:00:00.000Z|1971-02-05T00:00:00.001Z|34560000.001|58|[2001:db8::1]:0|[2001:db8:ffff::2]:768|2001:db8::1|2001:db8:ffff::2|0|768|1|1500|0|0|0|0|0|0|0|0|fe80::1|0|0|00:00:00:00:00:00|00:00:00:00:00:00|ingress|0|2001:db8::fe|0|5|x"#,
                "\n",
                r#"1970-01-01T00:00:00.000Z|1970-01-01T00:00:00.000Z|0.000|0|0.0.0.0:0|0.0.0.0:0|0.0.0.0|0.0.0.0|0|0|0|0|0|0|0|0|0|0|0|0|0.0.0.0|0|0|00:00:00:00:00:00|00:00:00:00:00:00|unknown|0|0.0.0.0|0|sflow|x"#,
                "\n",
            ),
            "format"
        );
    }
}
