//! Headless pending-entry commands: `pending` (list), `ack`, `claim`, `dead-letter`.
//!
//! Exit codes (`crate::exit`): 0 when every requested id was acted on; 2 when the command
//! ran but some ids were skipped (not pending, re-taken by a live consumer, …: each is
//! printed with its reason); 1 on errors and refusals (read-only mode, NOPERM, …); 64 on
//! usage errors (bad ids or arguments: nothing was sent).
//!
//! The mutating commands honour read-only mode (decided once in `main`: `--read-only`,
//! `REDTAIL_READ_ONLY=1` or the config) and append to the audit log
//! (`REDTAIL_AUDIT_LOG` or the platform data directory).

use std::io::Write as _;

use anyhow::{anyhow, Result};

use super::write_stdout;
use bytes::Bytes;

use crate::audit::{AuditLog, BinText};
use crate::cli::{AckArgs, ClaimArgs, DeadLetterArgs, PendingArgs};
use crate::redis::actions::{
    self, ActionContext, ActionOutcome, ClaimSkip, DeadLetterStatus, ReadOnly,
};
use crate::redis::conn::Target;
use crate::redis::pending::{pending_page, pending_summary, PendingEntry, PendingQuery, MAX_PAGE};
use crate::redis::route::Route;
use crate::text::escape::escape_line;
use std::sync::Arc;

/// One `pending --json` line.
#[derive(Debug, serde::Serialize)]
pub struct PendingJson {
    pub id: String,
    /// The consumer name; `{"b64": …}` when it is not UTF-8.
    pub consumer: BinText,
    pub idle_ms: u64,
    pub deliveries: u64,
    pub id_age_ms: u64,
    /// True when the entry was deleted from the stream while still pending.
    pub deleted: bool,
    /// Escaped one-line `field=value …`, null when deleted.
    pub preview: Option<String>,
    /// `[[field, value], …]` in stream order, null when deleted.
    pub fields: Option<Vec<(BinText, BinText)>>,
}

impl From<&PendingEntry> for PendingJson {
    fn from(e: &PendingEntry) -> Self {
        PendingJson {
            id: e.id.to_string(),
            consumer: BinText::from(e.consumer.as_ref()),
            idle_ms: e.idle_ms,
            deliveries: e.deliveries,
            id_age_ms: e.id_age_ms,
            deleted: e.deleted,
            preview: e.preview.clone(),
            fields: e.fields.as_ref().map(|f| {
                f.iter()
                    .map(|(k, v)| (BinText::from(k.as_ref()), BinText::from(v.as_ref())))
                    .collect()
            }),
        }
    }
}

pub async fn run_pending(args: PendingArgs, route: Arc<Route>) -> Result<i32> {
    // In a cluster, the node that owns the stream's slot.
    let target = route.target_for_key(args.stream.as_bytes()).await?;
    let mut conn = target.command_connection().await?;
    let (stream, group) = (args.stream.as_bytes(), args.group.as_bytes());
    let failed = |e: &dyn std::fmt::Display| {
        anyhow!(
            "cannot list the pending entries of group {} on stream {} at {target}: {e}",
            escape_line(group),
            escape_line(stream)
        )
    };
    let mut query = PendingQuery {
        consumer: args.consumer.as_ref().map(|c| Bytes::from(c.clone())),
        min_idle_ms: args.min_idle,
        start: None,
        count: 0,
    };
    let mut entries: Vec<PendingEntry> = Vec::new();
    // One more than asked for: whether more are pending is then known, not guessed (a
    // full page said "more may be pending" when exactly that many were).
    let wanted = args.count.saturating_add(1);
    while entries.len() < wanted {
        query.count = (wanted - entries.len()).min(MAX_PAGE);
        let page = pending_page(&mut conn, stream, group, &query)
            .await
            .map_err(|e| failed(&e))?;
        entries.extend(page.entries);
        match page.next {
            Some(next) => query.start = Some(next),
            None => break,
        }
    }
    let more = entries.len() > args.count;
    entries.truncate(args.count);
    let mut out = Vec::new();
    if args.json {
        for entry in &entries {
            crate::json::to_writer_safe(&mut out, &PendingJson::from(entry))?;
            out.push(b'\n');
        }
    } else {
        let summary = pending_summary(&mut conn, stream, group)
            .await
            .map_err(|e| failed(&e))?;
        let holders: Vec<String> = summary
            .consumers
            .iter()
            .map(|(name, n)| format!("{}: {n}", escape_line(name)))
            .collect();
        let _ = writeln!(
            out,
            "{} pending in group {} of {} ({})",
            summary.count,
            escape_line(group),
            escape_line(stream),
            if holders.is_empty() {
                "no consumer holds any".to_string()
            } else {
                holders.join(", ")
            }
        );
        format_table(&entries, &mut out);
    }
    write_stdout(&out)?;
    if more {
        eprintln!(
            "redtail: listed the first {} matching entries; more are pending (raise --count)",
            entries.len()
        );
    }
    Ok(0)
}

/// Columns: id, id age, consumer, idle, deliveries, entry preview. Everything escaped.
pub fn format_table(entries: &[PendingEntry], out: &mut Vec<u8>) {
    if entries.is_empty() {
        let _ = writeln!(out, "(no pending entries match)");
        return;
    }
    let consumers: Vec<String> = entries
        .iter()
        .map(|e| escape_line(&e.consumer).into_owned())
        .collect();
    let id_width = entries
        .iter()
        .map(|e| e.id.to_string().len())
        .max()
        .unwrap_or(2)
        .max(2);
    let consumer_width = consumers
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(8)
        .clamp(8, 32);
    let _ = writeln!(
        out,
        "{:<id_width$}  {:>8}  {:<consumer_width$}  {:>8}  {:>10}  ENTRY",
        "ID", "AGE", "CONSUMER", "IDLE", "DELIVERIES"
    );
    for (entry, consumer) in entries.iter().zip(consumers) {
        let preview = match &entry.preview {
            Some(p) => p.as_str(),
            None => "(deleted from the stream)",
        };
        let _ = writeln!(
            out,
            "{:<id_width$}  {:>8}  {:<consumer_width$}  {:>8}  {:>10}  {preview}",
            entry.id.to_string(),
            crate::text::duration_ms(entry.id_age_ms),
            consumer,
            crate::text::duration_ms(entry.idle_ms),
            entry.deliveries,
        );
    }
}

pub async fn run_ack(args: AckArgs, route: Arc<Route>, read_only: ReadOnly) -> Result<i32> {
    // In a cluster, the node that owns the stream's slot.
    let target = route.target_for_key(args.stream.as_bytes()).await?;
    let audit = AuditLog::open_default()?;
    let ctx = context(&target, &audit, read_only, route.is_cluster());
    let mut conn = target.command_connection().await?;
    let outcome = actions::ack(
        &ctx,
        &mut conn,
        args.stream.as_bytes(),
        args.group.as_bytes(),
        &args.ids,
    )
    .await?;
    let mut out = Vec::new();
    for id in &outcome.acked {
        let _ = writeln!(out, "acked {id}");
    }
    for id in &outcome.not_pending {
        let _ = writeln!(out, "not pending {id}");
    }
    finish(&outcome, out)
}

pub async fn run_claim(args: ClaimArgs, route: Arc<Route>, read_only: ReadOnly) -> Result<i32> {
    // In a cluster, the node that owns the stream's slot.
    let target = route.target_for_key(args.stream.as_bytes()).await?;
    let audit = AuditLog::open_default()?;
    let ctx = context(&target, &audit, read_only, route.is_cluster());
    let mut conn = target.command_connection().await?;
    let outcome = actions::claim(
        &ctx,
        &mut conn,
        args.stream.as_bytes(),
        args.group.as_bytes(),
        args.consumer.as_bytes(),
        args.min_idle,
        &args.ids,
    )
    .await?;
    let mut out = Vec::new();
    for id in &outcome.claimed {
        let _ = writeln!(out, "claimed {id}");
    }
    for skip in &outcome.skipped {
        let why = match &skip.reason {
            ClaimSkip::NotPending => {
                "not pending (acked already, or never delivered to this group)".into()
            }
            // Naming the stream and group here would need shell quoting: a placeholder.
            ClaimSkip::Deleted => format!(
                "deleted from the stream but still pending; left pending (claiming it would \
                 only drop it from the pending list) — `redtail ack STREAM GROUP {}` clears it",
                skip.id
            ),
            ClaimSkip::TooRecent { consumer, idle_ms } => format!(
                "held by {}, idle {idle_ms} ms < min idle {} ms (a live consumer has it)",
                escape_line(&consumer.0),
                outcome.min_idle_ms
            ),
        };
        let _ = writeln!(out, "skipped {}: {why}", skip.id);
    }
    for id in &outcome.dropped_from_pending {
        let _ = writeln!(
            out,
            "dropped {id}: its entry was deleted from the stream just before the claim, so \
             XCLAIM removed it from the pending list (nothing left to claim)"
        );
    }
    finish(&outcome, out)
}

pub async fn run_dead_letter(
    args: DeadLetterArgs,
    route: Arc<Route>,
    read_only: ReadOnly,
) -> Result<i32> {
    // In a cluster, the node that owns the stream's slot.
    let target = route.target_for_key(args.stream.as_bytes()).await?;
    let audit = AuditLog::open_default()?;
    let ctx = context(&target, &audit, read_only, route.is_cluster());
    let mut conn = target.command_connection().await?;
    let stream = args.stream.as_bytes();
    let dlq = match &args.to {
        Some(key) => key.as_bytes().to_vec(),
        None => actions::dlq_key_for(stream, route.is_cluster()),
    };
    let outcome = actions::dead_letter(
        &ctx,
        &mut conn,
        stream,
        args.group.as_bytes(),
        &args.ids,
        &dlq,
    )
    .await?;
    let mut out = Vec::new();
    for r in &outcome.results {
        let holder = r
            .consumer
            .as_ref()
            .map(|c| escape_line(&c.0).into_owned())
            .unwrap_or_default();
        let dlq_id = r.dlq_id.map(|id| id.to_string()).unwrap_or_default();
        let deliveries = r.deliveries.unwrap_or(0);
        let _ = match r.status {
            DeadLetterStatus::Moved => writeln!(
                out,
                "moved {} -> {} {dlq_id} (held by {holder}, deliveries: {deliveries})",
                r.id,
                escape_line(&dlq)
            ),
            DeadLetterStatus::MovedDeleted => writeln!(
                out,
                "moved {} -> {} {dlq_id} (entry already deleted: pending info only; held by \
                 {holder}, deliveries: {deliveries})",
                r.id,
                escape_line(&dlq)
            ),
            DeadLetterStatus::NotPending => writeln!(out, "not pending {}", r.id),
        };
    }
    finish(&outcome, out)
}

fn context<'a>(
    target: &Target,
    audit: &'a AuditLog,
    read_only: ReadOnly,
    cluster: bool,
) -> ActionContext<'a> {
    ActionContext {
        server: target.to_string(),
        read_only,
        cluster,
        audit,
    }
}

fn finish(outcome: &impl ActionOutcome, mut out: Vec<u8>) -> Result<i32> {
    let _ = writeln!(out, "{}", outcome.summary());
    write_stdout(&out)?;
    Ok(if outcome.is_complete() {
        crate::exit::SUCCESS
    } else {
        crate::exit::PARTIAL
    })
}
