//! Table building blocks shared by the Streams pane's views: columns that drop by
//! priority on narrow terminals, sort-marked titles, escaped names, and the cell texts
//! (lag with `≈` estimates, rates, ages, statuses, outlooks, sparklines).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use crate::commands::stats::fmt_lag;
use crate::redis::streams::{GroupInfo, Outlook, Status};
use crate::state::streams::{Level, SortColumn, StreamsPane};
use crate::state::thousands;
use crate::text::duration_ms;
use crate::ui::{fit, theme};

/// Name bytes escaped per row: a 1 MB key must not cost a megabyte per frame.
pub const NAME_PREVIEW_BYTES: usize = 512;
const SPARK_LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

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

impl Column {
    /// Left-aligned (names and other text); [`col`]s are right-aligned.
    pub const fn left(self) -> Column {
        Column { left: true, ..self }
    }
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
fn name_width(columns: &[Column], width: u16) -> u16 {
    let fixed: u16 = columns.iter().map(|c| c.width + 1).sum();
    width.saturating_sub(fixed + 2).max(4)
}

/// One of the pane's tables laid out in `area`: the columns that fit, the name column's
/// width, its title row drawn, and the body below it.
pub struct Table {
    pub columns: Vec<Column>,
    pub name_cols: u16,
    pub body: Rect,
    /// The latest poll failed: figures are drawn dimmed.
    pub stale: bool,
}

impl Table {
    pub fn new(
        pane: &StreamsPane,
        all: &[Column],
        name_min: u16,
        name_title: &str,
        buf: &mut Buffer,
        area: Rect,
    ) -> Table {
        let columns = fit(all, area.width, name_min);
        let name_cols = name_width(&columns, area.width);
        render_titles(pane, &columns, name_title, name_cols, buf, area);
        Table {
            columns,
            name_cols,
            body: Rect::new(
                area.x,
                area.y + 1,
                area.width,
                area.height.saturating_sub(1),
            ),
            stale: pane.poll.last_error.is_some(),
        }
    }

    /// Row `y`: the selection marker, the escaped name, then the cells.
    pub fn row(
        &self,
        buf: &mut Buffer,
        y: u16,
        selected: bool,
        name: &[u8],
        highlight: impl FnOnce(&str) -> Vec<std::ops::Range<usize>>,
        cells: Vec<(String, Style)>,
    ) {
        let body = self.body;
        select_marker(buf, body, y, selected);
        render_name(name, highlight, buf, body.x + 2, y, self.name_cols);
        render_cells(
            &self.columns,
            cells,
            self.stale,
            buf,
            body.x + 2 + self.name_cols,
            y,
            body.right(),
        );
    }
}

/// Column titles; the sorted column is marked with its direction.
fn render_titles(
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
    // The sorted column keeps its arrow however narrow it is (fit::heading).
    let title = |column: Option<SortColumn>, text: &str, room: usize| -> (String, Style) {
        if column == Some(sort) {
            (
                fit::heading(text, fit::short_title(text), Some(arrow), room),
                theme::accent().patch(theme::bold()),
            )
        } else {
            (
                fit::heading(text, fit::short_title(text), None, room),
                theme::dim(),
            )
        }
    };
    let (text, style) = title(Some(SortColumn::Name), name_title, usize::from(name_cols));
    buf.set_stringn(area.x + 2, area.y, text, usize::from(name_cols), style);
    let mut x = area.x + 2 + name_cols;
    for c in columns {
        x += 1;
        if x >= area.right() {
            break;
        }
        let room = usize::from(c.width.min(area.right() - x));
        let (text, style) = title(c.sort, c.title, room);
        buf.set_stringn(x, area.y, fit::pad(&text, room, !c.left), room, style);
        x += c.width;
    }
}

/// Figures after the name column; dimmed when the latest poll failed, so numbers from an
/// older poll do not look current.
fn render_cells(
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
        let style = if stale { theme::dim() } else { style };
        buf.set_stringn(x, y, fit::pad(&text, room, !c.left), room, style);
        x += c.width;
    }
}

pub fn select_marker(buf: &mut Buffer, area: Rect, y: u16, selected: bool) {
    if selected {
        buf.set_style(Rect::new(area.x, y, area.width, 1), theme::selected());
    }
    buf.set_string(area.x, y, if selected { "›" } else { " " }, theme::accent());
}

/// An untrusted name, escaped (escapes styled apart), cut in the middle with `…` when
/// it does not fit ([`fit`]'s rule for names: similar keys stay apart).
fn render_name(
    name: &[u8],
    highlight: impl FnOnce(&str) -> Vec<std::ops::Range<usize>>,
    buf: &mut Buffer,
    x: u16,
    y: u16,
    cols: u16,
) {
    let line =
        crate::ui::channels::name_line(name, theme::channel(), highlight, NAME_PREVIEW_BYTES);
    let line = fit::cut_line(&line, usize::from(cols), fit::Cut::Middle, theme::dim());
    buf.set_line(x, y, &line, cols);
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

/// An age for a table cell: [`duration_ms`], but `<1s` rather than a millisecond count that
/// only says "just now" with false precision.
pub fn age(ms: u64) -> String {
    if ms < 1000 {
        "<1s".into()
    } else {
        duration_ms(ms)
    }
}

pub use crate::text::plural;

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
        Status::CaughtUp => theme::ok(),
        Status::CatchingUp | Status::PositionMoved => theme::warn(),
        Status::FallingBehind | Status::NoConsumers => theme::error(),
        Status::Stalled => theme::error().patch(theme::bold()),
        Status::Unknown => theme::dim(),
    }
}

/// "ETA 2min05s", "falling behind", "no progress", "caught up", or "—": follows the
/// status (one rule).
pub fn outlook_cell(group: &GroupInfo, _append_rate: Option<f64>) -> (String, Style) {
    match group.health.outlook {
        Outlook::CaughtUp => ("caught up".into(), theme::dim()),
        Outlook::CatchingUp { eta_ms } => (format!("ETA {}", duration_ms(eta_ms)), theme::ok()),
        Outlook::FallingBehind => ("falling behind".into(), theme::error()),
        Outlook::NoProgress => ("no progress".into(), theme::error()),
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

pub use crate::ui::centered;

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
    fn rates_read_well() {
        assert_eq!(rate_cell(None).0, "—");
        assert_eq!(rate_cell(Some(0.0)).0, "0");
        assert_eq!(rate_cell(Some(0.5)).0, "0.50");
        assert_eq!(rate_cell(Some(42.04)).0, "42.0");
        assert_eq!(rate_cell(Some(1204.4)).0, "1,204");
    }
}
