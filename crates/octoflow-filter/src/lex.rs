//! Tokens of a filter: words (keywords, numbers, addresses, prefixes, MACs —
//! the parser decides which), comparators, parentheses, brackets and commas,
//! quoted strings. `#` starts a comment to the end of the line. Comparators may
//! touch their neighbours (`port>1024`), as in nfdump.

use crate::FilterError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Word(String),
    /// A quoted string (its quotes removed).
    Quoted(String),
    Cmp(Cmp),
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
}

/// A comparator: `=`/`==`/`eq`, `<`/`lt`, `>`/`gt`, `<=`/`le`, `>=`/`ge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Cmp {
    /// The word forms nfdump accepts (to spare the shell's `<` and `>`).
    pub(crate) fn word(w: &str) -> Option<Cmp> {
        Some(match w.to_ascii_lowercase().as_str() {
            "eq" => Cmp::Eq,
            "lt" => Cmp::Lt,
            "gt" => Cmp::Gt,
            "le" => Cmp::Le,
            "ge" => Cmp::Ge,
            _ => return None,
        })
    }

    #[inline]
    pub fn test(self, a: u64, b: u64) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Lt => a < b,
            Cmp::Gt => a > b,
            Cmp::Le => a <= b,
            Cmp::Ge => a >= b,
        }
    }
}

/// A token and its 1-based character column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) column: usize,
}

fn is_special(c: char) -> bool {
    c.is_whitespace() || "()[],<>=#'\"".contains(c)
}

pub(crate) fn tokens(text: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let single = match c {
            '(' => Some(Tok::Open),
            ')' => Some(Tok::Close),
            '[' => Some(Tok::OpenList),
            ']' => Some(Tok::CloseList),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = single {
            out.push(Token { tok, column });
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '\'' || c == '"' {
            let start = i + 1;
            let mut j = start;
            while j < chars.len() && chars[j] != c {
                j += 1;
            }
            if j == chars.len() {
                return Err(FilterError {
                    column,
                    message: format!("the string opened here has no closing {c}"),
                });
            }
            out.push(Token {
                tok: Tok::Quoted(chars[start..j].iter().collect()),
                column,
            });
            i = j + 1;
            continue;
        }
        if "<>=".contains(c) {
            let next = chars.get(i + 1).copied();
            let (cmp, len) = match (c, next) {
                ('=', Some('=')) => (Cmp::Eq, 2),
                ('=', _) => (Cmp::Eq, 1),
                ('<', Some('=')) => (Cmp::Le, 2),
                ('<', _) => (Cmp::Lt, 1),
                ('>', Some('=')) => (Cmp::Ge, 2),
                _ => (Cmp::Gt, 1),
            };
            out.push(Token {
                tok: Tok::Cmp(cmp),
                column,
            });
            i += len;
            continue;
        }
        let start = i;
        while i < chars.len() && !is_special(chars[i]) {
            i += 1;
        }
        out.push(Token {
            tok: Tok::Word(chars[start..i].iter().collect()),
            column,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        tokens(s)
            .expect("lexes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn w(s: &str) -> Tok {
        Tok::Word(s.into())
    }

    #[test]
    fn words_comparators_lists_strings_and_comments() {
        assert_eq!(
            kinds("src port>=1024 and ip in [10.0.0.0/8, 2001:db8::1] # note\nor ident 'r1'"),
            vec![
                w("src"),
                w("port"),
                Tok::Cmp(Cmp::Ge),
                w("1024"),
                w("and"),
                w("ip"),
                w("in"),
                Tok::OpenList,
                w("10.0.0.0/8"),
                Tok::Comma,
                w("2001:db8::1"),
                Tok::CloseList,
                w("or"),
                w("ident"),
                Tok::Quoted("r1".into()),
            ]
        );
        assert_eq!(
            kinds("(port==80)"),
            vec![Tok::Open, w("port"), Tok::Cmp(Cmp::Eq), w("80"), Tok::Close]
        );
    }

    #[test]
    fn columns_count_characters_and_an_open_string_is_an_error() {
        let t = tokens("not  bytes <1k").expect("lexes");
        let cols: Vec<usize> = t.iter().map(|t| t.column).collect();
        assert_eq!(cols, vec![1, 6, 12, 13]);
        let e = tokens("ident 'abc").expect_err("open string");
        assert_eq!(e.column, 7);
    }
}
