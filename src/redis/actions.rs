//! Actions that change a stream or consumer group: ack, claim, autoclaim, dead-letter,
//! delete, trim and group management.
//!
//! Every action
//! - takes an [`ActionContext`] and refuses, changing nothing, when it is read-only;
//! - acts on entry *ids* (never row positions, which shift when a list refreshes);
//! - returns a structured outcome (per-id results) that the headless commands print and
//!   the TUI shows, with a one-sentence [`ActionOutcome::summary`];
//! - appends exactly one audit record per attempt — done, failed or refused — including
//!   the contents of entries it deletes, trims or moves.
//!
//! Cluster: actions that touch two keys in one script (dead-letter) need both keys in one
//! hash slot; `<stream>:dlq` usually is not. Cluster routing is a later issue.

mod claim;
mod dead_letter;
mod group;
mod notify;
mod publish;
mod trim;

use std::collections::HashSet;
use std::fmt;

use redis::aio::MultiplexedConnection;
use redis::Value;
use serde::Serialize;

use crate::audit::{AuditEntry, AuditLog, AuditRecord, AuditStatus, BinText};
use crate::redis::error::{PollError, PollErrorKind};
use crate::redis::pending::{
    check_reply, into_items, parse_entry, redis_error, reply_error, server_error, Fields, StreamId,
};
use crate::redis::streams::id::BadStreamId;

pub use claim::{
    autoclaim, autoclaim_preview, claim, AutoclaimOutcome, AutoclaimPreview, ClaimOutcome,
    ClaimSkip, SkippedEntry,
};
pub use dead_letter::{
    dead_letter, default_dlq_key, dlq_key_for, DeadLetterOutcome, DeadLetterResult,
    DeadLetterStatus,
};
pub use group::{
    create_group, delete_consumer, destroy_group, set_group_id, ConsumerDeleteOutcome,
    GroupCreateOutcome, GroupDestroyOutcome, GroupSetIdOutcome, GroupStart,
};
pub use notify::{enable_notifications, restore_notifications, restore_report, NotifyOutcome};
pub use publish::{
    publish, publish_marked, PublishOutcome, Replay, ReplayFailure, ReplayMessage, ReplayOutcome,
    ReplaySkipped, REPLAY_AUDITED_MESSAGES,
};
pub use trim::{trim, trim_preview, TrimOutcome, TrimPreview, TrimStrategy, MAX_TRIM_ENTRIES};

/// The audit action of sending the TUI's marked messages again (and of its refusal).
pub const MARKED_ACTION: &str = "publish-marked";

/// Most ids one action accepts: actions are pipelined in one round trip and must stay
/// bounded like everything else.
pub const MAX_IDS: usize = 10_000;

/// Whether redtail may change anything, and if not, why (the source the user set it
/// with: `--read-only`, `REDTAIL_READ_ONLY=1`, a profile's or `[defaults]`'s
/// `read_only`). Decided once per process (`config::Loaded::read_only_mode`) and checked
/// by [`Attempt`], the one place every mutation passes through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOnly {
    reason: Option<String>,
}

impl ReadOnly {
    /// Changes are allowed.
    pub fn off() -> ReadOnly {
        ReadOnly { reason: None }
    }

    /// Read-only, set by `reason` (e.g. `--read-only`).
    pub fn because(reason: impl Into<String>) -> ReadOnly {
        ReadOnly {
            reason: Some(reason.into()),
        }
    }

    /// What `--read-only` alone gives: on when `flag` is.
    pub fn from_flag(flag: bool) -> ReadOnly {
        if flag {
            ReadOnly::because("--read-only")
        } else {
            ReadOnly::off()
        }
    }

    pub fn is_on(&self) -> bool {
        self.reason.is_some()
    }

    /// What set it, when on.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// `ack refused: read-only mode is on (REDTAIL_READ_ONLY=1)…` for one action.
    pub fn refusal(&self, action: &str, server: &str) -> String {
        format!(
            "{action} refused: read-only mode is on ({}), so redtail changes nothing on \
             {server} — start without it to {action}",
            self.reason.as_deref().unwrap_or("read-only")
        )
    }
}

/// Who acts, where, and under which rules. Cheap to build per action.
pub struct ActionContext<'a> {
    /// The target as displayed (never contains the password); recorded in the audit log.
    pub server: String,
    /// When on, every action is refused (and the refusal audited) before anything is sent.
    pub read_only: ReadOnly,
    /// Watching a Redis Cluster: actions that touch two keys need them in one slot.
    pub cluster: bool,
    pub audit: &'a AuditLog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionErrorKind {
    /// Read-only mode is on.
    ReadOnly,
    /// Bad ids or arguments; nothing was sent.
    InvalidInput,
    /// A safety check said no (consumer still holds entries, trim too large, …).
    Refused,
    /// NOPERM / NOAUTH.
    Denied,
    UnknownCommand,
    Connection,
    Reply,
    Server,
    /// The action happened but its audit record could not be written.
    AuditFailed,
}

/// A failed or refused action, with a message that says what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError {
    pub kind: ActionErrorKind,
    pub command: String,
    pub message: String,
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActionError {}

impl From<PollError> for ActionError {
    fn from(e: PollError) -> Self {
        let kind = match e.kind {
            PollErrorKind::Denied => ActionErrorKind::Denied,
            PollErrorKind::UnknownCommand => ActionErrorKind::UnknownCommand,
            PollErrorKind::Connection => ActionErrorKind::Connection,
            PollErrorKind::Reply => ActionErrorKind::Reply,
            PollErrorKind::Server => ActionErrorKind::Server,
        };
        ActionError {
            kind,
            command: e.command,
            message: e.message,
        }
    }
}

impl ActionError {
    pub(crate) fn invalid(command: &str, message: String) -> ActionError {
        ActionError {
            kind: ActionErrorKind::InvalidInput,
            command: command.to_string(),
            message,
        }
    }

    pub(crate) fn refused(command: &str, message: String) -> ActionError {
        ActionError {
            kind: ActionErrorKind::Refused,
            command: command.to_string(),
            message,
        }
    }
}

/// What every action outcome offers its callers.
pub trait ActionOutcome: Serialize {
    /// One sentence for the status bar, the headless output and the audit record.
    fn summary(&self) -> String;
    /// False when some requested ids were skipped (the headless commands exit with 2).
    fn is_complete(&self) -> bool {
        true
    }
}

/// One action attempt and its audit record, written once when the attempt ends.
pub(crate) struct Attempt<'c, 'a> {
    ctx: &'c ActionContext<'a>,
    pub(crate) record: AuditRecord,
}

impl<'c, 'a> Attempt<'c, 'a> {
    pub(crate) fn start(
        ctx: &'c ActionContext<'a>,
        action: &str,
        command: &str,
        stream: &[u8],
        group: Option<&[u8]>,
    ) -> Self {
        let mut record = AuditRecord::new(&ctx.server, action, command, stream);
        record.group = group.map(BinText::from);
        Attempt { ctx, record }
    }

    pub(crate) fn consumer(mut self, consumer: &[u8]) -> Self {
        self.record.consumer = Some(BinText::from(consumer));
        self
    }

    /// The read-only guard, then id validation (parsed, deduplicated, bounded).
    pub(crate) fn admit(&mut self, raw_ids: &[String]) -> Result<Vec<StreamId>, ActionError> {
        self.record.ids = raw_ids.to_vec();
        self.check_writable()?;
        let ids = parse_ids(&self.record.action, raw_ids)?;
        self.record.ids = ids.iter().map(|id| id.to_string()).collect();
        Ok(ids)
    }

    pub(crate) fn check_writable(&self) -> Result<(), ActionError> {
        if !self.ctx.read_only.is_on() {
            return Ok(());
        }
        Err(ActionError {
            kind: ActionErrorKind::ReadOnly,
            command: self.record.command.clone(),
            message: self
                .ctx
                .read_only
                .refusal(&self.record.action, &self.ctx.server),
        })
    }

    /// Write the audit record for this attempt and hand back the result. A success whose
    /// record cannot be written becomes an `AuditFailed` error that still says what was
    /// done, because the change happened but is not traceable.
    pub(crate) fn finish<T: ActionOutcome>(
        mut self,
        result: Result<T, ActionError>,
        entries: Option<Vec<AuditEntry>>,
    ) -> Result<T, ActionError> {
        self.record.entries = entries;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => return Err(self.fail(e)),
        };
        self.record.result.status = AuditStatus::Ok;
        self.record.result.message = outcome.summary();
        self.record.result.details =
            serde_json::to_value(&outcome).unwrap_or(serde_json::Value::Null);
        let Err(io) = self.ctx.audit.append(&self.record) else {
            return Ok(outcome);
        };
        Err(ActionError {
            kind: ActionErrorKind::AuditFailed,
            command: self.record.command.clone(),
            message: format!(
                "{} — done, but the audit log {} could not be written ({io}), so this \
                 change is not recorded there; fix the file or set REDTAIL_AUDIT_LOG",
                outcome.summary(),
                self.ctx.audit.path().display()
            ),
        })
    }

    /// Write the audit record of an attempt that failed or was refused, and hand back
    /// the error (saying so when the record could not be written either).
    pub(crate) fn fail(mut self, mut e: ActionError) -> ActionError {
        self.record.result.status = match e.kind {
            ActionErrorKind::ReadOnly
            | ActionErrorKind::Refused
            | ActionErrorKind::InvalidInput => AuditStatus::Refused,
            _ => AuditStatus::Error,
        };
        self.record.result.message = e.message.clone();
        self.record.result.details = serde_json::json!({ "error_kind": e.kind });
        if let Err(io) = self.ctx.audit.append(&self.record) {
            e.message.push_str(&format!(
                " (and the audit log {} could not be written: {io})",
                self.ctx.audit.path().display()
            ));
        }
        e
    }
}

/// Record a refusal made before an action could even be prepared: the TUI refuses the
/// key of a mutating action in read-only mode before it opens the action's dialog. The
/// audit log gets the same `refused` line as for a refusal here; the returned error says
/// why, for the screen.
pub fn refuse_read_only(
    ctx: &ActionContext<'_>,
    action: &str,
    stream: Option<&[u8]>,
    group: Option<&[u8]>,
) -> ActionError {
    let mut attempt = Attempt::start(ctx, action, "(none: refused)", stream.unwrap_or(b""), group);
    if stream.is_none() {
        attempt.record.stream = None;
    }
    let e = match attempt.check_writable() {
        Err(e) => e,
        // Not read-only after all: nothing was run, and the line says so.
        Ok(()) => ActionError::refused(action, format!("{action} was not run")),
    };
    attempt.fail(e)
}

/// Parse, deduplicate (keeping order) and bound user-given ids, so a typo is caught
/// before anything is sent and each id gets exactly one outcome. `command` labels the
/// messages (the action's name).
pub fn parse_ids(command: &str, raw: &[String]) -> Result<Vec<StreamId>, ActionError> {
    if raw.is_empty() {
        return Err(ActionError::invalid(
            command,
            format!("{command}: no entry ids given — pass at least one id"),
        ));
    }
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for text in raw {
        let id: StreamId = text
            .parse()
            .map_err(|e: BadStreamId| ActionError::invalid(command, format!("{command}: {e}")))?;
        if seen.insert(id) {
            ids.push(id);
        }
    }
    if ids.len() > MAX_IDS {
        return Err(ActionError::invalid(
            command,
            format!(
                "{command}: {} ids given, at most {MAX_IDS} per action — split them up",
                ids.len()
            ),
        ));
    }
    Ok(ids)
}

/// An error one of our scripts caught with `redis.pcall` and returned as text. Inside a
/// script Redis words ACL denials as "ERR The user executing the script can't run this
/// command", without naming it: the script tells us which command it was.
pub(crate) fn script_command_error(command: &str, error: &str) -> ActionError {
    let (code, detail) = error.split_once(' ').unwrap_or((error, ""));
    let code = if detail.contains("can't run this command") {
        "NOPERM"
    } else {
        code
    };
    ActionError::from(server_error(command, code, detail))
}

/// Ids as text for a summary, shortened after a few.
pub(crate) fn list_ids(ids: &[StreamId]) -> String {
    const SHOWN: usize = 5;
    let mut text: Vec<String> = ids.iter().take(SHOWN).map(|id| id.to_string()).collect();
    if ids.len() > SHOWN {
        text.push(format!("and {} more", ids.len() - SHOWN));
    }
    text.join(", ")
}

pub(crate) fn audit_fields(fields: &Fields) -> Vec<(BinText, BinText)> {
    fields
        .iter()
        .map(|(k, v)| (BinText::from(k.as_ref()), BinText::from(v.as_ref())))
        .collect()
}

// ------------------------------------------------------------------ ack

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AckOutcome {
    pub acked: Vec<StreamId>,
    /// Already acked, or never delivered to this group.
    pub not_pending: Vec<StreamId>,
}

impl ActionOutcome for AckOutcome {
    fn summary(&self) -> String {
        let total = self.acked.len() + self.not_pending.len();
        let mut s = format!("acked {} of {total} entries", self.acked.len());
        if !self.not_pending.is_empty() {
            s.push_str(&format!(
                "; not pending (acked already, or never delivered to this group): {}",
                list_ids(&self.not_pending)
            ));
        }
        s
    }
    fn is_complete(&self) -> bool {
        self.not_pending.is_empty()
    }
}

/// XACK each id. One XACK per id (pipelined, one round trip) tells exactly which ids were
/// pending; acks are independent, so no transaction is needed.
pub async fn ack(
    ctx: &ActionContext<'_>,
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    ids: &[String],
) -> Result<AckOutcome, ActionError> {
    let mut attempt = Attempt::start(ctx, "ack", "XACK", stream, Some(group));
    let ids = match attempt.admit(ids) {
        Ok(ids) => ids,
        Err(e) => return attempt.finish(Err(e), None),
    };
    let result = ack_ids(conn, stream, group, &ids).await;
    attempt.finish(result, None)
}

async fn ack_ids(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    ids: &[StreamId],
) -> Result<AckOutcome, ActionError> {
    // XACK answers 0 for a group that does not exist; the XPENDING summary in front
    // (read-only) turns a mistyped group name into NOGROUP instead of "not pending".
    let mut pipe = redis::pipe();
    pipe.cmd("XPENDING").arg(stream).arg(group);
    for id in ids {
        pipe.cmd("XACK").arg(stream).arg(group).arg(id.to_string());
    }
    let replies: Vec<Value> = pipe
        .ignore_errors()
        .query_async(conn)
        .await
        .map_err(|e| redis_error("XACK", &e))?;
    if replies.len() != ids.len() + 1 {
        return Err(reply_error("XACK", "wrong number of replies").into());
    }
    let mut replies = replies.into_iter();
    let group_check = replies.next().map(check_reply("XPENDING"));
    let mut outcome = AckOutcome {
        acked: Vec::new(),
        not_pending: Vec::new(),
    };
    let mut first_error = None;
    for (id, reply) in ids.iter().zip(replies) {
        match check_reply("XACK")(reply) {
            Ok(Value::Int(1)) => outcome.acked.push(*id),
            Ok(Value::Int(0)) => outcome.not_pending.push(*id),
            Ok(_) => return Err(reply_error("XACK", "not 0 or 1").into()),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    // The check is only a diagnosis: a user allowed XACK but not XPENDING still acks.
    if let (Some(Err(e)), true) = (group_check, outcome.acked.is_empty()) {
        if e.kind != PollErrorKind::Denied {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        None => Ok(outcome),
        Some(e) => {
            let mut e = ActionError::from(e);
            if !outcome.acked.is_empty() {
                e.message.push_str(&format!(
                    " (these were acked before the error: {})",
                    list_ids(&outcome.acked)
                ));
            }
            Err(e)
        }
    }
}

// ------------------------------------------------------------------ xdel

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XdelOutcome {
    pub deleted: Vec<StreamId>,
    /// Not in the stream (never existed, or deleted already).
    pub missing: Vec<StreamId>,
}

impl ActionOutcome for XdelOutcome {
    fn summary(&self) -> String {
        let total = self.deleted.len() + self.missing.len();
        let mut s = format!("deleted {} of {total} entries", self.deleted.len());
        if !self.deleted.is_empty() {
            s.push_str(" (groups still list them as pending until acked)");
        }
        if !self.missing.is_empty() {
            s.push_str(&format!("; not in the stream: {}", list_ids(&self.missing)));
        }
        s
    }
    fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// XDEL entries, recording their contents in the audit log first. Entries never change,
/// so what XRANGE read is exactly what XDEL removed (the same pipeline, one round trip).
pub async fn xdel(
    ctx: &ActionContext<'_>,
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    ids: &[String],
) -> Result<XdelOutcome, ActionError> {
    let mut attempt = Attempt::start(ctx, "xdel", "XDEL", stream, None);
    let ids = match attempt.admit(ids) {
        Ok(ids) => ids,
        Err(e) => return attempt.finish(Err(e), None),
    };
    match xdel_ids(conn, stream, &ids).await {
        Ok((outcome, entries)) => attempt.finish(Ok(outcome), Some(entries)),
        Err(e) => attempt.finish(Err(e), None),
    }
}

async fn xdel_ids(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    ids: &[StreamId],
) -> Result<(XdelOutcome, Vec<AuditEntry>), ActionError> {
    let mut pipe = redis::pipe();
    for id in ids {
        let id = id.to_string();
        crate::redis::pending::xrange_one(&mut pipe, stream, &id);
        pipe.cmd("XDEL").arg(stream).arg(&id);
    }
    let replies: Vec<Value> = pipe
        .ignore_errors()
        .query_async(conn)
        .await
        .map_err(|e| redis_error("XDEL", &e))?;
    if replies.len() != ids.len() * 2 {
        return Err(reply_error("XDEL", "wrong number of replies").into());
    }
    let mut outcome = XdelOutcome {
        deleted: Vec::new(),
        missing: Vec::new(),
    };
    let mut entries = Vec::new();
    let mut replies = replies.into_iter();
    for id in ids {
        let (Some(read), Some(deleted)) = (replies.next(), replies.next()) else {
            return Err(reply_error("XDEL", "wrong number of replies").into());
        };
        let deleted = check_reply("XDEL")(deleted)?;
        let bad = || reply_error("XRANGE", "expected a list of [id, fields]");
        let fields = match into_items(check_reply("XRANGE")(read)?)
            .ok_or_else(bad)?
            .into_iter()
            .next()
        {
            Some(entry) => parse_entry(entry).ok_or_else(bad)?.1,
            None => None,
        };
        if deleted == Value::Int(1) {
            outcome.deleted.push(*id);
            entries.push(AuditEntry {
                id: id.to_string(),
                fields: fields.as_ref().map(audit_fields),
            });
        } else {
            outcome.missing.push(*id);
        }
    }
    Ok((outcome, entries))
}
