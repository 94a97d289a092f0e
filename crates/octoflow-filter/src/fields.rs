//! Which record fields a filter reads, by the schema's names
//! (`octoflow_proto::schema::FIELDS`), plus `source` for `ident`: a columnar
//! reader (the flow store's) then decodes only those columns.

use crate::ast::{AsField, Expr, Side, Test};

impl Expr {
    /// Add the names of the fields this expression tests to `out` (repeats
    /// possible). The empty filter tests none.
    pub fn fields(&self, out: &mut Vec<&'static str>) {
        match self {
            Expr::Any => {}
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.fields(out)),
            Expr::Not(e) => e.fields(out),
            Expr::Test(t) => t.fields(out),
        }
    }
}

/// The field names of a src/dst pair, as `side` picks them.
fn pair(side: Side, names: &'static [&'static str; 2]) -> &'static [&'static str] {
    match side {
        Side::Src => &names[..1],
        Side::Dst => &names[1..],
        Side::Either => &names[..],
    }
}

impl Test {
    fn fields(&self, out: &mut Vec<&'static str>) {
        let times = ["first", "last"];
        match self {
            Test::Inet4 | Test::Inet6 => out.extend(["src_addr", "dst_addr"]),
            Test::Proto(_) => out.push("proto"),
            Test::Addr(s, _) => out.extend(pair(*s, &["src_addr", "dst_addr"])),
            Test::NextHop(_) => out.push("next_hop"),
            Test::Router(_) => out.push("exporter"),
            Test::BgpNextHop(_) => out.push("bgp_next_hop"),
            Test::Country(s, _) => out.extend(pair(*s, &["src_country", "dst_country"])),
            Test::Port(s, _) | Test::PortIn(s, _) => {
                out.extend(pair(*s, &["src_port", "dst_port"]))
            }
            Test::As(AsField::Side(s), _) | Test::AsIn(AsField::Side(s), _) => {
                out.extend(pair(*s, &["src_as", "dst_as"]))
            }
            Test::As(..) | Test::AsIn(..) | Test::Reverse(_) | Test::Flows(_) => {}
            Test::Packets(_) => out.push("packets"),
            Test::Bytes(_) => out.push("bytes"),
            Test::Flags(_) => out.push("tcp_flags"),
            Test::Tos(_) => out.push("tos"),
            Test::Interface(s, _) => out.extend(pair(*s, &["input_if", "output_if"])),
            Test::Duration(_) => out.extend(times),
            Test::Pps(_) => out.extend(times.into_iter().chain(["packets"])),
            Test::Bps(_) => out.extend(times.into_iter().chain(["bytes"])),
            Test::Bpp(_) => out.extend(["bytes", "packets"]),
            Test::EngineType(_) | Test::EngineId(_) | Test::Domain(_) => out.push("domain"),
            Test::Ident(_) => out.push("source"),
            Test::Vlan(s, _) => out.extend(pair(*s, &["src_vlan", "dst_vlan"])),
            Test::Mac(s, _) => out.extend(pair(*s, &["src_mac", "dst_mac"])),
            Test::Mask(s, _) => out.extend(pair(*s, &["src_mask", "dst_mask"])),
            Test::IcmpType(_) => out.extend(["proto", "icmp_type"]),
            Test::IcmpCode(_) => out.extend(["proto", "icmp_code"]),
            Test::FlowDir(_) => out.push("direction"),
            Test::Sampling(_) => out.push("sampling_interval"),
        }
    }
}

#[cfg(test)]
mod tests {
    use octoflow_proto::schema::FIELDS;

    use crate::Filter;

    fn fields(f: &str) -> Vec<&'static str> {
        let mut v = Vec::new();
        Filter::parse(f).expect("filter").expr().fields(&mut v);
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn a_filter_names_the_fields_it_tests() {
        assert!(fields("").is_empty());
        assert_eq!(
            fields("proto tcp and dst port > 1024 and src net 10.0.0.0/8"),
            ["dst_port", "proto", "src_addr"]
        );
        assert_eq!(
            fields("not port 53 or ident x"),
            ["dst_port", "source", "src_port"]
        );
        assert_eq!(fields("bps > 1000"), ["bytes", "first", "last"]);
        assert_eq!(fields("in if 3 and src vlan 5"), ["input_if", "src_vlan"]);
    }

    #[test]
    fn every_name_is_a_schema_field_or_the_source() {
        for f in [
            "inet",
            "proto 6",
            "ip 10.0.0.1",
            "next ip 10.0.0.1",
            "router ip 10.0.0.1",
            "port 80",
            "port in [80]",
            "as 3",
            "packets 1",
            "bytes 1",
            "flags S",
            "tos 1",
            "if 1",
            "duration 1",
            "pps 1",
            "bpp 1",
            "engine-id 1",
            "vlan 1",
            "mac 00:11:22:33:44:55",
            "mask 24",
            "icmp-type 8",
            "icmp-code 0",
            "flowdir ingress",
            "sampling 1",
            "ident a",
        ] {
            for n in fields(f) {
                assert!(
                    n == "source" || FIELDS.iter().any(|x| x.name == n),
                    "{f}: {n}"
                );
            }
        }
    }
}
