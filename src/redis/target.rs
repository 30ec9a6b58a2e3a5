//! Where to connect and as whom: the target every engine task, command and message
//! names. Its `Display` and `Debug` never contain the password, so it can never leak
//! into a log line, an error message or the screen. Parsing and connecting live in
//! `conn.rs`, TLS set-up in `tls.rs`; both only read this.

use std::fmt;
use std::path::PathBuf;

#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    pub tls: bool,
    /// PEM bundle of the CA(s) to trust instead of the bundled webpki roots (`--cacert`).
    pub ca_cert: Option<PathBuf>,
    /// Client certificate chain and its key, for servers with `tls-auth-clients yes`.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Skip server certificate verification (`--insecure`).
    pub insecure: bool,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            host: "127.0.0.1".into(),
            port: 6379,
            username: None,
            password: None,
            db: 0,
            tls: false,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            insecure: false,
        }
    }
}

impl Target {
    /// `host:port`, for socket connects.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The user a login is attempted as, for messages.
    pub fn user_label(&self) -> &str {
        self.username.as_deref().unwrap_or("default")
    }
}

/// What we show as "the server": never includes the password. The user and host are
/// escaped: `--host` and `--user` take any text, and this lands on stderr and screen.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::text::escape::escape_str;
        let scheme = if self.tls { "rediss" } else { "redis" };
        write!(f, "{scheme}://")?;
        if let Some(u) = &self.username {
            write!(f, "{}@", escape_str(u))?;
        }
        write!(f, "{}", escape_str(&self.addr()))?;
        if self.db != 0 {
            write!(f, "/{}", self.db)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("tls", &self.tls)
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("insecure", &self.insecure)
            .finish()
    }
}
