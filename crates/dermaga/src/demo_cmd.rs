//! `dermaga demo`: what exists today, running on loopback with built-in defaults.
//!
//! The balancer listens on 127.0.0.1:8080 in front of three example servers (which the proxy
//! itself serves with `http-request return`, so the demo needs nothing else installed), health
//! checks them, and answers runtime commands on a stats socket; the DNS server answers for the
//! zone `demo.example.` on 127.0.0.1:5353. The generated haproxy.cfg and zone file are left in
//! a temporary directory and their paths printed, so they can be read and edited. Once
//! `dermaga up` exists this becomes its demo stack.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: dermaga demo [--http-port N] [--dns-port N]

Runs, in the foreground and on 127.0.0.1 only: the load balancer on port N (default 8080) in
front of three example servers on N+1..N+3, and the DNS server for demo.example. on port
5353. Ctrl-C stops it.
";

struct DemoPorts {
    http: u16,
    dns: u16,
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    let ports = match parse_args(&args) {
        Ok(Some(p)) => p,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("dermaga demo: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&ports) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dermaga demo: {message}");
            ExitCode::from(1)
        }
    }
}

fn parse_args(args: &[OsString]) -> Result<Option<DemoPorts>, String> {
    let mut ports = DemoPorts {
        http: 8080,
        dns: 5353,
    };
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(arg) = it.next() {
        let target = match arg.as_ref() {
            "-h" | "--help" => return Ok(None),
            "--http-port" => &mut ports.http,
            "--dns-port" => &mut ports.dns,
            other => return Err(format!("unknown argument '{other}'")),
        };
        let value = it
            .next()
            .ok_or_else(|| format!("'{arg}' needs a port number"))?;
        *target = value
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0 && *p <= u16::MAX - 3)
            .ok_or_else(|| format!("'{arg} {value}': not a usable port number"))?;
    }
    Ok(Some(ports))
}

fn run(ports: &DemoPorts) -> Result<(), String> {
    let dir = demo_dir()?;
    let cfg_path = dir.join("haproxy.cfg");
    let zone_path = dir.join("demo.example.zone");
    let socket_path = dir.join("admin.sock");
    write_file(&cfg_path, &haproxy_cfg(ports.http, &socket_path))?;
    write_file(&zone_path, ZONE)?;

    // Signals are blocked before any server thread starts, so that only this thread takes
    // them (SIGINT/SIGTERM stop the demo, SIGHUP reloads the zone).
    dermaga_dns::block_signals();

    let (config, warnings) = dermaga_proxy::config::load(std::slice::from_ref(&cfg_path))
        .map_err(|diagnostics| render_diagnostics(&diagnostics))?;
    if !warnings.is_empty() {
        eprint!("{}", render_diagnostics(&warnings));
    }
    let proxy = dermaga_proxy::Proxy::start(config, dermaga_proxy::StartOptions::default())
        .map_err(|e| format!("the balancer did not start: {e}"))?;

    let mut dns_config = dermaga_dns::DnsConfig::default();
    dns_config
        .server
        .listen
        .push(std::net::SocketAddr::from(([127, 0, 0, 1], ports.dns)));
    dns_config
        .zones
        .push(dermaga_dns::ZoneSource::file(zone_path.clone()));
    let dns = match dermaga_dns::start(dns_config) {
        Ok(dns) => dns,
        Err(e) => {
            proxy.stop();
            proxy.wait();
            return Err(format!("the DNS server did not start: {e}"));
        }
    };

    print!(
        "{}",
        what_to_try(ports, &cfg_path, &zone_path, &socket_path)
    );
    dns.run_until_signalled();
    proxy.stop();
    proxy.wait();
    let _ = std::fs::remove_dir_all(&dir);
    println!("dermaga demo: stopped");
    Ok(())
}

fn demo_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("dermaga-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn render_diagnostics(diagnostics: &[dermaga_proxy::config::Diagnostic]) -> String {
    let pid = std::process::id();
    diagnostics.iter().fold(String::new(), |mut s, d| {
        let _ = writeln!(s, "{}", d.render(pid));
        s
    })
}

/// The balancer's configuration: plain haproxy.cfg, as a user would write it.
fn haproxy_cfg(http_port: u16, socket: &Path) -> String {
    let mut cfg = format!(
        "\
global
    # One worker thread: round robin then rotates exactly as haproxy's does (with several
    # threads each keeps its own rotation, see docs/decisions.md).
    nbthread 1
    stats socket {socket} mode 600 level admin

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 5s

frontend web
    bind 127.0.0.1:{http_port}
    http-request return status 200 content-type text/plain string \"ok\\n\" if {{ path /healthz }}
    default_backend apps

backend apps
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
",
        socket = socket.display()
    );
    for n in 1..=3u16 {
        let _ = writeln!(
            cfg,
            "    server app{n} 127.0.0.1:{} check inter 1s rise 2 fall 2",
            http_port + n
        );
    }
    for n in 1..=3u16 {
        let _ = write!(
            cfg,
            "
# Example server {n}: the proxy itself answers, standing in for an application.
listen app{n}
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string \"hello from app{n}\\n\"
",
            port = http_port + n
        );
    }
    cfg
}

const ZONE: &str = "\
$ORIGIN demo.example.
$TTL 300
@       IN SOA  ns1 hostmaster 1 3600 900 604800 300
@       IN NS   ns1
ns1     IN A    127.0.0.1
@       IN A    127.0.0.1
www     IN CNAME @
@       IN MX   10 mail
mail    IN A    127.0.0.1
@       IN TXT  \"served by dermaga\"
";

fn what_to_try(ports: &DemoPorts, cfg: &Path, zone: &Path, socket: &Path) -> String {
    format!(
        "\
dermaga demo is running on loopback (Ctrl-C stops it).

  balancer  http://127.0.0.1:{http}/  -> app1, app2, app3 (round robin, health-checked)
  DNS       127.0.0.1:{dns} (UDP and TCP), zone demo.example.

Try:
  curl -s http://127.0.0.1:{http}/                  # repeat: app1, app2, app3 in turn
  dig @127.0.0.1 -p {dns} www.demo.example A         # CNAME to demo.example, then its A
  dig @127.0.0.1 -p {dns} demo.example MX +norec
  echo 'show stat' | socat - {socket}     # haproxy's CSV statistics
  echo 'set server apps/app2 state maint' | socat - {socket}
  curl -s http://127.0.0.1:{http}/                  # now only app1 and app3

Files (edit and restart to change the demo):
  {cfg}
  {zone}
",
        http = ports.http,
        dns = ports.dns,
        socket = socket.display(),
        cfg = cfg.display(),
        zone = zone.display(),
    )
}
