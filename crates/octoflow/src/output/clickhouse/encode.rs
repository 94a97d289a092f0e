//! ClickHouse rows from flow records: RowBinary, in the layout the output's
//! `schema` names, appended to one buffer per batch.

use octoflow_proto::FlowRecord;
use octoflow_rows::clickhouse;

use super::config::Schema;
use crate::fanout::Decoded;
use crate::output::sink::{meta, Encode};

/// One INSERT's rows, back to back.
#[derive(Debug, Default)]
pub struct Batch {
    pub data: Vec<u8>,
    pub rows: u64,
}

/// The encoding half of a `clickhouse` output.
pub struct Rows {
    schema: Schema,
}

impl Rows {
    pub fn new(schema: Schema) -> Rows {
        Rows { schema }
    }
}

impl Encode for Rows {
    type Batch = Batch;

    fn batch(&mut self) -> Batch {
        Batch::default()
    }

    fn add(&mut self, b: &mut Batch, d: &Decoded, r: &FlowRecord) {
        let m = meta(d);
        match self.schema {
            Schema::FlowPipeline => clickhouse::flow_pipeline(r, &m, &mut b.data),
            Schema::Octoflow => clickhouse::octoflow(r, &m, d.route_of(r), &mut b.data),
        }
        b.rows += 1;
    }

    fn rows(b: &Batch) -> u64 {
        b.rows
    }

    fn bytes(b: &Batch) -> u64 {
        b.data.len() as u64
    }
}
