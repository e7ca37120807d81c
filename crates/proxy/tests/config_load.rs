//! Loading real configurations: what the model says about them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use dermaga_proxy::config::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_file(name: &str, vars: &[(&str, &str)]) -> (Config, Vec<Diagnostic>) {
    let path = PathBuf::from(format!("tests/data/configs/{name}"));
    load_with_env(&[path], &env(vars)).unwrap_or_else(|d| panic!("{name} rejected: {d:#?}"))
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

#[test]
fn debian_stock_config() {
    let (cfg, diags) = load_file("debian-stock.cfg", &[]);
    let msgs: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        msgs,
        ["parsing [tests/data/configs/debian-stock.cfg:16] : 'ssl-default-bind-ciphers' : dermaga cannot offer the ciphers DHE-RSA-AES128-GCM-SHA256, DHE-RSA-AES256-GCM-SHA384; the others are used."]
    );
    assert_eq!(diags[0].severity, Severity::Warning);
    let g = &cfg.global;
    assert_eq!(g.logs.len(), 2);
    assert_eq!(g.logs[0].addr, LogAddr::Unix("/dev/log".into()));
    assert_eq!(g.logs[0].facility, Facility::from_name("local0"));
    assert_eq!(g.logs[1].facility, Facility::from_name("local1"));
    assert_eq!(g.logs[1].max_level, Level::NOTICE);
    assert_eq!(g.chroot, Some("/var/lib/haproxy".into()));
    assert_eq!(g.user, Some(UserSpec::Name("haproxy".into())));
    assert_eq!(g.group, Some(UserSpec::Name("haproxy".into())));
    assert!(g.daemon);
    assert_eq!(g.stats_sockets.len(), 1);
    let s = &g.stats_sockets[0];
    assert_eq!(s.addr, ListenAddr::Unix("/run/haproxy/admin.sock".into()));
    assert_eq!(s.mode, Some(0o660));
    assert_eq!(s.level, StatsLevel::Admin);
    assert_eq!(g.stats_timeout, Duration::from_secs(30));
    assert_eq!(g.ca_base, Some("/etc/ssl/certs".into()));
    assert_eq!(g.crt_base, Some("/etc/ssl/private".into()));
    assert_eq!(
        g.ssl_defaults
            .get("ssl-default-bind-options")
            .map(String::as_str),
        Some("ssl-min-ver TLSv1.2 no-tls-tickets")
    );
    assert!(g.ssl_defaults["ssl-default-bind-ciphersuites"].starts_with("TLS_AES_128_GCM_SHA256"));
    assert_eq!(g.bufsize, 16384);
    assert_eq!(g.maxrewrite, 1024);
    assert!(cfg.proxies.is_empty());
    let d = &cfg.defaults[0].settings;
    assert_eq!(d.mode, Mode::Http);
    assert!(d.logs.httplog && d.logs.dontlognull);
    assert_eq!(
        d.logs.targets.len(),
        2,
        "log global copies the global targets"
    );
    assert_eq!(d.timeouts.connect, secs(5));
    assert_eq!(d.timeouts.client, secs(50));
    assert_eq!(d.timeouts.server, secs(50));
    let codes: Vec<u16> = d.errorfiles.keys().copied().collect();
    assert_eq!(codes, [400, 403, 408, 500, 502, 503, 504]);
    assert!(d.errorfiles[&503].content.starts_with(b"HTTP/1.0 503"));
}

#[test]
fn typical_config() {
    let (cfg, diags) = load_file("good/typical.cfg", &[]);
    let msgs: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        msgs,
        ["'option forwardfor' ignored for proxy 'pg' as it requires HTTP mode."]
    );
    assert_eq!(cfg.global.maxconn, Some(50000));
    assert_eq!(cfg.global.nbthread, Some(4));
    assert!(cfg.global.stats_sockets[0].expose_fd_listeners);

    let fe = cfg.frontend("fe_http").unwrap();
    assert_eq!(fe.kind, ProxyKind::Frontend);
    assert_eq!(fe.settings.mode, Mode::Http);
    assert_eq!(fe.settings.http_conn_mode, HttpConnMode::ServerClose);
    assert_eq!(
        fe.settings.forwardfor,
        Some(ForwardFor {
            except: None,
            header: "X-Forwarded-For".into(),
            if_none: false
        })
    );
    assert_eq!(fe.binds.len(), 1);
    assert_eq!(
        fe.binds[0].addrs,
        [ListenAddr::Inet {
            ip: "0.0.0.0".parse().unwrap(),
            ports: (80, 80)
        }]
    );
    assert_eq!(
        fe.acls.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["host_api", "is_static", "blocked"]
    );
    assert_eq!(fe.http_request.len(), 2);
    assert!(matches!(
        fe.http_request[0].action,
        HttpRequestAction::Deny { status: 403 }
    ));
    assert_eq!(fe.use_backends.len(), 2);
    assert_eq!(fe.use_backends[0].backend.name, "be_api");
    assert_eq!(cfg.proxies[fe.use_backends[0].backend.index].name, "be_api");
    assert_eq!(fe.default_backend.as_ref().unwrap().name, "be_app");
    let t = &fe.settings.timeouts;
    assert_eq!(t.http_request, secs(10));
    assert_eq!(t.http_keep_alive, secs(2));
    assert_eq!(t.queue, secs(30));
    assert_eq!(t.tunnel, secs(3600));

    let app = cfg.backend("be_app").unwrap();
    assert_eq!(app.settings.balance, Some(Balance::RoundRobin));
    assert_eq!(app.settings.retries, 3);
    assert_eq!(app.settings.redispatch, Some(-1));
    let c = app.settings.cookie.as_ref().unwrap();
    assert_eq!(
        (c.name.as_str(), c.mode, c.indirect, c.nocache),
        ("SERVERID", CookieMode::Insert, true, true)
    );
    let HealthCheck::Http(h) = &app.settings.health_check else {
        panic!("http check expected")
    };
    assert_eq!(
        (h.method.as_str(), h.uri.as_str(), h.version.as_str()),
        ("GET", "/health", "HTTP/1.1")
    );
    assert_eq!(h.headers, [("Host".to_string(), "app.local".to_string())]);
    assert!(matches!(&h.expect[0].matcher, CheckMatch::Status(r) if r == &[(200, 200)]));
    assert_eq!(app.servers.len(), 3);
    let s1 = &app.servers[0];
    assert_eq!(s1.addr, "10.0.0.11:8080".parse::<SocketAddr>().unwrap());
    assert_eq!(s1.port_offset, None);
    let o = &s1.options;
    assert!(o.check && !o.backup);
    assert_eq!((o.weight, o.maxconn, o.rise, o.fall), (100, 200, 2, 3));
    assert_eq!(o.inter, Duration::from_secs(2));
    assert_eq!(o.slowstart, secs(30));
    assert_eq!(o.cookie.as_deref(), Some("a1"));
    assert!(app.servers[2].options.backup);

    let api = cfg.backend("be_api").unwrap();
    assert_eq!(api.settings.balance, Some(Balance::LeastConn));
    assert_eq!(api.http_response.len(), 1);
    let st = cfg.backend("be_static").unwrap();
    assert_eq!(
        st.settings.balance,
        Some(Balance::Uri {
            len: None,
            depth: None,
            whole: true,
            path_only: false
        })
    );
    assert_eq!(st.settings.hash_type.method, HashMethod::Consistent);

    let pg = cfg.backend("pg").unwrap();
    assert_eq!(pg.kind, ProxyKind::Listen);
    assert_eq!(pg.settings.mode, Mode::Tcp);
    assert_eq!(pg.settings.balance, Some(Balance::First));
    assert!(pg.settings.logs.tcplog && !pg.settings.logs.httplog);
    assert!(matches!(&pg.settings.health_check, HealthCheck::Tcp(r) if r.is_empty()));
    assert!(pg.settings.forwardfor.is_none());
}

#[test]
fn rules_config() {
    let (cfg, diags) = load_file("good/rules.cfg", &[]);
    assert!(diags.is_empty(), "no warnings: {diags:#?}");
    assert_eq!(cfg.global.logs[0].addr, LogAddr::Stderr);
    assert_eq!(cfg.global.logs[0].format, LogFormatKind::Rfc5424);
    let fe = cfg.frontend("www").unwrap();
    assert_eq!(fe.defaults.as_deref(), Some("web"));
    assert_eq!(fe.settings.maxconn, Some(1000));
    assert_eq!(fe.settings.timeouts.client_fin, secs(5));
    assert_eq!(
        fe.binds[1].addrs,
        [ListenAddr::Inet {
            ip: "::".parse().unwrap(),
            ports: (8081, 8081)
        }]
    );
    assert_eq!(fe.tcp_request_connection.len(), 2);
    assert_eq!(fe.tcp_request_connection[0].action, TcpAction::Reject);
    assert!(fe.tcp_request_connection[1].cond.is_none());
    let kinds: Vec<&str> = fe
        .http_request
        .iter()
        .map(|r| match &r.action {
            HttpRequestAction::SetHeader { .. } => "set-header",
            HttpRequestAction::AddHeader { .. } => "add-header",
            HttpRequestAction::DelHeader { .. } => "del-header",
            HttpRequestAction::ReplaceHeader { .. } => "replace-header",
            HttpRequestAction::SetPath(_) => "set-path",
            HttpRequestAction::ReplacePath { .. } => "replace-path",
            HttpRequestAction::Redirect(_) => "redirect",
            HttpRequestAction::Deny { .. } => "deny",
            HttpRequestAction::Tarpit { .. } => "tarpit",
            HttpRequestAction::Allow => "allow",
            HttpRequestAction::Return { .. } => "return",
            HttpRequestAction::Auth { .. } => "auth",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "deny",
            "deny",
            "return",
            "redirect",
            "redirect",
            "redirect",
            "replace-path",
            "set-path",
            "add-header",
            "set-header",
            "del-header",
            "del-header",
            "replace-header",
            "allow"
        ]
    );
    assert!(matches!(
        fe.http_request[0].action,
        HttpRequestAction::Deny { status: 429 }
    ));
    match &fe.http_request[2].action {
        HttpRequestAction::Return {
            status,
            content_type,
            headers,
            body,
        } => {
            assert_eq!(*status, 200);
            assert_eq!(content_type.as_deref(), Some("text/plain"));
            assert!(headers.is_empty());
            assert!(matches!(body, ReturnBody::Bytes(b) if b == b"pong"));
        }
        other => panic!("{other:?}"),
    }
    match &fe.http_request[3].action {
        HttpRequestAction::Redirect(r) => {
            assert_eq!((r.kind, r.code), (RedirectKind::Scheme, 301));
            assert_eq!(r.target.as_literal(), Some(&b"https"[..]));
        }
        other => panic!("{other:?}"),
    }
    match &fe.http_request[8].action {
        HttpRequestAction::AddHeader { name, value } => {
            assert_eq!(name, "X-Client-IP");
            assert_eq!(
                value.parts,
                [FormatPart::Sample(dermaga_proxy::acl::Fetch::Src)]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &fe.http_request[11].action,
        HttpRequestAction::DelHeader {
            matching: HeaderNameMatch::Reg(_),
            ..
        }
    ));
    assert_eq!(fe.http_response.len(), 3);
    assert_eq!(fe.redirects.len(), 1);
    assert_eq!(fe.redirects[0].redirect.code, 308);
    assert_eq!(fe.use_backends.len(), 2);

    let api = cfg.backend("api").unwrap();
    assert_eq!(
        api.settings.balance,
        Some(Balance::UrlParam {
            param: "user".into(),
            check_post: false
        })
    );
    assert_eq!(
        api.settings.forwardfor,
        Some(ForwardFor {
            except: None,
            header: "X-Real-IP".into(),
            if_none: true
        })
    );
    assert!(api.settings.allbackups);
    assert_eq!(api.settings.redispatch, Some(2));
    assert_eq!(api.settings.retries, 2);
    let r = &api.settings.retry_on;
    assert!(r.conn_failure && r.empty_response && !r.junk_response);
    assert_eq!(r.statuses, [503]);
    let HealthCheck::Http(h) = &api.settings.health_check else {
        panic!()
    };
    assert_eq!(
        (h.method.as_str(), h.uri.as_str(), h.version.as_str()),
        ("OPTIONS", "/", "HTTP/1.0")
    );
    assert!(matches!(&h.expect[0].matcher, CheckMatch::Rstatus(_)));
    let o = &api.servers[0].options;
    assert_eq!(
        (o.observe, o.error_limit, o.on_error),
        (Some(Observe::Layer7), 5, OnError::MarkDown)
    );
    let o = &api.servers[1].options;
    assert_eq!(o.check_port, Some(9100));
    assert_eq!(o.check_addr, Some("127.0.0.1".parse::<IpAddr>().unwrap()));
    assert!(api.servers[3].options.disabled && api.servers[3].options.backup);

    let web = cfg.backend("web").unwrap();
    assert_eq!(
        web.settings.balance,
        Some(Balance::Hdr {
            name: "host".into(),
            use_domain_only: true
        })
    );
    assert_eq!(
        web.settings.hash_type,
        HashType {
            method: HashMethod::Consistent,
            function: HashFunction::Sdbm,
            avalanche: true
        }
    );
    assert_eq!(web.settings.http_conn_mode, HttpConnMode::Close);
    let c = web.settings.cookie.as_ref().unwrap();
    assert_eq!(
        (c.mode, c.httponly, c.secure),
        (CookieMode::Prefix, true, true)
    );
    let HealthCheck::Http(h) = &web.settings.health_check else {
        panic!()
    };
    assert_eq!((h.method.as_str(), h.uri.as_str()), ("HEAD", "/alive"));
    assert!(h.expect[0].negate);
    // default-server applies to every server; a server's own options win.
    assert!(web.servers[0].options.check && !web.servers[2].options.check);
    assert_eq!(web.servers[0].options.inter, Duration::from_secs(3));
    assert_eq!(
        (
            web.servers[0].options.maxconn,
            web.servers[0].options.maxqueue
        ),
        (50, 100)
    );
    assert!(web.servers[1].addr.ip().is_loopback(), "localhost resolved");
    assert_eq!(web.servers[1].options.weight, 0);

    let rnd = cfg.backend("rnd").unwrap();
    assert_eq!(rnd.settings.balance, Some(Balance::Random { draws: 3 }));
    assert_eq!(rnd.settings.timeouts.connect, secs(1));
}

#[test]
fn tcp_sni_config() {
    let (cfg, diags) = load_file("good/tcp-sni.cfg", &[]);
    assert!(diags.is_empty(), "{diags:#?}");
    let fe = cfg.frontend("tls_in").unwrap();
    assert_eq!(fe.settings.inspect_delay, secs(5));
    assert_eq!(fe.tcp_request_content.len(), 1);
    assert_eq!(fe.binds[1].v6only, Some(true));
    let b = cfg.backend("be_b").unwrap();
    assert_eq!(b.settings.balance, Some(Balance::Source));
    let o = &b.servers[0].options;
    assert_eq!((o.fastinter, o.downinter), (secs(1), secs(10)));
    let redis = cfg.backend("redis").unwrap();
    assert_eq!(
        redis.binds[0].addrs,
        [
            ListenAddr::Inet {
                ip: "127.0.0.1".parse().unwrap(),
                ports: (6380, 6380)
            },
            ListenAddr::Inet {
                ip: "127.0.0.1".parse().unwrap(),
                ports: (6390, 6392)
            },
        ]
    );
    assert_eq!(redis.binds[0].addrs[1].socket_addrs().len(), 3);
    let HealthCheck::Tcp(rules) = &redis.settings.health_check else {
        panic!()
    };
    assert_eq!(rules.len(), 5);
    assert!(matches!(&rules[1], TcpCheckRule::Send { data, .. } if data == b"PING\r\n"));
    assert!(
        matches!(&rules[2], TcpCheckRule::Expect { matcher: CheckMatch::String(s), negate: false, .. } if s == b"+PONG")
    );
}

#[test]
fn conditional_config_and_environment() {
    let (cfg, diags) = load_file("good/conditional.cfg", &[]);
    assert_eq!(cfg.global.maxconn, Some(100));
    assert!(
        cfg.global.ssl_defaults.is_empty(),
        "feature(OPENSSL) is false in dermaga"
    );
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].severity, Severity::Notice);
    assert_eq!(diags[0].message, "parsing [tests/data/configs/good/conditional.cfg:13]: 'parsed by tests/data/configs/good/conditional.cfg'.");
    let fe = cfg.frontend("fe").unwrap();
    assert_eq!(
        fe.binds[0].addrs,
        [ListenAddr::Inet {
            ip: "127.0.0.1".parse().unwrap(),
            ports: (8090, 8090)
        }]
    );
    assert_eq!(fe.default_backend.as_ref().unwrap().name, "be");
    assert_eq!(fe.settings.timeouts.connect, secs(5));

    let (cfg, _) = load_file(
        "good/conditional.cfg",
        &[
            ("DERMAGA_TEST_PORT", "9999"),
            ("DERMAGA_TEST_MODE", "other"),
            ("DERMAGA_TEST_TIMEOUT", "2500"),
        ],
    );
    let fe = cfg.frontend("fe").unwrap();
    assert_eq!(
        fe.binds[0].addrs,
        [ListenAddr::Inet {
            ip: "127.0.0.1".parse().unwrap(),
            ports: (9999, 9999)
        }]
    );
    assert_eq!(fe.default_backend.as_ref().unwrap().name, "other");
    assert_eq!(
        fe.settings.timeouts.connect,
        Some(Duration::from_millis(2500))
    );
}

#[test]
fn inherited_sockets() {
    let (cfg, _) = load_file(
        "good/fd-bind.cfg",
        &[("DERMAGA_TEST_FE_FD", "7"), ("DERMAGA_TEST_CLI_FD", "6")],
    );
    assert_eq!(cfg.global.stats_sockets[0].addr, ListenAddr::Fd(6));
    let fe = cfg.frontend("fe").unwrap();
    assert_eq!(fe.binds[0].addrs, [ListenAddr::Fd(7)]);
    assert_eq!(fe.binds[1].addrs, [ListenAddr::Fd(5)]);
}

#[test]
fn defaults_inheritance() {
    let text = "\
defaults base
    mode http
    timeout connect 1s
    timeout client 2s
    timeout server 3s
    option httpchk GET /h
    balance leastconn
defaults tcpish from base
    mode tcp
    timeout client 20s
defaults
    timeout connect 9s
    timeout client 9s
    timeout server 9s
frontend a from base
    bind 127.0.0.1:1
backend b from tcpish
    server s 127.0.0.1:2
backend c
    server s 127.0.0.1:3
";
    let (cfg, _) = load_str("inh.cfg", text, &env(&[])).unwrap();
    let a = cfg.frontend("a").unwrap();
    assert_eq!(a.settings.mode, Mode::Http);
    assert_eq!(a.settings.timeouts.client, secs(2));
    let b = cfg.backend("b").unwrap();
    assert_eq!(b.defaults.as_deref(), Some("tcpish"));
    assert_eq!(b.settings.mode, Mode::Tcp, "from tcpish");
    assert_eq!(b.settings.timeouts.client, secs(20));
    assert_eq!(
        b.settings.timeouts.server,
        secs(3),
        "tcpish took it from base"
    );
    assert_eq!(b.settings.balance, Some(Balance::LeastConn));
    assert!(matches!(&b.settings.health_check, HealthCheck::Http(h) if h.uri == "/h"));
    // The last defaults section resets everything (no `from`).
    let c = cfg.backend("c").unwrap();
    assert_eq!(c.defaults, None);
    assert_eq!(c.settings.mode, Mode::Tcp);
    assert_eq!(c.settings.timeouts.connect, secs(9));
    assert_eq!(c.settings.balance, None);
    assert_eq!(c.settings.balance_or_default(), Balance::RoundRobin);
    assert!(matches!(c.settings.health_check, HealthCheck::TcpConnect));
}

#[test]
fn several_files_and_directories_merge_in_order() {
    let dir = std::env::temp_dir().join(format!("dermaga-cfgdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::write(
        dir.join("conf.d/20-backend.cfg"),
        "backend be\n    server s1 127.0.0.1:9001\n",
    )
    .unwrap();
    std::fs::write(dir.join("conf.d/10-defaults.cfg"), "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n").unwrap();
    std::fs::write(
        dir.join("conf.d/30-frontend.cfg"),
        "frontend fe\n    bind 127.0.0.1:9000\n    default_backend be\n",
    )
    .unwrap();
    std::fs::write(dir.join("conf.d/README.txt"), "not a config\n").unwrap();
    std::fs::write(dir.join("conf.d/.hidden.cfg"), "garbage\n").unwrap();
    std::fs::write(dir.join("global.cfg"), "global\n    maxconn 77\n").unwrap();
    let paths = [dir.join("global.cfg"), dir.join("conf.d")];
    let files = config_files(&paths).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "global.cfg",
            "10-defaults.cfg",
            "20-backend.cfg",
            "30-frontend.cfg"
        ]
    );
    let (cfg, diags) = load_with_env(&paths, &env(&[])).unwrap();
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(cfg.global.maxconn, Some(77));
    // The defaults of an earlier file apply to proxies of later files.
    assert_eq!(cfg.backend("be").unwrap().settings.mode, Mode::Http);
    assert_eq!(
        cfg.frontend("fe")
            .unwrap()
            .default_backend
            .as_ref()
            .unwrap()
            .name,
        "be"
    );
    // Each file starts outside any section.
    std::fs::write(dir.join("conf.d/40-orphan.cfg"), "    maxconn 5\n").unwrap();
    let errs = load_with_env(&paths, &env(&[])).unwrap_err();
    assert!(
        errs[0]
            .message
            .ends_with("40-orphan.cfg:1]: unknown keyword 'maxconn' out of section."),
        "{errs:#?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn harmless_keywords_warn_and_the_rest_fail() {
    let text = "global\n    tune.ssl.default-dh-param 2048\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
frontend fe\n    bind 127.0.0.1:1\n    log-format \"%ci %[src] %r\"\n    option log-health-checks\n    description front door\n    capture request header Host len 64\n";
    let (_, diags) = load_str("h.cfg", text, &env(&[])).unwrap();
    let msgs: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "parsing [h.cfg:2] : 'tune.ssl.default-dh-param' is not implemented by dermaga and is ignored.",
            "parsing [h.cfg:10] : 'log-format' uses sample expressions such as '%[src]', which dermaga cannot fill: the lines keep the httplog/tcplog format.",
            "parsing [h.cfg:11] : 'option log-health-checks' is not implemented by dermaga and is ignored.",
            "parsing [h.cfg:12] : 'description' is not implemented by dermaga and is ignored.",
        ]
    );
    assert!(diags.iter().all(|d| d.severity == Severity::Warning));
}

#[test]
fn tls_bind_with_a_missing_certificate_names_the_file() {
    let text = "frontend fe\n    bind :443 ssl crt /nonexistent/x.pem alpn h2,http/1.1\n    timeout client 1s\n";
    let errs = load_str("t.cfg", text, &env(&[])).unwrap_err();
    assert_eq!(
        errs[0].message,
        "parsing [t.cfg:2] : 'bind :443' : unable to stat SSL certificate from file '/nonexistent/x.pem' : No such file or directory."
    );
}

#[test]
fn condition_expressions_for_cc() {
    assert_eq!(
        eval_condition_expr_with_env("defined(X) && streq(\"$X\",1)", &env(&[("X", "1")])),
        Ok(true)
    );
    assert_eq!(
        eval_condition_expr_with_env("version_atleast(2.6)", &env(&[])),
        Ok(true)
    );
    let e = eval_condition_expr_with_env("nope()", &env(&[])).unwrap_err();
    assert_eq!(
        e.message,
        "Failed to evaluate condition: unparsable conditional expression 'nope()'"
    );
    assert_eq!(e.render(3), "[ALERT]    (3) : config : Failed to evaluate condition: unparsable conditional expression 'nope()'");
}

/// Name resolution without the network: a resolver that knows two names.
struct FakeDns;

impl Env for FakeDns {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
    fn resolve_host(&self, host: &str) -> Vec<IpAddr> {
        match host {
            "app.internal" => vec!["2001:db8::5".parse().unwrap(), "10.1.1.5".parse().unwrap()],
            "v6only.internal" => vec!["2001:db8::6".parse().unwrap()],
            _ => Vec::new(),
        }
    }
}

#[test]
fn host_names_are_resolved_at_load() {
    let text = "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
backend be\n    server a app.internal:80\n    server b ipv6@app.internal:81\n    server c v6only.internal:82 addr app.internal\n";
    let (cfg, _) = load_str("dns.cfg", text, &FakeDns).unwrap();
    let be = cfg.backend("be").unwrap();
    assert_eq!(
        be.servers[0].addr,
        "10.1.1.5:80".parse::<SocketAddr>().unwrap(),
        "IPv4 first"
    );
    assert_eq!(be.servers[0].addr_text, "app.internal:80");
    assert_eq!(
        be.servers[1].addr,
        "[2001:db8::5]:81".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        be.servers[2].addr,
        "[2001:db8::6]:82".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        be.servers[2].options.check_addr,
        Some("10.1.1.5".parse().unwrap())
    );
    let text = "backend be\n    server s1 nosuchhost.internal:80\n";
    let errs = load_str("dns.cfg", text, &FakeDns).unwrap_err();
    assert_eq!(
        errs[0].message,
        "[dns.cfg:2] : 'server be/s1' : could not resolve address 'nosuchhost.internal'."
    );
}

#[test]
fn defaults_default_backend_and_harmless_tuning() {
    let (cfg, diags) = load_file("good/defaults-backend.cfg", &[]);
    let msgs: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "parsing [tests/data/configs/good/defaults-backend.cfg:3] : 'tune.ssl.cachesize' is not implemented by dermaga and is ignored.",
            "parsing [tests/data/configs/good/defaults-backend.cfg:4] : 'log-tag' is not implemented by dermaga and is ignored.",
            "parsing [tests/data/configs/good/defaults-backend.cfg:11] : 'option dontlog-normal' is not implemented by dermaga and is ignored.",
            "parsing [tests/data/configs/good/defaults-backend.cfg:14] : 'fullconn' is not implemented by dermaga and is ignored.",
        ]
    );
    assert_eq!(
        cfg.frontend("one")
            .unwrap()
            .default_backend
            .as_ref()
            .unwrap()
            .name,
        "app"
    );
    assert_eq!(
        cfg.frontend("two")
            .unwrap()
            .default_backend
            .as_ref()
            .unwrap()
            .name,
        "other"
    );
    assert!(cfg.backend("app").unwrap().default_backend.is_none());
}

#[test]
fn tls_defaults_name_what_cannot_be_offered() {
    let load = |line: &str| load_str("tls.cfg", &format!("global\n    {line}\n"), &env(&[]));
    let (_, d) =
        load("ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256")
            .unwrap();
    assert_eq!(d[0].message, "parsing [tls.cfg:2] : 'ssl-default-bind-ciphersuites' : dermaga cannot offer the ciphers TLS_AES_128_CCM_SHA256; the others are used.");
    let (_, d) = load("ssl-default-server-ciphers HIGH:!aNULL:!MD5").unwrap();
    assert!(d.is_empty(), "selectors are not judged: {d:#?}");
    let (_, d) = load("ssl-default-bind-options ssl-min-ver TLSv1.0").unwrap();
    assert_eq!(d[0].message, "parsing [tls.cfg:2] : 'ssl-default-bind-options' : dermaga offers TLSv1.2 and TLSv1.3 only; older versions are not available.");
    let e = load("ssl-default-bind-ciphers DHE-RSA-AES128-SHA:AES128-SHA").unwrap_err();
    assert_eq!(e[0].message, "parsing [tls.cfg:2] : 'ssl-default-bind-ciphers' : none of the ciphers DHE-RSA-AES128-SHA, AES128-SHA is supported by dermaga.");
}

#[test]
fn websocket_and_blue_green_configs() {
    let (cfg, diags) = load_file("good/websocket.cfg", &[]);
    assert_eq!(
        diags.len(),
        1,
        "the deprecated hidden-header form warns: {diags:#?}"
    );
    let fe = cfg.frontend("public").unwrap();
    assert_eq!(fe.binds[0].v6only, Some(false));
    assert_eq!(fe.acls[0].criteria.len(), 2, "two lines, one ACL");
    assert_eq!(fe.acls[0].locs.len(), 2);
    assert_eq!(fe.settings.timeouts.tunnel, secs(3600));
    assert_eq!(
        fe.settings.forwardfor.as_ref().unwrap().except,
        Some("127.0.0.0/8".parse().unwrap())
    );
    let HealthCheck::Http(h) = &cfg.backend("www").unwrap().settings.health_check else {
        panic!()
    };
    assert_eq!(
        (h.method.as_str(), h.version.as_str()),
        ("HEAD", "HTTP/1.1")
    );
    assert_eq!(h.headers, [("Host".to_string(), "localhost".to_string())]);
    let HealthCheck::Http(h) = &cfg.backend("ws").unwrap().settings.health_check else {
        panic!()
    };
    assert!(matches!(&h.expect[0].matcher, CheckMatch::Status(r) if r == &[(200, 399)]));

    let (cfg, diags) = load_file("good/blue-green.cfg", &[]);
    assert!(diags.is_empty(), "no warnings: {diags:#?}");
    let green = cfg.backend("green").unwrap();
    let o = &green.servers[0].options;
    assert!(o.check);
    assert_eq!(
        (o.fastinter, o.downinter, o.rise, o.fall),
        (Some(Duration::from_millis(500)), secs(5), 3, 2)
    );
    assert_eq!((o.maxconn, o.maxqueue, o.slowstart), (100, 50, secs(20)));
    assert!(green.servers[2].options.backup);
    let r = &green.settings.retry_on;
    assert!(r.conn_failure && r.empty_response && r.response_timeout);
    let blue = cfg.backend("blue").unwrap();
    assert_eq!(blue.settings.balance, Some(Balance::StaticRr));
    assert!(blue.servers.iter().all(|s| s.options.disabled));
    assert_eq!(cfg.global.stats_timeout, Duration::from_secs(120));
    assert_eq!(cfg.global.stats_sockets[0].mode, Some(0o600));
}
