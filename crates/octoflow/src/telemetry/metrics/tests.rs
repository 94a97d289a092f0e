//! The exposition and the status document carry every counter.

use super::*;

#[test]
fn exposition_has_every_counter_with_labels() {
    let c = CollectorMetrics::new("edge");
    c.datagrams.fetch_add(3, Relaxed);
    c.decode_error(&DecodeError::SetLengthTooShort(2));
    c.device("192.0.2.1".parse().expect("ip"), 25, 7);
    let e = OutputMetrics::new("foo");
    e.queue_drops.fetch_add(2, Relaxed);
    let r = Registry {
        collectors: vec![c],
        outputs: vec![e],
    };
    let p = r.prometheus();
    assert!(
        p.contains("octoflow_collector_datagrams_total{collector=\"edge\"} 3"),
        "{p}"
    );
    assert!(p.contains(
        "octoflow_collector_decode_errors_total{collector=\"edge\",reason=\"set_length_too_short\"} 1"
    ));
    assert!(p.contains(
        "octoflow_collector_device_sequence_gaps_total{collector=\"edge\",device=\"192.0.2.1\"} 7"
    ));
    assert!(p.contains("octoflow_exporter_queue_drops_total{exporter=\"foo\"} 2"));
    let j = r.status_json();
    assert!(
        j.contains("\"decode_errors\":{\"set_length_too_short\":1}"),
        "{j}"
    );
    assert!(
        j.contains("\"192.0.2.1\":{\"datagrams\":1,\"flows\":25,\"sequence_gaps\":7,\"templates_evicted\":0}"),
        "{j}"
    );
    assert!(j.contains("\"foo\":{\"flows_matched\":0,"), "{j}");
    assert!(
        !j.contains("store_rows") && !p.contains("store_rows_total{"),
        "a receiver has no store counters"
    );
}

#[test]
fn a_stores_counters_are_shown_for_stores_only() {
    let (rx, st) = (OutputMetrics::new("rx"), OutputMetrics::new("st"));
    st.class.set(super::Class::STORE);
    st.store_files_deleted.fetch_add(4, Relaxed);
    let r = Registry {
        collectors: vec![],
        outputs: vec![rx, st],
    };
    let p = r.prometheus();
    assert!(
        p.contains("octoflow_exporter_store_files_deleted_total{exporter=\"st\"} 4"),
        "{p}"
    );
    assert!(
        !p.contains("store_files_deleted_total{exporter=\"rx\"}"),
        "{p}"
    );
    assert!(
        p.contains("octoflow_exporter_flows_matched_total{exporter=\"rx\"} 0"),
        "{p}"
    );
    let j = r.status_json();
    assert!(j.contains("\"store_files_deleted\":4"), "{j}");
    assert_eq!(j.matches("\"store_rows\":").count(), 1, "{j}");
}

#[test]
fn the_template_cache_counters_reach_metrics_and_status() {
    use octoflow_proto::template_cache::Limits;
    use octoflow_proto::{Batch, Decoder};
    // A scope table of one: a second domain from the same address evicts the first.
    let mut dec = Decoder::new(Limits {
        max_scopes: 1,
        ..Limits::default()
    });
    let a: IpAddr = "192.0.2.1".parse().expect("ip");
    let mut out = Batch::default();
    for domain in [1u32, 2] {
        let mut m = vec![0, 9, 0, 20, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
        m.extend_from_slice(&domain.to_be_bytes());
        dec.decode(a, &m, 1000, &mut out).expect("decodes");
    }
    let c = CollectorMetrics::new("edge");
    c.set_cache(&dec.cache);
    let r = Registry {
        collectors: vec![c],
        outputs: vec![],
    };
    let p = r.prometheus();
    assert!(
        p.contains("octoflow_collector_scopes_evicted_total{collector=\"edge\"} 1"),
        "{p}"
    );
    assert!(p.contains("octoflow_collector_template_scopes{collector=\"edge\"} 1"));
    assert!(p.contains("octoflow_collector_held_dropped_total{collector=\"edge\"} 0"));
    let j = r.status_json();
    assert!(j.contains("\"scopes_evicted\":1,"), "{j}");
    assert!(j.contains("\"template_bytes\":0,"), "{j}");
}
