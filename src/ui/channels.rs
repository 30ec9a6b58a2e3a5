//! The Channels pane: a figures line (NUMPAT, counts, how old the stats are), the last
//! poll error if any, then the channels table, or the clients table when toggled.
//! Only the rows on screen are formatted, so 10,000 channels cost what 30 do.

use chrono::TimeDelta;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::{fit, theme};
use crate::keymap::{Command, Scope};
use crate::redis::poller::ChannelKind;
use crate::state::channels::activity::WINDOW_SECS;
use crate::state::channels::{visible_offset, ChannelRow, ChannelsState, SortColumn, ERROR_ROWS};
use crate::state::{thousands, AppState};
use crate::text::escape::escape_str;
use table::{age_text, count, rate_text};

mod clients;
mod nodes;
pub mod table;

/// Channel name bytes escaped per row: a 1 MB name must not cost a megabyte per frame.
const NAME_PREVIEW_BYTES: usize = 512;
/// Sparkline cells; each sums `WINDOW_SECS / SPARK_CELLS` seconds.
const SPARK_CELLS: usize = 20;
const SPARK_LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Stats older than this look suspicious even without an error (a slow server).
const STALE_AFTER: TimeDelta = TimeDelta::seconds(5);

/// Right-hand columns: (sort column, title, width). The name takes what is left.
const COLUMNS: [(Option<SortColumn>, &str, u16); 6] = [
    (Some(SortColumn::Kind), "kind", 7),
    (Some(SortColumn::Subscribers), "subscribers", 13),
    (Some(SortColumn::Seen), "seen", 9),
    (Some(SortColumn::Rate), "msg/s", 8),
    (None, "last 60 s", SPARK_CELLS as u16),
    (Some(SortColumn::LastMessage), "last msg", 9),
];
/// "on nodes": `:7000×2 :7003×1` — port and subscribers there, busiest first.
const NODES_WIDTH: u16 = 22;

fn nodes_cell(state: &AppState, row: &ChannelRow) -> String {
    let Some(snapshot) = state.channels.poll.last_ok.as_ref() else {
        return String::new();
    };
    let Some(parts) = row.listed_at.and_then(|i| snapshot.channel_nodes.get(i)) else {
        return "—".into();
    };
    let mut parts = parts.clone();
    parts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    parts
        .iter()
        .map(|&(node, n)| {
            let addr = snapshot
                .nodes
                .get(usize::from(node))
                .map_or("?", |n| n.addr.as_str());
            let port = addr.rsplit(':').next().unwrap_or(addr);
            format!(":{}×{n}", escape_str(port))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Below this width the sparkline is left out so the name keeps some room.
const SPARK_MIN_WIDTH: u16 = 90;

pub fn render(state: &AppState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let channels = &state.channels;
    let mut y = area.y;
    let figures = if channels.show_clients {
        clients::figures_line(state)
    } else if channels.show_nodes {
        nodes::figures_line(state)
    } else {
        figures_line(state)
    };
    let figures = fit::cut_line(
        &figures,
        usize::from(area.width),
        fit::Cut::End,
        theme::dim(),
    );
    buf.set_line(area.x, y, &figures, area.width);
    y += 1;
    if let Some((_, error)) = &channels.poll.last_error {
        let rows = ERROR_ROWS.min(area.bottom() - y);
        if rows > 0 {
            buf.set_string(area.x + 1, y, "✖", theme::warn());
            // Indented past the marker so a wrapped error reads as one block.
            Paragraph::new(Line::styled(escape_str(error).into_owned(), theme::warn()))
                .wrap(Wrap { trim: true })
                .render(
                    Rect::new(area.x + 3, y, area.width.saturating_sub(3), rows),
                    buf,
                );
        }
        y += rows;
    }
    let table = Rect::new(area.x, y, area.width, area.bottom().saturating_sub(y));
    if channels.show_clients {
        clients::render_table(state, buf, table);
    } else if channels.show_nodes {
        nodes::render_table(state, buf, table);
    } else {
        render_table(state, buf, table);
    }
}

/// "numpat 3 · 42 channels · 5 shard channels · stats 0.4 s old", or why not.
fn figures_line(state: &AppState) -> Line<'static> {
    let channels = &state.channels;
    let sep = || Span::styled(" · ", theme::dim());
    let mut spans = vec![Span::raw(" ")];
    match &channels.poll.last_ok {
        Some(snapshot) => {
            let shard = snapshot
                .channels
                .iter()
                .filter(|c| c.kind == ChannelKind::Shard)
                .count();
            let plain = snapshot.channels.len() - shard;
            // The age leads when the last poll failed: the figures after it are old.
            let age = state.now - snapshot.taken_at;
            let failed = channels.poll.last_error.is_some();
            let mut age_span = Some(if failed {
                Span::styled(
                    format!("stats {} old: last poll failed", age_text(age)),
                    theme::warn().patch(theme::bold()),
                )
            } else if age > STALE_AFTER {
                Span::styled(format!("stats {} old", age_text(age)), theme::warn())
            } else {
                Span::styled(format!("stats {} old", age_text(age)), theme::dim())
            });
            if failed {
                spans.extend(age_span.take());
                spans.push(sep());
            }
            spans.push(Span::raw(format!(
                "numpat {}",
                thousands_i(snapshot.numpat)
            )));
            spans.push(sep());
            spans.push(Span::raw(count(plain, "channel")));
            spans.push(sep());
            if snapshot.shard_supported {
                spans.push(Span::raw(count(shard, "shard channel")));
            } else {
                spans.push(Span::styled("no shard channels (Redis < 7)", theme::dim()));
            }
            if channels.pattern_only > 0 {
                spans.push(sep());
                spans.push(Span::raw(format!(
                    "{} only via patterns",
                    thousands(channels.pattern_only as u64)
                )));
            }
            if let Some(age_span) = age_span {
                spans.push(sep());
                spans.push(age_span);
            }
        }
        None if channels.poll.last_error.is_some() => {
            spans.push(Span::styled("no stats from the server", theme::warn()));
            if channels.total > 0 {
                spans.push(sep());
                spans.push(Span::raw(format!(
                    "{} seen by redtail",
                    count(channels.total, "channel")
                )));
            }
        }
        None => spans.push(Span::styled("polling…", theme::dim())),
    }
    if let Some(filter) = channels.filter() {
        spans.push(sep());
        spans.push(Span::styled("filter ", theme::accent()));
        spans.push(Span::raw(escape_str(filter.source()).into_owned()));
        spans.push(Span::styled(
            format!(
                " ({} of {})",
                thousands(channels.rows.len() as u64),
                thousands(channels.total as u64)
            ),
            theme::dim(),
        ));
    }
    Line::from(spans)
}

/// Priority of each column on narrow screens (0 = kept longest).
fn priority(title: &str) -> u8 {
    match title {
        "subscribers" | "msg/s" => 0,
        "last msg" => 1,
        "kind" => 2,
        "seen" => 3,
        "on nodes" => 4,
        _ => 5,
    }
}

fn render_table(state: &AppState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let channels = &state.channels;
    let mut columns: Vec<_> = COLUMNS
        .iter()
        .filter(|(_, title, _)| area.width >= SPARK_MIN_WIDTH || *title != "last 60 s")
        .copied()
        .collect();
    // In a cluster: which nodes the subscribers are connected to.
    let cluster = channels
        .poll
        .last_ok
        .as_ref()
        .is_some_and(|s| !s.nodes.is_empty());
    if cluster && area.width >= SPARK_MIN_WIDTH {
        columns.insert(2, (None, "on nodes", NODES_WIDTH));
    }
    let body = Rect::new(area.x, area.y + 1, area.width, area.height - 1);
    let page = usize::from(body.height);
    // The state keeps the selection visible; clamp again in case the size changed.
    let offset = visible_offset(channels.offset, channels.selected, page);
    let visible: Vec<&ChannelRow> = channels.rows.iter().skip(offset).take(page).collect();
    let cells: Vec<Vec<(String, Style)>> = visible
        .iter()
        .map(|row| columns.iter().map(|c| cell(state, row, c.1)).collect())
        .collect();
    // Names before numbers: a figure column needs its widest cell or its short heading.
    let arrow = if channels.descending { "▼" } else { "▲" };
    let needs: Vec<fit::ColumnNeed> = columns
        .iter()
        .enumerate()
        .map(|(k, &(sort, title, width))| {
            let arrow = (sort == Some(channels.sort)).then_some(arrow);
            let head = fit::width(fit::short_title(title)) + usize::from(arrow.is_some());
            let content = cells.iter().map(|r| fit::width(&r[k].0)).max().unwrap_or(0);
            let min = (head.max(content) as u16).min(width.max(head as u16));
            // A sorted column's full heading has room for " ▲" too.
            let titled = (fit::width(title) + 2 * usize::from(arrow.is_some())) as u16;
            fit::ColumnNeed {
                full: width.max(min).max(titled),
                min,
                priority: priority(title),
            }
        })
        .collect();
    let name_want = fit::widest_name(visible.iter().map(|r| &r.name[..]), NAME_PREVIEW_BYTES);
    let (name_cols, widths) = fit::layout(&needs, area.width, 8, name_want.max(4));
    let shown: Vec<(Option<SortColumn>, &str, u16, usize)> = columns
        .iter()
        .zip(&widths)
        .enumerate()
        .filter_map(|(k, (&(sort, title, _), w))| w.map(|w| (sort, title, w, k)))
        .collect();
    render_titles(channels, &shown, name_cols, buf, area);
    if channels.rows.is_empty() {
        render_empty(state, buf, body);
        return;
    }
    for (n, (row, row_cells)) in visible.iter().zip(cells).enumerate() {
        let i = offset + n;
        let y = body.y + n as u16;
        let selected = i == channels.selected;
        if selected {
            buf.set_style(Rect::new(area.x, y, area.width, 1), theme::selected());
        }
        buf.set_string(area.x, y, if selected { "›" } else { " " }, theme::accent());
        let x = area.x + 2;
        render_name(state, row, buf, x, y, name_cols);
        let mut x = x + name_cols;
        for &(sort, title, width, k) in &shown {
            x += 1;
            if x >= area.right() {
                break;
            }
            let (text, style) = &row_cells[k];
            let room = usize::from(width.min(area.right() - x));
            let text = fit::pad(text, room, !left_aligned(sort, title));
            buf.set_stringn(x, y, text, room, *style);
            x += width;
        }
    }
}

/// Figures are right-aligned, so are their titles; kind, nodes and sparklines are text.
fn left_aligned(sort: Option<SortColumn>, _title: &str) -> bool {
    sort == Some(SortColumn::Kind) || sort.is_none()
}

fn render_titles(
    channels: &ChannelsState,
    columns: &[(Option<SortColumn>, &str, u16, usize)],
    name_cols: u16,
    buf: &mut Buffer,
    area: Rect,
) {
    let arrow = if channels.descending { "▼" } else { "▲" };
    let title = |column: Option<SortColumn>, text: &str, room: usize| -> (String, Style) {
        if column == Some(channels.sort) {
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
    let (text, style) = title(Some(SortColumn::Name), "name", usize::from(name_cols));
    buf.set_stringn(area.x + 2, area.y, text, usize::from(name_cols), style);
    let mut x = area.x + 2 + name_cols;
    for &(column, text, width, _) in columns {
        x += 1;
        if x >= area.right() {
            break;
        }
        let room = usize::from(width.min(area.right() - x));
        let (text, style) = title(column, text, room);
        let text = fit::pad(&text, room, !left_aligned(column, ""));
        buf.set_stringn(x, area.y, text, room, style);
        x += width;
    }
}

/// An untrusted name, escaped, cut in the middle ([`fit`]'s rule for names).
fn render_name(state: &AppState, row: &ChannelRow, buf: &mut Buffer, x: u16, y: u16, cols: u16) {
    let filter = state.channels.filter();
    let marks = |text: &str| filter.map(|f| f.highlight_ranges(text)).unwrap_or_default();
    let line = name_line(&row.name, theme::channel(), marks, NAME_PREVIEW_BYTES);
    let line = fit::cut_line(&line, usize::from(cols), fit::Cut::Middle, theme::dim());
    buf.set_line(x, y, &line, cols);
}

/// The first `cap` bytes of an untrusted name as styled spans; a longer name ends in a
/// dimmed `…` so the cut shows even when the preview would fit.
pub fn name_line(
    name: &[u8],
    style: Style,
    marks: impl FnOnce(&str) -> Vec<std::ops::Range<usize>>,
    cap: usize,
) -> Line<'static> {
    let end = crate::text::escape::cut_at(name, cap);
    let mut spans = theme::untrusted_spans(&name[..end], style, marks);
    if end < name.len() {
        spans.push(Span::styled(fit::ELLIPSIS, theme::dim()));
    }
    Line::from(spans)
}

fn cell(state: &AppState, row: &ChannelRow, title: &str) -> (String, Style) {
    match title {
        "kind" => match row.kind {
            ChannelKind::Channel => ("channel".into(), theme::dim()),
            ChannelKind::Shard => ("shard".into(), theme::accent()),
        },
        "subscribers" => match row.subscribers {
            Some(n) => (thousands_i(n), Style::new()),
            // Received through a pattern; the server lists no exact subscriber.
            None => ("—".to_string(), theme::dim()),
        },
        "seen" => (thousands(row.seen), Style::new()),
        "on nodes" => (nodes_cell(state, row), theme::dim()),
        "msg/s" => (rate_text(row.rate()), Style::new()),
        "last 60 s" => {
            let spark = state
                .channels
                .activity
                .get(row.kind, &row.name)
                .map(|a| sparkline(&a.buckets(state.now)))
                .unwrap_or_default();
            (spark, theme::accent())
        }
        "last msg" => match row.last_at {
            Some(at) => (age_text(state.now - at), theme::dim()),
            None => ("—".to_string(), theme::dim()),
        },
        _ => (String::new(), Style::new()),
    }
}

fn render_empty(state: &AppState, buf: &mut Buffer, area: Rect) {
    let channels = &state.channels;
    let key = |command| state.keymap.first_key(Scope::Channels, command);
    let text = if channels.filter().is_some() {
        format!(
            "No channel matches the filter ({} channels). Edit it with {}, clear it with {}.",
            thousands(channels.total as u64),
            key(Command::Filter),
            key(Command::ClearFilter)
        )
    } else if channels.poll.last_error.is_some() {
        "The server's channel list is unavailable (see above). Channels redtail receives \
         messages on still appear here."
            .to_string()
    } else if channels.poll.last_ok.is_none() {
        "Asking the server for its channels…".to_string()
    } else {
        "No channel has a subscriber, and redtail has received no message yet.".to_string()
    };
    super::centered(buf, area, text);
}

/// Per-second counts (oldest first) as block characters, each cell summing an equal
/// share of the seconds and scaled to the busiest cell; a blank cell had nothing.
pub fn sparkline(buckets: &[u32; WINDOW_SECS]) -> String {
    let per_cell = WINDOW_SECS / SPARK_CELLS;
    let cells: Vec<u64> = buckets
        .chunks(per_cell)
        .map(|c| c.iter().map(|&n| u64::from(n)).sum())
        .collect();
    let max = cells.iter().copied().max().unwrap_or(0);
    cells
        .iter()
        .map(|&n| {
            if n == 0 || max == 0 {
                ' '
            } else {
                // 1..=8: any traffic shows at least the lowest block.
                let level = (n * 8).div_ceil(max).clamp(1, 8);
                SPARK_LEVELS[(level - 1) as usize]
            }
        })
        .collect()
}

fn thousands_i(n: i64) -> String {
    if n < 0 {
        format!("-{}", thousands(n.unsigned_abs()))
    } else {
        thousands(n.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_busiest_cell() {
        let mut buckets = [0u32; WINDOW_SECS];
        buckets[0] = 8; // first cell
        buckets[WINDOW_SECS - 1] = 1; // last cell
        buckets[30] = 4;
        let spark = sparkline(&buckets);
        assert_eq!(spark.chars().count(), SPARK_CELLS);
        assert!(spark.starts_with('█'), "{spark}");
        assert!(spark.ends_with('▁'), "{spark}");
        assert_eq!(spark.chars().nth(10), Some('▄'));
        assert_eq!(sparkline(&[0; WINDOW_SECS]).trim(), "");
    }

    #[test]
    fn rates_and_ages() {
        assert_eq!(rate_text(0.0), "0");
        assert_eq!(rate_text(1.0 / 60.0), "0.02");
        assert_eq!(rate_text(10.0), "10.0");
        assert_eq!(rate_text(1_200.0), "1,200");
    }
}
