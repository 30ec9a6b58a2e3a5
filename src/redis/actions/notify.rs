//! `notify-keyspace-events` changes for `tail --keyspace --enable-notifications`: add the
//! flags the requested events need on one node (merged with what it has, never dropping
//! a flag), and put the previous value back on exit — only where the node still holds
//! the value set (someone who changed it since keeps their change). Both are mutations:
//! refused in read-only mode and audited (action `notify-enable` / `notify-restore`,
//! command `CONFIG SET`, the old and new value in the record's details).

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
    /// A restore left undone: the value redtail had set, which the node no longer holds
    /// (someone changed the setting since; `previous` is what it holds now).
    pub changed_since: Option<String>,
}

impl ActionOutcome for NotifyOutcome {
    fn summary(&self) -> String {
        if let Some(set) = &self.changed_since {
            return format!(
                "{SETTING} on {} left at \"{}\", not put back to \"{}\": it was changed \
                 since redtail set \"{}\"",
                self.node,
                escape_str(&self.previous),
                escape_str(&self.value),
                escape_str(set)
            );
        }
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
                changed_since: None,
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
            changed_since: None,
        })
    }
    .await;
    attempt.finish(result, None)
}

/// Put `previous` back on `target` (what [`enable_notifications`] replaced with `set`),
/// unless the node no longer holds `set` (as a set of flags): someone changed the
/// setting since, and their value is left (`changed_since`, nothing sent).
pub async fn restore_notifications(
    ctx: &ActionContext<'_>,
    target: &Target,
    previous: &str,
    set: &str,
) -> Result<NotifyOutcome, ActionError> {
    let attempt = start(ctx, target, "notify-restore");
    if let Err(e) = attempt.check_writable() {
        return attempt.finish(Err(e), None);
    }
    let result = async {
        let current = read_setting(target).await.map_err(ActionError::from)?;
        let changed_since = Flags::parse(&current) != Flags::parse(set);
        if !changed_since {
            config_set(target, previous).await?;
        }
        Ok(NotifyOutcome {
            node: target.addr(),
            previous: current,
            value: previous.to_string(),
            changed: !changed_since,
            restored: true,
            changed_since: changed_since.then(|| set.to_string()),
        })
    }
    .await;
    attempt.finish(result, None)
}

/// The line for stderr after [`restore_notifications`] on `target`: what was done, or
/// how to put `previous` back by hand.
pub fn restore_report(
    target: &Target,
    previous: &str,
    result: Result<NotifyOutcome, String>,
) -> String {
    match result {
        Ok(o) if o.changed_since.is_some() => format!("redtail: {}", o.summary()),
        Ok(_) => format!(
            "redtail: restored {SETTING} on {} to \"{}\"",
            target.addr(),
            escape_str(previous)
        ),
        Err(e) => format!(
            "redtail: could not restore {SETTING} on {} ({}); put it back with: {}",
            target.addr(),
            escape_str(&e),
            escape_str(&crate::redis::keyspace::check::fix_command(
                target, previous
            ))
        ),
    }
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
