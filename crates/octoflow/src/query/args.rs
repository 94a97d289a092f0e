//! `octoflow query`'s command line: nfdump's flags, turned into a [`Query`].

use std::path::PathBuf;

use octoflow_filter::Filter;
use octoflow_query::{Order, StatSpec, Window};

use super::print::FlowFormat;
use super::Query;

/// `octoflow query -R DIR [-t WINDOW] [-c N] [-s FIELD[/ORDER]]… [-n N] [-a] [-A FIELDS]
/// [-O ORDER] [-o FORMAT] [-N] [FILTER…]`
#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    /// The store's folder (an output of `type: store`'s `path`).
    #[arg(short = 'R', value_name = "DIR")]
    pub dir: PathBuf,
    /// Time window, UTC: YYYY/MM/dd.hh:mm:ss[-YYYY/MM/dd.hh:mm:ss] (trailing parts may be left out).
    #[arg(short = 't', value_name = "WINDOW")]
    pub window: Option<String>,
    /// Process at most N flows that pass the filter.
    #[arg(short = 'c', value_name = "N")]
    pub limit: Option<u64>,
    /// Top-N statistics: FIELD[/ORDER…] (srcip, dstip, ip, srcport, dstport, port, proto, srcas,
    /// dstas, as, router, inif, outif, if, tos, nhip, srcmask, dstmask, srcvlan, dstvlan, record;
    /// ordered by flows, packets, bytes, pps, bps, bpp). Repeatable.
    #[arg(short = 's', value_name = "FIELD[/ORDER]")]
    pub stats: Vec<String>,
    /// Rows per statistics table (0: all).
    #[arg(short = 'n', value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Aggregate flows on the 5-tuple.
    #[arg(short = 'a')]
    pub aggregate: bool,
    /// Aggregate flows on these fields (comma-separated, as for -s).
    #[arg(short = 'A', value_name = "FIELDS")]
    pub aggregate_on: Option<String>,
    /// Order the flow list: flows, packets, bytes, pps, bps, bpp, tstart, tend.
    #[arg(short = 'O', value_name = "ORDER")]
    pub order: Option<String>,
    /// Output: line, long, extended, csv, json or 'fmt:%ts %sa %da …'.
    #[arg(short = 'o', value_name = "FORMAT", default_value = "line")]
    pub output: String,
    /// Print numbers unscaled (no 16.3 M).
    #[arg(short = 'N')]
    pub plain: bool,
    /// The filter, in nfdump's language (the words are joined by spaces).
    #[arg(
        value_name = "FILTER",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub filter: Vec<String>,
}

impl QueryArgs {
    /// Check every flag; the first problem says which flag and what to give.
    pub fn query(&self) -> Result<Query, String> {
        let text = self.filter.join(" ");
        let filter = Filter::parse(&text)
            .map_err(|e| format!("{e}\n  {text}\n  {:>w$}", "^", w = e.column))?;
        let window = match &self.window {
            Some(w) => Window::parse(w)?,
            None => Window::ALL,
        };
        let stats = self
            .stats
            .iter()
            .map(|s| s.parse::<StatSpec>())
            .collect::<Result<Vec<_>, _>>()?;
        let aggregate = match (&self.aggregate_on, self.aggregate) {
            (Some(list), _) => Some(octoflow_query::stats::aggregation(list)?),
            (None, true) => Some(Query::five_tuple()),
            (None, false) => None,
        };
        let order = self
            .order
            .as_deref()
            .map(|o| o.parse::<Order>().map_err(|e| format!("-O {e}")))
            .transpose()?;
        Ok(Query {
            window,
            limit: self.limit,
            stats,
            top: self.top,
            aggregate,
            order,
            format: FlowFormat::parse(&self.output)?,
            plain: self.plain,
            filter,
        })
    }
}
