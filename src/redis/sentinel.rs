//! Find the current primary through Redis Sentinel.
//!
//! We ask the sentinels in turn for the address of the named master, then check that the
//! node at that address really says it is the primary (`ROLE`): in the middle of a
//! failover a sentinel can still name the old primary, which is down or already a
//! replica. While that is the only problem we retry for a few seconds; errors that will
//! not change by waiting (no sentinel reachable, unknown master name, wrong sentinel
//! password) are reported at once.
//!
//! Sentinels are reached with the template's TLS settings (the same CA and client
//! certificate as the data nodes), but with their own optional user and password.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use redis::Value;

use super::conn::{describe_error, Target};
use super::reply::{into_bytes, into_items, strip_attribute};
use crate::text::escape::escape_str;

pub const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// Connect plus one reply, per sentinel. Sentinels are few and usually near: a dead one
/// should cost little before we try the next.
const SENTINEL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long we keep asking while the sentinels name a node that is not (yet) the primary.
const RESOLVE_BUDGET: Duration = Duration::from_secs(3);
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// Which sentinels to ask, about which master, and the sentinels' own credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct SentinelSpec {
    pub sentinels: Vec<(String, u16)>,
    pub master: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for SentinelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelSpec")
            .field("sentinels", &self.sentinels)
            .field("master", &self.master)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl SentinelSpec {
    /// Sentinel addresses as given on the command line: each argument is `host:port`,
    /// `[ipv6]:port`, or a host alone (port 26379), or a comma-separated list of those.
    /// Duplicates are dropped, order is kept. No credentials: set them on the result.
    pub fn parse(sentinel_args: &[String], master: &str) -> Result<SentinelSpec> {
        if master.trim().is_empty() {
            bail!("--master needs the name the sentinels monitor (for example mymaster)");
        }
        let mut sentinels: Vec<(String, u16)> = Vec::new();
        for item in sentinel_args.iter().flat_map(|a| a.split(',')) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let addr = parse_addr(item)?;
            if !sentinels.contains(&addr) {
                sentinels.push(addr);
            }
        }
        if sentinels.is_empty() {
            bail!("no sentinel address given: pass host:port (default port {DEFAULT_SENTINEL_PORT}), several separated by commas");
        }
        Ok(SentinelSpec {
            sentinels,
            master: master.to_string(),
            username: None,
            password: None,
        })
    }
}

fn parse_addr(item: &str) -> Result<(String, u16)> {
    let shown = escape_str(item);
    if item.contains("://") {
        bail!("sentinel address {shown:?} looks like a URL: give sentinels as host:port");
    }
    let (host, port) = if let Some(rest) = item.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            bail!("sentinel address {shown:?}: missing ']' after the IPv6 address");
        };
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => bail!(
                    "sentinel address {shown:?}: expected :port after ']', got {:?}",
                    escape_str(after)
                ),
            },
        }
    } else {
        match item.matches(':').count() {
            0 => (item, None),
            1 => {
                let (host, port) = item.split_once(':').unwrap_or((item, ""));
                (host, Some(port))
            }
            _ => bail!(
                "sentinel address {shown:?}: write IPv6 addresses in brackets, e.g. [::1]:{DEFAULT_SENTINEL_PORT}"
            ),
        }
    };
    if host.is_empty() {
        bail!("sentinel address {shown:?} has no host");
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("sentinel address {shown:?}: the host contains spaces or control characters");
    }
    let port = match port {
        None => DEFAULT_SENTINEL_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => bail!(
                "sentinel address {shown:?}: port {:?} is not a number from 1 to 65535",
                escape_str(p)
            ),
        },
    };
    Ok((host.to_string(), port))
}

/// `host:port`, with brackets around IPv6 hosts, for messages.
fn label(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

enum Answer {
    Master(String, u16),
    UnknownMaster,
}

enum AskError {
    /// Could not connect or no reply in time: try the next sentinel.
    Unreachable(String),
    /// The sentinel answered, but not usefully (auth, not a sentinel, odd reply).
    Refused(String),
}

/// The current primary of `spec.master`: `template` (credentials, TLS, db) with the host
/// and port the sentinels report, after checking that node says it is the primary.
pub async fn resolve_master(spec: &SentinelSpec, template: &Target) -> Result<Target> {
    if spec.sentinels.is_empty() {
        bail!("no sentinel address given: pass host:port (default port {DEFAULT_SENTINEL_PORT})");
    }
    let deadline = Instant::now() + RESOLVE_BUDGET;
    let name = escape_str(&spec.master);
    loop {
        let mut unreachable = Vec::new();
        let mut unknown = Vec::new();
        let mut refused = Vec::new();
        // (sentinel, candidate address, why it is not usable); each address checked once
        // per round even when several sentinels name it.
        let mut bad_candidates: Vec<(String, String, String)> = Vec::new();
        for (host, port) in &spec.sentinels {
            let sentinel = label(host, *port);
            match ask(spec, template, host, *port).await {
                Ok(Answer::Master(host, port)) => {
                    let candidate = Target {
                        host,
                        port,
                        ..template.clone()
                    };
                    let addr = candidate.addr();
                    if let Some((_, _, why)) = bad_candidates.iter().find(|(_, a, _)| *a == addr) {
                        let why = why.clone();
                        bad_candidates.push((sentinel, addr, why));
                        continue;
                    }
                    match check_primary(&candidate).await {
                        Ok(()) => return Ok(candidate),
                        Err(why) => bad_candidates.push((sentinel, addr, why)),
                    }
                }
                Ok(Answer::UnknownMaster) => unknown.push(sentinel),
                Err(AskError::Unreachable(why)) => unreachable.push(format!("{sentinel} ({why})")),
                Err(AskError::Refused(why)) => refused.push(why),
            }
        }
        // Only "named a node that is not the primary" can be a failover in progress.
        let retry = !bad_candidates.is_empty() && Instant::now() + RETRY_PAUSE < deadline;
        if !retry {
            bail!(explain(
                &name,
                &unreachable,
                &unknown,
                &refused,
                &bad_candidates
            ));
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

fn explain(
    name: &str,
    unreachable: &[String],
    unknown: &[String],
    refused: &[String],
    bad_candidates: &[(String, String, String)],
) -> String {
    let mut parts = Vec::new();
    if let Some((sentinel, addr, why)) = bad_candidates.first() {
        parts.push(format!(
            "sentinel {sentinel} says the primary of \"{name}\" is {addr}, but {why} \
             (kept asking for {} s; a failover may be in progress, or the sentinels report \
             an address this machine cannot reach — see announce-ip)",
            RESOLVE_BUDGET.as_secs()
        ));
    }
    if let Some(first) = unknown.first() {
        let others = if unknown.len() > 1 {
            format!(" (nor do {})", unknown[1..].join(", "))
        } else {
            String::new()
        };
        parts.push(format!(
            "sentinel {first} does not know a master called \"{name}\"{others} — check --master"
        ));
    }
    parts.extend(refused.iter().cloned());
    if !unreachable.is_empty() {
        if parts.is_empty() {
            parts.push(format!(
                "cannot reach any sentinel: {} — check the sentinel addresses and that they are running",
                unreachable.join(", ")
            ));
        } else {
            parts.push(format!("unreachable: {}", unreachable.join(", ")));
        }
    }
    parts.join("; ")
}

/// How to reach one sentinel: the template's TLS settings with the sentinels' own
/// credentials.
pub fn sentinel_target(spec: &SentinelSpec, template: &Target, host: &str, port: u16) -> Target {
    Target {
        host: host.to_string(),
        port,
        username: spec.username.clone(),
        password: spec.password.clone(),
        db: 0,
        ..template.clone()
    }
}

/// The `host:port` a sentinel names as the primary of `master`, asked on an open
/// connection (no ROLE check: for re-confirming a primary already checked). `None` when
/// the sentinel does not know the master.
pub async fn named_primary(
    conn: &mut redis::aio::MultiplexedConnection,
    master: &str,
) -> Result<Option<String>> {
    let reply = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(master)
        .query_async::<Value>(conn)
        .await?;
    match parse_master_addr(reply).map_err(anyhow::Error::msg)? {
        Answer::Master(host, port) => Ok(Some(label(&host, port))),
        Answer::UnknownMaster => Ok(None),
    }
}

/// Ask one sentinel for the master's address.
async fn ask(
    spec: &SentinelSpec,
    template: &Target,
    host: &str,
    port: u16,
) -> Result<Answer, AskError> {
    let sentinel = label(host, port);
    let target = sentinel_target(spec, template, host, port);
    let client = target
        .client()
        .map_err(|e| AskError::Refused(format!("sentinel {sentinel}: {e:#}")))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(SENTINEL_TIMEOUT))
        .set_response_timeout(Some(SENTINEL_TIMEOUT));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| sentinel_error(&sentinel, &e))?;
    let reply = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(&spec.master)
        .query_async::<Value>(&mut conn)
        .await
        .map_err(|e| sentinel_error(&sentinel, &e))?;
    parse_master_addr(reply).map_err(|why| AskError::Refused(format!("sentinel {sentinel}: {why}")))
}

fn sentinel_error(sentinel: &str, e: &redis::RedisError) -> AskError {
    let text = escape_str(&e.to_string()).into_owned();
    if e.is_io_error() || e.is_timeout() || e.is_connection_refusal() {
        return AskError::Unreachable(text);
    }
    let auth = e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH"))
        || text.contains("AUTH");
    if auth {
        return AskError::Refused(format!(
            "sentinel {sentinel} rejected us: {text} — check the sentinel's own user and password (not the data nodes')"
        ));
    }
    if text.contains("unknown command") {
        return AskError::Refused(format!(
            "{sentinel} is not a sentinel (it does not know the SENTINEL command) — \
             sentinels usually listen on port {DEFAULT_SENTINEL_PORT}"
        ));
    }
    AskError::Refused(format!("sentinel {sentinel}: {}", describe_error(e)))
}

/// `[host, port]`, or nil when the sentinel does not monitor a master by that name.
fn parse_master_addr(reply: Value) -> Result<Answer, String> {
    let reply = strip_attribute(reply);
    if matches!(reply, Value::Nil) {
        return Ok(Answer::UnknownMaster);
    }
    let unexpected = || "unexpected reply to SENTINEL get-master-addr-by-name".to_string();
    let items = into_items(reply).ok_or_else(unexpected)?;
    let [host, port] = <[Value; 2]>::try_from(items).map_err(|_| unexpected())?;
    let host = into_bytes(host).ok_or_else(unexpected)?;
    let port = into_bytes(port).ok_or_else(unexpected)?;
    let host = std::str::from_utf8(&host)
        .ok()
        .filter(|h| !h.is_empty() && !h.chars().any(|c| c.is_whitespace() || c.is_control()))
        .ok_or_else(unexpected)?;
    let port = std::str::from_utf8(&port)
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p > 0)
        .ok_or_else(unexpected)?;
    Ok(Answer::Master(host.to_string(), port))
}

/// Ok if the node answers ROLE with "master"; Err says what is wrong, for messages.
async fn check_primary(candidate: &Target) -> Result<(), String> {
    let mut conn = candidate
        .command_connection()
        .await
        .map_err(|e| format!("it cannot be reached: {e:#}"))?;
    let reply = tokio::time::timeout(
        SENTINEL_TIMEOUT,
        redis::cmd("ROLE").query_async::<Value>(&mut conn),
    )
    .await
    .map_err(|_| "it did not answer ROLE in time".to_string())?
    .map_err(|e| format!("ROLE failed there: {}", describe_error(&e)))?;
    let role = into_items(reply)
        .and_then(|items| items.into_iter().next())
        .and_then(into_bytes)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    match role.as_str() {
        "master" => Ok(()),
        "" => Err("its reply to ROLE is not understood".into()),
        other => Err(format!(
            "that node says its role is {:?}",
            escape_str(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn parse(list: &[&str]) -> Result<Vec<(String, u16)>> {
        SentinelSpec::parse(&args(list), "mymaster").map(|s| s.sentinels)
    }

    fn err(list: &[&str]) -> String {
        parse(list).unwrap_err().to_string()
    }

    #[test]
    fn host_port_ipv6_and_default_port() {
        assert_eq!(
            parse(&["h1:26380", "[::1]:26381", "h2", "[fe80::1]"]).unwrap(),
            vec![
                ("h1".to_string(), 26380),
                ("::1".to_string(), 26381),
                ("h2".to_string(), DEFAULT_SENTINEL_PORT),
                ("fe80::1".to_string(), DEFAULT_SENTINEL_PORT),
            ]
        );
    }

    #[test]
    fn comma_lists_are_split_trimmed_and_deduplicated() {
        assert_eq!(
            parse(&["a:1, b:2,,a:1", "c"]).unwrap(),
            vec![
                ("a".to_string(), 1),
                ("b".to_string(), 2),
                ("c".to_string(), DEFAULT_SENTINEL_PORT),
            ]
        );
    }

    #[test]
    fn spec_keeps_master_and_has_no_credentials() {
        let spec = SentinelSpec::parse(&args(&["s"]), "orders").unwrap();
        assert_eq!(spec.master, "orders");
        assert_eq!((spec.username, spec.password), (None, None));
    }

    #[test]
    fn bad_ports_are_explained() {
        for bad in ["h:abc", "h:0", "h:65536", "h:", "[::1]:x"] {
            let e = err(&[bad]);
            assert!(e.contains("not a number from 1 to 65535"), "{bad}: {e}");
        }
    }

    #[test]
    fn other_bad_addresses_are_explained() {
        assert!(err(&[":26379"]).contains("has no host"));
        assert!(err(&["[::1"]).contains("missing ']'"));
        assert!(err(&["[::1]26379"]).contains("expected :port"));
        assert!(err(&["::1"]).contains("brackets"));
        assert!(err(&["fe80::1:26379"]).contains("brackets"));
        assert!(err(&["redis://h:26379"]).contains("host:port"));
        assert!(err(&["a b:1"]).contains("spaces"));
        assert!(err(&[]).contains("no sentinel address"));
        assert!(err(&[" , "]).contains("no sentinel address"));
    }

    #[test]
    fn empty_master_is_refused() {
        let e = SentinelSpec::parse(&args(&["h"]), " ")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--master"), "{e}");
    }

    #[test]
    fn hostile_input_is_escaped_in_errors() {
        let e = err(&["h:\x1b]0;pwned\x07"]);
        assert!(!e.contains('\x1b') && !e.contains('\x07'), "{e:?}");
    }

    #[test]
    fn master_address_replies() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        assert!(matches!(
            parse_master_addr(Value::Nil),
            Ok(Answer::UnknownMaster)
        ));
        match parse_master_addr(Value::Array(vec![bulk("10.0.0.5"), bulk("6380")])) {
            Ok(Answer::Master(h, p)) => assert_eq!((h.as_str(), p), ("10.0.0.5", 6380)),
            _ => panic!("expected an address"),
        }
        for bad in [
            Value::Array(vec![bulk("h")]),
            Value::Array(vec![bulk("h"), bulk("x")]),
            Value::Array(vec![bulk(""), bulk("1")]),
            Value::Array(vec![bulk("h"), bulk("1"), bulk("2")]),
            Value::Int(3),
        ] {
            assert!(parse_master_addr(bad).is_err());
        }
    }

    #[tokio::test]
    async fn a_spec_without_sentinels_is_an_error_not_a_hang() {
        let spec = SentinelSpec {
            sentinels: Vec::new(),
            master: "m".into(),
            username: None,
            password: None,
        };
        let e = resolve_master(&spec, &Target::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("no sentinel address"), "{e}");
    }

    #[test]
    fn debug_hides_the_sentinel_password() {
        let mut spec = SentinelSpec::parse(&args(&["h"]), "m").unwrap();
        spec.password = Some("hunter2".into());
        assert!(!format!("{spec:?}").contains("hunter2"));
    }
}
