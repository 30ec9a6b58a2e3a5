//! Is `notify-keyspace-events` set where events come from? Reads the setting on every
//! node (CONFIG GET) and says, per node, which flags are missing and the exact
//! `redis-cli` command that adds them — or that the node refuses CONFIG (managed
//! services often do) and where to look instead.
//!
//! In a Cluster replicas are read too: they emit nothing while they are replicas, but a
//! replica promoted by a failover only publishes events if its own setting has the flags.

use std::time::Duration;

use redis::Value;

use super::flags::{self, Flags};
use crate::redis::cluster::Role;
use crate::redis::conn::Target;
use crate::redis::error::{PollError, PollErrorKind};
use crate::redis::pending::redis_error;
use crate::redis::route::Route;

/// Per node, for CONFIG GET.
const NODE_TIMEOUT: Duration = Duration::from_secs(3);

pub const SETTING: &str = "notify-keyspace-events";

/// One node and what its setting is.
#[derive(Debug, Clone)]
pub struct NodeSetting {
    pub addr: String,
    pub target: Target,
    /// `None` outside a Cluster.
    pub role: Option<Role>,
    pub value: Result<String, PollError>,
}

/// What one node needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Has every flag the request needs.
    Ready { addr: String },
    Missing {
        addr: String,
        replica: bool,
        current: String,
        missing: String,
        /// `redis-cli -h … -p … CONFIG SET notify-keyspace-events '…'`
        fix: String,
    },
    /// CONFIG GET failed: NOPERM, renamed/disabled CONFIG, or the node is unreachable.
    Unreadable { addr: String, error: String },
}

/// The targets to check: every node of a Cluster (replicas too), else the one server
/// (the primary a Sentinel names).
pub async fn nodes(route: &Route) -> anyhow::Result<Vec<(Option<Role>, Target)>> {
    Ok(route
        .all_nodes()
        .await?
        .into_iter()
        .map(|(node, target)| (node.map(|n| n.role), target))
        .collect())
}

/// CONFIG GET notify-keyspace-events on `target`.
pub async fn read_setting(target: &Target) -> Result<String, PollError> {
    let command = "CONFIG GET";
    let read = async {
        let mut conn = target
            .command_connection()
            .await
            .map_err(|e| connection_error(format!("{e:#}")))?;
        let reply: Value = redis::cmd("CONFIG")
            .arg("GET")
            .arg(SETTING)
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_error(command, &e))?;
        setting_from_reply(&reply)
            .ok_or_else(|| PollError::reply(command, "no value for notify-keyspace-events"))
    };
    match tokio::time::timeout(NODE_TIMEOUT, read).await {
        Ok(r) => r,
        Err(_) => Err(connection_error(format!(
            "{} did not answer CONFIG GET within {} s",
            target.addr(),
            NODE_TIMEOUT.as_secs()
        ))),
    }
}

/// The value from a CONFIG GET reply: `[name, value]` (RESP2) or `{name: value}` (RESP3).
fn setting_from_reply(reply: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    match reply {
        Value::Array(items) if items.len() >= 2 => text(&items[1]),
        Value::Map(pairs) => pairs.first().and_then(|(_, v)| text(v)),
        _ => None,
    }
}

/// Read the setting on every node, in parallel.
pub async fn read_all(route: &Route) -> anyhow::Result<Vec<NodeSetting>> {
    let nodes = nodes(route).await?;
    let reads = nodes.into_iter().map(|(role, target)| async move {
        let value = read_setting(&target).await;
        NodeSetting {
            addr: target.addr(),
            target,
            role,
            value,
        }
    });
    Ok(futures_util::future::join_all(reads).await)
}

fn connection_error(message: String) -> PollError {
    PollError {
        command: "CONFIG GET".into(),
        kind: PollErrorKind::Connection,
        message,
    }
}

/// What each node needs for flags `needed`.
pub fn findings(settings: &[NodeSetting], needed: &Flags) -> Vec<Finding> {
    settings
        .iter()
        .map(|s| match &s.value {
            Err(e) => Finding::Unreadable {
                addr: s.addr.clone(),
                error: e.message.clone(),
            },
            Ok(current) => {
                let missing = needed.missing_from(&Flags::parse(current));
                if missing.is_empty() {
                    Finding::Ready {
                        addr: s.addr.clone(),
                    }
                } else {
                    let value = flags::merged(current, &missing);
                    Finding::Missing {
                        addr: s.addr.clone(),
                        replica: s.role == Some(Role::Replica),
                        current: current.clone(),
                        missing,
                        fix: fix_command(&s.target, &value),
                    }
                }
            }
        })
        .collect()
}

/// The `redis-cli` command that sets `value` on `target`. Never contains a password:
/// `--askpass` makes redis-cli ask for it.
pub fn fix_command(target: &Target, value: &str) -> String {
    let mut cmd = format!("redis-cli -h {} -p {}", target.host, target.port);
    if target.tls {
        cmd.push_str(" --tls");
    }
    if let Some(user) = &target.username {
        cmd.push_str(&format!(" --user {}", shell_quote(user)));
    }
    if target.password.is_some() {
        cmd.push_str(" --askpass");
    }
    cmd.push_str(&format!(" CONFIG SET {SETTING} {}", shell_quote(value)));
    cmd
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Finding {
    /// One or two lines for stderr (already safe for a terminal).
    pub fn describe(&self) -> Option<String> {
        let esc = |s: &str| crate::text::escape::escape_str(s).into_owned();
        match self {
            Finding::Ready { .. } => None,
            Finding::Missing {
                addr,
                replica,
                current,
                missing,
                fix,
            } => {
                let shown = if current.is_empty() {
                    "\"\" (off)".to_string()
                } else {
                    format!("\"{}\"", esc(current))
                };
                let role = if *replica {
                    " (a replica: it needs them once a failover promotes it)"
                } else {
                    ""
                };
                Some(format!(
                    "node {addr}{role}: {SETTING} is {shown}, lacking flags \"{}\" for the \
                     requested events; enable with:\n  {}\n  (or run again with \
                     --enable-notifications, which restores the old value on exit)",
                    esc(missing),
                    esc(fix)
                ))
            }
            Finding::Unreadable { addr, error } => Some(format!(
                "node {addr}: cannot read {SETTING} ({}) — managed services (ElastiCache, \
                 Azure Cache, Memorystore, …) often refuse CONFIG: set it in the provider's \
                 parameter group or console; events from the other nodes are still shown",
                esc(error)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_commands_are_exact_and_hold_no_password() {
        let t = Target {
            host: "10.0.0.5".into(),
            port: 7001,
            username: Some("ops".into()),
            password: Some("s3cret".into()),
            tls: true,
            ..Target::default()
        };
        let cmd = fix_command(&t, "$KEg");
        assert_eq!(
            cmd,
            "redis-cli -h 10.0.0.5 -p 7001 --tls --user 'ops' --askpass CONFIG SET notify-keyspace-events '$KEg'"
        );
        assert!(!cmd.contains("s3cret"));
    }

    #[test]
    fn replies_of_both_protocols_give_the_value() {
        let resp2 = Value::Array(vec![
            Value::BulkString(SETTING.into()),
            Value::BulkString(b"AKE".to_vec()),
        ]);
        assert_eq!(setting_from_reply(&resp2).as_deref(), Some("AKE"));
        let resp3 = Value::Map(vec![(
            Value::BulkString(SETTING.into()),
            Value::BulkString(b"".to_vec()),
        )]);
        assert_eq!(setting_from_reply(&resp3).as_deref(), Some(""));
        assert_eq!(setting_from_reply(&Value::Array(vec![])), None);
    }
}
