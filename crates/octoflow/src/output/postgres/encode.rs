//! PostgreSQL rows from flow records: one binary COPY stream per batch, its
//! header written first; the client adds the trailer when it sends.

use octoflow_proto::FlowRecord;
use octoflow_rows::pgcopy;

use crate::fanout::Decoded;
use crate::output::sink::{meta, Encode};

/// One COPY's stream, but its trailer.
#[derive(Debug)]
pub struct Batch {
    pub data: Vec<u8>,
    pub rows: u64,
}

/// The encoding half of a `postgres` output.
pub struct Rows;

impl Encode for Rows {
    type Batch = Batch;

    fn batch(&mut self) -> Batch {
        Batch {
            data: pgcopy::HEADER.to_vec(),
            rows: 0,
        }
    }

    fn add(&mut self, b: &mut Batch, d: &Decoded, r: &FlowRecord) {
        pgcopy::flow_pipeline(r, &meta(d), &mut b.data);
        b.rows += 1;
    }

    fn rows(b: &Batch) -> u64 {
        b.rows
    }

    fn bytes(b: &Batch) -> u64 {
        b.data.len() as u64
    }
}
