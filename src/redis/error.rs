//! The error every engine command reports: which command failed, what kind of failure
//! it was (so callers can decide to reconnect, or tell a missing permission apart), and
//! a sentence that says what to do. One type for the pollers, pending reads and actions.

use std::fmt;

use super::conn::describe_error;
use crate::text::escape::escape_str;

/// A cluster's error reply to a subscription that the subscriber follows by itself (it
/// reads the topology again and subscribes at the slot's owner): MOVED, ASK, TRYAGAIN,
/// CLUSTERDOWN. Passing for a consumer, not a refusal.
pub fn is_cluster_redirect(reply: &[u8]) -> bool {
    [&b"MOVED "[..], b"ASK ", b"CLUSTERDOWN", b"TRYAGAIN"]
        .iter()
        .any(|p| reply.starts_with(p))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollErrorKind {
    /// NOPERM: the ACL user may not run the command or touch the channel.
    Denied,
    /// The server does not know the command (renamed, disabled or too old).
    UnknownCommand,
    /// The connection failed or timed out; a new connection may succeed.
    Connection,
    /// The server answered something we cannot read.
    Reply,
    /// Any other error reply.
    Server,
}

/// A failed command, with a message that says which command, why, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollError {
    pub command: String,
    pub kind: PollErrorKind,
    pub message: String,
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PollError {}

impl PollError {
    /// From an error reply: `code` is its first word (`NOPERM`, `ERR`), `detail` the rest.
    /// The server's text is escaped here because it ends up on a terminal.
    pub fn from_server(command: &str, code: &str, detail: &str) -> PollError {
        let code = escape_str(code);
        let detail = escape_str(detail);
        let lower = detail.to_ascii_lowercase();
        let (kind, message) = if code == "NOPERM" {
            // "…to access one of the channels used as arguments" (not "…the 'pubsub|channels' command").
            let fix = if lower.contains("to access") && lower.contains("channel") {
                "grant the user access to those channels (ACL SETUSER <user> &<pattern>) \
                 or use an account that can"
                    .to_string()
            } else {
                format!("grant +{} or use an account that can", acl_name(command))
            };
            (
                PollErrorKind::Denied,
                format!("{command} refused: NOPERM {detail} — {fix}"),
            )
        } else if code == "NOAUTH" {
            (
                PollErrorKind::Denied,
                format!(
                    "{command} refused: NOAUTH {detail} — this server needs a password: \
                     pass --pass (or --user and --pass) or set REDISCLI_AUTH"
                ),
            )
        } else if lower.starts_with("unknown command") {
            let base = command.split(' ').next().unwrap_or(command);
            (
                PollErrorKind::UnknownCommand,
                format!(
                    "{command} failed: the server does not know the {base} command \
                     ({code} {detail}) — it was renamed or disabled (rename-command in \
                     the server's config); ask its operator to enable it, or point \
                     redtail at a server where it is"
                ),
            )
        } else if lower.starts_with("unknown subcommand") {
            (
                PollErrorKind::UnknownCommand,
                format!(
                    "{command} failed: this server does not support it ({code} {detail}) \
                     — it is older than the Redis version that added it"
                ),
            )
        } else {
            (
                PollErrorKind::Server,
                format!("{command} failed: {code} {detail}"),
            )
        };
        PollError {
            command: command.to_string(),
            kind,
            message,
        }
    }

    /// From a redis-rs error for a single command (or a whole pipeline).
    pub fn from_redis(command: &str, e: &redis::RedisError) -> PollError {
        if let Some(code) = e.code() {
            return PollError::from_server(command, code, e.detail().unwrap_or(""));
        }
        let connection = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error();
        let (kind, what) = if connection {
            (PollErrorKind::Connection, "lost the connection")
        } else {
            (PollErrorKind::Reply, "could not read the reply")
        };
        PollError {
            command: command.to_string(),
            kind,
            message: format!("{command} failed: {what}: {}", describe_error(e)),
        }
    }

    /// The server answered something we cannot read (`what` says what was wrong).
    pub fn reply(command: &str, what: &str) -> PollError {
        PollError {
            command: command.to_string(),
            kind: PollErrorKind::Reply,
            message: format!(
                "{command} failed: unexpected reply ({what}); is this a Redis-compatible server?"
            ),
        }
    }

    /// A new connection might help (the poller reconnects on these).
    pub fn is_connection(&self) -> bool {
        self.kind == PollErrorKind::Connection
    }
}

/// The ACL name of a command: `PUBSUB CHANNELS` → `pubsub|channels`.
fn acl_name(command: &str) -> String {
    command.to_ascii_lowercase().replacen(' ', "|", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_names() {
        assert_eq!(acl_name("PUBSUB SHARDNUMSUB"), "pubsub|shardnumsub");
        assert_eq!(acl_name("PUBLISH"), "publish");
    }
}
