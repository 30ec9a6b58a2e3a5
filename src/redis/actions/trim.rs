//! Trim (XTRIM MAXLEN / MINID, exact) with a preview, recording what it removed.
//!
//! The run is one script that reads the entries about to go and trims in the same step,
//! so the audit log holds exactly the removed entries even while producers keep adding.
//! Trims are bounded by [`MAX_TRIM_ENTRIES`]: every removed entry is recorded, and a
//! script that copied millions of entries would block the server.

use redis::aio::MultiplexedConnection;
use redis::Value;
use serde::Serialize;

use super::{
    audit_fields, script_command_error, ActionContext, ActionError, ActionOutcome, Attempt,
};
use crate::audit::AuditEntry;
use crate::redis::pending::{
    bytes_of, check_reply, into_items, parse_entry, redis_error, reply_error, u64_of, StreamId,
};
use crate::text::escape::escape_line;

/// Most entries one trim may remove.
pub const MAX_TRIM_ENTRIES: u64 = 10_000;

/// KEYS[1] stream; ARGV[1] MAXLEN|MINID, ARGV[2] threshold, ARGV[3] cap.
const SCRIPT: &str = r#"
local key, how, threshold, cap = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.pcall('TYPE', key)
if t.err then return {'error', 'TYPE', t.err} end
if t.ok ~= 'stream' then return {'wrongtype', t.ok} end
local entries
if how == 'MAXLEN' then
  local len = redis.pcall('XLEN', key)
  if type(len) == 'table' and len.err then return {'error', 'XLEN', len.err} end
  local excess = len - tonumber(threshold)
  if excess <= 0 then return {'ok', 0, {}} end
  if excess > cap then return {'too_many', excess} end
  entries = redis.pcall('XRANGE', key, '-', '+', 'COUNT', excess)
else
  if threshold == '0-0' then return {'ok', 0, {}} end
  entries = redis.pcall('XRANGE', key, '-', '(' .. threshold, 'COUNT', cap + 1)
end
if entries.err then return {'error', 'XRANGE', entries.err} end
if #entries > cap then return {'too_many', #entries} end
if #entries == 0 then return {'ok', 0, {}} end
local r = redis.pcall('XTRIM', key, how, '=', threshold)
if type(r) == 'table' and r.err then return {'error', 'XTRIM', r.err} end
return {'ok', r, entries}
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrimStrategy {
    /// Keep the newest N entries.
    MaxLen(u64),
    /// Remove entries with ids below this one.
    MinId(StreamId),
}

impl TrimStrategy {
    fn args(&self) -> (&'static str, String) {
        match self {
            TrimStrategy::MaxLen(n) => ("MAXLEN", n.to_string()),
            TrimStrategy::MinId(id) => ("MINID", id.to_string()),
        }
    }
}

impl std::fmt::Display for TrimStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (how, threshold) = self.args();
        write!(f, "{how} {threshold}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrimPreview {
    pub strategy: TrimStrategy,
    pub length: u64,
    /// Entries the trim would remove now (at least this many when `over_limit`).
    pub would_remove: u64,
    /// More than [`MAX_TRIM_ENTRIES`]: the trim would be refused.
    pub over_limit: bool,
}

/// How many entries a trim would remove now (read-only: XLEN, XRANGE).
pub async fn trim_preview(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    strategy: TrimStrategy,
) -> Result<TrimPreview, ActionError> {
    let mut pipe = redis::pipe();
    pipe.cmd("XLEN").arg(stream);
    if let TrimStrategy::MinId(id) = strategy {
        if id != StreamId::ZERO {
            pipe.cmd("XRANGE")
                .arg(stream)
                .arg("-")
                .arg(format!("({id}"))
                .arg("COUNT")
                .arg(MAX_TRIM_ENTRIES + 1);
        }
    }
    let replies: Vec<Value> = pipe
        .ignore_errors()
        .query_async(conn)
        .await
        .map_err(|e| redis_error("XLEN", &e))?;
    let mut replies = replies.into_iter();
    let bad = || reply_error("XLEN", "not a number");
    let length = u64_of(&check_reply("XLEN")(replies.next().ok_or_else(bad)?)?).ok_or_else(bad)?;
    let would_remove = match (strategy, replies.next()) {
        (TrimStrategy::MaxLen(n), _) => length.saturating_sub(n),
        (TrimStrategy::MinId(_), None) => 0,
        (TrimStrategy::MinId(_), Some(range)) => {
            let items = into_items(check_reply("XRANGE")(range)?)
                .ok_or_else(|| reply_error("XRANGE", "not a list"))?;
            items.len() as u64
        }
    };
    Ok(TrimPreview {
        strategy,
        length,
        would_remove,
        over_limit: would_remove > MAX_TRIM_ENTRIES,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrimOutcome {
    pub strategy: TrimStrategy,
    pub removed: Vec<StreamId>,
}

impl ActionOutcome for TrimOutcome {
    fn summary(&self) -> String {
        let mut s = format!("trimmed {} entries ({})", self.removed.len(), self.strategy);
        if !self.removed.is_empty() {
            s.push_str(" (groups still list removed ids as pending until acked)");
        }
        s
    }
}

/// XTRIM exactly, refusing (changing nothing) above [`MAX_TRIM_ENTRIES`].
pub async fn trim(
    ctx: &ActionContext<'_>,
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    strategy: TrimStrategy,
) -> Result<TrimOutcome, ActionError> {
    let (how, threshold) = strategy.args();
    let attempt = Attempt::start(
        ctx,
        "trim",
        &format!("EVAL (XRANGE, XTRIM {how})"),
        stream,
        None,
    );
    if let Err(e) = attempt.check_writable() {
        return attempt.finish(Err(e), None);
    }
    match trim_run(conn, stream, strategy, how, &threshold).await {
        Ok((outcome, entries)) => {
            let mut attempt = attempt;
            attempt.record.ids = outcome.removed.iter().map(|id| id.to_string()).collect();
            attempt.finish(Ok(outcome), Some(entries))
        }
        Err(e) => attempt.finish(Err(e), None),
    }
}

async fn trim_run(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    strategy: TrimStrategy,
    how: &str,
    threshold: &str,
) -> Result<(TrimOutcome, Vec<AuditEntry>), ActionError> {
    let reply: Value = redis::cmd("EVAL")
        .arg(SCRIPT)
        .arg(1)
        .arg(stream)
        .arg(how)
        .arg(threshold)
        .arg(MAX_TRIM_ENTRIES)
        .query_async(conn)
        .await
        .map_err(|e| redis_error("EVAL", &e))?;
    let bad = || reply_error("EVAL", "trim script answered something unexpected");
    let mut parts = into_items(reply).ok_or_else(bad)?;
    if parts.is_empty() {
        return Err(bad().into());
    }
    let status = bytes_of(&parts.remove(0)).ok_or_else(bad)?;
    let text = |i: usize| {
        parts
            .get(i)
            .and_then(bytes_of)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    match status.as_ref() {
        b"ok" => {
            let mut outcome = TrimOutcome {
                strategy,
                removed: Vec::new(),
            };
            let mut entries = Vec::new();
            if let Some(list) = parts.get(1) {
                for entry in into_items(list.clone()).ok_or_else(bad)? {
                    let (id, fields) = parse_entry(entry).ok_or_else(bad)?;
                    outcome.removed.push(id);
                    entries.push(AuditEntry {
                        id: id.to_string(),
                        fields: fields.as_ref().map(audit_fields),
                    });
                }
            }
            Ok((outcome, entries))
        }
        b"wrongtype" => {
            let found = text(0);
            let key = escape_line(stream);
            Err(ActionError::refused(
                "XTRIM",
                if found == "none" {
                    format!("trim: the stream {key} does not exist; nothing was changed")
                } else {
                    format!(
                        "trim refused: {key} holds a {}, not a stream; nothing was changed",
                        escape_line(found.as_bytes())
                    )
                },
            ))
        }
        b"too_many" => {
            let amount = match strategy {
                TrimStrategy::MaxLen(_) => text(0),
                TrimStrategy::MinId(_) => format!("more than {MAX_TRIM_ENTRIES}"),
            };
            Err(ActionError::refused(
                "XTRIM",
                format!(
                    "trim refused: {strategy} would remove {amount} entries, more than the \
                     {MAX_TRIM_ENTRIES} redtail removes (and records in its audit log) in one \
                     action; nothing was changed — trim in steps"
                ),
            ))
        }
        b"error" => {
            let command = text(0);
            let error = text(1);
            let mut e = script_command_error(&command, &error);
            e.message.push_str(" — nothing was trimmed");
            Err(e)
        }
        _ => Err(bad().into()),
    }
}
