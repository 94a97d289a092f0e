//! The whole configuration: loading, defaults, and errors with key paths.

use super::*;
use crate::collector::config::Versions;
use crate::output::OutputKind;
use octoflow_proto::Version;
use std::time::Duration;

const ORIGINAL: &str = include_str!("../../../../examples/octoflow-original.yaml");

fn errors(y: &str) -> Vec<String> {
    Config::parse(y).expect_err("should be refused")
}

#[test]
fn original_file_is_refused_only_for_nf_another() {
    let e = errors(ORIGINAL);
    assert_eq!(
        e,
        vec![
            "collectors[0].mux_to[3]: \"nf-another\" is not an exporter id (defined: foo-cacti, bar-graylog, nf-legacy)"
                .to_string()
        ]
    );
}

#[test]
fn original_file_without_the_mistake_loads() {
    let fixed = ORIGINAL.replace("    - 'nf-another'\n", "");
    let c = Config::parse(&fixed).expect("loads");
    assert_eq!(c.collectors.len(), 2);
    assert_eq!(c.outputs.len(), 3);
    assert_eq!(c.collectors[0].versions, Versions::one(Version::Ipfix));
    assert_eq!(c.collectors[1].versions, Versions::one(Version::Sflow));
    assert_eq!(c.collectors[0].listen.to_string(), "0.0.0.0:2055");
    let legacy = c
        .outputs
        .iter()
        .find(|o| o.id == "nf-legacy")
        .expect("legacy");
    let legacy_nf = legacy.netflow().expect("netflow");
    assert_eq!(legacy_nf.version, Version::V5);
    assert_eq!(legacy_nf.target.to_string(), "172.18.134.11:2055");
    assert!(legacy.filter.address("172.20.0.1".parse().expect("ip")));
    assert!(!legacy.filter.address("172.17.1.1".parse().expect("ip")));
    assert_eq!(
        c.supervisor.unix_socket,
        PathBuf::from("/tmp/octoflow.sock")
    );
    assert_eq!(c.supervisor.log_max_bytes, 50 << 20);
    assert_eq!(c.supervisor.startretries, 5);
    assert_eq!(c.supervisor.loglevel, tracing::Level::DEBUG);
    assert!(c.warnings.iter().any(|w| w.starts_with("nprobe: ignored")));
    assert_eq!(
        c.warnings.iter().filter(|w| w.contains("overlap")).count(),
        0
    );
    let d = c.describe();
    assert!(d.contains("nf-legacy_exporter"), "{d}");
    assert!(
        d.contains("ipfix -> v5: re-encoded; IPv6 flows counted as unconvertible"),
        "{d}"
    );
    assert!(
        d.contains("sflow -> ipfix: each flow sample becomes a flow"),
        "{d}"
    );
    assert!(d.contains("tenant: 10.0.1.0/24 !10.0.1.254"), "{d}");
}

#[test]
fn sections_may_be_left_out_and_flow_style_works() {
    let c = Config::parse(
        "collectors: [{id: a, listen_host: 127.0.0.1, listen_port: 9995, nf_version: auto, mux_to: [b]}]\n\
         exporters: [{id: b, collector_host: 127.0.0.1, collector_port: 9996, collector_version: 9}]\n",
    )
    .expect("loads");
    assert_eq!(c.collectors[0].versions, Versions::ALL);
    assert!(c.outputs[0].filter.is_empty());
    assert_eq!(c.outputs[0].queue_datagrams, 4096);
    let n = c.outputs[0].netflow().expect("netflow is the default kind");
    assert!(n.forward_counters);
    assert_eq!(n.template_refresh, Duration::from_secs(20));
    assert!(c.supervisor.autostart);
    assert_eq!(n.max_datagram(), 1472);
    assert!(n.udp_gso, "GSO is on unless turned off");
    assert!(c.collectors[0].udp_gro, "GRO is on unless turned off");
    let c = Config::parse(
        "collectors: [{id: a, listen_host: 127.0.0.1, listen_port: 9995, nf_version: 9, mux_to: [b], udp_gro: false}]\n\
         exporters: [{id: b, collector_host: 127.0.0.1, collector_port: 9996, collector_version: 9, udp_gso: false}]\n",
    )
    .expect("loads");
    assert!(!c.outputs[0].netflow().expect("netflow").udp_gso);
    assert!(!c.collectors[0].udp_gro);
}

#[test]
fn template_memory_defaults_to_64_mib_and_is_checked_with_its_key_path() {
    let y = |extra: &str| {
        format!(
            "collectors: [{{id: a, listen_port: 9995, nf_version: 9, mux_to: [b]{extra}}}]\n\
             exporters: [{{id: b, collector_host: 127.0.0.1, collector_port: 9996, collector_version: 9}}]\n"
        )
    };
    let c = Config::parse(&y("")).expect("loads");
    assert_eq!(c.collectors[0].template_memory, 64 << 20);
    assert_eq!(c.collectors[0].limits().max_template_bytes, 64 << 20);
    let c = Config::parse(&y(", template_memory: 16777216")).expect("loads");
    assert_eq!(c.collectors[0].limits().max_template_bytes, 16 << 20);
    assert_eq!(
        errors(&y(", template_memory: 1000")),
        vec!["collectors[0].template_memory: 1000 bytes: give between 1048576 (1 MiB) and 2^40"]
    );
}

#[test]
fn template_persistence_defaults_to_the_state_directory() {
    use std::path::Path;
    let mut v = crate::yaml::check::Validator::default();
    let st = Some("/var/lib/a:/var/lib/b".into());
    assert_eq!(
        v.default_template_cache_dir(st, Path::new("/nonexistent/x")),
        Some("/var/lib/a".into())
    );
    let tmp = std::env::temp_dir();
    assert_eq!(
        v.default_template_cache_dir(None, &tmp.join("octoflow-default-test")),
        Some(tmp.join("octoflow-default-test")),
        "a directory that can be created is the default"
    );
    assert!(v.warnings.is_empty());
    assert_eq!(
        v.default_template_cache_dir(None, Path::new("/nonexistent/x/y")),
        None
    );
    assert_eq!(v.warnings.len(), 1, "off, with one warning");
    assert!(v.warnings[0].starts_with("general.template_cache_dir: not set"));
}

#[test]
fn offline_validation_asks_the_machine_nothing() {
    use crate::yaml::env::Offline;
    let y = "exporters: [{id: b, collector_host: receiver.example, collector_port: 9996, collector_version: 9}]\n";
    let c = Config::parse_in(y, &Offline).expect("loads");
    let n = c.outputs[0].netflow().expect("netflow");
    assert_eq!(
        n.target.to_string(),
        "192.0.2.1:9996",
        "names resolve to TEST-NET-1"
    );
    assert_eq!(n.target_host, "receiver.example");
    assert_eq!(c.general.template_cache_dir, None, "nothing is writable");
    assert!(c
        .warnings
        .iter()
        .any(|w| w.starts_with("general.template_cache_dir: not set")));
    let y =
        "exporters: [{id: b, collector_host: '', collector_port: 9996, collector_version: 9}]\n";
    assert_eq!(
        Config::parse_in(y, &Offline).expect_err("refused"),
        vec!["exporters[0].collector_host: \"\" is not an IP address and does not resolve (empty host name)"]
    );
}

#[test]
fn every_error_names_key_path_and_value() {
    let base = |exp: &str| {
        format!(
            "collectors:\n- {{id: a, listen_port: 9995, nf_version: 9, mux_to: [b]}}\nexporters:\n- {{id: x, collector_host: 127.0.0.1, collector_port: 1, collector_version: 9}}\n- {exp}\n"
        )
    };
    let e = errors(&base("{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9, filters: ['10.0.1.0/24', '10.0.2.300']}"));
    assert_eq!(
        e,
        vec!["exporters[1].filters[1]: \"10.0.2.300\" is not an IP address or CIDR prefix"]
    );
    let e = errors(&base(
        "{id: b, collector_host: 127.0.0.1, collector_port: 70000, collector_version: 9}",
    ));
    assert_eq!(
        e,
        vec!["exporters[1].collector_port: \"70000\" is not a port (1-65535)"]
    );
    let e = errors(&base(
        "{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 7}",
    ));
    assert_eq!(
        e,
        vec!["exporters[1].collector_version: \"7\" is not 5, 9, 10 or sflow"]
    );
    let e = errors(&base("{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9, collector_proto: tcp}"));
    assert!(
        e[0].starts_with("exporters[1].collector_proto: \"tcp\" with collector_version v9"),
        "{e:?}"
    );
    let e = errors(&base(
        "{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: sflow}",
    ));
    assert!(
        e[0].starts_with("exporters[1].collector_version: \"sflow\" but collector \"a\""),
        "{e:?}"
    );
    let e = errors(&base(
        "{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9, filter: []}",
    ));
    assert!(
        e[0].starts_with("exporters[1].filter: unknown field `filter`, expected one of id,"),
        "{e:?}"
    );
    let e = errors(&base("{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9, filters: ['10.0.0.0/8', '!10.0.0.0/8']}"));
    assert_eq!(e, vec!["exporters[1].filters[1]: !10.0.0.0/8 contradicts filters[0] 10.0.0.0/8 (same prefix, opposite sign)"]);
    let e = errors(&base(
        "{id: x, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9}",
    ));
    assert!(
        e.contains(&"exporters[1].id: \"x\" is used twice".to_string()),
        "{e:?}"
    );
    let e = errors("supervisor: {log_maxMB: lots}\n");
    assert!(e[0].starts_with("supervisor.log_maxMB: "), "{e:?}");
    let e = errors(
        "collectors:\n- {id: a, listen_port: 2055, nf_version: 9}\n- {id: b, listen_host: 127.0.0.1, listen_port: 2055, nf_version: 5}\n",
    );
    assert!(
        e[0].starts_with("collectors[1].listen_port: 127.0.0.1:2055 clashes with collectors[0]"),
        "{e:?}"
    );
    let e = errors("collectors:\n- {id: a, listen_port: 2055, nf_version: [9, 11]}\n");
    assert_eq!(
        e,
        vec!["collectors[0].nf_version[1]: \"11\" is not 5, 9, 10 or sflow"]
    );
    let e = errors(
        "collectors:\n- {id: a, listen_host: 'my host', listen_port: 2055, nf_version: 9}\n",
    );
    assert_eq!(
        e,
        vec!["collectors[0].listen_host: \"my host\" is not an IP address"]
    );
}

#[test]
fn metrics_stay_on_loopback_unless_an_address_says_otherwise_and_a_token_file_is_checked() {
    let c = Config::parse("general: {metrics_listen: 9555}\n").expect("a port alone");
    assert_eq!(
        c.general.metrics_listen,
        Some("127.0.0.1:9555".parse().expect("addr"))
    );
    assert!(c.describe().contains("loopback only, no token"));
    let c = Config::parse("general: {metrics_listen: '0.0.0.0:9555'}\n").expect("loads");
    assert!(c.describe().contains("NO TOKEN"));
    assert_eq!(
        errors("general: {metrics_listen: 'everywhere'}\n"),
        vec!["general.metrics_listen: \"everywhere\" is not an address like 127.0.0.1:9555 (or a port alone, on loopback)"]
    );
    let dir = std::env::temp_dir().join(format!("octoflow-cfg-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("token");
    let y = format!(
        "general: {{metrics_listen: '0.0.0.0:9555', metrics_token_file: {}}}\n",
        f.display()
    );
    let e = errors(&y);
    assert!(
        e[0].starts_with(&format!(
            "general.metrics_token_file: cannot read {}: ",
            f.display()
        )),
        "{e:?}"
    );
    std::fs::write(&f, "\n").expect("write");
    assert_eq!(
        errors(&y),
        vec![format!(
            "general.metrics_token_file: {} holds no token (it is empty, or holds whitespace inside the token): write one line, e.g. `openssl rand -hex 32 > {}`",
            f.display(),
            f.display()
        )]
    );
    std::fs::write(&f, "t0ken\n").expect("write");
    let c = Config::parse(&y).expect("loads");
    let d = c.describe();
    assert!(
        d.contains(&format!("bearer token from {}", f.display())),
        "{d}"
    );
    assert!(!d.contains("t0ken"), "the token is never printed: {d}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn overlapping_tenants_warn() {
    let c = Config::parse(
        "exporters:\n- {id: a, collector_host: 127.0.0.1, collector_port: 1, collector_version: 9, filters: ['10.0.1.0/24']}\n- {id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9, filters: ['10.0.1.7']}\n",
    )
    .expect("loads");
    assert!(
        c.warnings.iter().any(|w| w
            == "exporters[0] \"a\" and exporters[1] \"b\" overlap at 10.0.1.7/32: both tenants receive flows of those addresses"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn outputs_have_a_type_netflow_by_default() {
    let y = |t: &str| {
        format!("exporters: [{{id: b, {t}collector_host: 127.0.0.1, collector_port: 9996, collector_version: 9}}]\n")
    };
    let c = Config::parse(&y("")).expect("loads");
    assert!(matches!(c.outputs[0].kind, OutputKind::Netflow(_)));
    let c = Config::parse(&y("type: netflow, ")).expect("loads");
    assert!(matches!(c.outputs[0].kind, OutputKind::Netflow(_)));
    assert_eq!(
        errors(&y("type: carrier-pigeon, ")),
        vec!["exporters[0].type: \"carrier-pigeon\" is not an output kind (known: netflow, store, kafka, clickhouse, postgres, redis)"]
    );
}

#[test]
fn a_collector_feeds_at_most_64_filtered_outputs() {
    let mut y = String::from("collectors: [{id: c, listen_port: 9995, nf_version: 9, mux_to: [");
    y.push_str(
        &(0..65)
            .map(|i| format!("o{i}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    y.push_str("]}]\nexporters:\n");
    for i in 0..65 {
        y.push_str(&format!(
            "- {{id: o{i}, collector_host: 127.0.0.1, collector_port: {}, collector_version: 9, filters: ['10.{i}.0.0/16']}}\n",
            1000 + i
        ));
    }
    let e = errors(&y);
    assert_eq!(
        e,
        vec!["collectors[0].mux_to: feeds 65 exporters with filters; one collector serves at most 64 (split the tenants over two collectors)"]
    );
}
