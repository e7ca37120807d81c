//! ACL matching: conditions read from real configuration text, evaluated against requests.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::ControlFlow;

use dermaga_proxy::acl::{render_sample, Condition, Fetch, SampleSource};
use dermaga_proxy::config::{self, Config};

/// A request as the data path would present it.
#[derive(Clone)]
struct Req {
    method: &'static str,
    url: &'static str,
    version: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    src: Option<IpAddr>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    sni: Option<&'static str>,
    hello: Option<u8>,
}

impl Req {
    fn get(url: &'static str) -> Req {
        Req {
            method: "GET",
            url,
            version: "1.1",
            headers: vec![("Host", "www.example.com")],
            src: Some("192.168.1.10".parse().unwrap()),
            src_port: Some(40000),
            dst_port: Some(80),
            sni: None,
            hello: None,
        }
    }

    fn header(mut self, n: &'static str, v: &'static str) -> Req {
        self.headers.push((n, v));
        self
    }

    fn host(mut self, v: &'static str) -> Req {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
        self.headers.push(("Host", v));
        self
    }

    fn src(mut self, ip: &str) -> Req {
        self.src = Some(ip.parse().unwrap());
        self
    }

    fn method(mut self, m: &'static str) -> Req {
        self.method = m;
        self
    }
}

impl SampleSource for Req {
    fn method(&self) -> &[u8] {
        self.method.as_bytes()
    }
    fn url(&self) -> &[u8] {
        self.url.as_bytes()
    }
    fn http_version(&self) -> &[u8] {
        self.version.as_bytes()
    }
    fn for_each_header(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) {
        for (n, v) in &self.headers {
            if n.as_bytes().eq_ignore_ascii_case(name) && f(v.as_bytes()).is_break() {
                return;
            }
        }
    }
    fn src(&self) -> Option<IpAddr> {
        self.src
    }
    fn src_port(&self) -> Option<u16> {
        self.src_port
    }
    fn dst_port(&self) -> Option<u16> {
        self.dst_port
    }
    fn ssl_sni(&self) -> Option<&[u8]> {
        self.sni.map(str::as_bytes)
    }
    fn ssl_hello_type(&self) -> Option<u8> {
        self.hello
    }
}

/// Loads a frontend with the given ACL lines and one `use_backend be if COND` per condition;
/// returns the conditions in order.
fn conditions(acls: &str, conds: &[&str]) -> Vec<Condition> {
    let mut text = String::from(
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nfrontend fe\n  bind 127.0.0.1:8080\n",
    );
    for l in acls.lines() {
        text.push_str("  ");
        text.push_str(l.trim());
        text.push('\n');
    }
    for c in conds {
        text.push_str(&format!("  use_backend be {c}\n"));
    }
    text.push_str("backend be\n  server s 127.0.0.1:9\n");
    let (cfg, _warnings) = config::load_str("acl.cfg", &text, &HashMap::<String, String>::new())
        .unwrap_or_else(|e| panic!("config rejected: {e:#?}\n{text}"));
    frontend_conds(&cfg)
}

fn frontend_conds(cfg: &Config) -> Vec<Condition> {
    cfg.frontend("fe")
        .unwrap()
        .use_backends
        .iter()
        .map(|u| u.cond.clone().unwrap())
        .collect()
}

fn holds(acl: &str, req: &Req) -> bool {
    conditions(acl, &["if a"])[0].eval(req)
}

#[test]
fn header_fetches() {
    let r = Req::get("/").host("www.Example.com");
    assert!(holds("acl a hdr(host) -i www.example.com", &r));
    assert!(!holds("acl a hdr(host) www.example.com", &r));
    assert!(holds("acl a hdr(Host) -m str www.Example.com", &r));
    assert!(holds("acl a req.hdr(host) -i WWW.EXAMPLE.COM", &r));
    assert!(holds("acl a hdr_beg(host) -i www.", &r));
    assert!(holds("acl a hdr_end(host) -i .com", &r));
    assert!(holds("acl a hdr_sub(host) -i ample", &r));
    assert!(holds("acl a hdr_reg(host) -i ^www\\.[a-z]+\\.com$", &r));
    assert!(!holds("acl a hdr_reg(host) ^www\\.[a-z]+\\.com$", &r));
    assert!(holds("acl a hdr_dom(host) -i example.com", &r));
    assert!(holds("acl a hdr_dom(host) -i www", &r));
    assert!(!holds("acl a hdr_dom(host) -i ample.com", &r));
    assert!(holds("acl a hdr_len(host) 15", &r));
    assert!(holds("acl a hdr(host) -m found", &r));
    assert!(!holds("acl a hdr(x-missing) -m found", &r));
    // A missing header matches nothing, so its negation holds.
    assert!(conditions("acl a hdr(x-missing) foo", &["unless a"])[0].eval(&r));
    assert!(conditions("acl a hdr(x-missing) foo", &["if !a"])[0].eval(&r));
}

#[test]
fn header_values_split_on_commas_and_counted() {
    let r = Req::get("/")
        .header("X-Forwarded-For", "10.0.0.1, 10.0.0.2")
        .header("X-Forwarded-For", "10.0.0.3");
    assert!(holds("acl a hdr(x-forwarded-for) 10.0.0.2", &r));
    assert!(holds("acl a hdr_cnt(x-forwarded-for) 3", &r));
    assert!(holds("acl a hdr_cnt(x-forwarded-for) gt 2", &r));
    assert!(!holds("acl a hdr_cnt(x-forwarded-for) gt 3", &r));
    assert!(holds("acl a req.hdr_cnt(x-forwarded-for) 2:5", &r));
    assert!(holds("acl a hdr(x-forwarded-for,1) 10.0.0.1", &r));
    assert!(!holds("acl a hdr(x-forwarded-for,1) 10.0.0.3", &r));
    assert!(holds("acl a hdr(x-forwarded-for,-1) 10.0.0.3", &r));
    assert!(holds("acl a hdr_ip(x-forwarded-for) 10.0.0.0/30", &r));
    assert!(holds("acl a hdr_cnt(x-none) 0", &r));
    let n = Req::get("/").header("Content-Length", "1234");
    assert!(holds("acl a hdr_val(content-length) ge 1000", &n));
}

#[test]
fn path_and_url_fetches() {
    let r = Req::get("/api/v1/users.json?id=7&user=bob&user=eve");
    assert!(holds("acl a path /api/v1/users.json", &r));
    assert!(!holds("acl a path /api/v1/users.json?id=7", &r));
    assert!(holds("acl a path_beg /static /api", &r));
    assert!(holds("acl a path_end .json .xml", &r));
    assert!(holds("acl a path_sub /v1/", &r));
    assert!(holds("acl a path_reg ^/api/v[0-9]+/", &r));
    assert!(holds("acl a path_dir v1", &r));
    assert!(holds("acl a path_dir api/v1", &r));
    assert!(!holds("acl a path_dir v", &r));
    assert!(holds("acl a path_len gt 10", &r));
    assert!(holds("acl a url_beg /api/v1/users.json?id", &r));
    assert!(holds("acl a url_sub user=bob", &r));
    assert!(holds(
        "acl a url /api/v1/users.json?id=7&user=bob&user=eve",
        &r
    ));
    assert!(holds("acl a url_param(user) eve", &r));
    assert!(holds("acl a urlp(id) 7", &r));
    assert!(!holds("acl a url_param(us) bob", &r));
    assert!(holds("acl a url_param(id) -m found", &r));
    assert!(!holds("acl a url_param(nope) -m found", &r));
    assert!(holds("acl a urlp_beg(user) bo", &r));
    assert!(holds("acl a path_beg -i /API", &r));
    // Absolute-form targets: the path starts after the authority.
    let abs = Req::get("http://www.example.com/a/b?c");
    assert!(holds("acl a path /a/b", &abs));
    assert!(!holds("acl a path_beg http", &abs));
    assert!(holds("acl a url_beg http://", &abs));
    // `*` has no path.
    let star = Req::get("*").method("OPTIONS");
    assert!(!holds("acl a path_beg /", &star));
    assert!(holds("acl a path_beg /", &Req::get("/")));
}

#[test]
fn method_version_and_predefined_acls() {
    let get = Req::get("/");
    let post = Req::get("/").method("POST");
    assert!(holds("acl a method GET HEAD", &get));
    assert!(!holds("acl a method GET HEAD", &post));
    assert!(holds("acl a method -i post", &post));
    let c = conditions(
        "",
        &[
            "if METH_GET",
            "if METH_POST",
            "if HTTP_1.1",
            "if TRUE",
            "if FALSE",
            "if LOCALHOST",
            "if HTTP_URL_SLASH",
        ],
    );
    assert!(c[0].eval(&get) && !c[0].eval(&post));
    assert!(c[1].eval(&post));
    assert!(c[2].eval(&get));
    assert!(c[3].eval(&get));
    assert!(!c[4].eval(&get));
    assert!(!c[5].eval(&get));
    assert!(c[5].eval(&get.clone().src("127.0.0.1")));
    assert!(c[5].eval(&get.clone().src("::1")));
    assert!(c[6].eval(&get));
}

#[test]
fn addresses_and_ports() {
    let r = Req::get("/").src("10.1.2.3");
    assert!(holds("acl a src 10.0.0.0/8", &r));
    assert!(holds("acl a src 192.168.0.0/16 10.1.2.3", &r));
    assert!(!holds("acl a src 192.168.0.0/16", &r));
    assert!(holds("acl a src 10.0.0.0/255.0.0.0", &r));
    // IPv4 networks match IPv4-mapped IPv6 clients and the other way round.
    assert!(holds(
        "acl a src 10.0.0.0/8",
        &Req::get("/").src("::ffff:10.9.9.9")
    ));
    assert!(holds("acl a src ::ffff:10.0.0.0/104", &r));
    assert!(holds(
        "acl a src 2001:db8::/32",
        &Req::get("/").src("2001:db8::1")
    ));
    assert!(!holds(
        "acl a src 2001:db8::/32",
        &Req::get("/").src("2001:db9::1")
    ));
    assert!(holds("acl a dst_port 80 443", &r));
    assert!(holds("acl a dst_port 1:1024", &r));
    assert!(holds("acl a dst_port ge 80", &r));
    assert!(!holds("acl a dst_port lt 80", &r));
    assert!(holds("acl a src_port 40000", &r));
    assert!(holds("acl a dst_port -m str 80", &r));
    assert!(holds("acl a src -m beg 10.1.", &r));
}

#[test]
fn sni_and_hello() {
    let mut r = Req::get("");
    r.method = "";
    r.headers.clear();
    r.sni = Some("API.example.com");
    r.hello = Some(1);
    assert!(holds("acl a req.ssl_sni -i api.example.com", &r));
    assert!(!holds("acl a req.ssl_sni api.example.com", &r));
    assert!(holds("acl a req_ssl_sni -m end .com", &r));
    assert!(holds("acl a req.ssl_sni -m dom -i example.com", &r));
    assert!(holds("acl a req.ssl_hello_type 1", &r));
    let mut none = r.clone();
    none.sni = None;
    assert!(!holds("acl a req.ssl_sni -m found", &none));
}

#[test]
fn conditions_combine_as_haproxy_does() {
    let acls = "acl a path_beg /a\nacl b hdr(host) -i x.example\nacl c src 10.0.0.0/8";
    let conds = conditions(
        acls,
        &[
            "if a b",      // AND
            "if a || b",   // OR
            "if a or c",   // OR spelled out
            "unless a",    // negated
            "if !a b",     // negated term
            "if a ! b",    // lone '!'
            "if a b || c", // AND binds tighter
            "if { path_beg /a } { src 10.0.0.0/8 }",
            "if a !{ src 10.0.0.0/8 }",
        ],
    );
    let r_ab = Req::get("/a/1").host("x.example");
    let r_a = Req::get("/a/1");
    let r_c = Req::get("/z").src("10.1.1.1");
    let r_none = Req::get("/z");
    let table: &[(&Req, [bool; 9])] = &[
        (
            &r_ab,
            [true, true, true, false, false, false, true, false, true],
        ),
        (
            &r_a,
            [false, true, true, false, false, true, false, false, true],
        ),
        (
            &r_c,
            [false, false, true, true, false, false, true, false, false],
        ),
        (
            &r_none,
            [false, false, false, true, false, false, false, false, false],
        ),
    ];
    for (req, expected) in table {
        let got: Vec<bool> = conds.iter().map(|c| c.eval(*req)).collect();
        assert_eq!(got, expected.to_vec(), "request {}", req.url);
    }
}

#[test]
fn same_name_lines_are_ored_even_after_use() {
    // haproxy merges `acl` lines with one name, including lines after the rule using it.
    let text = "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
frontend fe\n  bind 127.0.0.1:8080\n  acl st path_beg /static\n  use_backend be if st\n  acl st path_end .css\n\
backend be\n  server s 127.0.0.1:9\n";
    let (cfg, _) = config::load_str("t.cfg", text, &HashMap::<String, String>::new()).unwrap();
    let c = &frontend_conds(&cfg)[0];
    assert!(c.eval(&Req::get("/static/x")));
    assert!(c.eval(&Req::get("/x/site.css")));
    assert!(!c.eval(&Req::get("/x/site.js")));
}

#[test]
fn patterns_from_files() {
    let dir = std::env::temp_dir().join(format!("dermaga-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("blocked.lst");
    std::fs::write(&f, "# blocked networks\n10.0.0.0/8\n\n  192.168.7.7  \n").unwrap();
    let acl = format!("acl a src -f {}", f.display());
    assert!(holds(&acl, &Req::get("/").src("10.2.3.4")));
    assert!(holds(&acl, &Req::get("/").src("192.168.7.7")));
    assert!(!holds(&acl, &Req::get("/").src("192.168.7.8")));
    let h = dir.join("hosts.lst");
    std::fs::write(&h, "a.example\nB.example\n").unwrap();
    let acl = format!("acl a hdr(host) -i -f {} c.example", h.display());
    assert!(holds(&acl, &Req::get("/").host("b.EXAMPLE")));
    assert!(holds(&acl, &Req::get("/").host("c.example")));
    assert!(!holds(&acl, &Req::get("/").host("d.example")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn samples_render_as_text() {
    let r = Req::get("/p?user=bob")
        .header("X-A", "1")
        .header("X-A", "2, 3")
        .src("10.0.0.9");
    let mut out = Vec::new();
    render_sample(
        &Fetch::Hdr {
            name: b"x-a".to_vec().into(),
            occ: None,
        },
        &r,
        &mut out,
    );
    assert_eq!(
        out, b"3",
        "the last occurrence, as a sample expression takes it"
    );
    out.clear();
    render_sample(&Fetch::Src, &r, &mut out);
    assert_eq!(out, b"10.0.0.9");
    out.clear();
    render_sample(
        &Fetch::UrlParam {
            name: b"user".to_vec().into(),
        },
        &r,
        &mut out,
    );
    assert_eq!(out, b"bob");
    out.clear();
    render_sample(&Fetch::Path, &r, &mut out);
    assert_eq!(out, b"/p");
    out.clear();
    render_sample(&Fetch::DstPort, &r, &mut out);
    assert_eq!(out, b"80");
}

#[test]
fn large_pattern_lists() {
    let dir = std::env::temp_dir().join(format!("dermaga-acl-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let nets: String = (0..10_000u32)
        .map(|i| format!("10.{}.{}.0/24\n", i / 256, i % 256))
        .chain((0..1000u32).map(|i| format!("2001:db8:{i:x}::/48\n")))
        .collect();
    let nf = dir.join("nets.lst");
    std::fs::write(&nf, nets).unwrap();
    let hosts: String = (0..5000)
        .map(|i| format!("Host{i}.Example.com\n"))
        .collect();
    let hf = dir.join("hosts.lst");
    std::fs::write(&hf, hosts).unwrap();
    let c = conditions(
        &format!(
            "acl n src -f {}\nacl h hdr(host) -i -f {}\nacl hc hdr(host) -f {}",
            nf.display(),
            hf.display(),
            hf.display()
        ),
        &["if n", "if h", "if hc"],
    );
    assert!(c[0].eval(&Req::get("/").src("10.39.15.200")));
    assert!(c[0].eval(&Req::get("/").src("10.0.0.1")));
    assert!(
        !c[0].eval(&Req::get("/").src("10.40.16.1")),
        "past the end of the list"
    );
    assert!(c[0].eval(&Req::get("/").src("2001:db8:3e7::1")));
    assert!(!c[0].eval(&Req::get("/").src("2001:db8:3e8::1")));
    assert!(c[1].eval(&Req::get("/").host("host4999.example.COM")));
    assert!(!c[1].eval(&Req::get("/").host("host5000.example.com")));
    assert!(c[2].eval(&Req::get("/").host("Host17.Example.com")));
    assert!(
        !c[2].eval(&Req::get("/").host("host17.example.com")),
        "case matters without -i"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
