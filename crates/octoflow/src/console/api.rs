//! The JSON API behind every page (docs/console.md lists it): the same
//! access rules as the pages, checked here once per request. A tenant asking
//! for a profile that is not its own gets 403 whether or not it exists, so
//! ids of other tenants cannot be probed.

use octoflow_filter::Filter;
use octoflow_query::series::SLOT_MS;
use octoflow_query::Order;
use serde_json::{json, Value};

use super::data::{self, Scope};
use super::http::{Request, Response};
use super::params::Params;
use super::App;
use crate::config::console::User;
use crate::profile::Profile;

/// Default windows: a day for graphs, an hour for details.
const SERIES_SPAN_MS: u64 = 86_400_000;
const DETAILS_SPAN_MS: u64 = 3_600_000;
/// The most rows a top-N table or a page of flows holds.
const MAX_TOP: u64 = 1000;
const MAX_FLOWS: u64 = 10_000;
/// The most buckets a series answer holds (a day in 5-minute slots is 288).
const MAX_BUCKETS: u64 = 5000;
/// The longest filter taken.
const MAX_FILTER: usize = 4096;

/// `/api/v1/…` for `user`.
pub fn handle(app: &App, user: &User, req: &Request, now_ms: u64) -> Response {
    let Some(rest) = req.path.strip_prefix("/api/v1/") else {
        return Response::error(404, format!("no such endpoint: {}", req.path));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let cfg = app.config();
    let r = match parts.as_slice() {
        ["whoami"] => Params::check(&req.query, &[]).map(|_| {
            Response::json(
                200,
                &json!({
                    "name": user.name,
                    "admin": user.is_admin(),
                    "profiles": visible(&cfg.profiles, user).iter().map(|p| &p.id).collect::<Vec<_>>(),
                }),
            )
        }),
        ["status"] => {
            if !user.is_admin() {
                return Response::error(403, "forbidden: the status is for admin users");
            }
            Params::check(&req.query, &[]).map(|_| Response::json(200, &app.status.json()))
        }
        ["profiles"] => Params::check(&req.query, &[]).map(|_| {
            let list: Vec<Value> = visible(&cfg.profiles, user)
                .into_iter()
                .map(describe)
                .collect();
            Response::json(200, &json!({ "profiles": list }))
        }),
        ["profiles", id, what @ ..] => {
            let p = match cfg.profiles.iter().find(|p| p.id == *id) {
                Some(p) if user.may_see(&p.id) => p,
                _ if !user.is_admin() => {
                    return Response::error(
                        403,
                        format!("forbidden: profile {id:?} is not one of {}'s", user.name),
                    )
                }
                _ => return Response::error(404, format!("no profile {id:?}")),
            };
            let Some(dir) = cfg
                .outputs
                .iter()
                .find(|o| o.id == p.store)
                .and_then(|o| o.store())
                .map(|s| s.path.clone())
            else {
                return Response::error(500, format!("profile {:?}: its store {:?} is not in the configuration", p.id, p.store));
            };
            match what {
                [] => Params::check(&req.query, &[]).map(|_| Response::json(200, &describe(p))),
                ["series"] => series(app, p, &dir, req, now_ms),
                ["top"] => top(p, &dir, req, now_ms),
                ["flows"] => flows(p, &dir, req, now_ms),
                _ => return Response::error(404, format!("no such endpoint: {}", req.path)),
            }
        }
        _ => return Response::error(404, format!("no such endpoint: {}", req.path)),
    };
    r.unwrap_or_else(|e| Response::error(400, e))
}

/// The profiles `user` may see, in configuration order.
pub fn visible<'a>(all: &'a [Profile], user: &User) -> Vec<&'a Profile> {
    all.iter().filter(|p| user.may_see(&p.id)).collect()
}

fn describe(p: &Profile) -> Value {
    json!({
        "id": p.id,
        "store": p.store,
        "keep_days": p.keep_days,
        "slot_secs": SLOT_MS / 1000,
        "channels": data::channels(p),
    })
}

fn series(
    app: &App,
    p: &Profile,
    dir: &std::path::Path,
    req: &Request,
    now_ms: u64,
) -> Result<Response, String> {
    let ps = Params::check(&req.query, &["from", "to", "step"])?;
    let (from, to) = ps.window(now_ms, SERIES_SPAN_MS)?;
    let step = data::step_ms(
        from,
        to,
        ps.get("step")
            .map(|s| {
                s.parse::<u64>()
                    .map_err(|_| format!("step={s:?}: give seconds, a multiple of 300"))
            })
            .transpose()?,
    )?;
    if (to - from).div_ceil(step) > MAX_BUCKETS {
        return Err(format!(
            "step={}: {} buckets, at most {MAX_BUCKETS}: give a larger step",
            step / 1000,
            (to - from).div_ceil(step)
        ));
    }
    let s = app.series.window(
        &crate::profile::file::path(dir, &p.id),
        p.channels.len(),
        from,
        to,
    )?;
    Ok(Response::json(200, &data::series(p, &s, from, to, step)))
}

/// The details' common parameters: window, channels, filter.
fn scope<'a>(
    p: &'a Profile,
    dir: &'a std::path::Path,
    ps: &Params,
    now_ms: u64,
) -> Result<Scope<'a>, String> {
    let (from_ms, to_ms) = ps.window(now_ms, DETAILS_SPAN_MS)?;
    let channels = match ps.get("channels") {
        None => (0..p.channels.len()).collect(),
        Some(list) => {
            let mut v = Vec::new();
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                match p.channels.iter().position(|c| c.name == name) {
                    Some(i) => v.push(i),
                    None => {
                        let names: Vec<&str> = p.channels.iter().map(|c| c.name.as_str()).collect();
                        return Err(format!(
                            "channels: {name:?} is not a channel of {} ({})",
                            p.id,
                            names.join(", ")
                        ));
                    }
                }
            }
            v
        }
    };
    let text = ps.get("filter").unwrap_or("");
    if text.len() > MAX_FILTER {
        return Err(format!(
            "filter: {} bytes, at most {MAX_FILTER}",
            text.len()
        ));
    }
    let filter =
        Filter::parse(text).map_err(|e| format!("filter: {e} (at column {})", e.column))?;
    Ok(Scope {
        profile: p,
        store_dir: dir,
        channels,
        filter,
        from_ms,
        to_ms,
    })
}

fn csv_or_json(ps: &Params) -> Result<bool, String> {
    match ps.get("format") {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(f) => Err(format!("format={f:?}: give json or csv")),
    }
}

fn answer(v: Value, text: String, csv: bool, name: &str) -> Response {
    if csv {
        Response::new(200, "text/csv; charset=utf-8", text).with(
            "Content-Disposition",
            format!("attachment; filename=\"{name}.csv\""),
        )
    } else {
        Response::json(200, &v)
    }
}

fn top(p: &Profile, dir: &std::path::Path, req: &Request, now_ms: u64) -> Result<Response, String> {
    let ps = Params::check(
        &req.query,
        &[
            "from", "to", "filter", "channels", "field", "order", "n", "format",
        ],
    )?;
    let sc = scope(p, dir, &ps, now_ms)?;
    let field = ps.get("field").unwrap_or("srcip");
    let order: Order = ps
        .get("order")
        .unwrap_or("bytes")
        .parse()
        .map_err(|e| format!("order: {e}"))?;
    let n = ps.number("n", 10, 1..=MAX_TOP)? as usize;
    let csv = csv_or_json(&ps)?;
    let (v, text) = data::top(&sc, field, order, n, csv)?;
    Ok(answer(v, text, csv, &format!("{}-top-{field}", p.id)))
}

fn flows(
    p: &Profile,
    dir: &std::path::Path,
    req: &Request,
    now_ms: u64,
) -> Result<Response, String> {
    let ps = Params::check(
        &req.query,
        &[
            "from", "to", "filter", "channels", "limit", "offset", "format",
        ],
    )?;
    let sc = scope(p, dir, &ps, now_ms)?;
    let limit = ps.number("limit", 100, 1..=MAX_FLOWS)?;
    let offset = ps.number("offset", 0, 0..=u64::MAX)?;
    let csv = csv_or_json(&ps)?;
    let text = data::flows(&sc, offset, limit, csv)?;
    Ok(if csv {
        answer(Value::Null, text, true, &format!("{}-flows", p.id))
    } else {
        Response::new(200, "application/json", text)
    })
}
