//! The table a `postgres` output makes when it is missing — the GoFlow
//! flow-pipeline inserter's `flows` — the COPY that fills it, and the check
//! that a table that already exists takes the rows (binary COPY has no
//! conversions: an `integer` column refuses 8-byte values).

use octoflow_rows::pgcopy::FLOW_PIPELINE;

/// `CREATE TABLE IF NOT EXISTS`, with the inserter's columns: a `bigserial`
/// id the server numbers, then the ones the rows hold.
pub fn create(table: &str) -> String {
    let cols: Vec<String> = FLOW_PIPELINE
        .iter()
        .map(|(n, ty)| format!("{n} {ty}"))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (id bigserial PRIMARY KEY, {})",
        cols.join(", ")
    )
}

/// The statement of every batch: the columns named, in the rows' order.
pub fn copy(table: &str) -> String {
    let names: Vec<&str> = FLOW_PIPELINE.iter().map(|(n, _)| *n).collect();
    format!(
        "COPY {table} ({}) FROM STDIN (FORMAT binary)",
        names.join(", ")
    )
}

/// The query listing the table's columns and their types
/// (`information_schema`'s words: `integer`, `timestamp without time zone`).
pub fn columns_query(table: &str) -> String {
    let (schema, name) = match table.split_once('.') {
        Some((s, n)) => (format!("'{s}'"), n),
        None => ("current_schema()".to_string(), table),
    };
    format!(
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_schema = {schema} AND table_name = '{name}'"
    )
}

/// Why the table's columns (`have`: name and `data_type`) cannot take the
/// rows, if they cannot.
pub fn check(table: &str, have: &[(String, String)]) -> Result<(), String> {
    for (name, ty) in FLOW_PIPELINE {
        // The binary forms that are the same bytes.
        let takes: &[&str] = match *ty {
            "timestamp" => &["timestamp without time zone", "timestamp with time zone"],
            t => &[t],
        };
        match have.iter().find(|(n, _)| n == name) {
            Some((_, t)) if takes.contains(&t.as_str()) => {}
            Some((_, t)) => {
                return Err(format!(
                    "table {table} has column {name} as {t}, octoflow writes {ty}: \
                     alter or drop the table, or give another table"
                ))
            }
            None => {
                return Err(format!(
                    "table {table} has no column {name}: it is not the flow-pipeline inserter's; \
                     drop it, or give another table"
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_inserters_and_the_copy_names_its_columns() {
        assert_eq!(
            create("flows"),
            "CREATE TABLE IF NOT EXISTS flows (id bigserial PRIMARY KEY, date_inserted timestamp, \
             time_flow timestamp, type integer, sampling_rate integer, src_as bigint, dst_as bigint, \
             src_ip inet, dst_ip inet, bytes bigint, packets bigint, etype integer, proto integer, \
             src_port integer, dst_port integer)"
        );
        assert_eq!(
            copy("public.flows"),
            "COPY public.flows (date_inserted, time_flow, type, sampling_rate, src_as, dst_as, \
             src_ip, dst_ip, bytes, packets, etype, proto, src_port, dst_port) FROM STDIN (FORMAT binary)"
        );
        assert!(columns_query("public.flows")
            .ends_with("table_schema = 'public' AND table_name = 'flows'"));
        assert!(columns_query("flows").contains("table_schema = current_schema()"));
    }

    #[test]
    fn an_existing_table_must_have_each_column_in_its_binary_type() {
        let mut have: Vec<(String, String)> = FLOW_PIPELINE
            .iter()
            .map(|(n, t)| {
                let t = if *t == "timestamp" {
                    "timestamp with time zone"
                } else {
                    t
                };
                (n.to_string(), t.to_string())
            })
            .collect();
        have.push(("id".into(), "bigint".into()));
        assert_eq!(check("flows", &have), Ok(()));
        have[4].1 = "integer".into();
        assert_eq!(
            check("flows", &have),
            Err("table flows has column src_as as integer, octoflow writes bigint: alter or drop the table, or give another table".into())
        );
        have.remove(4);
        assert!(check("flows", &have)
            .expect_err("missing")
            .starts_with("table flows has no column src_as"));
    }
}
