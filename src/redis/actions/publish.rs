//! Publish: PUBLISH, or SPUBLISH to a shard channel. The one publish path for the TUI's
//! composer and `redtail publish`, so read-only mode and the audit record cannot be
//! forgotten by either.

use redis::Value;
use serde::Serialize;

use super::{ActionContext, ActionError, ActionErrorKind, ActionOutcome, Attempt};
use crate::audit::{AuditMessage, BinText};
use crate::redis::pending::{check_reply, redis_error};
use crate::redis::route::{Pool, Route};
use crate::redis::target::Target;
use crate::text::escape::escape_line;
use crate::text::thousands;

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
    let command = command_for(shard);
    let mut attempt = publish_attempt(ctx, "publish", channel, payload, shard);
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
        Err(e) => return attempt.finish(Err(connection_error(command, &e)), None),
    };
    attempt.record.server = target.to_string();
    let result = async {
        let mut conn = target
            .command_connection()
            .await
            .map_err(|e| connection_error(command, &e))?;
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

fn command_for(shard: bool) -> &'static str {
    if shard {
        "SPUBLISH"
    } else {
        "PUBLISH"
    }
}

fn connection_error(command: &str, e: &anyhow::Error) -> ActionError {
    ActionError {
        kind: ActionErrorKind::Connection,
        command: command.to_string(),
        message: format!("{e:#}"),
    }
}

/// The audit record of one publish: channel, kind and the payload's first bytes.
fn publish_attempt<'c, 'a>(
    ctx: &'c ActionContext<'a>,
    action: &str,
    channel: &[u8],
    payload: &[u8],
    shard: bool,
) -> Attempt<'c, 'a> {
    let command = command_for(shard);
    let mut attempt = Attempt::start(ctx, action, command, b"", None);
    attempt.record.stream = None;
    attempt.record.channel = Some(BinText::from(channel));
    attempt.record.message = Some(AuditMessage::new(command, payload));
    attempt
}

// ------------------------------------------------------------------ replay

/// How many messages of a replay get their own audit record (action `replay-publish`,
/// like a single publish); the rest are counted in the replay's one summary record
/// (action `replay`), so a million-line replay writes a bounded amount to the log.
pub const REPLAY_AUDITED_MESSAGES: u64 = 10;

/// One message of a replay, as read from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayMessage {
    /// The capture's line number (1-based), for error reports.
    pub line: u64,
    pub channel: bytes::Bytes,
    pub payload: bytes::Bytes,
    /// SPUBLISH (a recorded `smessage`) rather than PUBLISH.
    pub shard: bool,
}

/// Lines of a capture that are not sent, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplaySkipped {
    /// Gap markers (`"kind":"gap"`): there is nothing to send.
    pub gap: u64,
    /// Keyspace notifications (`__keyspace@…` / `__keyevent@…` channels): the server
    /// makes these itself; replaying them would forge events.
    pub keyspace: u64,
    /// Stream entries (`xentry`): not Pub/Sub messages.
    pub xentry: u64,
    /// Other kinds, blank lines.
    pub other: u64,
    /// Lines that are not a message line (bad JSON, missing or undecodable fields).
    pub malformed: u64,
}

impl ReplaySkipped {
    pub fn total(&self) -> u64 {
        self.gap + self.keyspace + self.xentry + self.other + self.malformed
    }
}

/// What a replay did: the `--json` summary and the audit log's summary record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayOutcome {
    /// Where the lines came from (`-` for standard input).
    pub source: String,
    /// Lines read.
    pub lines: u64,
    /// Messages the server accepted.
    pub sent: u64,
    /// Sum of the receiver counts the server answered (for SPUBLISH in a cluster, the
    /// shard's node; for PUBLISH, the node it was sent to).
    pub receivers: i64,
    /// Messages nobody received (answered 0).
    pub zero_receivers: u64,
    pub skipped: ReplaySkipped,
    /// Messages the server refused (each reported with its line).
    pub errors: u64,
    /// Why the replay ended before the end of its input, if it did.
    pub stopped: Option<String>,
    /// How many messages have their own audit record (the first ones).
    pub audited_messages: u64,
}

impl ActionOutcome for ReplayOutcome {
    fn summary(&self) -> String {
        let mut s = format!(
            "replayed {} message{} from {}: {} receiver{} in total, {} reached nobody",
            thousands(self.sent),
            if self.sent == 1 { "" } else { "s" },
            escape_line(self.source.as_bytes()),
            thousands(self.receivers.max(0) as u64),
            if self.receivers == 1 { "" } else { "s" },
            thousands(self.zero_receivers),
        );
        let k = &self.skipped;
        s.push_str(&format!(
            "; skipped {} line{} ({} gap, {} keyspace, {} stream entry, {} other, {} malformed); {} error{}",
            thousands(k.total()),
            if k.total() == 1 { "" } else { "s" },
            thousands(k.gap),
            thousands(k.keyspace),
            thousands(k.xentry),
            thousands(k.other),
            thousands(k.malformed),
            thousands(self.errors),
            if self.errors == 1 { "" } else { "s" },
        ));
        if let Some(why) = &self.stopped {
            s.push_str(&format!("; stopped early: {why}"));
        }
        s
    }

    fn is_complete(&self) -> bool {
        self.skipped.malformed == 0 && self.errors == 0 && self.stopped.is_none()
    }
}

/// A message the server refused during a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayFailure {
    pub line: u64,
    pub error: ActionError,
}

/// A replay in progress: every publish of `redtail publish --from` passes here.
/// Refused as a whole in read-only mode before anything is read or sent; writes one
/// audit record for each of the first [`REPLAY_AUDITED_MESSAGES`] messages and one
/// summary record when it [`finish`](Replay::finish)es.
pub struct Replay<'c, 'a> {
    ctx: &'c ActionContext<'a>,
    pool: Pool,
    outcome: ReplayOutcome,
    names: Names,
}

/// What the audit log calls a batch and its messages.
#[derive(Debug, Clone, Copy)]
struct Names {
    /// The summary record's action (and a refusal's).
    summary: &'static str,
    /// Each audited message's action.
    message: &'static str,
    /// What a message's number counts ("line 3" of a capture, "mark 3" of the marks).
    unit: &'static str,
    command: &'static str,
}

/// `redtail publish --from`.
const CAPTURE: Names = Names {
    summary: "replay",
    message: "replay-publish",
    unit: "line",
    command: "PUBLISH/SPUBLISH (replay)",
};

/// The TUI's marked feed messages (`r` with marks).
const MARKED: Names = Names {
    summary: crate::redis::actions::MARKED_ACTION,
    message: "publish-marked-message",
    unit: "mark",
    command: "PUBLISH/SPUBLISH (marked)",
};

impl<'c, 'a> Replay<'c, 'a> {
    /// Start a replay from `source`, or refuse it (read-only mode: one `refused`
    /// record, nothing sent).
    pub fn start(ctx: &'c ActionContext<'a>, source: &str) -> Result<Self, ActionError> {
        Self::start_as(ctx, source, CAPTURE)
    }

    fn start_as(
        ctx: &'c ActionContext<'a>,
        source: &str,
        names: Names,
    ) -> Result<Self, ActionError> {
        let attempt = summary_attempt(ctx, names);
        if let Err(e) = attempt.check_writable() {
            return Err(attempt.fail(e));
        }
        Ok(Replay {
            ctx,
            pool: Pool::new(),
            outcome: ReplayOutcome {
                source: source.to_string(),
                ..ReplayOutcome::default()
            },
            names,
        })
    }

    /// The counts so far; the caller adds the lines it read and skipped.
    pub fn outcome_mut(&mut self) -> &mut ReplayOutcome {
        &mut self.outcome
    }

    /// Send `batch` in order: each run of consecutive messages for the same node goes
    /// out as one pipeline (SPUBLISH to its slot's owner in a cluster, PUBLISH to one
    /// node), runs one after the other. Refused messages come back with their line; a
    /// connection that fails is an error (the caller stops: the rest would fail too).
    pub async fn send(
        &mut self,
        route: &Route,
        batch: &[ReplayMessage],
    ) -> Result<Vec<ReplayFailure>, ActionError> {
        let mut failures = Vec::new();
        let mut start = 0;
        let mut publish_target: Option<Target> = None;
        while start < batch.len() {
            let target = self
                .target_of(route, &batch[start], &mut publish_target)
                .await?;
            let mut end = start + 1;
            while end < batch.len() {
                let next = self
                    .target_of(route, &batch[end], &mut publish_target)
                    .await?;
                if next.addr() != target.addr() {
                    break;
                }
                end += 1;
            }
            self.send_run(route, &target, &batch[start..end], &mut failures)
                .await?;
            start = end;
        }
        Ok(failures)
    }

    async fn target_of(
        &self,
        route: &Route,
        m: &ReplayMessage,
        publish_target: &mut Option<Target>,
    ) -> Result<Target, ActionError> {
        let command = command_for(m.shard);
        if m.shard {
            return route
                .target_for_key(&m.channel)
                .await
                .map_err(|e| connection_error(command, &e));
        }
        if let Some(t) = publish_target {
            return Ok(t.clone());
        }
        let t = route
            .target(0)
            .await
            .map_err(|e| connection_error(command, &e))?;
        *publish_target = Some(t.clone());
        Ok(t)
    }

    async fn send_run(
        &mut self,
        route: &Route,
        target: &Target,
        run: &[ReplayMessage],
        failures: &mut Vec<ReplayFailure>,
    ) -> Result<(), ActionError> {
        let command = command_for(run[0].shard);
        let mut conn = self
            .pool
            .get(target)
            .await
            .map_err(|e| connection_error(command, &e))?;
        let mut pipe = redis::pipe();
        for m in run {
            pipe.cmd(command_for(m.shard))
                .arg(&m.channel[..])
                .arg(&m.payload[..]);
        }
        let replies: Vec<Value> = match pipe.ignore_errors().query_async(&mut conn).await {
            Ok(replies) => replies,
            Err(e) => {
                self.pool.drop_conn(target);
                return Err(ActionError::from(redis_error(command, &e)));
            }
        };
        if replies.len() != run.len() {
            return Err(ActionError::from(crate::redis::reply::reply_error(
                command,
                "wrong number of replies",
            )));
        }
        for (m, reply) in run.iter().zip(replies) {
            let command = command_for(m.shard);
            let result = match check_reply(command)(reply) {
                Ok(Value::Int(receivers)) => Ok(receivers),
                Ok(_) => Err(ActionError::from(crate::redis::reply::reply_error(
                    command,
                    "not an integer",
                ))),
                Err(e) => Err(ActionError::from(e)),
            };
            if let Err(e) = &result {
                // A slot moved: look the owner up again for the next batch.
                if e.message.contains("MOVED") {
                    route.invalidate();
                }
            }
            self.record(target, m, result, failures)?;
        }
        Ok(())
    }

    /// Count one message's result, and write its own audit record if it is among the
    /// first ones.
    fn record(
        &mut self,
        target: &Target,
        m: &ReplayMessage,
        result: Result<i64, ActionError>,
        failures: &mut Vec<ReplayFailure>,
    ) -> Result<(), ActionError> {
        let audited = self.outcome.sent + self.outcome.errors < REPLAY_AUDITED_MESSAGES;
        match &result {
            Ok(receivers) => {
                self.outcome.sent += 1;
                self.outcome.receivers += receivers;
                if *receivers == 0 {
                    self.outcome.zero_receivers += 1;
                }
            }
            Err(e) => {
                self.outcome.errors += 1;
                failures.push(ReplayFailure {
                    line: m.line,
                    error: e.clone(),
                });
            }
        }
        if !audited {
            return Ok(());
        }
        self.outcome.audited_messages += 1;
        let mut attempt = publish_attempt(
            self.ctx,
            self.names.message,
            &m.channel,
            &m.payload,
            m.shard,
        );
        attempt.record.server = target.to_string();
        attempt.record.ids = vec![format!("{} {}", self.names.unit, m.line)];
        match result {
            Ok(receivers) => {
                let outcome = PublishOutcome {
                    channel: BinText::from(&m.channel[..]),
                    shard: m.shard,
                    receivers,
                };
                // An unwritable log stops the replay: what follows would not be traceable.
                attempt.finish(Ok(outcome), None).map(|_| ())
            }
            Err(e) => {
                attempt.fail(e);
                Ok(())
            }
        }
    }

    /// Write the summary record (`stopped`: why the replay ended early, if it did) and
    /// hand back the outcome.
    pub fn finish(mut self, stopped: Option<String>) -> Result<ReplayOutcome, ActionError> {
        self.outcome.stopped = stopped;
        summary_attempt(self.ctx, self.names).finish(Ok(self.outcome), None)
    }
}

fn summary_attempt<'c, 'a>(ctx: &'c ActionContext<'a>, names: Names) -> Attempt<'c, 'a> {
    let mut attempt = Attempt::start(ctx, names.summary, names.command, b"", None);
    attempt.record.stream = None;
    attempt
}

/// The TUI's marked messages sent again as one batch: `batch` in order (each `line` its
/// place among the marks, from 1), through [`Replay`] under the names
/// `publish-marked` (summary; also a read-only refusal, made before anything is sent)
/// and `publish-marked-message` (each of the first [`REPLAY_AUDITED_MESSAGES`]). The
/// refused messages come back with the outcome; a lost connection stops the batch and is
/// the outcome's `stopped`.
pub async fn publish_marked(
    ctx: &ActionContext<'_>,
    route: &Route,
    batch: &[ReplayMessage],
) -> Result<(ReplayOutcome, Vec<ReplayFailure>), ActionError> {
    let mut replay = Replay::start_as(ctx, "marked messages", MARKED)?;
    replay.outcome.lines = batch.len() as u64;
    let (failures, stopped) = match replay.send(route, batch).await {
        Ok(failures) => (failures, None),
        Err(e) => (Vec::new(), Some(e.message)),
    };
    Ok((replay.finish(stopped)?, failures))
}
