//! Claiming: XCLAIM for chosen ids (with min-idle so a live worker's entry is not
//! stolen, only ids whose entries still exist, and a per-id reason for every id not
//! claimed) and the XAUTOCLAIM sweep with its read-only preview.
//!
//! Neither uses JUSTID: claiming hands an entry over for processing, so its delivery
//! count goes up, which keeps "failed N times" honest for dead-lettering.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::Value;
use serde::Serialize;

use super::{list_ids, ActionContext, ActionError, ActionOutcome, Attempt};
use crate::audit::BinText;
use crate::redis::error::PollError;
use crate::redis::pending::{
    check_reply, id_of, into_items, parse_entry, parse_pending_row, pending_rows, redis_error,
    reply_error, xrange_one, PendingQuery, PendingRow, StreamId, MAX_PAGE,
};
use crate::text::escape::escape_line;

// ------------------------------------------------------------------ claim

/// Why an entry was not claimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ClaimSkip {
    /// Not in the group's pending list: acked already, or never delivered to this group.
    NotPending,
    /// Pending, but its entry was deleted from the stream. Left out of the XCLAIM and so
    /// left pending: Redis 7 drops such an id from the pending list when it is claimed,
    /// and the user asked for a claim, not that. XACK clears it.
    Deleted,
    /// Idle for less than min-idle: a live consumer delivered or claimed it recently.
    TooRecent { consumer: BinText, idle_ms: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedEntry {
    pub id: StreamId,
    #[serde(flatten)]
    pub reason: ClaimSkip,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimOutcome {
    pub consumer: BinText,
    pub min_idle_ms: u64,
    pub claimed: Vec<StreamId>,
    /// Left as they were, each with the reason.
    pub skipped: Vec<SkippedEntry>,
    /// Pending with an entry when looked at just before the XCLAIM, gone from both the
    /// stream and the pending list just after: the entry was deleted in between, and the
    /// XCLAIM (Redis 7+) removed the id from the pending list. (An XACK and an XDEL by
    /// someone else in that same moment would look the same; the claim is the likely
    /// cause and the one this action answers for.)
    pub dropped_from_pending: Vec<StreamId>,
}

impl ActionOutcome for ClaimOutcome {
    fn summary(&self) -> String {
        let total = self.claimed.len() + self.skipped.len() + self.dropped_from_pending.len();
        let mut s = format!(
            "claimed {} of {total} entries for {} (min idle {} ms)",
            self.claimed.len(),
            escape_line(&self.consumer.0),
            self.min_idle_ms
        );
        let reasons: Vec<String> = self
            .skipped
            .iter()
            .take(5)
            .map(|skip| match &skip.reason {
                ClaimSkip::NotPending => format!(
                    "{} is not pending (acked already, or never delivered to this group)",
                    skip.id
                ),
                ClaimSkip::Deleted => format!(
                    "{} was deleted from the stream (left pending; ack clears it)",
                    skip.id
                ),
                ClaimSkip::TooRecent { consumer, idle_ms } => format!(
                    "{} is held by {} idle only {idle_ms} ms (a live consumer has it)",
                    skip.id,
                    escape_line(&consumer.0)
                ),
            })
            .collect();
        if !reasons.is_empty() {
            s.push_str("; not claimed: ");
            s.push_str(&reasons.join("; "));
            if self.skipped.len() > reasons.len() {
                s.push_str(&format!(
                    "; and {} more",
                    self.skipped.len() - reasons.len()
                ));
            }
        }
        if !self.dropped_from_pending.is_empty() {
            s.push_str(&format!(
                "; removed from the pending list by the claim (their entries were deleted \
                 from the stream just before it): {}",
                list_ids(&self.dropped_from_pending)
            ));
        }
        s
    }
    fn is_complete(&self) -> bool {
        self.skipped.is_empty() && self.dropped_from_pending.is_empty()
    }
}

/// XCLAIM `ids` for `consumer`, only those idle at least `min_idle_ms`, so an entry a live
/// worker just took back is not stolen. Without JUSTID: claiming hands an entry over for
/// processing, so its delivery count goes up, which keeps "failed N times" honest.
///
/// Only ids that are pending *and* still have their entry are sent: on Redis 7+ XCLAIM
/// of a pending id whose entry was deleted removes it from the pending list, a change the
/// user did not ask for. Those are reported skipped and left pending.
pub async fn claim(
    ctx: &ActionContext<'_>,
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    consumer: &[u8],
    min_idle_ms: u64,
    ids: &[String],
) -> Result<ClaimOutcome, ActionError> {
    let mut attempt =
        Attempt::start(ctx, "claim", "XCLAIM", stream, Some(group)).consumer(consumer);
    let ids = match attempt.admit(ids) {
        Ok(ids) => ids,
        Err(e) => return attempt.finish(Err(e), None),
    };
    let result = claim_ids(conn, stream, group, consumer, min_idle_ms, &ids).await;
    attempt.finish(result, None)
}

/// What became of one requested id.
#[derive(Debug, Clone, PartialEq, Eq)]
enum IdResult {
    Claimed,
    Skipped(ClaimSkip),
    DroppedFromPending,
}

async fn claim_ids(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    consumer: &[u8],
    min_idle_ms: u64,
    ids: &[StreamId],
) -> Result<ClaimOutcome, ActionError> {
    let before = look(conn, stream, group, ids).await?;
    let mut results: Vec<Option<IdResult>> = before.iter().map(before_claim).collect();
    let to_claim: Vec<StreamId> = ids
        .iter()
        .zip(&results)
        .filter(|(_, result)| result.is_none())
        .map(|(id, _)| *id)
        .collect();
    let claimed = xclaim(conn, stream, group, consumer, min_idle_ms, &to_claim).await?;
    let unclaimed: Vec<StreamId> = to_claim
        .iter()
        .filter(|id| !claimed.contains(id))
        .copied()
        .collect();
    // Read-only: why XCLAIM left these out. A failure here comes after the claim, so the
    // error says what was claimed.
    let after = look(conn, stream, group, &unclaimed).await.map_err(|e| {
        let mut e = ActionError::from(e);
        let done: Vec<StreamId> = ids
            .iter()
            .filter(|id| claimed.contains(id))
            .copied()
            .collect();
        if !done.is_empty() {
            e.message.push_str(&format!(
                " (these were claimed before the error: {})",
                list_ids(&done)
            ));
        }
        e
    })?;
    let mut after: HashMap<StreamId, IdState> = unclaimed.into_iter().zip(after).collect();
    for (id, result) in ids.iter().zip(results.iter_mut()) {
        if result.is_some() {
            continue;
        }
        *result = Some(if claimed.contains(id) {
            IdResult::Claimed
        } else {
            match after.remove(id) {
                Some(state) => after_claim(state),
                None => return Err(reply_error("XPENDING", "wrong number of replies").into()),
            }
        });
    }
    let mut outcome = ClaimOutcome {
        consumer: BinText::from(consumer),
        min_idle_ms,
        claimed: Vec::new(),
        skipped: Vec::new(),
        dropped_from_pending: Vec::new(),
    };
    for (id, result) in ids.iter().zip(results) {
        match result {
            Some(IdResult::Claimed) => outcome.claimed.push(*id),
            Some(IdResult::Skipped(reason)) => {
                outcome.skipped.push(SkippedEntry { id: *id, reason })
            }
            Some(IdResult::DroppedFromPending) => outcome.dropped_from_pending.push(*id),
            None => return Err(reply_error("XCLAIM", "an id got no result").into()),
        }
    }
    Ok(outcome)
}

/// Send XCLAIM for `ids` (none: nothing is sent) and return the ids it claimed.
async fn xclaim(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    consumer: &[u8],
    min_idle_ms: u64,
    ids: &[StreamId],
) -> Result<HashSet<StreamId>, ActionError> {
    let mut claimed = HashSet::new();
    if ids.is_empty() {
        return Ok(claimed);
    }
    let mut cmd = redis::cmd("XCLAIM");
    cmd.arg(stream).arg(group).arg(consumer).arg(min_idle_ms);
    for id in ids {
        cmd.arg(id.to_string());
    }
    let reply: Value = cmd
        .query_async(conn)
        .await
        .map_err(|e| redis_error("XCLAIM", &e))?;
    let bad = || reply_error("XCLAIM", "expected a list of entries");
    for entry in into_items(reply).ok_or_else(bad)? {
        // Before Redis 7 a deleted entry came back as [id, nil]; it was still claimed.
        if entry != Value::Nil {
            claimed.insert(parse_entry(entry).ok_or_else(bad)?.0);
        }
    }
    Ok(claimed)
}

/// One id as XPENDING and XRANGE see it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IdState {
    /// Its pending-list row, `None` when not pending.
    pending: Option<PendingRow>,
    /// Its entry is in the stream.
    exists: bool,
}

/// Before the claim: `None` for an id to send to XCLAIM (pending, entry present; XCLAIM
/// itself decides min-idle, atomically), else why it is left out.
fn before_claim(state: &IdState) -> Option<IdResult> {
    match (&state.pending, state.exists) {
        (None, _) => Some(IdResult::Skipped(ClaimSkip::NotPending)),
        (Some(_), false) => Some(IdResult::Skipped(ClaimSkip::Deleted)),
        (Some(_), true) => None,
    }
}

/// After the claim, for an id that was sent and not claimed.
fn after_claim(state: IdState) -> IdResult {
    match state.pending {
        Some(row) => IdResult::Skipped(ClaimSkip::TooRecent {
            consumer: BinText::from(row.consumer.as_ref()),
            idle_ms: row.idle_ms,
        }),
        // Deleted after the look before the claim: XCLAIM dropped it from the list.
        None if !state.exists => IdResult::DroppedFromPending,
        // Acked in between.
        None => IdResult::Skipped(ClaimSkip::NotPending),
    }
}

/// Look (read-only) at each id's pending row and entry: one pipeline, one round trip.
async fn look(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    ids: &[StreamId],
) -> Result<Vec<IdState>, PollError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in ids {
        let id = id.to_string();
        pipe.cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .arg(&id)
            .arg(&id)
            .arg(1);
        xrange_one(&mut pipe, stream, &id);
    }
    let replies: Vec<Value> = pipe
        .ignore_errors()
        .query_async(conn)
        .await
        .map_err(|e| redis_error("XPENDING", &e))?;
    if replies.len() != ids.len() * 2 {
        return Err(reply_error("XPENDING", "wrong number of replies"));
    }
    let mut replies = replies.into_iter();
    let mut states = Vec::with_capacity(ids.len());
    while let (Some(pending), Some(entry)) = (replies.next(), replies.next()) {
        let bad = || reply_error("XPENDING", "expected [id, consumer, idle, deliveries]");
        let pending = match into_items(check_reply("XPENDING")(pending)?)
            .ok_or_else(bad)?
            .into_iter()
            .next()
        {
            Some(row) => Some(parse_pending_row(row).ok_or_else(bad)?),
            None => None,
        };
        let bad = || reply_error("XRANGE", "expected a list of [id, fields]");
        let exists = !into_items(check_reply("XRANGE")(entry)?)
            .ok_or_else(bad)?
            .is_empty();
        states.push(IdState { pending, exists });
    }
    Ok(states)
}

// ------------------------------------------------------------------ autoclaim

/// What an autoclaim sweep would take, read with XPENDING IDLE (changes nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoclaimPreview {
    pub min_idle_ms: u64,
    pub entries: Vec<PendingRow>,
    /// Consumers that would lose entries, and how many each, most first.
    pub by_consumer: Vec<(Bytes, u64)>,
    /// More entries qualify than `max_entries`; the sweep would stop at that bound too.
    pub truncated: bool,
}

pub async fn autoclaim_preview(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    min_idle_ms: u64,
    max_entries: usize,
) -> Result<AutoclaimPreview, ActionError> {
    let mut entries: Vec<PendingRow> = Vec::new();
    let mut truncated = false;
    loop {
        let query = PendingQuery {
            consumer: None,
            min_idle_ms: Some(min_idle_ms),
            start: entries.last().map(|r| r.id),
            count: MAX_PAGE,
        };
        let page = pending_rows(conn, stream, group, &query).await?;
        let full = page.len() >= MAX_PAGE;
        entries.extend(page);
        if entries.len() > max_entries {
            entries.truncate(max_entries);
            truncated = true;
            break;
        }
        if !full {
            break;
        }
    }
    let mut by_consumer: Vec<(Bytes, u64)> = Vec::new();
    for row in &entries {
        match by_consumer.iter_mut().find(|(c, _)| *c == row.consumer) {
            Some((_, n)) => *n += 1,
            None => by_consumer.push((row.consumer.clone(), 1)),
        }
    }
    by_consumer.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(AutoclaimPreview {
        min_idle_ms,
        entries,
        by_consumer,
        truncated,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoclaimOutcome {
    pub consumer: BinText,
    pub min_idle_ms: u64,
    pub claimed: Vec<StreamId>,
    /// Pending ids whose entries were deleted from the stream; Redis removed them from
    /// the pending list during the sweep.
    pub deleted: Vec<StreamId>,
    /// False when the sweep stopped at `max_entries` before reaching the end.
    pub complete: bool,
}

impl ActionOutcome for AutoclaimOutcome {
    fn summary(&self) -> String {
        let mut s = format!(
            "claimed {} entries idle at least {} ms for {}",
            self.claimed.len(),
            self.min_idle_ms,
            escape_line(&self.consumer.0)
        );
        if !self.deleted.is_empty() {
            s.push_str(&format!(
                "; {} pending ids had no entry any more and were dropped from the pending list: {}",
                self.deleted.len(),
                list_ids(&self.deleted)
            ));
        }
        if !self.complete {
            s.push_str("; stopped at the limit, more may qualify — run it again");
        }
        s
    }
    fn is_complete(&self) -> bool {
        self.complete
    }
}

/// XAUTOCLAIM loop from the start of the pending list until it wraps or `max_entries`
/// are claimed. Without JUSTID, like [`claim`].
pub async fn autoclaim(
    ctx: &ActionContext<'_>,
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    consumer: &[u8],
    min_idle_ms: u64,
    max_entries: usize,
) -> Result<AutoclaimOutcome, ActionError> {
    let mut attempt =
        Attempt::start(ctx, "autoclaim", "XAUTOCLAIM", stream, Some(group)).consumer(consumer);
    if let Err(e) = attempt.check_writable() {
        return attempt.finish(Err(e), None);
    }
    let mut outcome = AutoclaimOutcome {
        consumer: BinText::from(consumer),
        min_idle_ms,
        claimed: Vec::new(),
        deleted: Vec::new(),
        complete: false,
    };
    let result = autoclaim_loop(conn, stream, group, max_entries, &mut outcome).await;
    attempt.record.ids = outcome.claimed.iter().map(|id| id.to_string()).collect();
    attempt.finish(result.map(|()| outcome), None)
}

async fn autoclaim_loop(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    max_entries: usize,
    outcome: &mut AutoclaimOutcome,
) -> Result<(), ActionError> {
    const COMMAND: &str = "XAUTOCLAIM";
    // Each call scans at most 10 × COUNT pending ids, so a long pending list with few
    // idle entries takes many calls; this caps the sweep's total work.
    const MAX_CALLS: usize = 1000;
    let mut cursor = StreamId::ZERO;
    for _ in 0..MAX_CALLS {
        let remaining = max_entries.saturating_sub(outcome.claimed.len());
        if remaining == 0 {
            return Ok(());
        }
        let reply: Value = redis::cmd(COMMAND)
            .arg(stream)
            .arg(group)
            .arg(outcome.consumer.0.as_slice())
            .arg(outcome.min_idle_ms)
            .arg(cursor.to_string())
            .arg("COUNT")
            .arg(remaining.min(100))
            .query_async(conn)
            .await
            .map_err(|e| redis_error(COMMAND, &e))?;
        let bad = || reply_error(COMMAND, "expected [cursor, entries, deleted ids]");
        let mut parts = into_items(reply).ok_or_else(bad)?.into_iter();
        let next = parts.next().as_ref().and_then(id_of).ok_or_else(bad)?;
        for entry in into_items(parts.next().ok_or_else(bad)?).ok_or_else(bad)? {
            if entry != Value::Nil {
                outcome.claimed.push(parse_entry(entry).ok_or_else(bad)?.0);
            }
        }
        // The deleted-ids list exists from Redis 7.0.
        if let Some(deleted) = parts.next() {
            for id in into_items(deleted).ok_or_else(bad)? {
                outcome.deleted.push(id_of(&id).ok_or_else(bad)?);
            }
        }
        if next == StreamId::ZERO {
            outcome.complete = true;
            return Ok(());
        }
        cursor = next;
    }
    Ok(())
}
