//! The entries browser's reads: pages of a stream newest first (XREVRANGE), paging both
//! ways, and jumps to an id or a time. One command per call; every page is bounded.
//!
//! Fields come back in their real order with duplicate names kept and bytes untouched
//! ([`StreamEntry`]); escaping for display is the UI's job (`render_text`).

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::Value;

use super::id::StreamId;
use super::info::parse_entries;
use super::stream_error;
use crate::redis::error::PollError;

/// Most entries one page may ask for: a page is for a screen, and entries can be large.
pub const MAX_PAGE: usize = 10_000;

/// One stream entry. `fields` are in the order the producer wrote them, duplicates kept;
/// names and values are raw bytes (escape them before showing them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: StreamId,
    pub fields: Vec<(Bytes, Bytes)>,
}

/// Entries strictly older than `before` (or the newest when None), newest first, at most
/// `count`. Pass the last id of a page as `before` to get the next older page; an empty
/// page means the start of the stream. A missing key is an empty stream.
pub async fn entries_page(
    conn: &mut MultiplexedConnection,
    key: &[u8],
    before: Option<StreamId>,
    count: usize,
) -> Result<Vec<StreamEntry>, PollError> {
    let end = match before {
        None => "+".to_string(),
        Some(id) => match id.predecessor() {
            Some(p) => p.to_string(),
            None => return Ok(Vec::new()),
        },
    };
    xrevrange(conn, key, &end, count).await
}

/// Entries strictly newer than `after`, the `count` closest to it, returned newest first
/// like every page (so "page up" from the top row of a page shows what came just after).
pub async fn entries_newer(
    conn: &mut MultiplexedConnection,
    key: &[u8],
    after: StreamId,
    count: usize,
) -> Result<Vec<StreamEntry>, PollError> {
    let Some(start) = after.successor() else {
        return Ok(Vec::new());
    };
    let count = count.clamp(1, MAX_PAGE);
    let reply: Value = redis::cmd("XRANGE")
        .arg(key)
        .arg(start.to_string())
        .arg("+")
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await
        .map_err(|e| from_redis("XRANGE", &e))?;
    let mut entries = entries_reply("XRANGE", reply)?;
    entries.reverse();
    Ok(entries)
}

/// The page that starts at `id` (inclusive) and goes back in time: jump to an id.
pub async fn jump_to_id(
    conn: &mut MultiplexedConnection,
    key: &[u8],
    id: StreamId,
    count: usize,
) -> Result<Vec<StreamEntry>, PollError> {
    xrevrange(conn, key, &id.to_string(), count).await
}

/// The page of entries added at or before `unix_ms` (by their id's time part), newest
/// first: jump to a time.
pub async fn jump_to_time(
    conn: &mut MultiplexedConnection,
    key: &[u8],
    unix_ms: u64,
    count: usize,
) -> Result<Vec<StreamEntry>, PollError> {
    jump_to_id(conn, key, StreamId::new(unix_ms, u64::MAX), count).await
}

async fn xrevrange(
    conn: &mut MultiplexedConnection,
    key: &[u8],
    end: &str,
    count: usize,
) -> Result<Vec<StreamEntry>, PollError> {
    let count = count.clamp(1, MAX_PAGE);
    let reply: Value = redis::cmd("XREVRANGE")
        .arg(key)
        .arg(end)
        .arg("-")
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await
        .map_err(|e| from_redis("XREVRANGE", &e))?;
    entries_reply("XREVRANGE", reply)
}

fn from_redis(command: &str, e: &redis::RedisError) -> PollError {
    match e.code() {
        Some(code) => stream_error(command, code, e.detail().unwrap_or("")),
        None => PollError::from_redis(command, e),
    }
}

fn entries_reply(command: &str, reply: Value) -> Result<Vec<StreamEntry>, PollError> {
    if let Value::ServerError(e) = &reply {
        return Err(stream_error(command, e.code(), e.details().unwrap_or("")));
    }
    parse_entries(reply).map_err(|what| super::reply_error(command, &what))
}
