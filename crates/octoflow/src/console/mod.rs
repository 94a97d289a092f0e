//! The web console: nfsen's profile graphs and details, per tenant, with a
//! JSON API behind every page. It reads what the router writes — profile
//! series files and store files — and asks the server for its status like
//! any client, so it runs alone (`octoflow console`) or inside the server
//! (a `console:` section), the same code either way.
//!
//! - `crate::config::console`: the `console:` section (listen, tls, users and
//!   their profiles);
//! - [`http`]: requests and answers on std sockets; [`serve`]: the listener,
//!   TLS (rustls) and a thread per connection;
//! - [`auth`]: password hashes, sessions, Basic credentials;
//! - [`pages`]: the HTML pages and their embedded script and style;
//! - [`api`] and [`params`]: `/api/v1/…` and its parameters; [`data`]: series,
//!   top-N and flow lists from the files; [`status`]: the overview's samples.
//!
//! Access is decided in one place per kind of request: [`App::handle`] for
//! pages, [`api::handle`] for the API — both through `User::may_see`.

pub mod api;
pub mod auth;
pub mod data;
pub mod http;
pub mod pages;
pub mod params;
pub mod serve;
pub mod status;

use std::sync::{Arc, RwLock};

use crate::config::console::Console;

use crate::config::Config;
use http::{Request, Response};

/// What every request reads: the configuration (replaced by a reload), the
/// sessions, the series cache and the status samples.
pub struct App {
    cfg: RwLock<Arc<Config>>,
    pub sessions: auth::Sessions,
    pub series: data::SeriesCache,
    pub status: Arc<status::Status>,
    /// Whether the console is served over TLS (cookies get `Secure`).
    pub tls: bool,
}

impl App {
    pub fn new(cfg: Arc<Config>, tls: bool) -> App {
        App {
            cfg: RwLock::new(cfg),
            sessions: auth::Sessions::default(),
            series: data::SeriesCache::default(),
            status: Arc::new(status::Status::default()),
            tls,
        }
    }

    pub fn config(&self) -> Arc<Config> {
        match self.cfg.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// A reloaded configuration: users, profiles and stores as it says from
    /// the next request on (the address and TLS stay until a restart).
    pub fn replace(&self, cfg: Arc<Config>) {
        match self.cfg.write() {
            Ok(mut c) => *c = cfg,
            Err(p) => *p.into_inner() = cfg,
        }
    }

    /// Read every profile's series file that changed since it was last read,
    /// so a graph's request finds it decoded (the router appends a slot
    /// every five minutes; a year of ten channels is tens of MB).
    pub fn warm_series(&self) {
        let cfg = self.config();
        for p in &cfg.profiles {
            let dir = cfg
                .outputs
                .iter()
                .find(|o| o.id == p.store)
                .and_then(|o| o.store());
            if let Some(st) = dir {
                let _ = self.series.refresh(
                    &crate::profile::file::path(&st.path, &p.id),
                    p.channels.len(),
                );
            }
        }
    }

    /// One request.
    pub fn handle(&self, req: &Request) -> Response {
        let cfg = self.config();
        let Some(console) = cfg.console.as_ref() else {
            return Response::error(503, "the configuration has no console section any more");
        };
        let now = crate::util::now_ms();
        let path = req.path.as_str();
        if path.starts_with("/assets/") {
            return pages::asset(path);
        }
        if req.method == "POST" && !same_origin(req) {
            return Response::error(403, "forbidden: a form from another site");
        }
        match (req.method.as_str(), path) {
            ("GET" | "HEAD", "/login") => return pages::login(None, next_of(req)),
            ("POST", "/login") => return self.login(console, req),
            ("POST", "/logout") => {
                if let Some(t) = req.cookie(auth::COOKIE) {
                    self.sessions.close(t);
                }
                return Response::redirect("/login").with("Set-Cookie", self.cookie("", 0));
            }
            ("GET" | "HEAD", _) => {}
            _ => return Response::error(405, format!("{} {path}: not allowed", req.method)),
        }
        let user = auth::who(req, console, &self.sessions);
        if path.starts_with("/api/") {
            return match user {
                Some(u) => api::handle(self, u, req, now),
                None => {
                    let r = Response::error(
                        401,
                        "log in first: send the session cookie, or HTTP Basic credentials",
                    );
                    // A page's own fetch() would open the browser's password
                    // prompt (and hang a headless one): only clients that are
                    // not a page's script are asked for Basic credentials.
                    let from_script = matches!(
                        req.header("sec-fetch-mode"),
                        Some("cors" | "same-origin" | "no-cors")
                    );
                    if from_script {
                        r
                    } else {
                        r.with(
                            "WWW-Authenticate",
                            "Basic realm=\"octoflow console\"".into(),
                        )
                    }
                }
            };
        }
        let Some(user) = user else {
            let next = if path == "/" {
                String::new()
            } else {
                format!("?next={}", crate::util::urlencode(path))
            };
            return Response::redirect(&format!("/login{next}"));
        };
        let visible = api::visible(&cfg.profiles, user);
        match path.trim_end_matches('/') {
            "" => match (user.is_admin(), visible.first()) {
                (true, _) => Response::redirect("/overview"),
                (false, Some(p)) => Response::redirect(&format!("/profiles/{}", p.id)),
                (false, None) => pages::forbidden(user, &visible, "no profile is yours"),
            },
            "/overview" if user.is_admin() => pages::overview(user, &visible),
            "/overview" => pages::forbidden(user, &visible, "the overview is for admin users"),
            p => match p.strip_prefix("/profiles/") {
                Some(id) if visible.iter().any(|v| v.id == id) => {
                    pages::profile(user, &visible, id)
                }
                Some(id) if !user.is_admin() || cfg.profiles.iter().all(|p| p.id != id) => {
                    if user.is_admin() {
                        pages::not_found(user, &visible)
                    } else {
                        pages::forbidden(
                            user,
                            &visible,
                            &format!("profile {id:?} is not one of yours"),
                        )
                    }
                }
                _ => pages::not_found(user, &visible),
            },
        }
    }

    fn login(&self, console: &Console, req: &Request) -> Response {
        let form = req.form();
        let get = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let next = safe_next(get("next"));
        match auth::check(console, get("name"), get("password")) {
            Some(u) => match self.sessions.open(u, console.session_secs) {
                Ok(token) => {
                    tracing::info!(user = %u.name, "console: logged in");
                    Response::redirect(if next.is_empty() { "/" } else { next })
                        .with("Set-Cookie", self.cookie(&token, console.session_secs))
                }
                Err(e) => Response::error(500, e),
            },
            None => {
                tracing::info!(user = %get("name"), "console: login refused");
                let mut r = pages::login(Some("wrong name or password"), next.to_string());
                r.status = 401;
                r
            }
        }
    }

    fn cookie(&self, token: &str, max_age: u64) -> String {
        format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
            auth::COOKIE,
            if self.tls { "; Secure" } else { "" }
        )
    }
}

/// Where to go after logging in: a path of this site only.
fn safe_next(n: &str) -> &str {
    let plain = n
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'));
    if plain && n.starts_with('/') && !n.starts_with("//") {
        n
    } else {
        ""
    }
}

fn next_of(req: &Request) -> String {
    req.query
        .iter()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| safe_next(v).to_string())
        .unwrap_or_default()
}

/// A POST's `Origin`, when the browser sends one, names this host.
fn same_origin(req: &Request) -> bool {
    match (req.header("origin"), req.header("host")) {
        (None, _) => true,
        (Some(o), Some(h)) => o
            .split_once("://")
            .is_some_and(|(_, rest)| rest.trim_end_matches('/') == h),
        (Some(_), None) => false,
    }
}
