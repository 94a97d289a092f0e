//! Who is asking: passwords (Argon2id PHC strings), login sessions held in
//! memory behind a random cookie, and HTTP Basic credentials for scripts. A
//! request's user is looked up in the *current* configuration on every request,
//! so a user removed by a reload is out at once, sessions and all.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, OnceLock};
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

/// Argon2 checks running at once: each takes ~50 ms of a core and 19 MiB, so
/// a burst of logins (or of Basic requests) must not take the router's cores.
const VERIFY_AT_ONCE: usize = 2;
static VERIFYING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// Whether `password` matches the PHC string `hash` (its own parameters are
/// used), at most [`VERIFY_AT_ONCE`] at a time.
fn matches(hash: &str, password: &str) -> bool {
    let (lock, cv) = &VERIFYING;
    {
        let mut n = lock.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= VERIFY_AT_ONCE {
            n = cv.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
    }
    let ok = PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    *lock.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
    cv.notify_one();
    ok
}

/// Whether `password` is `user`'s.
pub fn verify(user: &User, password: &str) -> bool {
    matches(&user.password_hash, password)
}

/// The user `name` if `password` is theirs. An unknown name costs the same
/// check (against a hash of the default cost), so the time taken does not
/// tell which names exist.
pub fn check<'a>(console: &'a Console, name: &str, password: &str) -> Option<&'a User> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    match console.users.iter().find(|u| u.name == name) {
        Some(u) => verify(u, password).then_some(u),
        None => {
            let dummy = DUMMY.get_or_init(|| hash_password("-").unwrap_or_default());
            let _ = matches(dummy, password);
            None
        }
    }
}

struct Session {
    user: String,
    /// The user's password hash at login: a new password ends old sessions.
    hash: String,
    expires: Instant,
}

/// The logged-in sessions: token → user name and expiry.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session for `user`, lasting `secs`; returns its token.
    pub fn open(&self, user: &User, secs: u64) -> Result<String, String> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| format!("no randomness for a session: {e}"))?;
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut m = self.map.lock().map_err(|_| "sessions lock poisoned")?;
        m.retain(|_, s| s.expires > now);
        m.insert(
            token.clone(),
            Session {
                user: user.name.clone(),
                hash: user.password_hash.clone(),
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

    /// The user of a live session, as the configuration has it now (gone,
    /// or with another password: no user).
    fn user<'a>(&self, token: &str, console: &'a Console) -> Option<&'a User> {
        let m = self.map.lock().ok()?;
        let s = m.get(token).filter(|s| s.expires > Instant::now())?;
        console
            .users
            .iter()
            .find(|u| u.name == s.user && u.password_hash == s.hash)
    }
}

/// The user a request speaks for: its session cookie, else its Basic
/// credentials; `None` when neither holds.
pub fn who<'a>(req: &Request, console: &'a Console, sessions: &Sessions) -> Option<&'a User> {
    if let Some(u) = req.cookie(COOKIE).and_then(|t| sessions.user(t, console)) {
        return Some(u);
    }
    let basic = req.header("authorization")?.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (name, password) = text.split_once(':')?;
    check(console, name, password)
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
    fn the_examples_demo_passwords_are_the_ones_it_says() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/local.yaml");
        let text = std::fs::read_to_string(path).expect("examples/local.yaml");
        assert!(
            text.contains("noc-demo, foo-demo"),
            "the comment names them"
        );
        let cfg = crate::config::Config::parse_in(&text, &crate::yaml::env::Offline)
            .expect("the example loads");
        let c = cfg.console.expect("a console section");
        assert!(check(&c, "noc", "noc-demo").is_some_and(User::is_admin));
        let foo = check(&c, "foo", "foo-demo").expect("foo");
        assert!(foo.may_see("foo") && !foo.may_see("noc"));
    }

    #[test]
    fn sessions_expire_close_and_end_with_the_password() {
        let foo = User {
            name: "foo".into(),
            password_hash: hash_password("a").expect("hash"),
            role: Role::Tenant(vec!["foo".into()]),
        };
        let mut console = Console {
            listen: "127.0.0.1:0".parse().expect("addr"),
            tls: None,
            users: vec![foo.clone()],
            session_secs: 3600,
        };
        let s = Sessions::default();
        let t = s.open(&foo, 3600).expect("open");
        assert_eq!(t.len(), 64);
        assert_eq!(s.user(&t, &console).map(|u| u.name.as_str()), Some("foo"));
        assert!(check(&console, "foo", "a").is_some());
        assert!(check(&console, "foo", "b").is_none());
        assert!(check(&console, "nobody", "a").is_none());
        console.users[0].password_hash = hash_password("b").expect("hash");
        assert!(
            s.user(&t, &console).is_none(),
            "a new password ends the session"
        );
        console.users[0] = foo.clone();
        s.close(&t);
        assert!(s.user(&t, &console).is_none());
        let t = s.open(&foo, 0).expect("open");
        assert!(s.user(&t, &console).is_none(), "expired");
        assert!(s.user("guess", &console).is_none());
    }
}
