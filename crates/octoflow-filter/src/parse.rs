//! The filter's structure: `or` binds loosest, then `and`, then `not`;
//! parentheses group (nfdump's grammar). The primitives are read by
//! [`crate::prim`]; this file holds the cursor they share.

use crate::ast::Expr;
use crate::lex::{Cmp, Tok, Token};
use crate::FilterError;

pub(crate) struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    /// The column just past the filter, for "ended too early" errors.
    end: usize,
    /// Parentheses and `not`s open around the cursor.
    depth: usize,
}

/// The most parentheses and `not`s one inside the other: parsing, evaluating
/// and dropping recurse once a level, and a filter comes from users (the
/// console's filter box), so a deep one must be an error, not a stack overflow.
pub(crate) const MAX_DEPTH: usize = 64;

impl<'a> Parser<'a> {
    pub(crate) fn new(toks: &'a [Token], chars: usize) -> Parser<'a> {
        Parser {
            toks,
            pos: 0,
            end: chars + 1,
            depth: 0,
        }
    }

    /// The whole filter.
    pub(crate) fn filter(mut self) -> Result<Expr, FilterError> {
        if self.toks.is_empty() {
            return Ok(Expr::Any);
        }
        let e = self.or()?;
        if self.pos < self.toks.len() {
            let what = if matches!(self.toks[self.pos].tok, Tok::Close) {
                "this ')' closes nothing".to_string()
            } else {
                format!(
                    "expected 'and', 'or' or the end of the filter, {}",
                    self.found()
                )
            };
            return Err(self.error(what));
        }
        Ok(e)
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut v = vec![self.and()?];
        while self.keyword("or") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut v = vec![self.unary()?];
        while self.keyword("and") {
            v.push(self.unary()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        let nests = self.peek() == Some(&Tok::Open) || self.peek_word().as_deref() == Some("not");
        if !nests {
            return self.primitive();
        }
        if self.depth == MAX_DEPTH {
            return Err(self.error(format!(
                "nested too deeply: at most {MAX_DEPTH} parentheses and 'not's one inside the other"
            )));
        }
        self.depth += 1;
        let e = self.nested();
        self.depth -= 1;
        e
    }

    /// `not X` or `( X )`.
    fn nested(&mut self) -> Result<Expr, FilterError> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::Open) {
            let open = self.column();
            self.pos += 1;
            let e = self.or()?;
            if self.peek() != Some(&Tok::Close) {
                return Err(self.error(format!(
                    "expected ')' to close the '(' at column {open}, {}",
                    self.found()
                )));
            }
            self.pos += 1;
            return Ok(e);
        }
        self.primitive()
    }

    // The cursor, for the primitives.

    pub(crate) fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    /// The next token as a lower-case word, without taking it.
    pub(crate) fn peek_word(&self) -> Option<String> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    /// Take the next token if it is the word `k` (any case).
    pub(crate) fn keyword(&mut self, k: &str) -> bool {
        if self.peek_word().as_deref() == Some(k) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The column of the next token (or the end).
    pub(crate) fn column(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |t| t.column)
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            column: self.column(),
            message: message.into(),
        }
    }

    /// "found 'x'" or "but the filter ended", for messages.
    pub(crate) fn found(&self) -> String {
        match self.peek() {
            None => "but the filter ended".into(),
            Some(Tok::Word(w)) => format!("found '{w}'"),
            Some(Tok::Quoted(w)) => format!("found the string '{w}'"),
            Some(Tok::Cmp(_)) => "found a comparator".into(),
            Some(Tok::Open) => "found '('".into(),
            Some(Tok::Close) => "found ')'".into(),
            Some(Tok::OpenList) => "found '['".into(),
            Some(Tok::CloseList) => "found ']'".into(),
            Some(Tok::Comma) => "found ','".into(),
        }
    }

    /// Take a word (or a quoted string) for `what`, with its column.
    pub(crate) fn word(&mut self, what: &str) -> Result<(String, usize), FilterError> {
        match self.peek() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => {
                let r = (w.clone(), self.column());
                self.pos += 1;
                Ok(r)
            }
            _ => Err(self.error(format!("expected {what}, {}", self.found()))),
        }
    }

    /// An optional comparator (`=`, `==`, `<`, `>`, `<=`, `>=`, or `eq lt gt le
    /// ge`); `=` when none is given.
    pub(crate) fn comparison(&mut self) -> Cmp {
        if let Some(Tok::Cmp(c)) = self.peek() {
            let c = *c;
            self.pos += 1;
            return c;
        }
        if let Some(c) = self.peek_word().as_deref().and_then(Cmp::word) {
            self.pos += 1;
            return c;
        }
        Cmp::Eq
    }

    /// Whether the next token opens a list (`[`).
    pub(crate) fn list_opens(&mut self) -> bool {
        if self.peek() == Some(&Tok::OpenList) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The words of a list up to `]` (the `[` taken), commas optional; each is
    /// read by `item`, which says what it expected.
    pub(crate) fn list<T>(
        &mut self,
        what: &str,
        item: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<T>, FilterError> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::CloseList) => {
                    self.pos += 1;
                    break;
                }
                Some(Tok::Comma) => self.pos += 1,
                Some(Tok::Word(w)) => {
                    let v = item(w).ok_or_else(|| self.error(format!("'{w}' is not {what}")))?;
                    out.push(v);
                    self.pos += 1;
                }
                _ => {
                    return Err(self.error(format!(
                        "expected {what} or ']' to end the list, {}",
                        self.found()
                    )))
                }
            }
        }
        if out.is_empty() {
            return Err(self.error(format!("an empty list: give at least one {what}")));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::Filter;

    fn err(s: &str) -> (usize, String) {
        let e = Filter::parse(s).expect_err(s);
        (e.column, e.message)
    }

    #[test]
    fn nesting_is_bounded_not_a_stack_overflow() {
        let deep = |n: usize, open: &str, close: &str| {
            format!("{}proto tcp{}", open.repeat(n), close.repeat(n))
        };
        assert!(Filter::parse(&deep(super::MAX_DEPTH, "(", ")")).is_ok());
        assert!(Filter::parse(&deep(super::MAX_DEPTH, "not ", "")).is_ok());
        let (_, m) = err(&deep(super::MAX_DEPTH + 1, "(", ")"));
        assert!(m.contains("nested too deeply"), "{m}");
        // What a 16 KiB request could carry, on a small stack.
        let t = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let (_, m) = err(&deep(8000, "(", ")"));
                let (_, n) = err(&deep(8000, "not ", ""));
                (m, n)
            })
            .expect("thread");
        let (m, n) = t.join().expect("no overflow");
        assert!(m.contains("nested too deeply") && n.contains("nested too deeply"));
    }

    #[test]
    fn precedence_is_or_then_and_then_not() {
        use octoflow_proto::FlowRecord;
        let tcp80 = FlowRecord {
            proto: 6,
            dst_port: 80,
            ..FlowRecord::default()
        };
        let udp53 = FlowRecord {
            proto: 17,
            dst_port: 53,
            ..FlowRecord::default()
        };
        // `a or b and c` is `a or (b and c)`.
        let f = Filter::parse("proto udp or proto tcp and port 443").expect("parses");
        assert!(f.matches(&udp53, ""));
        assert!(!f.matches(&tcp80, ""));
        // `not a and b` is `(not a) and b`.
        let f = Filter::parse("not proto udp and port 80").expect("parses");
        assert!(f.matches(&tcp80, ""));
        let f = Filter::parse("not (proto udp or port 80)").expect("parses");
        assert!(!f.matches(&tcp80, "") && !f.matches(&udp53, ""));
        assert!(Filter::parse("").expect("empty").matches(&tcp80, ""));
        assert!(Filter::parse("# only a comment")
            .expect("empty")
            .matches(&tcp80, ""));
        assert!(Filter::parse("PROTO TCP AND DST PORT 80")
            .expect("any case")
            .matches(&tcp80, ""));
    }

    #[test]
    fn errors_name_what_was_expected_and_where() {
        assert_eq!(
            err("proto tcp and (port 80"),
            (
                23,
                "expected ')' to close the '(' at column 15, but the filter ended".into()
            )
        );
        assert_eq!(err("port 80)").0, 8);
        assert!(err("port 80)").1.contains("closes nothing"));
        let (c, m) = err("proto tcp port 80");
        assert_eq!(c, 11);
        assert!(m.contains("expected 'and', 'or'"), "{m}");
        let (c, m) = err("ip in [10.0.0.1 nonsense]");
        assert_eq!(c, 17);
        assert!(m.contains("'nonsense' is not"), "{m}");
        assert_eq!(err("not").0, 4);
    }
}
