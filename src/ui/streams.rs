//! The Streams pane: the streams table (figures line, discovery progress, the last poll
//! error with its age); the groups and consumers views ([`groups`]), the entries browser
//! ([`entries`]), group-management dialogs ([`dialogs`]) and shared cells ([`cells`]).
//!
//! Only the rows on screen are formatted, so 1,000 streams cost what 30 do. Every name
//! is untrusted bytes and goes through `render_text`; lag the server reported as nil is
//! our estimate, marked `≈`, never shown as 0 or left blank.

use chrono::TimeDelta;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};
use ratatui::Frame;

mod cells;
mod dialogs;
pub(super) mod entries;
mod groups;

use super::channels::table::age_text;
use super::theme;
use crate::keymap::{Command, Scope};
use crate::redis::streams::{Status, StreamInfo, StreamsSnapshot};
use crate::state::streams::{
    laggiest_group, server_now_ms, stream_pending, stream_status, Level, SortColumn, StreamsFocus,
    StreamsPane,
};
use crate::state::{thousands, AppState};
use crate::text::escape::escape_str;
use cells::{age, centered, col, lag_cell, rate_cell, sparkline, status_style, Column, Table};

/// Figures older than this look suspicious even without an error (a slow server).
const STALE_AFTER: TimeDelta = TimeDelta::seconds(5);

/// Footer keys per focus.
pub fn footer_commands(focus: StreamsFocus) -> &'static [(Scope, Command)] {
    use Command as C;
    use Scope as S;
    match focus {
        StreamsFocus::Streams => &[
            (S::Streams, C::DrillIn),
            (S::Streams, C::BrowseEntries),
            (S::Streams, C::Filter),
            (S::Streams, C::SortNext),
            (S::Streams, C::GroupPending),
            (S::Streams, C::Refresh),
            (S::Global, C::Help),
            (S::Global, C::Quit),
        ],
        StreamsFocus::Groups => &[
            (S::Streams, C::DrillIn),
            (S::Streams, C::DrillOut),
            (S::Streams, C::GroupPending),
            (S::Streams, C::BrowseEntries),
            (S::Streams, C::SortNext),
            (S::Global, C::Help),
            (S::Global, C::Quit),
        ],
        StreamsFocus::Consumers => &[
            (S::Streams, C::DrillOut),
            (S::Streams, C::GroupPending),
            (S::Streams, C::SortNext),
            (S::Streams, C::BrowseEntries),
            (S::Global, C::Help),
            (S::Global, C::Quit),
        ],
        StreamsFocus::Entries => &[
            (S::StreamEntries, C::DrillIn),
            (S::StreamEntries, C::NextPage),
            (S::StreamEntries, C::PrevPage),
            (S::StreamEntries, C::JumpTo),
            (S::StreamEntries, C::Refresh),
            (S::StreamEntries, C::DrillOut),
            (S::Global, C::Help),
        ],
        StreamsFocus::Entry => &[
            (S::Navigation, C::Down),
            (S::Navigation, C::PageDown),
            (S::StreamEntries, C::DrillOut),
            (S::Global, C::Help),
        ],
        StreamsFocus::Jump | StreamsFocus::Prompt => {
            &[(S::Input, C::Accept), (S::Input, C::Cancel)]
        }
        StreamsFocus::Confirm => &[(S::Dialog, C::Confirm), (S::Dialog, C::Cancel)],
    }
}

pub fn render(state: &AppState, frame: &mut Frame, area: Rect) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    if let Some(browser) = &state.streams.entries {
        entries::render(state, browser, frame, area);
    } else {
        let buf = frame.buffer_mut();
        match state.streams.level {
            Level::Streams => render_streams(state, buf, area),
            Level::Groups => groups::render_groups(state, buf, area),
            Level::Consumers => groups::render_consumers(state, buf, area),
        }
    }
    dialogs::render(state, frame, area);
}

fn render_streams(state: &AppState, buf: &mut Buffer, area: Rect) {
    let pane = &state.streams;
    let layout = pane.layout(area);
    let mut y = layout.top.y;
    if layout.top.height > 0 {
        let figures = super::fit::cut_line(
            &figures_line(state),
            usize::from(area.width),
            super::fit::Cut::End,
            theme::dim(),
        );
        crate::ui::fit::set_line_cut(buf, area.x, y, &figures, area.width);
        y += 1;
    }
    y = render_poll_error(
        state,
        buf,
        Rect::new(area.x, y, area.width, layout.top.bottom().saturating_sub(y)),
    );
    if pane.has_notice() && y < layout.top.bottom() {
        crate::ui::fit::set_line_cut(buf, area.x, y, &notice_line(pane), area.width);
    }
    let table = layout.table;
    // In a cluster, which node holds each stream (actions on it go there).
    let cluster = pane.snapshot().is_some_and(|s| !s.stream_nodes.is_empty());
    let mut all_columns = STREAM_COLUMNS.to_vec();
    if cluster {
        all_columns.push(NODE_COLUMN);
    }
    let t = Table::new(pane, &all_columns, 16, "stream", buf, table);
    let body = t.body;
    let Some(snapshot) = pane.snapshot() else {
        let text = if pane.poll.last_error.is_some() {
            "The server's streams cannot be read (see above); retrying."
        } else {
            "Looking for streams…"
        };
        centered(buf, body, text.to_string());
        return;
    };
    if pane.stream_rows.is_empty() {
        centered(buf, body, empty_text(state, snapshot));
        return;
    }
    let page = usize::from(body.height);
    let selected = pane.streams_sel.index;
    let offset = crate::state::streams::visible_offset(pane.streams_sel.offset, selected, page);
    let server_now = server_now_ms(snapshot, state.now);
    for (i, &row) in pane.stream_rows.iter().enumerate().skip(offset).take(page) {
        let Some(stream) = snapshot.streams.get(row) else {
            continue;
        };
        let y = body.y + (i - offset) as u16;
        let highlight = |text: &str| {
            pane.filter()
                .map(|f| f.highlight_ranges(text))
                .unwrap_or_default()
        };
        let cells: Vec<(String, Style)> = t
            .columns
            .iter()
            .map(|c| match c.title {
                "node" => (
                    snapshot
                        .stream_nodes
                        .get(&stream.key)
                        .map_or_else(|| "?".into(), |n| escape_str(n).into_owned()),
                    theme::dim(),
                ),
                title => stream_cell(stream, title, server_now),
            })
            .collect();
        t.row(buf, y, i == selected, &stream.key, highlight, cells);
    }
}

/// "12 streams · 36 groups · 2 stalled · 1 falling behind · polled 400ms ago in 3ms", or why
/// there is nothing yet; the filter when one is set.
fn figures_line(state: &AppState) -> Line<'static> {
    let pane = &state.streams;
    let sep = || Span::styled(" · ", theme::dim());
    let mut spans = vec![Span::raw(" ")];
    match pane.snapshot() {
        Some(snapshot) => {
            let groups: usize = snapshot.streams.iter().map(|s| s.groups.len()).sum();
            spans.push(Span::raw(format!(
                "{} streams",
                thousands(snapshot.streams.len() as u64)
            )));
            spans.push(sep());
            spans.push(Span::raw(format!("{} groups", thousands(groups as u64))));
            for status in [Status::Stalled, Status::NoConsumers, Status::FallingBehind] {
                let n = snapshot
                    .streams
                    .iter()
                    .flat_map(|s| &s.groups)
                    .filter(|g| g.health.status == status)
                    .count();
                if n > 0 {
                    spans.push(sep());
                    spans.push(Span::styled(
                        format!("{} {}", thousands(n as u64), status.as_str()),
                        status_style(status),
                    ));
                }
            }
            spans.push(sep());
            spans.push(polled_span(state, snapshot));
        }
        None if pane.poll.last_error.is_some() => {
            spans.push(Span::styled("no figures from the server", theme::warn()));
        }
        None => spans.push(Span::styled("polling…", theme::dim())),
    }
    if let Some(filter) = pane.filter() {
        spans.push(sep());
        spans.push(Span::styled("filter ", theme::accent()));
        spans.push(Span::raw(escape_str(filter.source()).into_owned()));
        let total = pane.snapshot().map_or(0, |s| s.streams.len());
        spans.push(Span::styled(
            format!(
                " ({} of {})",
                thousands(pane.stream_rows.len() as u64),
                thousands(total as u64)
            ),
            theme::dim(),
        ));
    }
    Line::from(spans)
}

/// "polled 400ms ago in 3ms" (`in <1ms` for a sub-millisecond poll), in warning colour when the figures are old or the latest
/// poll failed.
pub fn polled_span(state: &AppState, snapshot: &StreamsSnapshot) -> Span<'static> {
    let age = state.now - snapshot.taken_at;
    let style = if state.streams.poll.last_error.is_some() || age > STALE_AFTER {
        theme::warn()
    } else {
        theme::dim()
    };
    // A poll never takes no time: under a millisecond reads "<1ms", not "0ms".
    let took = match u64::try_from(snapshot.took.as_millis()).unwrap_or(u64::MAX) {
        0 => "<1ms".to_string(),
        ms => crate::text::duration_ms(ms),
    };
    Span::styled(format!("polled {} ago in {took}", age_text(age)), style)
}

/// The latest poll's error and how old the figures shown are; returns the next free row.
pub fn render_poll_error(state: &AppState, buf: &mut Buffer, area: Rect) -> u16 {
    let Some((at, error)) = &state.streams.poll.last_error else {
        return area.y;
    };
    let figures = match state.streams.snapshot() {
        Some(s) => format!(
            " — the figures below are from {} ago",
            age_text(state.now - s.taken_at)
        ),
        None => String::new(),
    };
    let text = format!(
        " ✖ poll failed {} ago: {}{figures}",
        age_text(state.now - *at),
        escape_str(error)
    );
    let rows = crate::state::streams::ERROR_ROWS.min(area.height);
    Paragraph::new(Line::styled(text, theme::warn()))
        .wrap(Wrap { trim: false })
        .render(Rect::new(area.x, area.y, area.width, rows), buf);
    area.y + rows
}

/// Discovery progress while the first pass runs, then caps and unreadable keys.
fn notice_line(pane: &StreamsPane) -> Line<'static> {
    let scan = &pane.poll.scan;
    let mut parts: Vec<Span<'static>> = vec![Span::raw(" ")];
    let sep = || Span::styled(" · ", theme::dim());
    if !scan.complete {
        let progress = match (scan.fraction, scan.keyspace_keys) {
            (Some(f), Some(n)) => format!(
                ": scanned ≈{:.0}% of {} keys",
                (f * 100.0).clamp(0.0, 100.0),
                thousands(n)
            ),
            (Some(f), None) => format!(": scanned ≈{:.0}%", (f * 100.0).clamp(0.0, 100.0)),
            _ => "…".to_string(),
        };
        parts.push(Span::styled(
            format!(
                "discovering streams{progress} · {} found so far",
                thousands(scan.streams_found as u64)
            ),
            theme::accent(),
        ));
    }
    if let Some(note) = &scan.note {
        if parts.len() > 1 {
            parts.push(sep());
        }
        parts.push(Span::styled(
            format!("note: {}", escape_str(note)),
            theme::warn(),
        ));
    }
    if let Some(snapshot) = pane.snapshot() {
        for warning in &snapshot.warnings {
            if parts.len() > 1 {
                parts.push(sep());
            }
            parts.push(Span::styled(
                format!("! {}", escape_str(warning)),
                theme::warn(),
            ));
        }
        if let Some(first) = snapshot.problems.first() {
            if parts.len() > 1 {
                parts.push(sep());
            }
            let more = snapshot.problems.len() - 1;
            let more = if more > 0 {
                format!(" (and {} more)", thousands(more as u64))
            } else {
                String::new()
            };
            parts.push(Span::styled(
                format!("! {}{more}", escape_str(&first.message)),
                theme::warn(),
            ));
        }
    }
    Line::from(parts)
}

fn empty_text(state: &AppState, snapshot: &StreamsSnapshot) -> String {
    let pane = &state.streams;
    if pane.filter().is_some() {
        let key = |command| state.keymap.first_key(Scope::Streams, command);
        return format!(
            "No stream matches the filter ({} streams). Edit it with {}, clear it with {}.",
            thousands(snapshot.streams.len() as u64),
            key(Command::Filter),
            key(Command::DrillOut)
        );
    }
    if !pane.poll.scan.complete {
        return "No stream found yet: discovery is still scanning the keyspace.".into();
    }
    "No streams on this server (SCAN … TYPE stream found none). Add one with XADD, or \
     name keys to watch with --stream KEY."
        .into()
}

const NODE_COLUMN: Column = col("node", 21, 3, None).left();

const STREAM_COLUMNS: [Column; 8] = [
    col("status", 14, 0, Some(SortColumn::Status)).left(),
    col("length", 10, 2, None),
    col("groups", 6, 3, None),
    col("max lag", 10, 0, Some(SortColumn::Lag)),
    col("pending", 10, 1, Some(SortColumn::Pending)),
    col("append/s", 9, 1, Some(SortColumn::Rate)),
    col("last entry", 10, 2, None),
    col("lag 60 s", 16, 4, None).left(),
];

fn stream_cell(stream: &StreamInfo, title: &str, server_now: i64) -> (String, Style) {
    match title {
        "status" => match stream_status(stream) {
            Some(status) => (status.as_str().into(), status_style(status)),
            None => ("—".into(), theme::dim()),
        },
        "length" => (thousands(stream.length), Style::new()),
        "groups" => (stream.groups_count.to_string(), Style::new()),
        "max lag" => match laggiest_group(stream) {
            Some(g) => lag_cell(g),
            None if stream.groups.is_empty() => ("—".into(), theme::dim()),
            None => ("n/a".into(), theme::warn()),
        },
        "pending" => (thousands(stream_pending(stream)), Style::new()),
        "append/s" => rate_cell(stream.append_rate),
        "last entry" => match stream.last_entry_age_ms(server_now) {
            Some(ms) => (age(ms), theme::dim()),
            None => ("empty".into(), theme::dim()),
        },
        // The laggiest group's window: is the worst of this stream getting worse?
        "lag 60 s" => (
            laggiest_group(stream)
                .map(|g| sparkline(&g.health.lag_series, 16))
                .unwrap_or_default(),
            theme::warn(),
        ),
        _ => (String::new(), Style::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::cells::fit;
    use super::*;

    #[test]
    fn columns_drop_by_priority_and_keep_their_order() {
        // 66 = the 60 this used before the status column grew by 6 for "falling behind".
        let narrow = fit(&STREAM_COLUMNS, 66, 16);
        let titles: Vec<&str> = narrow.iter().map(|c| c.title).collect();
        assert_eq!(titles, ["status", "max lag", "pending", "append/s"]);
        assert_eq!(fit(&STREAM_COLUMNS, 200, 16).len(), STREAM_COLUMNS.len());
    }

    #[test]
    fn a_poll_under_a_millisecond_reads_less_than_one_not_zero() {
        let now = chrono::DateTime::from_timestamp(1_000, 0).unwrap();
        let state = AppState::new(
            crate::state::Config::default(),
            Default::default(),
            now + chrono::TimeDelta::milliseconds(400),
        );
        let mut snap = crate::redis::streams::fixtures::snapshot(Vec::new(), now);
        snap.took = std::time::Duration::from_micros(420);
        assert_eq!(
            polled_span(&state, &snap).content,
            "polled 400ms ago in <1ms"
        );
        snap.took = std::time::Duration::from_millis(3);
        assert_eq!(
            polled_span(&state, &snap).content,
            "polled 400ms ago in 3ms"
        );
    }
}
