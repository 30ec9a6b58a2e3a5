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

/// Which page of the entries browser to read. Every page is newest first and full when
/// the stream has enough entries ([`read_page`]); the entry in brackets is the one the
/// browser selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntriesRequest {
    /// The newest entries [the newest].
    Newest,
    /// The page just older than this id [the newest entry older than it].
    Older(StreamId),
    /// The page just newer than this id [the oldest entry newer than it].
    Newer(StreamId),
    /// Entries at or before this id, going back in time [the newest at or before it].
    AtId(StreamId),
    /// Entries added at or before this Unix time in ms, going back in time [the newest
    /// added at or before it].
    AtTime(u64),
}

impl EntriesRequest {
    /// Where the browser's selection goes in a page read for this request: the entry
    /// next to where the user came from, or the one a jump is about.
    pub fn anchor(self, page: &[StreamEntry]) -> usize {
        let found = match self {
            EntriesRequest::Newest => Some(0),
            EntriesRequest::Older(id) => page.iter().position(|e| e.id < id),
            EntriesRequest::Newer(id) => page.iter().rposition(|e| e.id > id),
            EntriesRequest::AtId(id) => page.iter().position(|e| e.id <= id),
            EntriesRequest::AtTime(ms) => page.iter().position(|e| e.id.ms <= ms),
        };
        found.unwrap_or(0)
    }

    /// The page read for this request reaches the stream's newest entry: a `Newer`
    /// read that was topped up from below (it holds entries at or older than its id).
    pub fn reached_newest(self, page: &[StreamEntry]) -> bool {
        match self {
            EntriesRequest::Newest => true,
            EntriesRequest::Newer(id) => page.last().is_some_and(|e| e.id <= id),
            _ => false,
        }
    }
}

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

/// The page a request asks for, newest first, and always full (`count` entries) when the
/// stream has that many: a read that reaches an end of the stream is topped up from the
/// other side. So `[` back to the newest page shows the newest `count`, not the few
/// newer than the page before, and `]` at the start shows the oldest `count`. The entry
/// the request is about (the one next to where the user came from, or the newest at or
/// before a jump's point) is in the page; [`EntriesRequest`] docs say which.
pub async fn read_page(
    conn: &mut MultiplexedConnection,
    key: &[u8],
    request: EntriesRequest,
    count: usize,
) -> Result<Vec<StreamEntry>, PollError> {
    let count = count.clamp(1, MAX_PAGE);
    let page = match request {
        EntriesRequest::Newest => return entries_page(conn, key, None, count).await,
        EntriesRequest::Older(id) => entries_page(conn, key, Some(id), count).await?,
        EntriesRequest::Newer(id) => entries_newer(conn, key, id, count).await?,
        EntriesRequest::AtId(id) => jump_to_id(conn, key, id, count).await?,
        EntriesRequest::AtTime(ms) => jump_to_time(conn, key, ms, count).await?,
    };
    fill_page(conn, key, page, count).await
}

/// Top a short newest-first page up to `count`: newer entries above it first, then older
/// ones below. An empty page stays empty (it says where an edge is).
async fn fill_page(
    conn: &mut MultiplexedConnection,
    key: &[u8],
    mut page: Vec<StreamEntry>,
    count: usize,
) -> Result<Vec<StreamEntry>, PollError> {
    if let Some(first) = page.first().map(|e| e.id) {
        if page.len() < count {
            let mut newer = entries_newer(conn, key, first, count - page.len()).await?;
            // entries_newer returns the entries closest to `first`, newest first.
            newer.append(&mut page);
            page = newer;
        }
    }
    if let Some(last) = page.last().map(|e| e.id) {
        if page.len() < count {
            let mut older = entries_page(conn, key, Some(last), count - page.len()).await?;
            page.append(&mut older);
        }
    }
    Ok(page)
}
