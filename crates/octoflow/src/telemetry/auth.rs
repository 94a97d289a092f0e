//! Who may read `/metrics` and `/status`: with `general.metrics_token_file` set,
//! only a request that carries `Authorization: Bearer <token>` (RFC 6750 §2.1).
//! The token is compared in constant time, so the time an answer takes says
//! nothing about how much of a guess was right.

use std::fmt;
use std::path::Path;

/// The bearer token read from `general.metrics_token_file` (surrounding
/// whitespace trimmed). Never printed: `Debug` shows `Token(…)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// Read the token file. The error says what is wrong with it, without the
    /// key path (the caller adds it).
    pub fn read(path: &Path) -> Result<Token, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read {}: {e} (the server reads it at start and at every reload, after dropping to general.user: make it readable by that user, e.g. chgrp octoflow and chmod 0640)",
                path.display()
            )
        })?;
        Token::new(text.trim()).ok_or_else(|| {
            format!(
                "{} holds no token (it is empty, or holds whitespace inside the token): write one line, e.g. `openssl rand -hex 32 > {}`",
                path.display(),
                path.display()
            )
        })
    }

    /// A token: visible ASCII (RFC 6750's b64token characters and then some), no
    /// whitespace.
    pub fn new(t: &str) -> Option<Token> {
        let ok = !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Token(t.to_string()))
    }

    /// The token itself, for a client of the endpoint (the console) to send.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// Whether the request head (request line and headers) carries this token.
    pub fn admits(&self, head: &str) -> bool {
        bearer(head).is_some_and(|given| same(given.as_bytes(), self.0.as_bytes()))
    }
}

/// The credentials of the request's `Authorization: Bearer …` header, if any.
/// Header names and the scheme are case-insensitive (RFC 9110 §5.1, §11.1).
fn bearer(head: &str) -> Option<&str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("authorization") {
            return None;
        }
        let (scheme, cred) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(cred.trim())
    })
}

/// Equal, in a time that depends only on the lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(auth: &str) -> String {
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{auth}\r\n")
    }

    #[test]
    fn only_the_right_bearer_token_is_admitted() {
        let t = Token::new("s3cret-token").expect("token");
        assert!(t.admits(&head("Authorization: Bearer s3cret-token")));
        assert!(t.admits(&head("authorization:   bearer   s3cret-token  ")));
        assert!(!t.admits(&head("Authorization: Bearer s3cret-tokem")));
        assert!(!t.admits(&head("Authorization: Bearer s3cret")));
        assert!(!t.admits(&head("Authorization: Basic s3cret-token")));
        assert!(!t.admits(&head("X-Authorization: Bearer s3cret-token")));
        assert!(!t.admits(&head("")));
        assert!(
            !t.admits("GET /Authorization: Bearer s3cret-token HTTP/1.1\r\n\r\n"),
            "the request line is not a header"
        );
    }

    #[test]
    fn a_token_file_is_trimmed_and_an_empty_one_refused() {
        let dir = std::env::temp_dir().join(format!("octoflow-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("token");
        std::fs::write(&f, "  abc123\n").expect("write");
        assert_eq!(Token::read(&f), Ok(Token("abc123".into())));
        std::fs::write(&f, " \n").expect("write");
        assert!(Token::read(&f)
            .expect_err("empty")
            .contains("holds no token"));
        std::fs::write(&f, "two words\n").expect("write");
        assert!(Token::read(&f).is_err());
        let missing = dir.join("missing");
        assert!(Token::read(&missing)
            .expect_err("missing")
            .starts_with(&format!("cannot read {}", missing.display())));
        assert_eq!(format!("{:?}", Token("abc123".into())), "Token(…)");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
