//! nfdump 1.7's filter language (nfdump(1), "FILTER"), for octoflow's flow store,
//! queries, profiles and console: one parser and one evaluator, so a filter means
//! the same everywhere.
//!
//! ```
//! use octoflow_filter::Filter;
//! use octoflow_proto::FlowRecord;
//! let f = Filter::parse("proto tcp and dst port in [80 443] and not src net 10.0.0.0/8").unwrap();
//! let r = FlowRecord { proto: 6, dst_port: 443, src_addr: [192, 0, 2, 1].into(), ..FlowRecord::default() };
//! assert!(f.matches(&r, ""));
//! let e = Filter::parse("proto tcp and port > x").unwrap_err();
//! assert_eq!(e.column, 22);
//! ```
//!
//! - [`lex`]: words, comparators, brackets, quoted strings; `#` comments;
//! - [`parse`]: `or` < `and` < `not` precedence, parentheses; [`prim`] the
//!   primitives (`[src|dst] ip|host|net`, `port`, `proto`, `as`, `packets`, …);
//! - [`ast`]: the compiled filter and its evaluation on a
//!   [`octoflow_proto::FlowRecord`] (plus the source's name, for `ident`).
//!
//! Every error says what was expected and at which column (1-based, in
//! characters), so a user can find it in a long filter.

#![warn(unreachable_pub)]

mod ast;
mod fields;
mod lex;
mod parse;
mod prim;
mod value;

pub use ast::Expr;

use std::fmt;

use octoflow_proto::FlowRecord;

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: Expr,
}

/// Why a filter did not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// 1-based character column of the offending token (the filter's length + 1
    /// when the filter ended too early).
    pub column: usize,
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "filter error at column {}: {}",
            self.column, self.message
        )
    }
}

impl std::error::Error for FilterError {}

impl Filter {
    /// Parse `text`. An empty filter (or only a comment) matches every flow,
    /// as in nfdump.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let tokens = lex::tokens(text)?;
        let expr = parse::Parser::new(&tokens, text.chars().count()).filter()?;
        Ok(Filter { expr })
    }

    /// Whether the flow `r`, from the source named `ident`, passes.
    #[inline]
    pub fn matches(&self, r: &FlowRecord, ident: &str) -> bool {
        self.expr.eval(r, ident)
    }

    /// The names of the record fields the filter tests (schema names, and
    /// `source` for `ident`), each once: what a columnar reader must decode.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        self.expr.fields(&mut v);
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The compiled expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }
}
