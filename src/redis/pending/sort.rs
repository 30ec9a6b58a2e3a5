//! Sorting the pending list: XPENDING lists only in id order, so any other order reads
//! the rows (up to [`SORT_MAX`]), sorts them here, and shows a page of the result.

use bytes::Bytes;
use redis::aio::MultiplexedConnection;

use super::{
    pending_rows, with_previews, PendingEntry, PendingPage, PendingQuery, PendingRow, PendingSort,
    PollError, StreamId, MAX_PAGE,
};

/// The most pending entries a sorted view reads: sorting by idle time, deliveries or
/// consumer needs every row (XPENDING only lists in id order), so a sorted view reads up
/// to this many rows in [`MAX_PAGE`] pages, sorts them, and says when it stopped short.
pub const SORT_MAX: usize = 10_000;

/// A sorted view: which order, which slice of the sorted rows, and how many rows to
/// read at most (clamped to [`SORT_MAX`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingOrder {
    pub by: PendingSort,
    pub descending: bool,
    /// Rows of the sorted list before the page.
    pub offset: usize,
    pub limit: usize,
}

/// How much of the pending list a sorted page was sorted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortedRead {
    /// Rows read and sorted (after the IDLE / consumer filters).
    pub rows: usize,
    /// More rows exist past the limit: the order covers only the first `rows` by id.
    pub bounded: bool,
}

/// Sort a page in place. Ties are broken by id (ascending) so the order is stable across
/// refreshes. Only the given entries are sorted: for an order over the whole pending
/// list use [`pending_sorted_page`].
pub fn sort_entries(entries: &mut [PendingEntry], by: PendingSort, descending: bool) {
    fn key(e: &PendingEntry) -> SortKey<'_> {
        (e.id, e.idle_ms, e.deliveries, &e.consumer)
    }
    entries.sort_by(|a, b| compare(by, descending, key(a), key(b)));
}

/// [`sort_entries`] for XPENDING rows.
pub fn sort_rows(rows: &mut [PendingRow], by: PendingSort, descending: bool) {
    fn key(r: &PendingRow) -> SortKey<'_> {
        (r.id, r.idle_ms, r.deliveries, &r.consumer)
    }
    rows.sort_by(|a, b| compare(by, descending, key(a), key(b)));
}

type SortKey<'a> = (StreamId, u64, u64, &'a Bytes);

fn compare(by: PendingSort, descending: bool, a: SortKey, b: SortKey) -> std::cmp::Ordering {
    let primary = match by {
        PendingSort::Id => a.0.cmp(&b.0),
        PendingSort::Idle => a.1.cmp(&b.1),
        PendingSort::Deliveries => a.2.cmp(&b.2),
        PendingSort::Consumer => a.3.cmp(b.3),
    };
    let primary = if descending {
        primary.reverse()
    } else {
        primary
    };
    primary.then_with(|| a.0.cmp(&b.0))
}

/// One page of the pending list in `order`, sorted over up to `order.limit` rows (at most
/// [`SORT_MAX`]): the rows are read in [`MAX_PAGE`] pages one after another (each page's
/// cursor is the previous page's last id, so they cannot be pipelined), sorted, and only
/// the page's slice gets previews. `query.start` and `query.count` beyond the page size
/// are ignored: the slice starts at `order.offset`.
pub async fn pending_sorted_page(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    query: &PendingQuery,
    order: PendingOrder,
) -> Result<PendingPage, PollError> {
    let limit = order.limit.clamp(1, SORT_MAX);
    let mut rows: Vec<PendingRow> = Vec::new();
    let mut read = PendingQuery {
        start: None,
        ..query.clone()
    };
    let mut bounded = false;
    loop {
        // One row past the limit says whether the list goes on.
        let want = (limit + 1 - rows.len()).min(MAX_PAGE);
        read.count = want;
        let page = pending_rows(conn, stream, group, &read).await?;
        let full = page.len() >= want;
        read.start = page.last().map(|r| r.id);
        rows.extend(page);
        if rows.len() > limit {
            rows.truncate(limit);
            bounded = true;
            break;
        }
        if !full {
            break;
        }
    }
    let sorted = SortedRead {
        rows: rows.len(),
        bounded,
    };
    sort_rows(&mut rows, order.by, order.descending);
    let count = query.count.clamp(1, MAX_PAGE);
    let slice: Vec<PendingRow> = rows
        .iter()
        .skip(order.offset)
        .take(count)
        .cloned()
        .collect();
    let next = (order.offset + count < rows.len())
        .then(|| slice.last().map(|r| r.id))
        .flatten();
    let mut page = with_previews(conn, stream, slice, next).await?;
    page.sorted = Some(sorted);
    Ok(page)
}
