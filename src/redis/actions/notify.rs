//! `notify-keyspace-events` changes for `tail --keyspace --enable-notifications`: add the
//! flags the requested events need on one node (merged with what it has, never dropping
//! a flag), and put the previous value back on exit. Both are mutations: refused in
//! read-only mode and audited (action `notify-enable` / `notify-restore`, command
//! `CONFIG SET`, the old and new value in the record's details).

use serde::Serialize;

use super::{ActionContext, ActionError, ActionErrorKind, ActionOutcome, Attempt};
use crate::redis::conn::Target;
use crate::redis::keyspace::check::{read_setting, SETTING};
use crate::redis::keyspace::flags::{self, Flags};
use crate::redis::pending::redis_error;
use crate::text::escape::escape_str;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifyOutcome {
    /// `host:port` of the node.
    pub node: String,
    pub previous: String,
    pub value: String,
    /// False when the node already had every flag (nothing was sent).
    pub changed: bool,
    /// A restore on exit (rather than enabling).
    pub restored: bool,
}

impl ActionOutcome for NotifyOutcome {
    fn summary(&self) -> String {
        if !self.changed {
            return format!(
                "{SETTING} on {} already has the flags needed (\"{}\"): unchanged",
                self.node,
                escape_str(&self.previous)
            );
        }
        let verb = if self.restored {
            "restored to"
        } else {
            "set to"
        };
        format!(
            "{SETTING} on {} {verb} \"{}\" (was \"{}\")",
            self.node,
            escape_str(&self.value),
            escape_str(&self.previous)
        )
    }
}

/// Add the flags `needed` lacks on `target`: CONFIG GET, then CONFIG SET of the old
/// value plus the missing flags. `changed: false` (and no CONFIG SET) when none lack.
pub async fn enable_notifications(
    ctx: &ActionContext<'_>,
    target: &Target,
    needed: &Flags,
) -> Result<NotifyOutcome, ActionError> {
    let attempt = start(ctx, target, "notify-enable");
    if let Err(e) = attempt.check_writable() {
        return attempt.finish(Err(e), None);
    }
    let result = async {
        let previous = read_setting(target).await.map_err(ActionError::from)?;
        let missing = needed.missing_from(&Flags::parse(&previous));
        if missing.is_empty() {
            return Ok(NotifyOutcome {
                node: target.addr(),
                value: previous.clone(),
                previous,
                changed: false,
                restored: false,
            });
        }
        let value = flags::merged(&previous, &missing);
        config_set(target, &value).await?;
        Ok(NotifyOutcome {
            node: target.addr(),
            previous,
            value,
            changed: true,
            restored: false,
        })
    }
    .await;
    attempt.finish(result, None)
}

/// Put `previous` back on `target` (what [`enable_notifications`] replaced).
pub async fn restore_notifications(
    ctx: &ActionContext<'_>,
    target: &Target,
    previous: &str,
) -> Result<NotifyOutcome, ActionError> {
    let attempt = start(ctx, target, "notify-restore");
    if let Err(e) = attempt.check_writable() {
        return attempt.finish(Err(e), None);
    }
    let result = async {
        let current = read_setting(target).await.map_err(ActionError::from)?;
        config_set(target, previous).await?;
        Ok(NotifyOutcome {
            node: target.addr(),
            previous: current,
            value: previous.to_string(),
            changed: true,
            restored: true,
        })
    }
    .await;
    attempt.finish(result, None)
}

fn start<'c, 'a>(ctx: &'c ActionContext<'a>, target: &Target, action: &str) -> Attempt<'c, 'a> {
    let mut attempt = Attempt::start(ctx, action, "CONFIG SET", b"", None);
    attempt.record.stream = None;
    attempt.record.server = target.to_string();
    attempt
}

async fn config_set(target: &Target, value: &str) -> Result<(), ActionError> {
    let command = "CONFIG SET";
    let mut conn = target.command_connection().await.map_err(|e| ActionError {
        kind: ActionErrorKind::Connection,
        command: command.to_string(),
        message: format!("{e:#}"),
    })?;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(SETTING)
        .arg(value)
        .query_async(&mut conn)
        .await
        .map_err(|e| ActionError::from(redis_error(command, &e)))?;
    Ok(())
}
