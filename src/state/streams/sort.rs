//! Orders for the Streams pane's tables and the per-stream summaries they sort by. Each
//! figure is computed once per row, ties break by name, so the order is total and a row
//! does not jump between polls when its figure ties another's.

use std::cmp::Ordering;

use crate::redis::streams::{ConsumerInfo, GroupInfo, Status, StreamInfo};

use super::SortColumn;

/// Worst first, for sorting and for a stream's summary status.
pub fn status_rank(status: Status) -> u8 {
    match status {
        Status::Stalled => 6,
        Status::NoConsumers => 5,
        Status::FallingBehind => 4,
        Status::PositionMoved => 3,
        Status::Unknown => 2,
        Status::CatchingUp => 1,
        Status::CaughtUp => 0,
    }
}

/// A stream's worst group status; None without groups.
pub fn stream_status(stream: &StreamInfo) -> Option<Status> {
    stream
        .groups
        .iter()
        .map(|g| g.health.status)
        .max_by_key(|&s| status_rank(s))
}

/// The laggiest group of a stream (by effective lag), for the streams table's lag column.
pub fn laggiest_group(stream: &StreamInfo) -> Option<&GroupInfo> {
    stream
        .groups
        .iter()
        .filter(|g| g.effective_lag().is_some())
        .max_by_key(|g| g.effective_lag())
}

pub fn stream_pending(stream: &StreamInfo) -> u64 {
    stream.groups.iter().map(|g| g.pending).sum()
}

/// A sortable number; missing values sort below every real one.
fn figure(value: Option<f64>) -> f64 {
    value.unwrap_or(-1.0)
}

fn by_figure(figures: &[(usize, f64)], a: usize, b: usize, descending: bool) -> Ordering {
    let order = figures[a].1.total_cmp(&figures[b].1);
    if descending {
        order.reverse()
    } else {
        order
    }
}

/// Sort `rows` (indices into `items`) by one figure, ties by name A→Z so the order is
/// total and stable from poll to poll.
fn sort_by_figure<T>(
    items: &[T],
    rows: &mut [usize],
    column: SortColumn,
    descending: bool,
    name: impl Fn(&T) -> &[u8],
    value: impl Fn(&T) -> Option<f64>,
) {
    if column == SortColumn::Name {
        rows.sort_unstable_by(|&a, &b| {
            let order = name(&items[a]).cmp(name(&items[b]));
            if descending {
                order.reverse()
            } else {
                order
            }
        });
        return;
    }
    // Each figure is computed once per row, not once per comparison.
    let figures: Vec<(usize, f64)> = rows
        .iter()
        .map(|&i| (i, figure(value(&items[i]))))
        .collect();
    let mut order: Vec<usize> = (0..figures.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        by_figure(&figures, a, b, descending)
            .then_with(|| name(&items[figures[a].0]).cmp(name(&items[figures[b].0])))
    });
    for (slot, k) in rows.iter_mut().zip(order) {
        *slot = figures[k].0;
    }
}

pub fn sort_streams(
    streams: &[StreamInfo],
    rows: &mut [usize],
    column: SortColumn,
    descending: bool,
) {
    sort_by_figure(
        streams,
        rows,
        column,
        descending,
        |s| &s.key,
        |s| match column {
            SortColumn::Lag => laggiest_group(s)
                .and_then(|g| g.effective_lag())
                .map(|n| n as f64),
            SortColumn::Pending => Some(stream_pending(s) as f64),
            SortColumn::Rate => s.append_rate,
            SortColumn::Status => stream_status(s).map(|st| f64::from(status_rank(st))),
            SortColumn::Name | SortColumn::Idle => None,
        },
    );
}

pub fn sort_groups(groups: &[GroupInfo], rows: &mut [usize], column: SortColumn, descending: bool) {
    sort_by_figure(
        groups,
        rows,
        column,
        descending,
        |g| &g.name,
        |g| match column {
            SortColumn::Lag => g.effective_lag().map(|n| n as f64),
            SortColumn::Pending => Some(g.pending as f64),
            SortColumn::Rate => g.health.consume_rate,
            SortColumn::Status => Some(f64::from(status_rank(g.health.status))),
            SortColumn::Name | SortColumn::Idle => None,
        },
    );
}

pub fn sort_consumers(
    consumers: &[ConsumerInfo],
    rows: &mut [usize],
    column: SortColumn,
    descending: bool,
) {
    sort_by_figure(
        consumers,
        rows,
        column,
        descending,
        |c| &c.name,
        |c| match column {
            SortColumn::Pending => Some(c.pending as f64),
            SortColumn::Idle => Some(c.activity_age_ms() as f64),
            _ => None,
        },
    );
}
