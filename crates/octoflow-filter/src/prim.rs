//! nfdump's filter primitives (nfdump(1), "FILTER"), each read into a
//! [`Test`]. The ones for fields octoflow does not keep (tunnels, MPLS,
//! payload, NSEL/NEL, GeoIP, latency) are refused by name rather than read as
//! something else.

use octoflow_prefix::{Lpm, Prefix};
use octoflow_proto::Direction;

use crate::ast::{AsField, Compare, Expr, Nets, Side, Test};
use crate::parse::Parser;
use crate::value;
use crate::FilterError;

/// Primitives nfdump has and octoflow refuses (no such field in a flow record).
const UNSUPPORTED: &[&str] = &[
    "tunip", "tun", "mpls", "payload", "asa", "nat", "xip", "xport", "xnet", "nip", "nport",
    "ingress", "egress", "pblock", "client", "server", "count", "sysid", "latency", "@include",
    "vrf",
];

fn nets(list: &[Prefix]) -> Nets {
    let items: Vec<(Prefix, ())> = list.iter().map(|p| (*p, ())).collect();
    Nets(Box::new(Lpm::new(&items)))
}

fn host(a: std::net::IpAddr) -> Prefix {
    Prefix {
        addr: a,
        len: if a.is_ipv4() { 32 } else { 128 },
    }
}

fn test(t: Test) -> Result<Expr, FilterError> {
    Ok(Expr::Test(t))
}

impl Parser<'_> {
    pub(crate) fn primitive(&mut self) -> Result<Expr, FilterError> {
        let column = self.column();
        let (w, _) = self.word(
            "a filter primitive (e.g. 'proto tcp', 'src net 10.0.0.0/8', 'port 443'), '(' or 'not'",
        )?;
        let k = w.to_ascii_lowercase();
        match k.as_str() {
            "any" => Ok(Expr::Any),
            "inet" | "ipv4" => test(Test::Inet4),
            "inet6" | "ipv6" => test(Test::Inet6),
            "proto" => {
                let (p, c) = self.word("a protocol name or number")?;
                match value::protocol(&p) {
                    Some(n) => test(Test::Proto(n)),
                    None => Err(FilterError {
                        column: c,
                        message: format!("'{p}' is not a protocol (a name such as tcp, udp, icmp, or 0-255)"),
                    }),
                }
            }
            "src" => self.sided(Side::Src),
            "dst" => self.sided(Side::Dst),
            "ip" | "host" | "net" | "port" | "as" | "vlan" | "mask" | "mac" => {
                self.field(Side::Either, &k)
            }
            "in" | "out" => self.in_out(&k),
            "if" => self.interface(Side::Either),
            "prev" | "next" => {
                if self.keyword("as") {
                    let f = if k == "prev" { AsField::Prev } else { AsField::Next };
                    return self.autonomous_system(f);
                }
                if k == "next" && self.keyword("ip") {
                    return test(Test::NextHop(nets(&[self.address()?])));
                }
                Err(self.error(format!("expected 'as' after '{k}'{}, {}", if k == "next" { " (or 'ip')" } else { "" }, self.found())))
            }
            "bgpnext" => {
                if !self.keyword("ip") {
                    return Err(self.error(format!("expected 'ip' after 'bgpnext', {}", self.found())));
                }
                test(Test::BgpNextHop(nets(&[self.address()?])))
            }
            "geo" => self.field(Side::Either, "geo"),
            "router" => {
                if !self.keyword("ip") {
                    return Err(self.error(format!("expected 'ip' after 'router', {}", self.found())));
                }
                test(Test::Router(nets(&[self.address()?])))
            }
            "packets" => Ok(Expr::Test(Test::Packets(self.scaled()?))),
            "bytes" => Ok(Expr::Test(Test::Bytes(self.scaled()?))),
            "flows" | "flow" => Ok(Expr::Test(Test::Flows(self.scaled()?))),
            "duration" => Ok(Expr::Test(Test::Duration(self.scaled()?))),
            "pps" => Ok(Expr::Test(Test::Pps(self.scaled()?))),
            "bps" => Ok(Expr::Test(Test::Bps(self.scaled()?))),
            "bpp" => Ok(Expr::Test(Test::Bpp(self.scaled()?))),
            "tos" => Ok(Expr::Test(Test::Tos(self.plain(255, "a TOS value (0-255)")?))),
            "sampling" => Ok(Expr::Test(Test::Sampling(self.scaled()?))),
            "engine-type" => Ok(Expr::Test(Test::EngineType(self.plain(255, "an engine type (0-255)")?))),
            "engine-id" => Ok(Expr::Test(Test::EngineId(self.plain(255, "an engine id (0-255)")?))),
            "observation" => {
                if !(self.keyword("domain") && self.keyword("id")) {
                    return Err(self.error(format!("expected 'domain id' after 'observation', {}", self.found())));
                }
                Ok(Expr::Test(Test::Domain(self.plain(u32::MAX as u64, "an observation domain id")?)))
            }
            "flags" => {
                let (f, c) = self.word("TCP flags (letters of FSRPAUEC, or X)")?;
                match value::tcp_flags(&f) {
                    Some(f) => test(Test::Flags(f)),
                    None => Err(FilterError { column: c, message: format!("'{f}' is not TCP flags: use the letters F S R P A U E C (X for all)") }),
                }
            }
            "ident" => {
                let (name, _) = self.word("a source name")?;
                test(Test::Ident(name))
            }
            "icmp-type" => Ok(Expr::Test(Test::IcmpType(self.plain(255, "an ICMP type (0-255)")?.value as u8))),
            "icmp-code" => Ok(Expr::Test(Test::IcmpCode(self.plain(255, "an ICMP code (0-255)")?.value as u8))),
            "flowdir" => {
                let (d, c) = self.word("ingress or egress")?;
                match d.to_ascii_lowercase().as_str() {
                    "ingress" | "0" => test(Test::FlowDir(Direction::Ingress)),
                    "egress" | "1" => test(Test::FlowDir(Direction::Egress)),
                    _ => Err(FilterError { column: c, message: format!("'{d}' is not a flow direction (ingress, egress, 0 or 1)") }),
                }
            }
            _ if UNSUPPORTED.contains(&k.as_str()) => Err(FilterError {
                column,
                message: format!("nfdump's '{w}' filter is not supported: octoflow's flow records have no such field"),
            }),
            _ => Err(FilterError {
                column,
                message: format!("unknown filter primitive '{w}'"),
            }),
        }
    }

    /// After `src` or `dst`.
    fn sided(&mut self, side: Side) -> Result<Expr, FilterError> {
        let w = self.peek_word().unwrap_or_default();
        match w.as_str() {
            "ip" | "host" | "net" | "port" | "as" | "vlan" | "mask" | "mac" | "geo" => {
                self.keyword(&w);
                self.field(side, &w)
            }
            _ => Err(self.error(format!(
                "expected ip, host, net, port, as, vlan, mask, mac or geo after '{}', {}",
                if side == Side::Src { "src" } else { "dst" },
                self.found()
            ))),
        }
    }

    /// `ip|host|net|port|as|vlan|mask|mac …` for `side`.
    fn field(&mut self, side: Side, k: &str) -> Result<Expr, FilterError> {
        match k {
            "ip" | "host" => {
                if self.keyword("in") {
                    if !self.list_opens() {
                        return Err(self.error(format!(
                            "expected '[' to start the address list, {}",
                            self.found()
                        )));
                    }
                    let l = self.list("an address or network", value::network)?;
                    return test(Test::Addr(side, nets(&l)));
                }
                test(Test::Addr(side, nets(&[self.address()?])))
            }
            "net" => test(Test::Addr(side, nets(&[self.network()?]))),
            "port" => {
                if self.keyword("in") {
                    if !self.list_opens() {
                        return Err(self.error(format!(
                            "expected '[' to start the port list, {}",
                            self.found()
                        )));
                    }
                    let mut l: Vec<u16> = self.list("a port (0-65535)", |s| {
                        value::bounded(s, 65535).map(|n| n as u16)
                    })?;
                    l.sort_unstable();
                    return test(Test::PortIn(side, l));
                }
                test(Test::Port(side, self.plain(65535, "a port (0-65535)")?))
            }
            "as" => self.autonomous_system(AsField::Side(side)),
            "vlan" => test(Test::Vlan(
                side,
                self.plain(65535, "a VLAN id")?.value as u16,
            )),
            "mask" => test(Test::Mask(
                side,
                self.plain(128, "mask bits (0-128)")?.value as u8,
            )),
            "geo" => {
                let (cc, c) = self.word("a country code (e.g. SE)")?;
                match <[u8; 2]>::try_from(cc.to_ascii_uppercase().as_bytes()) {
                    Ok(code) if code.iter().all(u8::is_ascii_uppercase) => {
                        test(Test::Country(side, code))
                    }
                    _ => Err(FilterError {
                        column: c,
                        message: format!(
                            "'{cc}' is not a two-letter country code (ISO 3166, e.g. SE)"
                        ),
                    }),
                }
            }
            _ => {
                let (m, c) = self.word("a MAC address (aa:bb:cc:dd:ee:ff)")?;
                match value::mac(&m) {
                    Some(m) => test(Test::Mac(side, m)),
                    None => Err(FilterError {
                        column: c,
                        message: format!("'{m}' is not a MAC address (aa:bb:cc:dd:ee:ff)"),
                    }),
                }
            }
        }
    }

    /// `in …` / `out …`: interfaces, MACs by direction, and counters.
    fn in_out(&mut self, k: &str) -> Result<Expr, FilterError> {
        let side = if k == "in" { Side::Src } else { Side::Dst };
        if self.keyword("if") {
            return self.interface(side);
        }
        // nfdump's `in src mac`, `out dst mac`: octoflow keeps the source MAC of
        // the ingress side and the destination MAC (IEs 56 and 80).
        if self.keyword("src") || self.keyword("dst") {
            if !self.keyword("mac") {
                return Err(self.error(format!("expected 'mac', {}", self.found())));
            }
            return self.field(side, "mac");
        }
        if self.keyword("mac") {
            return self.field(side, "mac");
        }
        for (word, packets) in [("packets", true), ("bytes", false)] {
            if self.keyword(word) {
                let c = self.scaled()?;
                // One direction per record: `in` counters are the record's own; a
                // unidirectional record has no `out` (reverse) counters, i.e. 0.
                return test(match (k, packets) {
                    ("in", true) => Test::Packets(c),
                    ("in", false) => Test::Bytes(c),
                    _ => Test::Reverse(c),
                });
            }
        }
        Err(self.error(format!(
            "expected if, mac, src mac, dst mac, packets or bytes after '{k}', {}",
            self.found()
        )))
    }

    fn interface(&mut self, side: Side) -> Result<Expr, FilterError> {
        let n = self.plain(u32::MAX as u64, "an interface index")?;
        test(Test::Interface(side, n.value as u32))
    }

    fn autonomous_system(&mut self, f: AsField) -> Result<Expr, FilterError> {
        if self.keyword("in") {
            if !self.list_opens() {
                return Err(self.error(format!(
                    "expected '[' to start the AS list, {}",
                    self.found()
                )));
            }
            let mut l: Vec<u32> = self.list("an AS number", |s| {
                value::bounded(s, u32::MAX as u64).map(|n| n as u32)
            })?;
            l.sort_unstable();
            return test(Test::AsIn(f, l));
        }
        test(Test::As(f, self.plain(u32::MAX as u64, "an AS number")?))
    }

    /// An address (`ip`, `host`, `next ip`, `router ip`).
    fn address(&mut self) -> Result<Prefix, FilterError> {
        let (a, c) = self.word("an IP address")?;
        value::address(&a).map(host).ok_or(FilterError {
            column: c,
            message: format!("'{a}' is not an IP address (host names are not looked up)"),
        })
    }

    /// `A/len`, abbreviated `A.B/len`, or `A.B.C.D M.M.M.M`.
    fn network(&mut self) -> Result<Prefix, FilterError> {
        let (n, c) = self.word("a network (10.0.0.0/8, 172.16/12 or 10.0.0.0 255.0.0.0)")?;
        let bad = |m: String| FilterError {
            column: c,
            message: m,
        };
        if n.contains('/') {
            return value::network(&n).ok_or_else(|| {
                bad(format!(
                    "'{n}' is not a network (10.0.0.0/8, 2001:db8::/32)"
                ))
            });
        }
        if let Some(len) = self.peek_word().as_deref().and_then(value::netmask) {
            self.keyword(&self.peek_word().unwrap_or_default());
            let p = value::network(&format!("{n}/{len}"));
            return p
                .filter(|p| p.addr.is_ipv4())
                .ok_or_else(|| bad(format!("'{n}' is not an IPv4 network for a netmask")));
        }
        Err(bad(format!(
            "'{n}' needs a prefix length ('{n}/24') or a netmask ('{n} 255.255.255.0')"
        )))
    }

    /// An optional comparator and a number with an optional k/m/g scale.
    fn scaled(&mut self) -> Result<Compare, FilterError> {
        let cmp = self.comparison();
        let (n, c) = self.word("a number (k, m, g scale it by 10³, 10⁶, 10⁹)")?;
        let value = value::number(&n).ok_or(FilterError {
            column: c,
            message: format!("'{n}' is not a number (k, m, g scale it by 10³, 10⁶, 10⁹)"),
        })?;
        Ok(Compare { cmp, value })
    }

    /// An optional comparator and a plain number up to `max`.
    fn plain(&mut self, max: u64, what: &str) -> Result<Compare, FilterError> {
        let cmp = self.comparison();
        let (n, c) = self.word(what)?;
        let value = value::bounded(&n, max).ok_or(FilterError {
            column: c,
            message: format!("'{n}' is not {what}"),
        })?;
        Ok(Compare { cmp, value })
    }
}
