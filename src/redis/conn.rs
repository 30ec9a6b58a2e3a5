//! Where to connect and as whom. Parsed from a URL plus redis-cli style flags.
//!
//! The password is kept out of every `Display`/`Debug` so it can never leak into a log
//! line, an error message or the screen.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// How long a TCP connect (plus AUTH) may take before we give up with a clear error.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub use super::target::Target;

/// Flags that override parts of the URL, as redis-cli accepts them.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub db: Option<i64>,
    pub tls: bool,
    pub ca_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub insecure: bool,
    /// Password from the environment (`REDISCLI_AUTH`); used only when no other is given.
    pub env_pass: Option<String>,
}

impl Target {
    /// Parse `redis://[[user][:pass]@]host[:port][/db]` or `rediss://…`. The userinfo
    /// runs to the last `@`, so a pasted password with `/`, `#`, `?`, `@` or `:` works;
    /// errors show the URL with the password as `***` (see [`super::url`]).
    pub fn parse_url(input: &str) -> Result<Target> {
        let parts = super::url::parse(input)?;
        Ok(Target {
            host: parts.host.unwrap_or_else(|| "127.0.0.1".into()),
            port: parts.port.unwrap_or(6379),
            username: parts.username,
            password: parts.password,
            db: parts.db,
            tls: parts.tls,
            ..Target::default()
        })
    }

    /// URL (or default) first, then explicit flags win, then `REDISCLI_AUTH` fills a
    /// missing password.
    pub fn resolve(url: Option<&str>, o: &Overrides) -> Result<Target> {
        let mut t = match url {
            Some(u) => Target::parse_url(u)?,
            None => Target::default(),
        };
        if let Some(h) = &o.host {
            t.host = h.clone();
        }
        if let Some(p) = o.port {
            t.port = p;
        }
        if let Some(u) = &o.user {
            t.username = Some(u.clone());
        }
        if let Some(p) = &o.pass {
            t.password = Some(p.clone());
        }
        if let Some(d) = o.db {
            t.db = d;
        }
        if o.tls {
            t.tls = true;
        }
        if let Some(p) = &o.ca_cert {
            t.ca_cert = Some(p.clone());
        }
        if let Some(p) = &o.client_cert {
            t.client_cert = Some(p.clone());
        }
        if let Some(p) = &o.client_key {
            t.client_key = Some(p.clone());
        }
        if o.insecure {
            t.insecure = true;
        }
        t.check_tls_options()?;
        if t.insecure {
            // Said here, once, before any TUI takes over the terminal.
            super::tls::warn_insecure_once();
        }
        if t.password.is_none() {
            t.password = o.env_pass.clone().filter(|p| !p.is_empty());
        }
        Ok(t)
    }

    /// TLS files and `--insecure` only make sense with TLS, and a certificate without its
    /// key (or the reverse) cannot be used. Refuse instead of silently ignoring them: a
    /// user who gave `--cacert` expects an encrypted, verified connection.
    pub fn check_tls_options(&self) -> Result<()> {
        if !self.tls {
            let given: Vec<&str> = [
                (self.ca_cert.is_some(), "--cacert"),
                (self.client_cert.is_some(), "--cert"),
                (self.client_key.is_some(), "--key"),
                (self.insecure, "--insecure"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect();
            if !given.is_empty() {
                let verb = if given.len() == 1 { "applies" } else { "apply" };
                bail!(
                    "{} only {verb} to TLS connections: use a rediss:// URL or add --tls",
                    given.join(", ")
                );
            }
        }
        match (&self.client_cert, &self.client_key) {
            (Some(_), None) => bail!("--cert needs --key with the certificate's private key"),
            (None, Some(_)) => bail!("--key needs --cert with the matching certificate"),
            _ => Ok(()),
        }
    }

    /// A redis-rs client for command connections (poller, publish, actions).
    pub fn client(&self) -> Result<redis::Client> {
        let addr = if self.tls {
            // redis-rs builds its rustls config from the process-default provider.
            super::tls::ensure_provider();
            redis::ConnectionAddr::TcpTls {
                host: self.host.clone(),
                port: self.port,
                insecure: self.insecure,
                tls_params: None,
            }
        } else {
            redis::ConnectionAddr::Tcp(self.host.clone(), self.port)
        };
        let mut settings = redis::RedisConnectionInfo::default().set_db(self.db);
        if let Some(u) = &self.username {
            settings = settings.set_username(u);
        }
        if let Some(p) = &self.password {
            settings = settings.set_password(p);
        }
        let info = redis::IntoConnectionInfo::into_connection_info(addr)
            .context("building connection info")?
            .set_redis_settings(settings);
        match self.tls_certificates()? {
            Some(certs) => redis::Client::build_with_tls(info, certs)
                .map_err(|e| anyhow::anyhow!("cannot set up TLS for {self}: {e}")),
            None => redis::Client::open(info).context("creating redis client"),
        }
    }

    /// `--cacert`/`--cert`/`--key` as redis-rs takes them (PEM bytes). Parsed here first
    /// so a bad file gets the same message as on the subscriber connection, naming the
    /// flag and the file, rather than redis-rs' generic one. `--insecure` ignores
    /// `--cacert` (nothing is verified), as the subscriber does.
    fn tls_certificates(&self) -> Result<Option<redis::TlsCertificates>> {
        use super::tls::{parse_certs, parse_key, read_pem};
        if !self.tls {
            return Ok(None);
        }
        let root_cert = match (&self.ca_cert, self.insecure) {
            (Some(path), false) => {
                let pem = read_pem("--cacert", path)?;
                parse_certs("--cacert", path, &pem)?;
                Some(pem)
            }
            _ => None,
        };
        let client_tls = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let client_cert = read_pem("--cert", cert)?;
                parse_certs("--cert", cert, &client_cert)?;
                let client_key = read_pem("--key", key)?;
                parse_key(key, &client_key)?;
                Some(redis::ClientTlsConfig {
                    client_cert,
                    client_key,
                })
            }
            _ => None,
        };
        if root_cert.is_none() && client_tls.is_none() {
            return Ok(None);
        }
        Ok(Some(redis::TlsCertificates {
            client_tls,
            root_cert,
        }))
    }

    /// Open a multiplexed command connection with a connect/response timeout so a dead
    /// host gives an error within seconds instead of hanging.
    pub async fn command_connection(&self) -> Result<redis::aio::MultiplexedConnection> {
        self.command_connection_within(Some(CONNECT_TIMEOUT)).await
    }

    /// [`Target::command_connection`] with the connect (TCP, TLS, handshake) bounded by
    /// `connect_timeout`; `None` for a caller that bounds the whole exchange itself and
    /// reports the time it waited in its own words.
    pub async fn command_connection_within(
        &self,
        connect_timeout: Option<Duration>,
    ) -> Result<redis::aio::MultiplexedConnection> {
        let client = self.client()?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(connect_timeout)
            .set_response_timeout(Some(Duration::from_secs(10)));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| {
                let mut text = describe_error(&e);
                // A plain server never answers a TLS ClientHello, so redis-rs only
                // reports a timeout; say what the likely cause is.
                if self.tls && e.is_timeout() {
                    text.push_str(
                        " (is this port serving TLS? if not, use redis:// without --tls)",
                    );
                }
                // …and a TLS-only port drops a client that speaks plain RESP. (redis-rs
                // counts a refused connect as "dropped" too: nothing listens there, so
                // TLS is not the likely cause.)
                let dropped = e.is_connection_dropped() && !e.is_connection_refusal();
                if !self.tls && (dropped || text.contains("reset by peer")) {
                    text.push_str(" (if this port expects TLS, use a rediss:// URL or --tls)");
                }
                if let Some(refusal) = Refusal::from_redis(self, &e) {
                    return anyhow::Error::new(refusal);
                }
                anyhow::anyhow!("cannot connect to {self}: {text}")
            })
    }
}

/// A connect the server refused for a reason that retrying cannot fix: a wrong or
/// missing password, or something that is not Redis at that port. Engines stop on it
/// and wait for an explicit retry instead of repeating failed logins, which fill the
/// server's ACL LOG and can trip lockouts and alerts on managed Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Auth {
        user: String,
        addr: String,
        /// The server's reply (escaped), or what was missing.
        detail: String,
    },
    NotRedis {
        addr: String,
        /// What it answered (escaped, cut short), or how the handshake failed.
        detail: String,
    },
}

impl Refusal {
    pub fn auth(target: &Target, detail: impl Into<String>) -> Refusal {
        Refusal::Auth {
            user: target.user_label().to_string(),
            addr: target.addr(),
            detail: detail.into(),
        }
    }

    /// `answer` is what the port sent instead of RESP: quoted (escaped, first 40 bytes).
    pub fn not_redis(target: &Target, answer: &[u8]) -> Refusal {
        let cut = &answer[..answer.len().min(40)];
        Refusal::NotRedis {
            addr: target.addr(),
            detail: format!("it answered \"{}\"", crate::text::escape::escape_line(cut)),
        }
    }

    /// The refusal inside a connect error, if it is one.
    pub fn of(e: &anyhow::Error) -> Option<&Refusal> {
        e.downcast_ref::<Refusal>()
    }

    fn from_redis(target: &Target, e: &redis::RedisError) -> Option<Refusal> {
        let text = crate::text::escape::escape_str(&e.to_string()).into_owned();
        let auth = e.kind() == redis::ErrorKind::AuthenticationFailed
            || matches!(e.code(), Some("WRONGPASS" | "NOAUTH"));
        if auth {
            return Some(Refusal::auth(target, text));
        }
        // redis-rs' parse error lists byte values over several lines: not worth showing.
        (e.kind() == redis::ErrorKind::Parse).then(|| Refusal::NotRedis {
            addr: target.addr(),
            detail: "its reply is not RESP".into(),
        })
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Auth { user, addr, detail } => write!(
                f,
                "authentication failed for user {user} on {addr} ({detail}) — check \
                 REDISCLI_AUTH / --pass / the profile's password_env"
            ),
            Refusal::NotRedis { addr, detail } => write!(
                f,
                "not a Redis server at {addr} ({detail}) — check the host and port \
                 (and rediss:// or --tls if it expects TLS)"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// Turn a redis-rs error into a sentence a person can act on.
pub fn describe_error(e: &redis::RedisError) -> String {
    let text = crate::text::escape::escape_str(&e.to_string()).into_owned();
    if super::tls::advice(&text).is_some() {
        return super::tls::with_advice(&text);
    }
    if e.kind() == redis::ErrorKind::AuthenticationFailed {
        return format!("{text} — check --user/--pass, the URL or REDISCLI_AUTH");
    }
    let code = e.code().unwrap_or("");
    match code {
        "WRONGPASS" => format!("{text} — check --user/--pass, the URL or REDISCLI_AUTH"),
        "NOAUTH" => {
            format!("{text} — this server needs a password: pass --pass or set REDISCLI_AUTH")
        }
        "NOPERM" => format!("{text} — the ACL user lacks a permission this needs"),
        _ => text,
    }
}

/// Replace a password in a URL-looking string with `***`, for error messages about
/// URLs we could not parse (so we cannot rely on the parser to find it).
pub fn redact_url(input: &str) -> String {
    super::url::redact(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_url() {
        let t = Target::parse_url("redis://alice:s%40cret@example.com:6380/2").unwrap();
        assert_eq!(t.host, "example.com");
        assert_eq!(t.port, 6380);
        assert_eq!(t.username.as_deref(), Some("alice"));
        assert_eq!(t.password.as_deref(), Some("s@cret"));
        assert_eq!(t.db, 2);
        assert!(!t.tls);
    }

    #[test]
    fn password_only_url_and_tls_scheme() {
        let t = Target::parse_url("rediss://:pw@h").unwrap();
        assert_eq!(t.username, None);
        assert_eq!(t.password.as_deref(), Some("pw"));
        assert_eq!(t.port, 6379);
        assert!(t.tls);
    }

    #[test]
    fn display_and_debug_never_show_password() {
        let t = Target::parse_url("redis://bob:hunter2@h:1/3").unwrap();
        assert_eq!(t.to_string(), "redis://bob@h:1/3");
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    #[test]
    fn flags_override_url_and_env_fills_missing_password() {
        let o = Overrides {
            port: Some(7000),
            env_pass: Some("fromenv".into()),
            ..Default::default()
        };
        let t = Target::resolve(Some("redis://h:1"), &o).unwrap();
        assert_eq!(t.port, 7000);
        assert_eq!(t.password.as_deref(), Some("fromenv"));
        let o2 = Overrides {
            pass: Some("flag".into()),
            env_pass: Some("fromenv".into()),
            ..Default::default()
        };
        let t2 = Target::resolve(Some("redis://:url@h"), &o2).unwrap();
        assert_eq!(t2.password.as_deref(), Some("flag"));
    }

    #[test]
    fn bad_urls_are_explained_without_the_password() {
        let err = Target::parse_url("http://u:topsecret@h")
            .unwrap_err()
            .to_string();
        assert!(err.contains("redis://"), "{err}");
        let err = Target::parse_url("redis://u:topsecret@h:notaport")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("topsecret"), "{err}");
        let err = Target::parse_url("redis://h/abc").unwrap_err().to_string();
        assert!(err.contains("database"), "{err}");
    }

    #[test]
    fn tls_flags_need_tls_and_cert_needs_key() {
        let o = Overrides {
            ca_cert: Some("ca.pem".into()),
            ..Default::default()
        };
        let err = Target::resolve(Some("redis://h"), &o)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--cacert only applies") && err.contains("rediss://"),
            "{err}"
        );
        let t = Target::resolve(Some("rediss://h"), &o).unwrap();
        assert_eq!(t.ca_cert.as_deref(), Some(std::path::Path::new("ca.pem")));
        let o = Overrides {
            tls: true,
            client_cert: Some("c.pem".into()),
            ..Default::default()
        };
        let err = Target::resolve(Some("redis://h"), &o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--key"), "{err}");
    }

    #[test]
    fn tls_client_builds_and_keeps_the_password_out_of_display() {
        let t = Target::parse_url("rediss://bob:hunter2@localhost:6380").unwrap();
        assert!(t.client().is_ok());
        assert_eq!(t.to_string(), "rediss://bob@localhost:6380");
        assert!(!format!("{t:?}").contains("hunter2"));
        let bad = Target {
            ca_cert: Some("/nonexistent/ca.pem".into()),
            ..t
        };
        let err = bad.client().map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("cannot read --cacert file"), "{err}");
    }

    #[test]
    fn redact_url_hides_password() {
        assert_eq!(redact_url("redis://u:p@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(redact_url("redis://:p@h"), "redis://:***@h");
    }
}
