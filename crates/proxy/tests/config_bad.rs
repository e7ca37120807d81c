//! Broken configurations: each file fails with the exact error haproxy 2.6 prints for it
//! (or, for what dermaga does not implement, dermaga's "not supported by dermaga" error).
//! `{F}` stands for the file's path. The differential test checks these texts against the
//! installed haproxy.

use std::collections::HashMap;
use std::path::PathBuf;

use dermaga_proxy::config::{check_with_env, Severity};

/// (file under tests/data/configs, without .cfg; first line of the first error).
const TABLE: &[(&str, &str)] = &[
    (
        "bad/zero-warning",
        "Some warnings were found and 'zero-warning' is set. Aborting.",
    ),
    ("bad/http-request-allow-extra", "parsing [{F}:8]: 'http-request allow' expects either 'if' or 'unless' followed by a condition but found 'extra'."),
    ("bad/balance-url-param-missing", "parsing [{F}:7] : balance url_param requires an URL parameter name."),
    ("bad/cookie-domain-missing", "parsing [{F}:7]: 'domain' expects <domain> as argument."),
    ("bad/cookie-two-modes", "parsing [{F}:7] : cookie 'rewrite', 'insert' and 'prefix' modes are incompatible."),
    ("bad/format-unknown-fetch", "parsing [{F}:8] : error detected in frontend 'fe' while parsing 'http-request set-header' rule : failed to parse sample expression <nosuch]> : unknown fetch method 'nosuch'."),
    ("bad/redirect-missing-location", "parsing [{F}:8] : error detected in frontend 'fe' while parsing 'http-request redirect' rule : missing argument for 'location'."),
    ("bad/log-no-facility", "parsing [{F}:8] : log : unknown log facility ''"),
    ("bad/log-bad-length", "parsing [{F}:8] : log : invalid log length '10', must be between 80 and 65535"),
    ("bad/inspect-delay-bad-char", "parsing [{F}:9] : 'tcp-request inspect-delay' expects a positive delay in milliseconds, in frontend 'fe' (unexpected character 'x')"),
    ("bad/forwardfor-header-missing", "parsing [{F}:8] : 'option forwardfor header' expects <header_name> as argument."),
    ("bad/tcp-check-expect-missing", "parsing [{F}:8] : 'tcp-check expect' : 'string' expects a <pattern> as argument."),
    ("bad/tcp-check-send-missing", "parsing [{F}:8] : 'tcp-check send' : 'string' expects a send as argument."),
    ("bad/httpchk-extra-arg", "parsing [{F}:7] : 'option httpchk' cannot handle unexpected argument 'extra'."),
    ("bad/server-cookie-missing", "[{F}:7] : 'server be/s' : 'cookie' expects <value> as argument.."),
    ("bad/server-inter-missing", "[{F}:7] : 'server be/s' : 'inter' expects a delay as argument.."),
    ("bad/http-check-send-meth-missing", "parsing [{F}:7] : 'http-check send' : 'meth' expects a string as argument.."),
    ("bad/stats-uri-x", "parsing [{F}:9] : 'uri' needs an URI prefix."),
    ("bad/stats-auth-x", "parsing [{F}:9] : 'auth' needs a user:password account."),
    ("bad/stats-realm-x", "parsing [{F}:9] : 'realm' needs an realm name."),
    ("bad/stats-bogus-x", "parsing [{F}:9]: unknown stats parameter 'bogus', expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'."),
    ("bad/stats-x", "parsing [{F}:9]: missing keyword in 'stats', expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'."),
    ("bad/stats-refresh-1x-x", "parsing [{F}:9]: unexpected character 'x' in argument to stats refresh interval."),
    ("bad/return-hdr-missing", "parsing [{F}:9] : error detected in frontend 'fe' while parsing 'http-request return' rule : 'hdr' expects <name> and <value> as arguments."),
    ("bad/return-lf-string-missing", "parsing [{F}:9] : error detected in frontend 'fe' while parsing 'http-request return' rule : 'lf-string' expects <fmt> as argument."),
    ("bad/return-lf-file-missing", "parsing [{F}:9] : error detected in frontend 'fe' while parsing 'http-request return' rule : error opening file '/nonexistent/x.lf'."),
    ("bad/monitor-uri-missing", "parsing [{F}:9] : 'monitor-uri' expects an URI."),
    ("bad/monitor-uri-extra", "parsing [{F}:9] : 'monitor-uri' cannot handle unexpected argument '/b'."),
    ("bad/monitor-fail-no-cond", "parsing [{F}:9] : 'monitor fail' requires either 'if' or 'unless' followed by a condition."),
    ("bad/monitor-not-fail", "parsing [{F}:9] : 'monitor' only supports 'fail'."),
    ("bad/monitor-fail-unknown-acl", "parsing [{F}:9] : error detected while parsing a 'monitor fail' condition : no such ACL : 'nosuch'."),
    ("bad/nbsrv-unknown-backend", "parsing [{F}:10]: unable to find backend 'nope' referenced in arg 1 of ACL keyword 'nbsrv' in proxy 'fe'."),
    ("bad/nbsrv-frontend", "multiple argument resolution errors:"),
    ("bad/userlist-unknown-keyword", "parsing [{F}:2]: unknown keyword 'frob' in 'users' section"),
    ("bad/userlist-no-such-group", "userlist 'L': no such group 'nog2' specified in user 'c'"),
    ("bad/userlist-no-such-user", "userlist 'L': no such user 'zed' specified in group 'g'"),
    ("bad/http-auth-unknown-userlist", "parsing [{F}:15]: unable to find userlist 'M' referenced in arg 1 of ACL keyword 'http_auth' in proxy 'fe'."),
    ("bad/http-request-auth-no-realm", "parsing [{F}:8] : error detected in frontend 'fe' while parsing 'http-request auth' rule : missing realm value."),
    ("bad/stats-admin-in-defaults", "parsing [{F}:6]: 'stats admin' not allowed in 'defaults' section."),
    ("bad/stats-admin-no-cond", "parsing [{F}:9] : 'stats admin' requires either 'if' or 'unless' followed by a condition."),
    ("bad/monitor-net", "parsing [{F}:9] : 'monitor-net' doesn't exist anymore. Please use 'http-request return status 200 if { src 10.0.0.0/8 }' instead."),
    ("bad/acl-bad-name", "parsing [{F}:9] : character '@' is not permitted in acl name 'a@b'."),
    ("bad/acl-in-anon-defaults", "parsing [{F}:2] : 'acl' not allowed in anonymous 'defaults' section."),
    ("bad/acl-unknown-fetch", "parsing [{F}:9] : error detected while parsing ACL 'a' : unknown fetch method 'nosuchfetch' in ACL expression 'nosuchfetch'."),
    ("bad/balance-bad", "parsing [{F}:8] : balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options."),
    ("bad/balance-random-bad", "parsing [{F}:8] : balance random : unexpected character 'x' after argument."),
    ("bad/balance-uri-bad", "parsing [{F}:8] : balance uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got 'bogus')."),
    ("bad/bind-bad-addr", "parsing [{F}:8] : 'bind' : invalid address: '1.2.3.4.5' in '1.2.3.4.5:80'"),
    ("bad/bind-bad-fd", "parsing [{F}:8] : 'bind' : file descriptor 'x' is not a valid integer in 'fd@x'"),
    ("bad/bind-bad-port", "parsing [{F}:8] : 'bind' : invalid port '99999'"),
    ("bad/bind-in-defaults", "parsing [{F}:2] : 'bind' not allowed in 'defaults' section."),
    ("bad/bind-no-port", "parsing [{F}:8] : 'bind' : missing port specification in '10.0.0.1'"),
    ("bad/bind-unknown-opt", "parsing [{F}:8] : 'bind :80' in section 'frontend': unknown keyword 'bogus'."),
    ("bad/bufsize-bad", "parsing [{F}:2] : 'tune.bufsize' expects a positive integer argument."),
    (
        "bad/capabilities",
        "parsing [{F}:26] : 'retry-on' only available in backend or listen section",
    ),
    ("bad/cookie-bad-opt", "parsing [{F}:8] : 'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options."),
    ("bad/cookie-missing", "parsing [{F}:8] : 'cookie' expects <cookie_name> as argument."),
    ("bad/default-backend-missing", "Proxy 'fe': unable to find required default_backend: 'nosuch'."),
    ("bad/defaults-from-missing", "parsing [{F}:7] : defaults section 'nosuch' not found for backend 'be'."),
    ("bad/del-header-bad-match", "parsing [{F}:9] : error detected in frontend 'fe' while parsing 'http-request del-header' rule : -m with unsupported matching method 'bogus'."),
    ("bad/dir-alert", "parsing [{F}:3]: 'this build needs DERMAGA_NEVER_SET'."),
    ("bad/dir-bad-if-args", "parsing [{F}:2]: missing arguments (got 1/2), type 'string' expected in argument 1 of predicate 'streq' used in conditional expression in '.if' at position 8:"),
    ("bad/dir-bad-if", "parsing [{F}:2]: unparsable conditional expression 'foo(x)' in '.if' at position 1:"),
    ("bad/dir-elif-after-else", "parsing [{F}:4]: '.elif' after '.else' is not permitted."),
    ("bad/dir-else-arg", "parsing [{F}:3]: Unexpected argument 'x' for '.else'."),
    ("bad/dir-lone-endif", "parsing [{F}:2]: lone '.endif' with no matching '.if'."),
    ("bad/dir-unknown", "parsing [{F}:2]: unknown directive '.bogus'."),
    ("bad/dir-unterminated-if", "parsing [{F}:3]: non-terminated '.if' block."),
    ("bad/errorfile-bad-code", "parsing [{F}:8] : errorfile : status code '999' not handled."),
    ("bad/errorfile-missing-file", "parsing [{F}:8] : errorfile : error opening file '/nonexistent/400.http'."),
    (
        "bad/extra-arg-global",
        "parsing [{F}:2] : 'maxconn' cannot handle unexpected argument '20'.",
    ),
    (
        "bad/extra-arg-timeout",
        "parsing [{F}:4] : 'timeout client' : unexpected extra argument '2s' after value '1s'.",
    ),
    (
        "bad/extra-arg-use-backend",
        "parsing [{F}:9] : unexpected keyword 'x' after switching rule, only 'if' and 'unless' are allowed.",
    ),
    ("bad/forwardfor-except-bad", "parsing [{F}:9] : 'option forwardfor except' expects <address>[/mask] as argument."),
    ("bad/frontend-bad-name", "parsing [{F}:1] : character '/' is not permitted in 'frontend' name 'a/b'."),
    ("bad/frontend-dup", "Parsing [{F}:9]: frontend 'fe' has the same name as frontend 'fe' declared at {F}:7."),
    ("bad/frontend-extra-args", "parsing [{F}:1] : please use the 'bind' keyword for listening addresses."),
    ("bad/frontend-no-name", "parsing [{F}:1] : 'frontend' expects an <id> argument"),
    ("bad/hash-type-bad", "parsing [{F}:8] : 'hash-type' only supports 'consistent' and 'map-based'."),
    ("bad/http-check-expect-bad", "parsing [{F}:9] : 'http-check expect' : 'only supports min-recv, [!]string', '[!]rstring', '[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but got 'bogus' as argument.."),
    ("bad/http-request-cond-fetch", "parsing [{F}:9] : error detected while parsing an 'http-request deny' condition : unknown fetch method 'nosuch' in ACL expression 'nosuch'."),
    ("bad/http-request-deny-status", "parsing [{F}:9] : error detected in frontend 'fe' while parsing 'http-request deny' rule : Unexpected status code '999'."),
    ("bad/http-request-in-anon-defaults", "parsing [{F}:2] : 'http-request' not allowed in anonymous 'defaults' section."),
    ("bad/http-request-redirect-type", "parsing [{F}:9] : error detected in frontend 'fe' while parsing 'http-request redirect' rule : redirection type expected ('prefix', 'location', or 'scheme')."),
    ("bad/http-request-set-header-args", "parsing [{F}:9] : error detected in frontend 'fe' while parsing 'http-request set-header' rule : expects exactly 2 arguments."),
    ("bad/http-request-unknown", "parsing [{F}:9]: 'http-request' expects 'add-header', 'allow', 'auth', 'del-header', 'deny', 'redirect', 'replace-header', 'replace-path', 'return', 'set-header', 'set-path', but got 'frobnicate'."),
    ("bad/lex-bad-brace", "parsing [{F}:2]: unmatched brace in environment variable name at position 15:"),
    ("bad/lex-bad-hex", "parsing [{F}:2]: truncated or invalid hexadecimal sequence at position 13:"),
    ("bad/lex-bad-varname", "parsing [{F}:2]: forbidden first char in environment variable name at position 15:"),
    ("bad/lex-missing-lf", "parsing [{F}:2]: Missing LF on last line, file might have been truncated at position 15."),
    ("bad/lex-unmatched-quote", "parsing [{F}:2]: unmatched quote at position 9:"),
    ("bad/log-bad-facility", "parsing [{F}:2] : log : unknown log facility 'bogusfac'"),
    ("bad/log-bad-level", "parsing [{F}:2] : log : unknown optional log level 'bogus'"),
    ("bad/log-missing-args", "parsing [{F}:2] : log : expects <address> and <facility>  as arguments"),
    ("bad/mode-bad", "parsing [{F}:9] : unknown proxy mode 'ftp'."),
    (
        "bad/mode-mismatch",
        "http frontend 'fe' ({F}:6) tries to use incompatible tcp backend 'be' ({F}:11) as its default backend (see 'mode').",
    ),
    ("bad/nbthread-zero", "parsing [{F}:2] : 'nbthread' value must be between 1 and 4096 (was 0)"),
    ("bad/option-unknown", "parsing [{F}:9] : unknown option 'nosuchopt'."),
    ("bad/out-of-section", "parsing [{F}:1]: unknown keyword 'maxconn' out of section."),
    ("bad/redirect-bad-code", "parsing [{F}:9] : error detected in frontend 'fe' while parsing redirect rule : 'code': unsupported HTTP code '305' (must be one of 301, 302, 303, 307 or 308)."),
    ("bad/redirect-bad-kw", "parsing [{F}:9] : error detected in frontend 'fe' while parsing redirect rule : expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' (was 'bogus')."),
    ("bad/retry-on-bad", "parsing [{F}:8] : 'retry-on': unknown keyword 'bogus'"),
    ("bad/server-bad-port", "[{F}:8] : 'server be/s1' : invalid port '70000'"),
    ("bad/server-dup", "parsing [{F}:9] : backend 'be', another server named 's1' was already defined at line 8, please use distinct names."),
    ("bad/server-in-defaults", "[{F}:2] : 'server' not allowed in 'defaults' section."),
    ("bad/server-in-frontend", "[{F}:9] : parsing [{F}:9] : 'server' not allowed because frontend 'fe' has no backend capability."),
    ("bad/server-inter-zero", "[{F}:8] : 'server be/s1' : invalid value 0 for argument 'inter' of server s1.."),
    ("bad/server-missing-addr", "[{F}:8] : 'server' expects <name> and <addr>[:<port>] as arguments."),
    ("bad/server-observe", "[{F}:8] : 'server be/s1' : 'observe' expects one of 'none', 'layer4', 'layer7' but got 'layer9'."),
    ("bad/server-on-error", "[{F}:8] : 'server be/s1' : 'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got 'bogus'."),
    ("bad/server-rise-zero", "[{F}:8] : 'server be/s1' : 'rise' has to be > 0.."),
    ("bad/server-unknown-opt", "[{F}:8] : 'server be/s1' : unknown keyword 'bogus'."),
    (
        "bad/server-port-char",
        "[{F}:8] : 'server be/s1' : invalid character 'a' in port number 'abc' in '127.0.0.1:abc'",
    ),
    ("bad/server-weight-range", "[{F}:8] : 'server be/s1' : weight of server s1 is not within 0 and 256 (300).."),
    (
        "bad/setenv-args",
        "parsing [{F}:3]: 'setenv' expects a name and a value.",
    ),
    ("bad/stats-socket-level", "parsing [{F}:2] : 'stats socket' : ''level' only supports 'user', 'operator', and 'admin' (got 'super')'"),
    ("bad/stats-socket-missing", "parsing [{F}:2] : 'stats socket' in global section expects an address or a path to a UNIX socket"),
    ("bad/capture-extra-arg", "parsing [{F}:9] : 'capture request' cannot handle unexpected argument 'extra'."),
    ("bad/ignore-probes-extra-arg", "parsing [{F}:8] : 'option http-ignore-probes' cannot handle unexpected argument 'x'."),
    ("bad/capture-in-defaults", "parsing [{F}:3] : 'capture request' not allowed in 'defaults' section."),
    ("bad/capture-missing-len", "parsing [{F}:9] : 'capture response' expects 'header' <header_name> 'len' <len>."),
    ("bad/log-format-missing", "parsing [{F}:9] : log-format expects an argument."),
    ("bad/log-format-unquoted", "parsing [{F}:9] : log-format expects only one argument, don't forget to escape spaces!"),
    ("bad/stats-timeout-bad", "parsing [{F}:2] : 'stats timeout' : unexpected character 'x'"),
    ("bad/tcp-request-connection-in-backend", "parsing [{F}:8] : tcp-request connection is not allowed because backend be is not a frontend"),
    ("bad/tcp-request-in-anon-defaults", "parsing [{F}:2] : tcp-request content is not allowed in anonymous 'defaults' sections"),
    ("bad/tcp-request-inspect-missing", "parsing [{F}:9] : 'tcp-request inspect-delay' expects a positive delay in milliseconds, in frontend 'fe'"),
    ("bad/timeout-bad-char", "parsing [{F}:9] : unexpected character 'x' in 'timeout client'"),
    ("bad/timeout-missing", "parsing [{F}:9] : 'timeout client' expects an integer value (in milliseconds)"),
    ("bad/timeout-overflow", "parsing [{F}:9] : timer overflow in argument '99999999999' to 'timeout client' (maximum value is 2147483647 ms or ~24.8 days)"),
    ("bad/timeout-unknown", "parsing [{F}:9] : 'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got 'bogus')"),
    ("bad/unknown-global", "parsing [{F}:2] : unknown keyword 'frobnicate' in 'global' section"),
    ("bad/unknown-proxy-kw", "parsing [{F}:9] : unknown keyword 'frobnicate' in 'frontend' section"),
    ("bad/use-backend-in-defaults", "parsing [{F}:2] : 'use_backend' not allowed in 'defaults' section."),
    ("bad/use-backend-missing", "Proxy 'fe': unable to find required use_backend: 'nosuch'."),
    ("bad/use-backend-no-acl", "parsing [{F}:9] : error detected while parsing switching rule : no such ACL : 'nosuchacl'."),
    ("bad/use-backend-no-name", "parsing [{F}:9] : 'use_backend' expects a backend name."),
    ("unsupported/check-post", "parsing [{F}:8] : 'balance url_param check_post' is not supported by dermaga."),
    ("unsupported/compression", "parsing [{F}:8] : 'compression' is not supported by dermaga."),
    ("unsupported/converter", "parsing [{F}:9] : error detected while parsing ACL 'a' : converter 'lower' is not supported by dermaga."),
    ("unsupported/dynamic-use-backend", "parsing [{F}:9] : 'use_backend' with a dynamic backend name is not supported by dermaga."),
    ("unsupported/fetch-ssl-client-dn", "parsing [{F}:9] : error detected while parsing an 'http-request redirect' condition : fetch method 'ssl_c_s_dn' is not supported by dermaga."),
    ("unsupported/http-request-set-var", "parsing [{F}:9] : 'http-request set-var(txn.x)' is not supported by dermaga."),
    ("unsupported/master-worker", "parsing [{F}:2] : 'master-worker' is not supported by dermaga."),
    ("unsupported/option-abortonclose", "parsing [{F}:8] : 'option abortonclose' is not supported by dermaga."),
    ("unsupported/server-send-proxy-h2", "[{F}:8] : 'server be/s1' : 'send-proxy' to a server spoken to in HTTP/2 ('proto h2' or 'alpn h2') is not supported by dermaga."),
    ("unsupported/stick-table", "parsing [{F}:9] : 'stick-table' is not supported by dermaga."),
    ("unsupported/tcp-response", "parsing [{F}:8] : 'tcp-response content' is not supported by dermaga."),
    (
        "unsupported/tls-ciphers-none",
        "parsing [{F}:2] : 'ssl-default-bind-ciphers' : none of the ciphers DHE-RSA-AES128-SHA, AES128-SHA is supported by dermaga.",
    ),
    ("unsupported/track-sc", "parsing [{F}:8] : 'stick-table' is not supported by dermaga."),
];

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

#[test]
fn every_broken_file_fails_with_its_exact_error() {
    let mut failures = Vec::new();
    for (name, expected) in TABLE {
        let path = format!("tests/data/configs/{name}.cfg");
        let r = check_with_env(&[PathBuf::from(&path)], &no_env());
        let first = r
            .diagnostics
            .iter()
            .find(|d| d.severity == Severity::Alert)
            .map(|d| d.message.lines().next().unwrap_or("").to_string())
            .unwrap_or_default();
        let expected = expected.replace("{F}", &path);
        if r.exit_code != 1 || first != expected {
            failures.push(format!(
                "{name}: exit {} \n  got:      {first}\n  expected: {expected}",
                r.exit_code
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_table_covers_every_broken_file() {
    for dir in ["bad", "unsupported"] {
        for e in std::fs::read_dir(format!("tests/data/configs/{dir}")).unwrap() {
            let p = e.unwrap().path();
            let name = format!("{dir}/{}", p.file_stem().unwrap().to_string_lossy());
            assert!(
                TABLE.iter().any(|(n, _)| *n == name),
                "{name} has no expected error"
            );
        }
    }
}

#[test]
fn whole_output_of_a_post_load_error() {
    let path = "tests/data/configs/bad/use-backend-missing.cfg";
    let r = check_with_env(&[PathBuf::from(path)], &no_env());
    assert_eq!(r.exit_code, 1);
    assert!(r.stdout.is_empty());
    assert_eq!(
        r.render_stderr(42),
        "[ALERT]    (42) : config : Proxy 'fe': unable to find required use_backend: 'nosuch'.\n\
         [ALERT]    (42) : config : Fatal errors found in configuration.\n"
    );
}

#[test]
fn whole_output_of_a_parse_error_with_a_caret() {
    let path = "tests/data/configs/bad/lex-unmatched-quote.cfg";
    let r = check_with_env(&[PathBuf::from(path)], &no_env());
    assert_eq!(r.exit_code, 1);
    assert_eq!(
        r.render_stderr(7),
        format!(
            "[ALERT]    (7) : config : parsing [{path}:2]: unmatched quote at position 9:\n  log \"abc\n      ^\n\
             [ALERT]    (7) : config : Error(s) found in configuration file : {path}\n\
             [ALERT]    (7) : config : Fatal errors found in configuration.\n"
        )
    );
}

#[test]
fn an_alert_directive_stops_the_load() {
    let path = "tests/data/configs/bad/dir-alert.cfg";
    let r = check_with_env(&[PathBuf::from(path)], &no_env());
    assert_eq!(r.exit_code, 1);
    assert_eq!(
        r.render_stderr(1),
        format!(
            "[ALERT]    (1) : config : parsing [{path}:3]: 'this build needs DERMAGA_NEVER_SET'.\n\
             [ALERT]    (1) : config : Error(s) found in configuration file : {path}\n"
        )
    );
    // With the variable set, the block is skipped and nothing listens: exit 2, as haproxy.
    let mut env = no_env();
    env.insert("DERMAGA_NEVER_SET".into(), "1".into());
    let r = check_with_env(&[PathBuf::from(path)], &env);
    assert_eq!(r.exit_code, 2);
    assert_eq!(
        r.stdout,
        ["Configuration file has no error but will not start (no listener) => exit(2)."]
    );
}

#[test]
fn missing_file() {
    let r = check_with_env(&[PathBuf::from("tests/data/configs/nope.cfg")], &no_env());
    assert_eq!(r.exit_code, 1);
    assert_eq!(
        r.diagnostics[0].message,
        "Cannot open configuration file/directory tests/data/configs/nope.cfg : No such file or directory"
    );
}
