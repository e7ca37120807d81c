//! One registry host over HTTP(S): scheme choice, authentication and the distribution-spec
//! requests the pull and push code need.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use ureq::http::{Response, StatusCode};
use ureq::tls::TlsConfig;
use ureq::{Agent, Body, RequestBuilder};

use super::auth::{credentials_for, parse_challenge, Challenge, Credentials};
use super::conf::RegistriesConf;
use super::{RegistryError, RegistryOptions, Result};

/// Largest manifest or token reply read into memory.
const SMALL_BODY_LIMIT: u64 = 8 * 1024 * 1024;

/// How a request authenticates, learned from the registry's challenge.
#[derive(Clone, Debug)]
enum AuthMode {
    /// Not yet asked, or the registry wants none.
    None,
    Basic(String),
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Builds and sends one request given the `Authorization` value (if any); called again after a
/// fresh token, so it must be able to re-create its body.
pub(crate) type RequestFn<'a> =
    dyn FnMut(&Agent, Option<&str>) -> std::result::Result<Response<Body>, ureq::Error> + 'a;

/// A client for one registry host.
pub(crate) struct RegistryClient {
    agent: Agent,
    /// `https://host` or `http://host`.
    base: String,
    /// `host[:port]` as named by the user.
    pub host: String,
    creds: Option<Credentials>,
    /// The auth file key looked up (`host/path`), for messages.
    mode: Mutex<AuthMode>,
    /// Bearer tokens by scope string.
    tokens: Mutex<HashMap<String, String>>,
}

/// A registry's JSON error body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl RegistryClient {
    /// A client for `host` (`docker.io` is served by `registry-1.docker.io`). Decides the
    /// scheme: HTTPS verified, or — with `--tls-verify=false` or `insecure = true` — HTTPS
    /// unverified with a fall-back to plain HTTP.
    pub fn new(host: &str, opts: &RegistryOptions) -> Result<RegistryClient> {
        Self::for_repo(host, host, opts)
    }

    /// As [`RegistryClient::new`], looking credentials up for repository `repo` (`host/path`).
    pub fn for_repo(host: &str, repo: &str, opts: &RegistryOptions) -> Result<RegistryClient> {
        let conf = RegistriesConf::load(opts.registries_conf.as_deref())?;
        if let Some(e) = conf.entry_for(repo) {
            if e.blocked {
                return Err(RegistryError::Auth {
                    registry: repo.to_string(),
                    why: format!(
                        "blocked in {}",
                        conf.path
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    ),
                });
            }
        }
        let verify = opts.tls_verify.unwrap_or(!conf.insecure(host));
        let tls = TlsConfig::builder().disable_verification(!verify).build();
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .user_agent(concat!("dermaga/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = Agent::new_with_config(config);
        let api_host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let creds = credentials_for(opts, repo)?;
        let mut client = RegistryClient {
            agent,
            base: format!("https://{api_host}"),
            host: host.to_string(),
            creds,
            mode: Mutex::new(AuthMode::None),
            tokens: Mutex::new(HashMap::new()),
        };
        // Ping /v2/ to learn the scheme and the auth challenge.
        match client.ping() {
            Ok(()) => {}
            Err(RegistryError::Transport { .. }) if !verify => {
                client.base = format!("http://{api_host}");
                client.ping()?;
            }
            Err(e) => return Err(e),
        }
        Ok(client)
    }

    fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| transport(&url, e))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge);
            let mode = match challenge {
                Some(Challenge::Basic) => match &self.creds {
                    Some(c) => AuthMode::Basic(c.basic_header()),
                    None => AuthMode::None,
                },
                Some(Challenge::Bearer { realm, service, .. }) => {
                    AuthMode::Bearer { realm, service }
                }
                None => AuthMode::None,
            };
            *self.mode.lock().unwrap_or_else(|p| p.into_inner()) = mode;
        }
        Ok(())
    }

    /// `login`: proves the credentials work (a 200 on `/v2/` with them, or a token).
    pub fn check_login(&self) -> Result<()> {
        let mode = self.mode.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let url = format!("{}/v2/", self.base);
        let auth = match mode {
            AuthMode::None => None,
            AuthMode::Basic(h) => Some(h),
            AuthMode::Bearer { .. } => Some(self.token("")?),
        };
        let mut req = self.agent.get(&url);
        if let Some(a) = &auth {
            req = req.header("Authorization", a);
        }
        let resp = req.call().map_err(|e| transport(&url, e))?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            401 | 403 => Err(RegistryError::Auth {
                registry: self.host.clone(),
                why: "invalid username or password".into(),
            }),
            _ => Err(status_error("GET", &url, resp)),
        }
    }

    /// The `Authorization` value for `scope` (`repository:NAME:pull,push`; several separated by
    /// spaces), fetching a bearer token when the registry asked for one.
    fn authorization(&self, scope: &str) -> Result<Option<String>> {
        let mode = self.mode.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match mode {
            AuthMode::None => Ok(None),
            AuthMode::Basic(h) => Ok(Some(h)),
            AuthMode::Bearer { .. } => {
                if let Some(t) = self
                    .tokens
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(scope)
                {
                    return Ok(Some(t.clone()));
                }
                self.token(scope).map(Some)
            }
        }
    }

    /// Fetches a bearer token from the realm for `scope` (empty: none), with the credentials if
    /// any (anonymous otherwise), and caches it.
    fn token(&self, scope: &str) -> Result<String> {
        let AuthMode::Bearer { realm, service } =
            self.mode.lock().unwrap_or_else(|p| p.into_inner()).clone()
        else {
            return Err(RegistryError::Auth {
                registry: self.host.clone(),
                why: "the registry did not ask for a bearer token".into(),
            });
        };
        let mut req = self.agent.get(&realm);
        if let Some(s) = &service {
            req = req.query("service", s);
        }
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            req = req.query("scope", s);
        }
        if let Some(c) = &self.creds {
            req = req.header("Authorization", c.basic_header());
            req = req.query("account", &c.username);
        }
        let mut resp = req.call().map_err(|e| transport(&realm, e))?;
        if !resp.status().is_success() {
            let why = if resp.status() == StatusCode::UNAUTHORIZED {
                "the token service refused the credentials; `dermaga login` with valid ones"
                    .to_string()
            } else {
                format!("token service {realm} answered {}", resp.status().as_u16())
            };
            return Err(RegistryError::Auth {
                registry: self.host.clone(),
                why,
            });
        }
        #[derive(Deserialize)]
        struct TokenReply {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = read_small(&realm, &mut resp)?;
        let reply: TokenReply = serde_json::from_slice(&body).map_err(|e| RegistryError::Auth {
            registry: self.host.clone(),
            why: format!("token service {realm}: unreadable reply: {e}"),
        })?;
        let token = reply
            .token
            .or(reply.access_token)
            .ok_or_else(|| RegistryError::Auth {
                registry: self.host.clone(),
                why: format!("token service {realm}: reply has no token"),
            })?;
        let header = format!("Bearer {token}");
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(scope.to_string(), header.clone());
        Ok(header)
    }

    /// The full URL of an API path (`/v2/...`) or of a `Location` header (absolute or
    /// relative).
    pub fn url(&self, path_or_location: &str) -> String {
        if path_or_location.starts_with("http://") || path_or_location.starts_with("https://") {
            path_or_location.to_string()
        } else {
            format!("{}{}", self.base, path_or_location)
        }
    }

    /// Sends a request built by `build` (called again after a fresh token when the registry
    /// answers 401, so bodies must be re-creatable). Returns the response whatever its status.
    pub fn send(
        &self,
        method: &'static str,
        url: &str,
        scope: &str,
        build: &mut RequestFn<'_>,
    ) -> Result<Response<Body>> {
        let auth = self.authorization(scope)?;
        let resp = build(&self.agent, auth.as_deref()).map_err(|e| transport(url, e))?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        // The token expired or did not cover the scope, or the registry wants auth we did not
        // know of yet: learn the challenge again and retry once.
        if let Some(ch) = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge)
        {
            let mode = match ch {
                Challenge::Basic => match &self.creds {
                    Some(c) => AuthMode::Basic(c.basic_header()),
                    None => {
                        return Err(RegistryError::Auth {
                            registry: self.host.clone(),
                            why: format!(
                                "{method} {url}: authentication required; run `dermaga login {}`",
                                self.host
                            ),
                        })
                    }
                },
                Challenge::Bearer { realm, service, .. } => AuthMode::Bearer { realm, service },
            };
            *self.mode.lock().unwrap_or_else(|p| p.into_inner()) = mode;
        }
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(scope);
        let auth = self.authorization(scope)?;
        let resp = build(&self.agent, auth.as_deref()).map_err(|e| transport(url, e))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(RegistryError::Auth {
                registry: self.host.clone(),
                why: format!(
                    "{method} {url}: {}",
                    if self.creds.is_some() {
                        "the credentials are not accepted".to_string()
                    } else {
                        format!("authentication required; run `dermaga login {}`", self.host)
                    }
                ),
            });
        }
        Ok(resp)
    }

    /// A GET with optional extra headers, authenticated for `scope`.
    pub fn get(&self, url: &str, scope: &str, headers: &[(&str, &str)]) -> Result<Response<Body>> {
        self.send("GET", url, scope, &mut |agent, auth| {
            let mut req = agent.get(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            with_auth(req, auth).call()
        })
    }

    /// A HEAD, authenticated for `scope`.
    pub fn head(&self, url: &str, scope: &str, headers: &[(&str, &str)]) -> Result<Response<Body>> {
        self.send("HEAD", url, scope, &mut |agent, auth| {
            let mut req = agent.head(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            with_auth(req, auth).call()
        })
    }
}

/// Adds an `Authorization` header when there is one.
pub(crate) fn with_auth<B>(req: RequestBuilder<B>, auth: Option<&str>) -> RequestBuilder<B> {
    match auth {
        Some(a) => req.header("Authorization", a),
        None => req,
    }
}

/// A transport error (connection refused, TLS, broken read) with the URL.
pub(crate) fn transport(url: &str, e: ureq::Error) -> RegistryError {
    RegistryError::Transport {
        url: url.to_string(),
        why: e.to_string(),
    }
}

/// An error status with the registry's own error codes and messages.
pub(crate) fn status_error(
    method: &'static str,
    url: &str,
    mut resp: Response<Body>,
) -> RegistryError {
    let status = resp.status().as_u16();
    let mut text = String::new();
    let _ = resp
        .body_mut()
        .as_reader()
        .take(64 * 1024)
        .read_to_string(&mut text);
    let detail = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(b) if !b.errors.is_empty() => {
            let parts: Vec<String> = b
                .errors
                .iter()
                .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
                .collect();
            format!(": {}", parts.join("; "))
        }
        _ if !text.trim().is_empty() => {
            format!(": {}", text.trim().chars().take(200).collect::<String>())
        }
        _ => String::new(),
    };
    RegistryError::Status {
        method,
        url: url.to_string(),
        status,
        detail,
    }
}

/// Reads a small body (a manifest, a config) with a size limit.
pub(crate) fn read_small(url: &str, resp: &mut Response<Body>) -> Result<Vec<u8>> {
    resp.body_mut()
        .with_config()
        .limit(SMALL_BODY_LIMIT)
        .read_to_vec()
        .map_err(|e| transport(url, e))
}

/// A response header as text.
pub(crate) fn header<'a>(resp: &'a Response<Body>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}
