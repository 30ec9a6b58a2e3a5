//! Claiming: XCLAIM for chosen ids (with min-idle so a live worker's entry is not
//! stolen, and a per-id reason for every id not claimed) and the XAUTOCLAIM sweep with
//! its read-only preview.
//!
//! Neither uses JUSTID: claiming hands an entry over for processing, so its delivery
//! count goes up, which keeps "failed N times" honest for dead-lettering.

use std::collections::HashSet;

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::Value;
use serde::Serialize;

use super::{list_ids, ActionContext, ActionError, ActionOutcome, Attempt};
use crate::audit::BinText;
use crate::redis::pending::{
    check_reply, id_of, into_items, parse_entry, parse_pending_row, pending_rows, read_entries,
    redis_error, reply_error, PendingQuery, PendingRow, StreamId, MAX_PAGE,
};
use crate::text::escape::escape_line;

// ------------------------------------------------------------------ claim

/// Why an entry was not claimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ClaimSkip {
    /// Acked meanwhile, or never delivered to this group.
    NotPending,
    /// The entry was deleted from the stream; Redis drops such ids from the pending list
    /// when they are claimed.
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
    pub skipped: Vec<SkippedEntry>,
}

impl ActionOutcome for ClaimOutcome {
    fn summary(&self) -> String {
        let total = self.claimed.len() + self.skipped.len();
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
                ClaimSkip::NotPending => format!("{} is no longer pending (acked)", skip.id),
                ClaimSkip::Deleted => format!("{} was deleted from the stream", skip.id),
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
        s
    }
    fn is_complete(&self) -> bool {
        self.skipped.is_empty()
    }
}

/// XCLAIM `ids` for `consumer`, only those idle at least `min_idle_ms`, so an entry a live
/// worker just took back is not stolen. Without JUSTID: claiming hands an entry over for
/// processing, so its delivery count goes up, which keeps "failed N times" honest.
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

async fn claim_ids(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    consumer: &[u8],
    min_idle_ms: u64,
    ids: &[StreamId],
) -> Result<ClaimOutcome, ActionError> {
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
    let mut claimed = HashSet::new();
    for entry in into_items(reply).ok_or_else(bad)? {
        // Before Redis 7 a deleted entry came back as [id, nil]; it was still claimed.
        if entry != Value::Nil {
            claimed.insert(parse_entry(entry).ok_or_else(bad)?.0);
        }
    }
    let unclaimed: Vec<StreamId> = ids
        .iter()
        .filter(|id| !claimed.contains(id))
        .copied()
        .collect();
    let skipped = why_not_claimed(conn, stream, group, &unclaimed).await?;
    Ok(ClaimOutcome {
        consumer: BinText::from(consumer),
        min_idle_ms,
        claimed: ids
            .iter()
            .filter(|id| claimed.contains(id))
            .copied()
            .collect(),
        skipped,
    })
}

/// Look (read-only) at ids XCLAIM skipped: still pending means too recently delivered.
async fn why_not_claimed(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    ids: &[StreamId],
) -> Result<Vec<SkippedEntry>, ActionError> {
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
    }
    let replies: Vec<Value> = pipe
        .ignore_errors()
        .query_async(conn)
        .await
        .map_err(|e| redis_error("XPENDING", &e))?;
    if replies.len() != ids.len() {
        return Err(reply_error("XPENDING", "wrong number of replies").into());
    }
    let (_, contents) = read_entries(conn, stream, ids).await?;
    let mut skipped = Vec::new();
    for ((id, reply), content) in ids.iter().zip(replies).zip(contents) {
        let bad = || reply_error("XPENDING", "expected [id, consumer, idle, deliveries]");
        let row = into_items(check_reply("XPENDING")(reply)?)
            .ok_or_else(bad)?
            .into_iter()
            .next();
        let reason = match row {
            Some(row) => {
                let row = parse_pending_row(row).ok_or_else(bad)?;
                ClaimSkip::TooRecent {
                    consumer: BinText::from(row.consumer.as_ref()),
                    idle_ms: row.idle_ms,
                }
            }
            None if content.is_none() => ClaimSkip::Deleted,
            None => ClaimSkip::NotPending,
        };
        skipped.push(SkippedEntry { id: *id, reason });
    }
    Ok(skipped)
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
