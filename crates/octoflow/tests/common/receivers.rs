//! Receivers that octoflow sends to (nfcapd/sfcapd, nfacctd, a dumpcap capture
//! decoded by tshark), and reading back the flows each of them got.

use std::collections::BTreeMap;
use std::net::{IpAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{start_nfcapd, wait_udp, Child};

/// `src,dst,sport,dport,proto` → (packets, bytes).
pub type Flows = BTreeMap<String, (u64, u64)>;

/// Add a record to `m` under its 5-tuple (addresses normalised, protocol names as
/// numbers).
pub fn add(m: &mut Flows, [sa, da, sp, dp, pr]: [&str; 5], pk: u64, by: u64) {
    let pr = match pr.trim() {
        "TCP" => "6",
        "UDP" => "17",
        "ICMP" => "1",
        "ICMP6" => "58",
        p => p,
    };
    let norm = |a: &str| {
        a.trim()
            .parse::<IpAddr>()
            .map(|x| x.to_string())
            .unwrap_or_else(|_| a.trim().to_string())
    };
    let e = m
        .entry(
            [
                norm(sa),
                norm(da),
                sp.trim().into(),
                dp.trim().into(),
                pr.into(),
            ]
            .join(","),
        )
        .or_default();
    e.0 += pk;
    e.1 += by;
}

pub enum Kind {
    Nfcapd(PathBuf),
    Nfacctd(PathBuf),
    /// A capture of the port, decoded by tshark; a plain socket listens on the
    /// port so the sender gets no ICMP port-unreachable.
    Dumpcap(PathBuf, u16, #[allow(dead_code)] Option<UdpSocket>),
}

pub struct Receiver {
    pub child: Child,
    pub kind: Kind,
}

/// What a receiver got.
pub struct Got {
    pub flows: Flows,
    pub records: u64,
    pub seq_failures: u64,
}

impl Receiver {
    pub fn nfcapd(daemon: &str, port: u16, dir: &Path) -> Receiver {
        Receiver {
            child: start_nfcapd(daemon, port, dir),
            kind: Kind::Nfcapd(dir.to_path_buf()),
        }
    }

    pub fn nfacctd(port: u16, dir: &Path) -> Receiver {
        let csv = dir.join(format!("nfacctd-{port}.csv"));
        let conf = dir.join(format!("nfacctd-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "daemonize: false\nnfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nnfacctd_pipe_size: 4194304\n\
                 plugins: print[p]\naggregate[p]: src_host, dst_host, src_port, dst_port, proto\n\
                 print_output[p]: csv\nprint_output_file[p]: {}\nprint_output_file_append[p]: true\n\
                 print_refresh_time[p]: 300\nprint_num_protos[p]: true\n",
                csv.display()
            ),
        )
        .expect("conf");
        let child = Child::spawn(Command::new("nfacctd").arg("-f").arg(&conf));
        wait_udp(port);
        Receiver {
            child,
            kind: Kind::Nfacctd(csv),
        }
    }

    pub fn dumpcap(port: u16, dir: &Path, tcp: bool) -> Receiver {
        let cap = dir.join(format!("cap-{port}.pcap"));
        let log = dir.join(format!("dumpcap-{port}.log"));
        let filter = format!("{} port {port}", if tcp { "tcp" } else { "udp" });
        let child = Child(
            Command::new("dumpcap")
                .args(["-q", "-P", "-i", "lo", "-f", &filter, "-w"])
                .arg(&cap)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log"))
                .spawn()
                .expect("dumpcap (tshark package)"),
        );
        let t = Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Capturing on")
        {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "dumpcap did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200));
        let sink = (!tcp).then(|| UdpSocket::bind(("127.0.0.1", port)).expect("sink socket"));
        Receiver {
            child,
            kind: Kind::Dumpcap(cap, port, sink),
        }
    }

    /// Stop the receiver (it flushes) and read its flows; also nfcapd's sequence
    /// failures.
    pub fn finish(self) -> Got {
        let pid = self.child.0.id().to_string();
        let sig = if matches!(self.kind, Kind::Nfacctd(_)) {
            "-INT"
        } else {
            "-TERM"
        };
        let _ = Command::new("kill").args([sig, &pid]).status();
        let mut child = self.child;
        let _ = child.0.wait();
        let mut m = Flows::new();
        let mut seq_failures = 0;
        let mut records = 0u64;
        match &self.kind {
            Kind::Nfcapd(dir) => {
                let out = Command::new("nfdump")
                    .arg("-R")
                    .arg(dir)
                    .args(["-o", "csv", "-N", "-q"])
                    .output()
                    .expect("nfdump");
                for l in String::from_utf8_lossy(&out.stdout).lines() {
                    let f: Vec<&str> = l.split(',').collect();
                    if f.len() < 13 || f[0] == "ts" {
                        continue;
                    }
                    records += 1;
                    add(
                        &mut m,
                        [f[3], f[4], f[5], f[6], f[7]],
                        f[11].trim().parse().expect("pkts"),
                        f[12].trim().parse().expect("bytes"),
                    );
                }
                let stat = Command::new("nfdump")
                    .arg("-R")
                    .arg(dir)
                    .arg("-I")
                    .output()
                    .expect("nfdump -I");
                for l in String::from_utf8_lossy(&stat.stdout).lines() {
                    if let Some(n) = l.strip_prefix("Sequence failures: ") {
                        seq_failures += n.trim().parse::<u64>().unwrap_or(0);
                    }
                }
            }
            Kind::Nfacctd(csv) => {
                let text = std::fs::read_to_string(csv).unwrap_or_default();
                let mut lines = text.lines();
                let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
                let col = |n: &str| head.iter().position(|h| *h == n);
                if let (Some(sa), Some(da), Some(sp), Some(dp), Some(pr), Some(pk), Some(by)) = (
                    col("SRC_IP"),
                    col("DST_IP"),
                    col("SRC_PORT"),
                    col("DST_PORT"),
                    col("PROTOCOL"),
                    col("PACKETS"),
                    col("BYTES"),
                ) {
                    for l in lines.filter(|l| !l.starts_with("SRC_IP")) {
                        let f: Vec<&str> = l.split(',').collect();
                        records += 1;
                        add(
                            &mut m,
                            [f[sa], f[da], f[sp], f[dp], f[pr]],
                            f[pk].parse().expect("pkts"),
                            f[by].parse().expect("bytes"),
                        );
                    }
                }
            }
            Kind::Dumpcap(cap, port, _) => {
                let fields = [
                    "cflow.srcaddr",
                    "cflow.dstaddr",
                    "cflow.srcport",
                    "cflow.dstport",
                    "cflow.protocol",
                    "cflow.packets",
                    "cflow.octets",
                ];
                for row in tshark_fields(cap, &format!("udp.port=={port}"), &fields) {
                    if row.len() < 7 {
                        continue;
                    }
                    #[allow(clippy::needless_range_loop)]
                    for i in 0..row[0].len() {
                        records += 1;
                        let f = |c: usize| row[c][i].as_str();
                        add(
                            &mut m,
                            [f(0), f(1), f(2), f(3), f(4)],
                            f(5).parse().expect("pkts"),
                            f(6).parse().expect("bytes"),
                        );
                    }
                }
            }
        }
        Got {
            flows: m,
            records,
            seq_failures,
        }
    }
}

/// Decode a capture with tshark (`decode_as` like `udp.port==9995`): one row per
/// packet, one list of values per field.
pub fn tshark_fields(pcap: &Path, decode_as: &str, fields: &[&str]) -> Vec<Vec<Vec<String>>> {
    let mut c = Command::new("tshark");
    c.arg("-r").arg(pcap).args([
        "-d",
        &format!("{decode_as},cflow"),
        "-T",
        "fields",
        "-E",
        "separator=;",
    ]);
    for f in fields {
        c.args(["-e", f]);
    }
    let out = c.output().expect("tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim_matches(';').is_empty())
        .map(|l| {
            l.split(';')
                .map(|v| {
                    v.split(',')
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Stop a dumpcap receiver (SIGTERM, wait) and return its capture.
pub fn stop_capture(rx: Receiver) -> PathBuf {
    let Kind::Dumpcap(pcap, _, _) = rx.kind else {
        panic!("not a capture")
    };
    rx.child.term();
    pcap
}
