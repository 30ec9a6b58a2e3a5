//! Reading a consumer group's pending entries: the read path only (XPENDING, XRANGE,
//! TIME). Nothing here changes server state — XCLAIM / XAUTOCLAIM would reset idle times
//! and delivery counts, so they live in `actions` and are never used to look.
//!
//! A page costs two round trips: XPENDING (extended form, bounded by `count`), then one
//! pipeline with TIME and an `XRANGE id id` per entry for the previews. Entry ages are
//! computed from the server's clock because the ids were made by it.

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::Value;

pub use crate::redis::error::{PollError, PollErrorKind};
pub(crate) use crate::redis::reply::{bytes_of, into_items, reply_error, u64_of};
// The one stream id type and reply decoder live with the streams engine; re-exported
// here because every pending and action module names them through this path.
pub(crate) use crate::redis::streams::id_of;
pub use crate::redis::streams::StreamId;
use crate::text::escape::escape_line;

mod sort;
pub use sort::{pending_sorted_page, sort_entries, sort_rows, PendingOrder, SortedRead, SORT_MAX};

/// The largest page XPENDING is asked for: a pending list can hold millions of entries
/// and must never be fetched unbounded.
pub const MAX_PAGE: usize = 1000;
/// A preview is one line; longer ones end in `…`.
pub const PREVIEW_MAX_CHARS: usize = 200;

/// Field/value pairs of a stream entry, in stream order (duplicates kept).
pub type Fields = Vec<(Bytes, Bytes)>;

/// What to list. `start` is an exclusive cursor: pass the previous page's `next`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingQuery {
    pub consumer: Option<Bytes>,
    pub min_idle_ms: Option<u64>,
    pub start: Option<StreamId>,
    /// Clamped to 1..=[`MAX_PAGE`].
    pub count: usize,
}

/// One XPENDING row, without the entry's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRow {
    pub id: StreamId,
    pub consumer: Bytes,
    pub idle_ms: u64,
    pub deliveries: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    pub id: StreamId,
    /// Raw name (untrusted bytes): escape before showing.
    pub consumer: Bytes,
    pub idle_ms: u64,
    pub deliveries: u64,
    /// Age of the entry itself, from its id and the server's clock.
    pub id_age_ms: u64,
    /// The entry's fields; `None` when it was deleted from the stream (XDEL or trim)
    /// while still pending.
    pub fields: Option<Fields>,
    /// Escaped one-line `field=value field=value`, `None` when deleted.
    pub preview: Option<String>,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPage {
    /// In id order, as XPENDING returns them (in the sort's order for a sorted page).
    pub entries: Vec<PendingEntry>,
    /// Cursor for the next page; `None` when this page was the last. For a sorted page
    /// only its presence matters (the next page is the next slice of the sorted rows).
    pub next: Option<StreamId>,
    /// The server's clock when the previews were read (local clock for an empty page).
    pub server_time_ms: u64,
    /// Set for a slice of a sorted read: how much of the pending list the sort covered.
    pub sorted: Option<SortedRead>,
}

/// `XPENDING key group`: totals for the whole group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingSummary {
    pub count: u64,
    pub min_id: Option<StreamId>,
    pub max_id: Option<StreamId>,
    /// Consumers with at least one pending entry, and how many each holds.
    pub consumers: Vec<(Bytes, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PendingSort {
    #[default]
    Id,
    Idle,
    Deliveries,
    Consumer,
}

/// `field=value field=value`, escaped for a terminal, cut to [`PREVIEW_MAX_CHARS`].
pub fn preview_fields(fields: &[(Bytes, Bytes)]) -> String {
    let mut out = String::new();
    for (name, value) in fields {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&escape_line(name));
        out.push('=');
        out.push_str(&escape_line(value));
        if out.chars().count() > PREVIEW_MAX_CHARS {
            break;
        }
    }
    if out.chars().count() > PREVIEW_MAX_CHARS {
        out = out.chars().take(PREVIEW_MAX_CHARS - 1).collect();
        out.push('…');
    }
    out
}

/// One page of pending entries with previews (two round trips).
pub async fn pending_page(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    query: &PendingQuery,
) -> Result<PendingPage, PollError> {
    let count = query.count.clamp(1, MAX_PAGE);
    let rows = pending_rows(conn, stream, group, query).await?;
    let next = (rows.len() >= count)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    with_previews(conn, stream, rows, next).await
}

/// Rows plus their contents and ages (one pipeline), in the rows' order.
async fn with_previews(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    rows: Vec<PendingRow>,
    next: Option<StreamId>,
) -> Result<PendingPage, PollError> {
    if rows.is_empty() {
        return Ok(PendingPage {
            entries: Vec::new(),
            next: None,
            server_time_ms: local_now_ms(),
            sorted: None,
        });
    }
    let ids: Vec<StreamId> = rows.iter().map(|r| r.id).collect();
    let (server_time_ms, contents) = read_entries(conn, stream, &ids).await?;
    let entries = rows
        .into_iter()
        .zip(contents)
        .map(|(row, fields)| PendingEntry {
            id: row.id,
            consumer: row.consumer,
            idle_ms: row.idle_ms,
            deliveries: row.deliveries,
            id_age_ms: row
                .id
                .age_ms(i64::try_from(server_time_ms).unwrap_or(i64::MAX)),
            preview: fields.as_deref().map(preview_fields),
            deleted: fields.is_none(),
            fields,
        })
        .collect();
    Ok(PendingPage {
        entries,
        next,
        server_time_ms,
        sorted: None,
    })
}

/// The XPENDING rows of one page, without contents (one round trip).
pub async fn pending_rows(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    query: &PendingQuery,
) -> Result<Vec<PendingRow>, PollError> {
    const COMMAND: &str = "XPENDING";
    let count = query.count.clamp(1, MAX_PAGE);
    let mut cmd = redis::cmd(COMMAND);
    cmd.arg(stream).arg(group);
    if let Some(idle) = query.min_idle_ms {
        cmd.arg("IDLE").arg(idle);
    }
    match query.start {
        Some(after) => cmd.arg(format!("({after}")),
        None => cmd.arg("-"),
    };
    cmd.arg("+").arg(count);
    if let Some(consumer) = &query.consumer {
        cmd.arg(consumer.as_ref());
    }
    let reply: Value = cmd
        .query_async(conn)
        .await
        .map_err(|e| redis_error(COMMAND, &e))?;
    let bad = || {
        reply_error(
            COMMAND,
            "expected a list of [id, consumer, idle, deliveries]",
        )
    };
    let rows = into_items(reply).ok_or_else(bad)?;
    rows.into_iter()
        .map(|row| parse_pending_row(row).ok_or_else(bad))
        .collect()
}

pub(crate) fn parse_pending_row(row: Value) -> Option<PendingRow> {
    let mut it = into_items(row)?.into_iter();
    let (Some(id), Some(consumer), Some(idle), Some(deliveries)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    Some(PendingRow {
        id: id_of(&id)?,
        consumer: bytes_of(&consumer)?,
        idle_ms: u64_of(&idle)?,
        deliveries: u64_of(&deliveries)?,
    })
}

/// `XPENDING key group`: count, id range and per-consumer counts.
pub async fn pending_summary(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
) -> Result<PendingSummary, PollError> {
    const COMMAND: &str = "XPENDING";
    let reply: Value = redis::cmd(COMMAND)
        .arg(stream)
        .arg(group)
        .query_async(conn)
        .await
        .map_err(|e| redis_error(COMMAND, &e))?;
    parse_summary(reply)
        .ok_or_else(|| reply_error(COMMAND, "expected [count, min, max, consumers]"))
}

pub(crate) fn parse_summary(reply: Value) -> Option<PendingSummary> {
    let mut it = into_items(reply)?.into_iter();
    let (Some(count), Some(min), Some(max), Some(consumers)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    let mut summary = PendingSummary {
        count: u64_of(&count)?,
        min_id: id_of(&min),
        max_id: id_of(&max),
        consumers: Vec::new(),
    };
    if consumers != Value::Nil {
        for pair in into_items(consumers)? {
            let mut p = into_items(pair)?.into_iter();
            let (Some(name), Some(n)) = (p.next(), p.next()) else {
                return None;
            };
            summary.consumers.push((bytes_of(&name)?, u64_of(&n)?));
        }
    }
    Some(summary)
}

/// The contents of `ids` (`None` for deleted entries) and the server's clock, in one
/// pipeline: TIME, then `XRANGE key id id COUNT 1` per id.
pub async fn read_entries(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    ids: &[StreamId],
) -> Result<(u64, Vec<Option<Fields>>), PollError> {
    let mut pipe = redis::pipe();
    pipe.cmd("TIME");
    for id in ids {
        xrange_one(&mut pipe, stream, &id.to_string());
    }
    let replies: Vec<Value> = pipe
        .ignore_errors()
        .query_async(conn)
        .await
        .map_err(|e| redis_error("XRANGE", &e))?;
    if replies.len() != ids.len() + 1 {
        return Err(reply_error("XRANGE", "wrong number of replies"));
    }
    let mut replies = replies.into_iter();
    let time = replies
        .next()
        .map(check_reply("TIME"))
        .transpose()?
        .and_then(parse_time_ms)
        .unwrap_or_else(local_now_ms);
    let mut contents = Vec::with_capacity(ids.len());
    for reply in replies {
        let reply = check_reply("XRANGE")(reply)?;
        let bad = || reply_error("XRANGE", "expected a list of [id, fields]");
        let entry = into_items(reply).ok_or_else(bad)?.into_iter().next();
        match entry {
            None => contents.push(None),
            Some(entry) => contents.push(parse_entry(entry).ok_or_else(bad)?.1),
        }
    }
    Ok((time, contents))
}

fn parse_time_ms(v: Value) -> Option<u64> {
    let mut it = into_items(v)?.into_iter();
    let secs = u64_of(&it.next()?)?;
    let micros = u64_of(&it.next()?)?;
    Some(secs * 1000 + micros / 1000)
}

fn local_now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

// ------------------------------------------------------------ reply helpers

/// `[id, [field, value, …]]` (fields `None` when nil, as XCLAIM gave for deleted entries
/// before Redis 7).
pub(crate) fn parse_entry(v: Value) -> Option<(StreamId, Option<Fields>)> {
    let mut it = into_items(v)?.into_iter();
    let id = id_of(&it.next()?)?;
    let fields = match it.next() {
        None | Some(Value::Nil) => None,
        Some(fields) => Some(parse_fields(fields)?),
    };
    Some((id, fields))
}

pub(crate) fn parse_fields(v: Value) -> Option<Fields> {
    match v {
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| Some((bytes_of(&k)?, bytes_of(&v)?)))
            .collect(),
        other => {
            let items = into_items(other)?;
            if !items.len().is_multiple_of(2) {
                return None;
            }
            items
                .chunks(2)
                .map(|kv| Some((bytes_of(&kv[0])?, bytes_of(&kv[1])?)))
                .collect()
        }
    }
}

/// Adds `XRANGE stream id id COUNT 1` (the entry `id`, or an empty list when it is gone).
pub(crate) fn xrange_one(pipe: &mut redis::Pipeline, stream: &[u8], id: &str) {
    pipe.cmd("XRANGE")
        .arg(stream)
        .arg(id)
        .arg(id)
        .arg("COUNT")
        .arg(1);
}

/// Turn an error reply inside a pipeline into the same error a lone command gives.
pub(crate) fn check_reply(command: &'static str) -> impl Fn(Value) -> Result<Value, PollError> {
    move |v| match v {
        Value::ServerError(e) => Err(with_hint(PollError::from_server(
            command,
            e.code(),
            e.details().unwrap_or(""),
        ))),
        other => Ok(other),
    }
}

/// A redis-rs error as a sentence naming the command, with a hint for the errors people
/// hit with streams (wrong key type, missing group).
pub fn redis_error(command: &str, e: &redis::RedisError) -> PollError {
    with_hint(PollError::from_redis(command, e))
}

/// An error reply given as `code` + `detail` (e.g. relayed by one of our scripts).
pub(crate) fn server_error(command: &str, code: &str, detail: &str) -> PollError {
    with_hint(PollError::from_server(command, code, detail))
}

fn with_hint(mut e: PollError) -> PollError {
    if e.kind != PollErrorKind::Server {
        return e;
    }
    if e.message.contains(": WRONGTYPE") {
        e.message
            .push_str(" — that key is not a stream; check the key name");
    } else if e.message.contains(": NOGROUP") {
        e.message.push_str(
            " — check the stream and group names, or create the group first (XGROUP CREATE)",
        );
    } else if e.message.contains("Invalid stream ID") {
        e.message
            .push_str(" — ids look like <ms>-<seq>, e.g. 1700000000000-0");
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: (u64, u64), consumer: &str, idle: u64, deliveries: u64) -> PendingEntry {
        PendingEntry {
            id: StreamId {
                ms: id.0,
                seq: id.1,
            },
            consumer: Bytes::copy_from_slice(consumer.as_bytes()),
            idle_ms: idle,
            deliveries,
            id_age_ms: 0,
            fields: None,
            preview: None,
            deleted: true,
        }
    }

    fn ids(entries: &[PendingEntry]) -> Vec<String> {
        entries.iter().map(|e| e.id.to_string()).collect()
    }

    #[test]
    fn parses_ids_like_redis() {
        assert_eq!(StreamId::parse("5-3"), Some(StreamId { ms: 5, seq: 3 }));
        assert_eq!(StreamId::parse("5"), Some(StreamId { ms: 5, seq: 0 }));
        for bad in [
            "",
            "-",
            "5-",
            "-3",
            "a-1",
            "1-2-3",
            "+1",
            "1 -2",
            "99999999999999999999",
        ] {
            assert_eq!(StreamId::parse(bad), None, "{bad}");
        }
        assert!(StreamId::parse("10-0") > StreamId::parse("9-5"));
        assert!("x\x1b"
            .parse::<StreamId>()
            .unwrap_err()
            .to_string()
            .contains("\\x1b"));
    }

    #[test]
    fn sorts_by_each_key_with_id_tiebreak() {
        let mut page = vec![
            entry((3, 0), "b", 10, 1),
            entry((1, 0), "a", 30, 5),
            entry((2, 0), "b", 30, 2),
            entry((10, 0), "a", 5, 5),
        ];
        sort_entries(&mut page, PendingSort::Idle, true);
        assert_eq!(ids(&page), ["1-0", "2-0", "3-0", "10-0"]);
        sort_entries(&mut page, PendingSort::Deliveries, false);
        assert_eq!(ids(&page), ["3-0", "2-0", "1-0", "10-0"]);
        sort_entries(&mut page, PendingSort::Consumer, false);
        assert_eq!(ids(&page), ["1-0", "10-0", "2-0", "3-0"]);
        sort_entries(&mut page, PendingSort::Id, true);
        assert_eq!(ids(&page), ["10-0", "3-0", "2-0", "1-0"]);
        sort_entries(&mut page, PendingSort::Id, false);
        assert_eq!(ids(&page), ["1-0", "2-0", "3-0", "10-0"]);
    }

    #[test]
    fn previews_are_escaped_and_bounded() {
        let fields = vec![
            (
                Bytes::from_static(b"prompt"),
                Bytes::from_static(b"hi\n\x1b[2J"),
            ),
            (Bytes::from_static(b"n"), Bytes::from_static(b"1")),
        ];
        assert_eq!(preview_fields(&fields), "prompt=hi\\n\\x1b[2J n=1");
        let long = vec![(Bytes::from_static(b"k"), Bytes::from(vec![b'x'; 1000]))];
        let p = preview_fields(&long);
        assert_eq!(p.chars().count(), PREVIEW_MAX_CHARS);
        assert!(p.ends_with('…'));
    }

    #[test]
    fn parses_summary_with_and_without_entries() {
        let empty = Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil]);
        assert_eq!(parse_summary(empty), Some(PendingSummary::default()));
        let s = Value::Array(vec![
            Value::Int(3),
            Value::BulkString(b"1-0".to_vec()),
            Value::BulkString(b"3-0".to_vec()),
            Value::Array(vec![Value::Array(vec![
                Value::BulkString(b"w1".to_vec()),
                Value::BulkString(b"3".to_vec()),
            ])]),
        ]);
        let s = parse_summary(s).unwrap();
        assert_eq!(s.count, 3);
        assert_eq!(s.max_id, Some(StreamId { ms: 3, seq: 0 }));
        assert_eq!(s.consumers, vec![(Bytes::from_static(b"w1"), 3)]);
    }
}
