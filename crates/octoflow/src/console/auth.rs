//! Who is asking: passwords (Argon2id PHC strings), login sessions held in
//! memory behind a random cookie, and HTTP Basic credentials for scripts. A
//! request's user is looked up in the *current* configuration on every request,
//! so a user removed by a reload is out at once, sessions and all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;

use super::http::Request;
use crate::config::console::{Console, User};

/// The session cookie's name.
pub const COOKIE: &str = "octoflow_session";

/// A PHC string for `password`: Argon2id with the crate's defaults (19 MiB,
/// 2 passes, 1 lane: OWASP's recommendation) and a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing: {e}"))
}

/// Whether `password` is `user`'s (the hash's own parameters are used).
pub fn verify(user: &User, password: &str) -> bool {
    PasswordHash::new(&user.password_hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

struct Session {
    user: String,
    expires: Instant,
}

/// The logged-in sessions: token → user name and expiry.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session for `user`, lasting `secs`; returns its token.
    pub fn open(&self, user: &str, secs: u64) -> Result<String, String> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| format!("no randomness for a session: {e}"))?;
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut m = self.map.lock().map_err(|_| "sessions lock poisoned")?;
        m.retain(|_, s| s.expires > now);
        m.insert(
            token.clone(),
            Session {
                user: user.to_string(),
                expires: now + Duration::from_secs(secs),
            },
        );
        Ok(token)
    }

    pub fn close(&self, token: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(token);
        }
    }

    /// The user name of a live session.
    fn user(&self, token: &str) -> Option<String> {
        let m = self.map.lock().ok()?;
        m.get(token)
            .filter(|s| s.expires > Instant::now())
            .map(|s| s.user.clone())
    }
}

/// The user a request speaks for: its session cookie, else its Basic
/// credentials; `None` when neither holds.
pub fn who<'a>(req: &Request, console: &'a Console, sessions: &Sessions) -> Option<&'a User> {
    if let Some(name) = req.cookie(COOKIE).and_then(|t| sessions.user(t)) {
        return console.users.iter().find(|u| u.name == name);
    }
    let basic = req.header("authorization")?.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (name, password) = text.split_once(':')?;
    console
        .users
        .iter()
        .find(|u| u.name == name)
        .filter(|u| verify(u, password))
}

/// Check a login form's name and password.
pub fn login<'a>(console: &'a Console, name: &str, password: &str) -> Option<&'a User> {
    match console.users.iter().find(|u| u.name == name) {
        Some(u) if verify(u, password) => Some(u),
        Some(_) => None,
        None => {
            // As long as a wrong password takes: no telling which names exist.
            let _ = hash_password(password);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::console::Role;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("s3cret").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        let u = User {
            name: "foo".into(),
            password_hash: h.clone(),
            role: Role::Tenant(vec!["foo".into()]),
        };
        assert!(verify(&u, "s3cret"));
        assert!(!verify(&u, "s3cret "));
        assert_ne!(hash_password("s3cret").expect("again"), h, "salted");
    }

    #[test]
    fn sessions_expire_and_close() {
        let s = Sessions::default();
        let t = s.open("foo", 3600).expect("open");
        assert_eq!(t.len(), 64);
        assert_eq!(s.user(&t).as_deref(), Some("foo"));
        s.close(&t);
        assert_eq!(s.user(&t), None);
        let t = s.open("foo", 0).expect("open");
        assert_eq!(s.user(&t), None, "expired");
        assert_eq!(s.user("guess"), None);
    }
}
