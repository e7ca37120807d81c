//! The statistics page (`stats enable`, `stats uri`, ...): what haproxy serves on requests
//! whose target begins with the stats URI. `;csv` in the target gives the same CSV as the
//! stats socket's `show stat`; otherwise an HTML table of the same rows. `stats auth`
//! accounts are asked for with HTTP Basic authentication.
//!
//! `stats admin if COND`: the page then has a form per backend that sets its servers'
//! states (READY, DRAIN, MAINT), and takes the form's POST as haproxy does (fields `s`,
//! `action`, `b=#ID`; a 303 back to the page with `;st=DONE|PART|NONE|ERRP|DENY`).
//!
//! Not here: `stats scope` and `stats http-request` rules, which the configuration refuses,
//! and the admin actions on health and agent checks and sessions (answered `ERRP`); the HTML
//! is dermaga's own layout, not haproxy's.

use std::fmt::Write as _;

use crate::config::StatsPage;
use crate::state::Shared;

/// Whether a request for `target` is one for the page.
pub fn asked(page: &StatsPage, target: &[u8]) -> bool {
    target.starts_with(page.uri.as_bytes())
}

/// Whether the request's `Authorization` header value (if any) names one of the accounts.
pub fn authorized(page: &StatsPage, authorization: Option<&[u8]>) -> bool {
    if page.auth.is_empty() {
        return true;
    }
    let Some((user, pass)) = authorization.and_then(crate::auth::basic_credentials) else {
        return false;
    };
    page.auth.iter().any(|a| {
        a.split_once(':')
            .is_some_and(|(u, p)| u.as_bytes() == user && p.as_bytes() == pass)
    })
}

/// haproxy's answer when the credentials are missing or wrong.
pub fn unauthorized(page: &StatsPage) -> Vec<u8> {
    crate::auth::unauthorized(&page.realm)
}

/// The page for `target`: CSV when it holds `;csv`, else HTML.
pub fn answer(shared: &Shared, page: &StatsPage, target: &[u8], admin: bool) -> Vec<u8> {
    let mut csv = String::new();
    crate::stats::show_stat(shared, &mut csv);
    // The socket's answer ends with an empty line; the page's does not.
    if csv.ends_with("\n\n") {
        csv.pop();
    }
    let rest = &target[page.uri.len().min(target.len())..];
    let want_csv = memchr::memmem::find(rest, b";csv").is_some();
    let norefresh = memchr::memmem::find(rest, b";norefresh").is_some();
    let (ctype, body) = if want_csv {
        ("text/plain", csv)
    } else {
        ("text/html", html(page, &csv, admin))
    };
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: {ctype}\r\n",
        body.len()
    );
    if let (Some(r), false) = (page.refresh, norefresh) {
        let _ = write!(out, "refresh: {}\r\n", r.as_secs().max(1));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

/// Columns of the HTML table: (CSV column, heading).
const COLUMNS: &[(&str, &str)] = &[
    ("svname", "Name"),
    ("status", "Status"),
    ("weight", "Weight"),
    ("act", "Act"),
    ("bck", "Bck"),
    ("qcur", "Queue"),
    ("scur", "Sessions"),
    ("smax", "Max"),
    ("slim", "Limit"),
    ("stot", "Total"),
    ("bin", "Bytes in"),
    ("bout", "Bytes out"),
    ("dreq", "Denied"),
    ("ereq", "Req errors"),
    ("econ", "Conn errors"),
    ("eresp", "Resp errors"),
    ("wretr", "Retries"),
    ("wredis", "Redispatches"),
    ("check_status", "Check"),
    ("lastchg", "Last change (s)"),
];

/// One table per proxy, rows in `show stat`'s order.
fn html(page: &StatsPage, csv: &str, admin: bool) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let picked: Vec<(Option<usize>, &str)> = COLUMNS.iter().map(|(c, h)| (col(c), *h)).collect();
    let px = col("pxname");
    let (iid, ty, sv) = (col("iid"), col("type"), col("svname"));
    // With `stats admin`, each backend's table is a form: a box per server, then the action.
    let mut form_of: Option<String> = None;
    let end_table = |out: &mut String, form: &mut Option<String>| {
        out.push_str("</table>\n");
        if let Some(id) = form.take() {
            let _ = writeln!(
                out,
                "<select name=\"action\"><option value=\"\"></option><option value=\"ready\">Set state to READY</option><option value=\"drain\">Set state to DRAIN</option><option value=\"maint\">Set state to MAINT</option></select><input type=\"hidden\" name=\"b\" value=\"#{}\"><input type=\"submit\" value=\"Apply\"></form>",
                escape(&id)
            );
        }
    };
    let mut out = String::with_capacity(4096);
    out.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Statistics Report for dermaga</title>\n<style>body{font-family:sans-serif;font-size:12px}table{border-collapse:collapse;margin-bottom:1.5em}th,td{border:1px solid #999;padding:2px 6px;text-align:right}td:first-child,th:first-child{text-align:left}.UP{background:#c0f0c0}.DOWN{background:#f0c0c0}.MAINT{background:#c0c0f0}.DRAIN{background:#f0f0a0}</style></head><body>\n<h1>Statistics Report</h1>\n");
    if !page.hide_version {
        let _ = writeln!(out, "<p>dermaga {}</p>", env!("CARGO_PKG_VERSION"));
    }
    if let Some(node) = &page.show_node {
        // `stats show-node` without a name shows the host's, as haproxy does.
        let host;
        let node = if node.is_empty() {
            host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            host.trim()
        } else {
            node.as_str()
        };
        let _ = writeln!(out, "<p>Node: {}</p>", escape(node));
    }
    if let Some(desc) = &page.show_desc {
        let _ = writeln!(out, "<p>{}</p>", escape(desc));
    }
    let mut current: Option<String> = None;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let name = px.and_then(|i| f.get(i)).copied().unwrap_or("");
        let field = |i: Option<usize>| i.and_then(|i| f.get(i)).copied().unwrap_or("");
        if current.as_deref() != Some(name) {
            if current.is_some() {
                end_table(&mut out, &mut form_of);
            }
            let _ = writeln!(out, "<h2>{}</h2>", escape(name));
            if admin {
                out.push_str("<form method=\"post\">\n");
                form_of = Some(field(iid).to_string());
            }
            out.push_str("<table><tr>");
            if admin {
                out.push_str("<th></th>");
            }
            for (_, h) in &picked {
                let _ = write!(out, "<th>{h}</th>");
            }
            out.push_str("</tr>\n");
            current = Some(name.to_string());
        }
        let status = col("status").and_then(|i| f.get(i)).copied().unwrap_or("");
        let class = status.split_whitespace().next().unwrap_or("");
        let _ = write!(out, "<tr class=\"{}\">", escape(class));
        if admin {
            if field(ty) == "2" {
                let s = escape(field(sv));
                let _ = write!(
                    out,
                    "<td><input type=\"checkbox\" name=\"s\" value=\"{s}\"></td>"
                );
            } else {
                out.push_str("<td></td>");
            }
        }
        for (i, _) in &picked {
            let v = i.and_then(|i| f.get(i)).copied().unwrap_or("");
            let _ = write!(out, "<td>{}</td>", escape(v));
        }
        out.push_str("</tr>\n");
    }
    if current.is_some() {
        end_table(&mut out, &mut form_of);
    }
    if page.show_legends {
        out.push_str("<p>UP: in rotation; DOWN: failed its checks; MAINT: in maintenance; DRAIN: takes no new traffic.</p>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// The outcome of an admin form's POST, as haproxy names it in the `;st=` it redirects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOutcome {
    /// Every server named was changed.
    Done,
    /// Some were.
    Partial,
    /// No server was named.
    None,
    /// A backend, action or server that is not there.
    Invalid,
    /// The `stats admin` condition does not hold (or there is none).
    Denied,
}

impl AdminOutcome {
    fn code(self) -> &'static str {
        match self {
            AdminOutcome::Done => "DONE",
            AdminOutcome::Partial => "PART",
            AdminOutcome::None => "NONE",
            AdminOutcome::Invalid => "ERRP",
            AdminOutcome::Denied => "DENY",
        }
    }
}

/// Carries out an admin form (`application/x-www-form-urlencoded`: `s` servers, `action`,
/// `b` the backend as `#ID` or by name).
pub fn apply_admin_form(shared: &Shared, form: &[u8]) -> AdminOutcome {
    use crate::AdminState;
    let mut servers = Vec::new();
    let (mut action, mut backend) = (None, None);
    for pair in form.split(|&c| c == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match memchr::memchr(b'=', pair) {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let v = form_decode(v);
        match k {
            b"s" => servers.push(v),
            b"action" => action = Some(v),
            b"b" => backend = Some(v),
            _ => {}
        }
    }
    let st = match action.as_deref() {
        Some("ready") => AdminState::Ready,
        Some("drain") => AdminState::Drain,
        Some("maint") => AdminState::Maint,
        _ => return AdminOutcome::Invalid,
    };
    let Some(b) = backend.as_deref().and_then(|b| match b.strip_prefix('#') {
        Some(id) => shared
            .backends
            .iter()
            .find(|x| id.parse::<u32>().is_ok_and(|id| x.id == id)),
        None => shared.backends.iter().find(|x| x.name == b),
    }) else {
        return AdminOutcome::Invalid;
    };
    if servers.is_empty() {
        return AdminOutcome::None;
    }
    let mut changed = 0;
    for name in &servers {
        if let Some(s) = b.server(name) {
            crate::proxy::set_admin_state(shared, b, &s, st);
            changed += 1;
        }
    }
    match changed {
        0 => AdminOutcome::Invalid,
        n if n == servers.len() => AdminOutcome::Done,
        _ => AdminOutcome::Partial,
    }
}

/// haproxy's answer to an admin POST: back to the page, saying how it went.
pub fn admin_redirect(page: &StatsPage, outcome: AdminOutcome) -> Vec<u8> {
    format!(
        "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nlocation: {};st={}\r\n\r\n",
        page.uri,
        outcome.code()
    )
    .into_bytes()
}

/// A form value: `+` is a space, `%XX` an octet.
fn form_decode(v: &[u8]) -> String {
    let spaced: Vec<u8> = v
        .iter()
        .map(|&c| if c == b'+' { b' ' } else { c })
        .collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            _ => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(form_decode(b"%233"), "#3");
        assert_eq!(form_decode(b"a+b%2Bc"), "a b+c");
        assert_eq!(form_decode(b"100%"), "100%");
    }

    #[test]
    fn basic_credentials_are_checked() {
        let page = StatsPage {
            auth: vec!["admin:secret".into(), "ro:x y".into()],
            ..StatsPage::default()
        };
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert!(authorized(
            &page,
            Some(format!("Basic {}", b("admin:secret")).as_bytes())
        ));
        assert!(authorized(
            &page,
            Some(format!("basic  {} ", b("ro:x y")).as_bytes())
        ));
        assert!(!authorized(
            &page,
            Some(format!("Basic {}", b("admin:nope")).as_bytes())
        ));
        assert!(!authorized(&page, Some(b"Basic !!!")));
        assert!(!authorized(&page, Some(b"Bearer abc")));
        assert!(!authorized(&page, None));
        assert!(authorized(&StatsPage::default(), None));
    }

    #[test]
    fn the_target_prefix_asks_for_the_page() {
        let page = StatsPage::default();
        assert!(asked(&page, b"/haproxy?stats"));
        assert!(asked(&page, b"/haproxy?stats;csv"));
        assert!(!asked(&page, b"/haproxy"));
    }

    #[test]
    fn html_shows_what_the_options_ask_for() {
        let csv = "# pxname,svname,status,scur\nbe,s1,UP,3\nbe,BACKEND,UP,3\n";
        let plain = html(&StatsPage::default(), csv, false);
        assert!(plain.contains(env!("CARGO_PKG_VERSION")));
        assert!(plain.contains("<tr class=\"UP\"><td>s1</td><td>UP</td>"));
        assert!(!plain.contains("Node:") && !plain.contains("in rotation"));
        let page = StatsPage {
            hide_version: true,
            show_node: Some("lb<1>".into()),
            show_desc: Some("edge".into()),
            show_legends: true,
            ..StatsPage::default()
        };
        let h = html(&page, csv, false);
        assert!(!h.contains(env!("CARGO_PKG_VERSION")));
        assert!(h.contains("Node: lb&lt;1&gt;") && h.contains("<p>edge</p>"));
        assert!(h.contains("in rotation"));
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let unnamed = StatsPage {
            show_node: Some(String::new()),
            ..StatsPage::default()
        };
        assert!(html(&unnamed, csv, false).contains(&format!("Node: {}", host.trim())));
    }

    #[test]
    fn html_escapes_names() {
        let csv = "# pxname,svname,status\n<fe>,FRONTEND,OPEN\n";
        let h = html(&StatsPage::default(), csv, false);
        assert!(h.contains("<h2>&lt;fe&gt;</h2>"));
        assert!(!h.contains("<fe>"));
    }
}
