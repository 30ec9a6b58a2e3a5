//! Publish: PUBLISH, or SPUBLISH to a shard channel. The one publish path for the TUI's
//! composer and `redtail publish`, so read-only mode and the audit record cannot be
//! forgotten by either.

use serde::Serialize;

use super::{ActionContext, ActionError, ActionOutcome, Attempt};
use crate::audit::{AuditMessage, BinText};
use crate::redis::pending::redis_error;
use crate::redis::route::Route;
use crate::text::escape::escape_line;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishOutcome {
    pub channel: BinText,
    pub shard: bool,
    /// Clients that received it (PUBLISH's reply): in a cluster, those on the node it
    /// was sent to for SPUBLISH, every node's for PUBLISH.
    pub receivers: i64,
}

impl ActionOutcome for PublishOutcome {
    fn summary(&self) -> String {
        let kind = if self.shard {
            "shard channel"
        } else {
            "channel"
        };
        let mut s = format!(
            "published to {kind} {}: {} receiver{}",
            escape_line(&self.channel.0),
            self.receivers,
            if self.receivers == 1 { "" } else { "s" }
        );
        if self.receivers == 0 {
            s.push_str(" — nobody was listening, the message is gone");
        }
        s
    }
}

/// PUBLISH (or SPUBLISH when `shard`) `payload` to `channel`, routed like the engine
/// routes everything: SPUBLISH to the slot's owner, PUBLISH to any node (it reaches every
/// node). Refused in read-only mode; audited with the channel, kind, receiver count, the
/// payload's size and its first [`crate::audit::AUDIT_PAYLOAD_MAX`] bytes.
pub async fn publish(
    ctx: &ActionContext<'_>,
    route: &Route,
    channel: &[u8],
    payload: &[u8],
    shard: bool,
) -> Result<PublishOutcome, ActionError> {
    let command = if shard { "SPUBLISH" } else { "PUBLISH" };
    let mut attempt = Attempt::start(ctx, "publish", command, b"", None);
    attempt.record.stream = None;
    attempt.record.channel = Some(BinText::from(channel));
    attempt.record.message = Some(AuditMessage::new(command, payload));
    if let Err(e) = attempt.check_writable() {
        return attempt.finish(Err(e), None);
    }
    if channel.is_empty() {
        let e = ActionError::invalid(command, "publish: the channel name is empty".into());
        return attempt.finish(Err(e), None);
    }
    let target = if shard {
        route.target_for_key(channel).await
    } else {
        route.target(0).await
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            let e = ActionError {
                kind: super::ActionErrorKind::Connection,
                command: command.to_string(),
                message: format!("{e:#}"),
            };
            return attempt.finish(Err(e), None);
        }
    };
    attempt.record.server = target.to_string();
    let result = async {
        let mut conn = target.command_connection().await.map_err(|e| ActionError {
            kind: super::ActionErrorKind::Connection,
            command: command.to_string(),
            message: format!("{e:#}"),
        })?;
        let receivers: i64 = redis::cmd(command)
            .arg(channel)
            .arg(payload)
            .query_async(&mut conn)
            .await
            .map_err(|e| ActionError::from(redis_error(command, &e)))?;
        Ok(PublishOutcome {
            channel: BinText::from(channel),
            shard,
            receivers,
        })
    }
    .await;
    attempt.finish(result, None)
}
