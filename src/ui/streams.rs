//! The Streams pane: the streams table (figures line, discovery progress, the last poll
//! error with its age), and the shared pieces of the groups and consumers views
//! ([`super::streams_groups`]) and the entries browser ([`super::streams_entries`]).
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

use super::channels::age_text;
use super::{streams_entries, streams_groups, theme};
use crate::keymap::{Command, Scope};
use crate::redis::streams::{GroupInfo, Outlook, Status, StreamInfo, StreamsSnapshot};
use crate::render_text::escape_str;
use crate::state::streams::{
    laggiest_group, server_now_ms, stream_pending, stream_status, Level, SortColumn, StreamsFocus,
    StreamsPane,
};
use crate::state::{thousands, AppState};
use crate::stats::{fmt_age, fmt_lag};

/// Name bytes escaped per row: a 1 MB key must not cost a megabyte per frame.
pub const NAME_PREVIEW_BYTES: usize = 512;
const SPARK_LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
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
        StreamsFocus::Jump => &[(S::Input, C::Accept), (S::Input, C::Cancel)],
    }
}

pub fn render(state: &AppState, frame: &mut Frame, area: Rect) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    if let Some(browser) = &state.streams.entries {
        streams_entries::render(state, browser, frame, area);
        return;
    }
    let buf = frame.buffer_mut();
    match state.streams.level {
        Level::Streams => render_streams(state, buf, area),
        Level::Groups => streams_groups::render_groups(state, buf, area),
        Level::Consumers => streams_groups::render_consumers(state, buf, area),
    }
}

fn render_streams(state: &AppState, buf: &mut Buffer, area: Rect) {
    let pane = &state.streams;
    let layout = pane.layout(area);
    let mut y = layout.top.y;
    buf.set_line(area.x, y, &figures_line(state), area.width);
    y += 1;
    y = render_poll_error(
        state,
        buf,
        Rect::new(area.x, y, area.width, layout.top.bottom() - y),
    );
    if pane.has_notice() && y < layout.top.bottom() {
        buf.set_line(area.x, y, &notice_line(pane), area.width);
    }
    let table = layout.table;
    let columns = fit(&STREAM_COLUMNS, table.width, 16);
    let name_cols = name_width(&columns, table.width);
    render_titles(pane, &columns, "stream", name_cols, buf, table);
    let body = Rect::new(
        table.x,
        table.y + 1,
        table.width,
        table.height.saturating_sub(1),
    );
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
    let stale = pane.poll.last_error.is_some();
    for (i, &row) in pane.stream_rows.iter().enumerate().skip(offset).take(page) {
        let Some(stream) = snapshot.streams.get(row) else {
            continue;
        };
        let y = body.y + (i - offset) as u16;
        select_marker(buf, body, y, i == selected);
        let highlight = |text: &str| {
            pane.filter()
                .map(|f| f.highlight_ranges(text))
                .unwrap_or_default()
        };
        render_name(&stream.key, highlight, buf, body.x + 2, y, name_cols);
        let cells: Vec<(String, Style)> = columns
            .iter()
            .map(|c| stream_cell(stream, c.title, server_now))
            .collect();
        render_cells(
            &columns,
            cells,
            stale,
            buf,
            body.x + 2 + name_cols,
            y,
            body.right(),
        );
    }
}

/// "12 streams · 36 groups · 2 STALLED · 1 LAGGING · polled 0.4 s ago in 3 ms", or why
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
            for status in [Status::Stalled, Status::Lagging] {
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

/// "polled 0.4 s ago in 3 ms", in warning colour when the figures are old or the latest
/// poll failed.
pub fn polled_span(state: &AppState, snapshot: &StreamsSnapshot) -> Span<'static> {
    let age = state.now - snapshot.taken_at;
    let style = if state.streams.poll.last_error.is_some() || age > STALE_AFTER {
        theme::warn()
    } else {
        theme::dim()
    };
    Span::styled(
        format!(
            "polled {} ago in {} ms",
            age_text(age),
            snapshot.took.as_millis()
        ),
        style,
    )
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
        let key = |command| {
            state
                .keymap
                .keys_for(Scope::Streams, command)
                .first()
                .map_or_else(|| "?".to_string(), ToString::to_string)
        };
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

/// A table column: title, width, priority (0 = keep longest), sort column it shows.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub title: &'static str,
    pub width: u16,
    pub priority: u8,
    pub sort: Option<SortColumn>,
    /// Text columns (status, outlook, sparklines) are left-aligned, figures right.
    pub left: bool,
}

pub const fn col(
    title: &'static str,
    width: u16,
    priority: u8,
    sort: Option<SortColumn>,
) -> Column {
    Column {
        title,
        width,
        priority,
        sort,
        left: false,
    }
}

pub const fn text_col(
    title: &'static str,
    width: u16,
    priority: u8,
    sort: Option<SortColumn>,
) -> Column {
    Column {
        title,
        width,
        priority,
        sort,
        left: true,
    }
}

const STREAM_COLUMNS: [Column; 8] = [
    text_col("status", 8, 0, Some(SortColumn::Status)),
    col("length", 10, 2, None),
    col("groups", 6, 3, None),
    col("max lag", 10, 0, Some(SortColumn::Lag)),
    col("pending", 10, 1, Some(SortColumn::Pending)),
    col("append/s", 9, 1, Some(SortColumn::Rate)),
    col("last entry", 10, 2, None),
    text_col("lag 60 s", 16, 4, None),
];

/// The columns that fit next to a name column of at least `name_min`, most important
/// first, kept in their declared order.
pub fn fit(columns: &[Column], width: u16, name_min: u16) -> Vec<Column> {
    let mut room = i32::from(width) - 2 - i32::from(name_min);
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by_key(|&i| columns[i].priority);
    let mut keep = vec![false; columns.len()];
    for i in order {
        let need = i32::from(columns[i].width) + 1;
        if need <= room {
            room -= need;
            keep[i] = true;
        }
    }
    columns
        .iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(*c))
        .collect()
}

/// What is left for the name after the columns.
pub fn name_width(columns: &[Column], width: u16) -> u16 {
    let fixed: u16 = columns.iter().map(|c| c.width + 1).sum();
    width.saturating_sub(fixed + 2).max(4)
}

/// Column titles; the sorted column is marked with its direction.
pub fn render_titles(
    pane: &StreamsPane,
    columns: &[Column],
    name_title: &str,
    name_cols: u16,
    buf: &mut Buffer,
    area: Rect,
) {
    if area.height == 0 {
        return;
    }
    let (sort, descending) = if pane.level == Level::Consumers {
        (pane.consumer_sort, pane.consumer_descending)
    } else {
        (pane.sort, pane.descending)
    };
    let arrow = if descending { "▼" } else { "▲" };
    let title = |column: Option<SortColumn>, text: &str| -> (String, Style) {
        if column == Some(sort) {
            (
                format!("{text} {arrow}"),
                theme::accent().patch(theme::bold()),
            )
        } else {
            (text.to_string(), theme::dim())
        }
    };
    let (text, style) = title(Some(SortColumn::Name), name_title);
    buf.set_stringn(area.x + 2, area.y, text, usize::from(name_cols), style);
    let mut x = area.x + 2 + name_cols;
    for c in columns {
        x += 1;
        if x >= area.right() {
            break;
        }
        let (text, style) = title(c.sort, c.title);
        let room = usize::from(c.width.min(area.right() - x));
        let text = if c.left {
            format!("{text:<room$}")
        } else {
            format!("{text:>room$}")
        };
        buf.set_stringn(x, area.y, text, room, style);
        x += c.width;
    }
}

/// Figures after the name column; dimmed when the latest poll failed, so numbers from an
/// older poll do not look current.
pub fn render_cells(
    columns: &[Column],
    cells: Vec<(String, Style)>,
    stale: bool,
    buf: &mut Buffer,
    x: u16,
    y: u16,
    right: u16,
) {
    let mut x = x;
    for (c, (text, style)) in columns.iter().zip(cells) {
        x += 1;
        if x >= right {
            break;
        }
        let room = usize::from(c.width.min(right - x));
        let text = if c.left {
            format!("{text:<room$}")
        } else {
            format!("{text:>room$}")
        };
        let style = if stale { theme::dim() } else { style };
        buf.set_stringn(x, y, text, room, style);
        x += c.width;
    }
}

pub fn select_marker(buf: &mut Buffer, area: Rect, y: u16, selected: bool) {
    if selected {
        buf.set_style(Rect::new(area.x, y, area.width, 1), theme::selected());
    }
    buf.set_string(area.x, y, if selected { "›" } else { " " }, theme::accent());
}

/// An untrusted name, escaped (escapes styled apart), cut with `…` when it does not fit.
pub fn render_name(
    name: &[u8],
    highlight: impl FnOnce(&str) -> Vec<std::ops::Range<usize>>,
    buf: &mut Buffer,
    x: u16,
    y: u16,
    cols: u16,
) {
    let mut end = name.len().min(NAME_PREVIEW_BYTES);
    // Don't cut a UTF-8 sequence in half: it would show as bogus \x escapes.
    while end < name.len() && end > 0 && (name[end] & 0xc0) == 0x80 {
        end -= 1;
    }
    let line = Line::from(theme::untrusted_spans(
        &name[..end],
        theme::channel(),
        highlight,
    ));
    buf.set_line(x, y, &line, cols);
    if (line.width() > usize::from(cols) || end < name.len()) && cols > 0 {
        buf.set_string(x + cols - 1, y, "…", theme::dim());
    }
}

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

/// Lag as the server said it, or our estimate marked `≈`; `n/a` when neither exists
/// (the status line says why). Never a bare 0 for a nil lag.
pub fn lag_cell(group: &GroupInfo) -> (String, Style) {
    let text = lag_text(group);
    let style = if group.lag().is_none() {
        theme::warn()
    } else if group.effective_lag().unwrap_or(0) > 0 {
        Style::new()
    } else {
        theme::dim()
    };
    (text, style)
}

/// [`fmt_lag`], except that an estimate is always marked, even one that came out 0: a
/// nil lag must never read as a plain, certain 0.
pub fn lag_text(group: &GroupInfo) -> String {
    match (group.lag(), group.lag_estimate) {
        (None, Some(e)) if e.value == 0 && !e.exact => "≈0".into(),
        _ => fmt_lag(group),
    }
}

/// An age for a table cell: [`fmt_age`], but `<1s` rather than a millisecond count that
/// only says "just now" with false precision.
pub fn age(ms: u64) -> String {
    if ms < 1000 {
        "<1s".into()
    } else {
        fmt_age(ms)
    }
}

/// "1 consumer", "3 consumers".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// Entries per second; `—` until two polls give a rate.
pub fn rate_cell(rate: Option<f64>) -> (String, Style) {
    match rate {
        None => ("—".into(), theme::dim()),
        Some(r) if r <= 0.0 => ("0".into(), theme::dim()),
        Some(r) if r >= 100.0 => (thousands(r.round() as u64), Style::new()),
        Some(r) if r >= 10.0 => (format!("{r:.1}"), Style::new()),
        Some(r) => (format!("{r:.2}"), Style::new()),
    }
}

pub fn status_style(status: Status) -> Style {
    match status {
        Status::Ok => theme::ok(),
        Status::Lagging => theme::warn(),
        Status::Stalled => theme::error().patch(theme::bold()),
        Status::Idle | Status::Unknown => theme::dim(),
    }
}

/// "ETA 2m05s", "falling behind", "caught up", or "—" while rates are unknown. A group
/// that reads nothing while nothing is appended is not falling behind: it says so.
pub fn outlook_cell(group: &GroupInfo, append_rate: Option<f64>) -> (String, Style) {
    let reads_nothing = group.health.consume_rate.is_some_and(|r| r <= 0.0);
    let appends_nothing = append_rate.is_some_and(|r| r <= 0.0);
    match group.health.outlook {
        Outlook::FallingBehind if reads_nothing && appends_nothing => {
            ("not reading".into(), theme::warn())
        }
        Outlook::CaughtUp => ("caught up".into(), theme::dim()),
        Outlook::CatchingUp { eta_ms } => (format!("ETA {}", fmt_age(eta_ms)), theme::ok()),
        Outlook::FallingBehind => ("falling behind".into(), theme::error()),
        Outlook::Unknown => ("—".into(), theme::dim()),
    }
}

/// Samples (oldest first) as `cells` block characters, newest at the right: each cell the
/// largest sample of its share; `·` marks a zero. The scale runs from the window's
/// smallest to its largest value, so a lag going from 49,000 to 55,000 shows as a climb
/// rather than a flat top; a span under a tenth of the largest value is stretched to
/// that tenth, so jitter of a few entries stays flat.
pub fn sparkline(series: &[u64], cells: usize) -> String {
    if series.is_empty() || cells == 0 {
        return String::new();
    }
    let values: Vec<u64> = if series.len() <= cells {
        series.to_vec()
    } else {
        (0..cells)
            .map(|c| {
                let start = c * series.len() / cells;
                let end = ((c + 1) * series.len() / cells).max(start + 1);
                series[start..end].iter().copied().max().unwrap_or(0)
            })
            .collect()
    };
    let max = values.iter().copied().max().unwrap_or(0);
    let min = values.iter().copied().min().unwrap_or(0);
    let span = u128::from(max - min).max(u128::from(max) / 10).max(1);
    let mut out = " ".repeat(cells - values.len());
    for n in values {
        if n == 0 {
            out.push('·');
        } else {
            let level = (u128::from(n - min) * 7 / span).min(7);
            out.push(SPARK_LEVELS[level as usize]);
        }
    }
    out
}

pub fn centered(buf: &mut Buffer, area: Rect, text: String) {
    if area.height == 0 {
        return;
    }
    let y = area.y + area.height / 3;
    let rect = Rect::new(
        area.x + 2,
        y,
        area.width.saturating_sub(4),
        area.bottom().saturating_sub(y),
    );
    Paragraph::new(Line::styled(text, theme::dim()))
        .centered()
        .wrap(Wrap { trim: true })
        .render(rect, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::streams::{GroupHealth, LagEstimate, LagMethod, ReportedLag, StreamId};
    use bytes::Bytes;

    fn group(reported: ReportedLag, estimate: Option<LagEstimate>) -> GroupInfo {
        GroupInfo {
            name: Bytes::from_static(b"g"),
            consumers: 1,
            pending: 0,
            last_delivered_id: StreamId::new(1, 0),
            entries_read: None,
            reported_lag: reported,
            lag_estimate: estimate,
            oldest_undelivered_id: None,
            time_lag_ms: None,
            consumer_list: Vec::new(),
            consumers_error: None,
            health: GroupHealth::default(),
        }
    }

    fn estimate(value: u64, exact: bool) -> Option<LagEstimate> {
        Some(LagEstimate {
            value,
            exact,
            method: LagMethod::EntriesAddedMinusEntriesRead,
        })
    }

    #[test]
    fn nil_lag_is_never_a_bare_zero_or_blank() {
        assert_eq!(lag_text(&group(ReportedLag::Known(0), None)), "0");
        assert_eq!(lag_text(&group(ReportedLag::Known(1204), None)), "1,204");
        assert_eq!(
            lag_text(&group(ReportedLag::Nil, estimate(1204, false))),
            "≈1,204"
        );
        assert_eq!(lag_text(&group(ReportedLag::Nil, estimate(0, false))), "≈0");
        // Counted exactly (nothing after last-delivered-id): a real 0, not a guess.
        assert_eq!(lag_text(&group(ReportedLag::Nil, estimate(0, true))), "0");
        assert_eq!(lag_text(&group(ReportedLag::Nil, None)), "n/a");
        assert_eq!(lag_text(&group(ReportedLag::NotReported, None)), "n/a");
        for g in [
            group(ReportedLag::Nil, estimate(7, false)),
            group(ReportedLag::Nil, None),
        ] {
            let (text, _) = lag_cell(&g);
            assert!(!text.is_empty() && text != "0", "{text:?}");
        }
    }

    #[test]
    fn sparklines_keep_the_newest_at_the_right() {
        assert_eq!(sparkline(&[0, 4, 8], 5), "  ·▄█");
        assert_eq!(sparkline(&[0, 0], 2), "··");
        // Growth near the top of the range still shows as a climb; jitter stays flat.
        assert_eq!(sparkline(&[49_000, 52_000, 55_000], 3), "▁▄█");
        assert_eq!(sparkline(&[340, 341, 340], 3), "▁▁▁");
        assert_eq!(sparkline(&[], 4), "");
        // More samples than cells: each cell shows its share's peak.
        let s = sparkline(&[1, 9, 1, 1, 1, 1], 3);
        assert_eq!(s.chars().count(), 3);
        assert!(s.starts_with('█'), "{s}");
    }

    #[test]
    fn columns_drop_by_priority_and_keep_their_order() {
        let narrow = fit(&STREAM_COLUMNS, 60, 16);
        let titles: Vec<&str> = narrow.iter().map(|c| c.title).collect();
        assert_eq!(titles, ["status", "max lag", "pending", "append/s"]);
        assert_eq!(fit(&STREAM_COLUMNS, 200, 16).len(), STREAM_COLUMNS.len());
    }

    #[test]
    fn rates_read_well() {
        assert_eq!(rate_cell(None).0, "—");
        assert_eq!(rate_cell(Some(0.0)).0, "0");
        assert_eq!(rate_cell(Some(0.5)).0, "0.50");
        assert_eq!(rate_cell(Some(42.04)).0, "42.0");
        assert_eq!(rate_cell(Some(1204.4)).0, "1,204");
    }
}
