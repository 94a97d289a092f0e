//! The console's HTML: small server-made pages that name the user, the
//! profiles they may see and what the page shows (`data-*` on `<body>`); the
//! embedded script (`assets/console.js`) draws the graphs and tables from the
//! JSON API. Everything is in the binary; no request leaves the machine.

use super::http::Response;
use crate::config::console::User;
use crate::profile::Profile;

const JS: &str = include_str!("assets/console.js");
const CSS: &str = include_str!("assets/console.css");

/// `/assets/…`.
pub fn asset(path: &str) -> Response {
    let (ty, body) = match path {
        "/assets/console.js" => ("text/javascript; charset=utf-8", JS),
        "/assets/console.css" => ("text/css; charset=utf-8", CSS),
        _ => return Response::error(404, format!("no such asset: {path}")),
    };
    Response::new(200, ty, body).with("Cache-Control", "private, max-age=300".into())
}

/// Text for HTML (content and quoted attributes).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>octoflow · {}</title><link rel=\"stylesheet\" href=\"/assets/console.css\">\
         <script src=\"/assets/console.js\" defer></script></head>\n",
        esc(title)
    )
}

/// A page for a logged-in user: the bar with their profiles, then `main`.
fn page(
    status: u16,
    user: &User,
    visible: &[&Profile],
    title: &str,
    data: &str,
    main: &str,
) -> Response {
    let mut nav = String::new();
    if user.is_admin() {
        nav.push_str("<a href=\"/overview\" id=\"nav-overview\">Overview</a>");
    }
    for p in visible {
        nav.push_str(&format!(
            "<a href=\"/profiles/{0}\" class=\"nav-profile\" data-profile=\"{0}\">{0}</a>",
            esc(&p.id)
        ));
    }
    let body = format!(
        "{}<body {data} data-user=\"{}\" data-admin=\"{}\">\n<header><a class=\"brand\" href=\"/\">octoflow</a><nav>{nav}</nav>\
         <form method=\"post\" action=\"/logout\" class=\"who\"><span id=\"user\">{}</span> <button id=\"logout\">Log out</button></form></header>\n\
         <main>{main}</main></body></html>\n",
        head(title),
        esc(&user.name),
        user.is_admin(),
        esc(&user.name),
    );
    Response::new(status, "text/html; charset=utf-8", body)
}

pub fn login(message: Option<&str>, next: String) -> Response {
    let msg = message.map_or(String::new(), |m| {
        format!("<p class=\"error\" id=\"login-error\">{}</p>", esc(m))
    });
    let body = format!(
        "{}<body data-page=\"login\"><main class=\"login\"><h1>octoflow</h1>{msg}\
         <form method=\"post\" action=\"/login\" id=\"login\">\
         <label>Name <input name=\"name\" id=\"name\" autocomplete=\"username\" required autofocus></label>\
         <label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <input type=\"hidden\" name=\"next\" value=\"{}\"><button id=\"submit\">Log in</button></form></main></body></html>\n",
        head("log in"),
        esc(&next)
    );
    Response::new(200, "text/html; charset=utf-8", body)
}

pub fn overview(user: &User, visible: &[&Profile]) -> Response {
    let main = "<h1>Overview</h1><p id=\"status-error\" class=\"error\" hidden></p>\
        <table id=\"instances\"><thead><tr><th>Instance</th><th>State</th><th>Detail</th>\
        <th class=\"n\">flows/s</th><th class=\"n\">lost/s</th></tr></thead><tbody></tbody></table>\
        <h2>Collectors: flows/s received, last day</h2><svg id=\"rates-collectors\" class=\"chart\" viewBox=\"0 0 1000 220\"></svg>\
        <h2>Outputs: flows/s delivered, last day</h2><svg id=\"rates-outputs\" class=\"chart\" viewBox=\"0 0 1000 220\"></svg>";
    page(
        200,
        user,
        visible,
        "overview",
        "data-page=\"overview\"",
        main,
    )
}

pub fn profile(user: &User, visible: &[&Profile], id: &str) -> Response {
    let main = format!(
        "<h1>Profile {0}</h1>\
        <section id=\"graph-panel\"><div class=\"toolbar\">\
          <span class=\"presets\">{1}</span>\
          <label>Show <select id=\"metric\"><option value=\"flows\">flows/s</option><option value=\"packets\">packets/s</option><option value=\"bits\">bits/s</option></select></label>\
          <label>Protocol <select id=\"class\"><option value=\"all\">all</option><option value=\"tcp\">TCP</option><option value=\"udp\">UDP</option><option value=\"icmp\">ICMP</option><option value=\"other\">other</option></select></label>\
          <span id=\"window\"></span></div>\
          <div id=\"channels\"></div>\
          <svg id=\"graph\" class=\"chart\" viewBox=\"0 0 1000 300\"></svg>\
          <div id=\"cursor\">&nbsp;</div>\
          <table id=\"summary\"></table></section>\
        <section id=\"details\"><h2>Details <span id=\"details-window\"></span></h2>\
          <form id=\"details-form\"><input id=\"filter\" placeholder=\"nfdump filter, e.g. proto tcp and port 443\" size=\"48\">\
          <label>Top <select id=\"top-field\">{2}</select></label>\
          <label>by <select id=\"top-order\"><option>bytes</option><option>packets</option><option>flows</option><option>bps</option><option>pps</option></select></label>\
          <label>N <input id=\"top-n\" type=\"number\" value=\"10\" min=\"1\" max=\"1000\"></label>\
          <button id=\"apply\">Apply</button></form>\
          <p id=\"details-error\" class=\"error\" hidden></p>\
          <h3>Top <a id=\"top-csv\" class=\"csv\" href=\"#\">CSV</a></h3><table id=\"top\"></table>\
          <h3>Flows <a id=\"flows-csv\" class=\"csv\" href=\"#\">CSV</a> <button id=\"prev\" type=\"button\">‹</button> <span id=\"page\"></span> <button id=\"next\" type=\"button\">›</button></h3>\
          <table id=\"flows\"></table></section>",
        esc(id),
        ["2h", "6h", "24h", "7d", "31d", "1y"]
            .iter()
            .map(|s| format!("<button type=\"button\" class=\"preset\" data-span=\"{s}\">{s}</button>"))
            .collect::<String>(),
        [
            ("srcip", "source IP"),
            ("dstip", "destination IP"),
            ("ip", "IP"),
            ("srcport", "source port"),
            ("dstport", "destination port"),
            ("port", "port"),
            ("proto", "protocol"),
            ("srcas", "source AS"),
            ("dstas", "destination AS"),
            ("as", "AS"),
            ("router", "exporter"),
        ]
        .iter()
        .map(|(v, t)| format!("<option value=\"{v}\">{t}</option>"))
        .collect::<String>()
    );
    page(
        200,
        user,
        visible,
        id,
        &format!("data-page=\"profile\" data-profile=\"{}\"", esc(id)),
        &main,
    )
}

pub fn forbidden(user: &User, visible: &[&Profile], why: &str) -> Response {
    page(
        403,
        user,
        visible,
        "forbidden",
        "data-page=\"forbidden\"",
        &format!("<h1>Forbidden</h1><p id=\"forbidden\">{}</p>", esc(why)),
    )
}

pub fn not_found(user: &User, visible: &[&Profile]) -> Response {
    page(
        404,
        user,
        visible,
        "not found",
        "data-page=\"missing\"",
        "<h1>Not found</h1>",
    )
}
