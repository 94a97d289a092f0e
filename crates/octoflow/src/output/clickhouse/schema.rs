//! The tables a `clickhouse` output makes when they are missing, the INSERT
//! that fills them, and the check that a table that already exists takes the
//! rows (RowBinary has no types in it: a column of another type would read
//! the bytes as something else, or refuse the whole batch).
//!
//! - `flow-pipeline`: the GoFlow flow-pipeline's `flows_raw` (MergeTree by
//!   day), `flows_5m` (SummingMergeTree of 5-minute slots per AS pair, with
//!   its `ETypeMap` nested column) and `flows_5m_view`, the materialized view
//!   that feeds it from every insert into `flows_raw` — its Kafka table and
//!   `flows_raw_view` are left out: octoflow inserts into `flows_raw` itself.
//! - `octoflow`: `flows`, a column per field of the shared field schema
//!   (`octoflow_rows::clickhouse::octoflow_columns`); columns of fields added
//!   since the table was made are added to it.

use octoflow_rows::clickhouse::{octoflow_columns, Column, FLOW_PIPELINE};

use super::config::Schema;

/// The table rows are inserted into.
pub fn table(s: Schema) -> &'static str {
    match s {
        Schema::FlowPipeline => "flows_raw",
        Schema::Octoflow => "flows",
    }
}

/// Its columns, in the order the rows hold them.
pub fn columns(s: Schema) -> Vec<Column> {
    match s {
        Schema::FlowPipeline => FLOW_PIPELINE
            .iter()
            .map(|(n, ty)| Column {
                name: n.to_string(),
                ty,
            })
            .collect(),
        Schema::Octoflow => octoflow_columns(),
    }
}

/// The statements that make what is missing, in order (the view last, once
/// both its tables exist). Each is idempotent.
pub fn create(db: &str, s: Schema) -> Vec<String> {
    let defs = |cols: &[Column]| {
        cols.iter()
            .map(|c| format!("{} {}", c.name, c.ty))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut v = vec![format!("CREATE DATABASE IF NOT EXISTS {db}")];
    match s {
        Schema::FlowPipeline => {
            v.push(format!(
                "CREATE TABLE IF NOT EXISTS {db}.flows_raw ({}) \
                 ENGINE = MergeTree() PARTITION BY Date ORDER BY TimeReceived",
                defs(&columns(s))
            ));
            // As the flow-pipeline's create.sh has them.
            v.push(format!(
                "CREATE TABLE IF NOT EXISTS {db}.flows_5m (Date Date, Timeslot DateTime, \
                 SrcAS UInt32, DstAS UInt32, \
                 ETypeMap Nested (EType UInt32, Bytes UInt64, Packets UInt64, Count UInt64), \
                 Bytes UInt64, Packets UInt64, Count UInt64) \
                 ENGINE = SummingMergeTree() PARTITION BY Date \
                 ORDER BY (Date, Timeslot, SrcAS, DstAS, `ETypeMap.EType`)"
            ));
            v.push(format!(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flows_5m_view TO {db}.flows_5m AS \
                 SELECT Date, toStartOfFiveMinute(TimeReceived) AS Timeslot, SrcAS, DstAS, \
                 [EType] AS `ETypeMap.EType`, [Bytes] AS `ETypeMap.Bytes`, \
                 [Packets] AS `ETypeMap.Packets`, [Count] AS `ETypeMap.Count`, \
                 sum(Bytes) AS Bytes, sum(Packets) AS Packets, count() AS Count \
                 FROM {db}.flows_raw GROUP BY Date, Timeslot, SrcAS, DstAS, `ETypeMap.EType`"
            ));
        }
        Schema::Octoflow => v.push(format!(
            "CREATE TABLE IF NOT EXISTS {db}.flows ({}) \
             ENGINE = MergeTree() PARTITION BY date ORDER BY received",
            defs(&columns(s))
        )),
    }
    v
}

/// The query of every insert: the columns named, so a table with more
/// columns (or another order) takes the rows too.
pub fn insert(db: &str, s: Schema) -> String {
    let names: Vec<String> = columns(s).into_iter().map(|c| c.name).collect();
    format!(
        "INSERT INTO {db}.{} ({}) FORMAT RowBinary",
        table(s),
        names.join(", ")
    )
}

/// What the table's columns (`have`: name and type as `system.columns`
/// gives them) lack: the columns to add (`octoflow` only), or why the table
/// cannot take the rows.
pub fn missing<'a>(
    db: &str,
    s: Schema,
    want: &'a [Column],
    have: &[(String, String)],
) -> Result<Vec<&'a Column>, String> {
    let t = table(s);
    let mut add = Vec::new();
    for c in want {
        match have.iter().find(|(n, _)| *n == c.name) {
            Some((_, ty)) if same_type(ty, c.ty) => {}
            Some((_, ty)) => {
                return Err(format!(
                    "table {db}.{t} has column {} as {ty}, octoflow writes {}: \
                     alter or drop the table, or give another database",
                    c.name, c.ty
                ))
            }
            None => add.push(c),
        }
    }
    if s == Schema::FlowPipeline && !add.is_empty() {
        let names: Vec<&str> = add.iter().map(|c| c.name.as_str()).collect();
        return Err(format!(
            "table {db}.{t} has no column {}: it is not the flow-pipeline's flows_raw; \
             drop it, or give another database",
            names.join(", ")
        ));
    }
    Ok(add)
}

/// Types that take the same RowBinary bytes: a `DateTime` with a time zone
/// is still seconds.
fn same_type(have: &str, want: &str) -> bool {
    let norm = |t: &str| {
        if t.starts_with("DateTime(") {
            "DateTime".to_string()
        } else {
            t.to_string()
        }
    };
    norm(have) == norm(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_pipeline_tables_are_its_create_sh_and_the_view_comes_last() {
        let s = create("flows", Schema::FlowPipeline);
        assert_eq!(s[0], "CREATE DATABASE IF NOT EXISTS flows");
        assert!(s[1].starts_with(
            "CREATE TABLE IF NOT EXISTS flows.flows_raw (Date Date, TimeReceived DateTime, TimeFlowStart DateTime, SequenceNum UInt32, SamplingRate UInt64, SamplerAddress FixedString(16), SrcAddr FixedString(16)"
        ), "{}", s[1]);
        assert!(s[2].contains("SummingMergeTree()") && s[2].contains("ETypeMap Nested"));
        assert!(s[3].starts_with(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS flows.flows_5m_view TO flows.flows_5m AS SELECT"
        ));
        assert!(s[3].contains("FROM flows.flows_raw GROUP BY"));
        assert_eq!(
            insert("flows", Schema::FlowPipeline),
            "INSERT INTO flows.flows_raw (Date, TimeReceived, TimeFlowStart, SequenceNum, SamplingRate, SamplerAddress, SrcAddr, DstAddr, SrcAS, DstAS, EType, Proto, SrcPort, DstPort, Bytes, Packets) FORMAT RowBinary"
        );
    }

    #[test]
    fn the_octoflow_table_has_every_column_the_rows_hold() {
        let s = create("db", Schema::Octoflow);
        assert_eq!(s.len(), 2);
        for c in columns(Schema::Octoflow) {
            assert!(s[1].contains(&format!("{} {}", c.name, c.ty)), "{}", c.name);
        }
        assert!(insert("db", Schema::Octoflow)
            .starts_with("INSERT INTO db.flows (date, received, received_ms, exporter,"));
    }

    #[test]
    fn an_existing_table_is_checked_column_by_column() {
        let want = columns(Schema::Octoflow);
        let mut have: Vec<(String, String)> = want
            .iter()
            .map(|c| (c.name.clone(), c.ty.to_string()))
            .collect();
        assert_eq!(missing("db", Schema::Octoflow, &want, &have), Ok(vec![]));
        // A field added since: its column is added.
        let last = have.pop().expect("a column");
        let add = missing("db", Schema::Octoflow, &want, &have).expect("grows");
        assert_eq!(add.iter().map(|c| &c.name).collect::<Vec<_>>(), [&last.0]);
        // Retyped: refused with both types.
        have.push((last.0.clone(), "UInt8".into()));
        let e = missing("db", Schema::Octoflow, &want, &have).expect_err("retyped");
        assert!(
            e.starts_with(&format!(
                "table db.flows has column {} as UInt8, octoflow writes",
                last.0
            )),
            "{e}"
        );

        let want = columns(Schema::FlowPipeline);
        let mut have: Vec<(String, String)> = want
            .iter()
            .map(|c| (c.name.clone(), c.ty.to_string()))
            .collect();
        have[1].1 = "DateTime('UTC')".into();
        have.push(("Extra".into(), "String".into()));
        assert_eq!(missing("f", Schema::FlowPipeline, &want, &have), Ok(vec![]));
        have.remove(0);
        let e = missing("f", Schema::FlowPipeline, &want, &have).expect_err("not flows_raw");
        assert!(
            e.starts_with("table f.flows_raw has no column Date: it is not the flow-pipeline's"),
            "{e}"
        );
    }
}
