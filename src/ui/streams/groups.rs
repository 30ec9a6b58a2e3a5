//! The Streams pane's groups view (one stream's facts, its groups with status, lag,
//! time lag, rates, outlook and sparklines, the selected group's reason) and consumers
//! view (pending, idle, inactive, flagged consumers).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::cells::{
    age, centered, col, lag_cell, outlook_cell, plural, rate_cell, sparkline, status_style, Column,
    Table,
};
use super::{polled_span, render_poll_error};
use crate::keymap::{Command, Scope};
use crate::redis::streams::{
    ConsumerInfo, GroupInfo, LagMethod, ReportedLag, StreamId, StreamInfo,
};
use crate::state::streams::{server_now_ms, visible_offset, SortColumn, STREAM_FACT_ROWS};
use crate::state::{thousands, AppState};
use crate::text::escape::{escape_line, escape_str};
use crate::ui::theme;

/// Sparkline cells: the health window (60 s) at one sample per poll fits in 16 when
/// polls are ~4 s apart; faster polls are folded, each cell showing its peak.
const SPARK_CELLS: u16 = 16;

const GROUP_COLUMNS: [Column; 9] = [
    col("status", 14, 0, Some(SortColumn::Status)).left(),
    col("lag", 9, 0, Some(SortColumn::Lag)),
    col("time lag", 9, 1, None),
    col("pending", 9, 1, Some(SortColumn::Pending)),
    col("consumers", 9, 3, None),
    col("read/s", 8, 2, Some(SortColumn::Rate)),
    col("outlook", 15, 2, None).left(),
    col("lag 60 s", SPARK_CELLS, 3, None).left(),
    col("pending 60 s", SPARK_CELLS, 4, None).left(),
];

const CONSUMER_COLUMNS: [Column; 4] = [
    col("pending", 9, 0, Some(SortColumn::Pending)),
    col("idle", 9, 0, Some(SortColumn::Idle)),
    col("inactive", 9, 1, None),
    col("", 18, 2, None).left(),
];

/// "‹ Esc" before a view's title: how to get back up.
fn back_hint(state: &AppState) -> Span<'static> {
    let key = state
        .keymap
        .keys_for(Scope::Streams, Command::DrillOut)
        .first()
        .map_or_else(|| "Esc".to_string(), ToString::to_string);
    Span::styled(format!(" ‹ {key}  "), theme::dim())
}

/// Narrowest a name is cut to in a title (the figures after it are cut first below that).
const TITLE_NAME_MIN: usize = 12;

/// A view's title: `head`, the untrusted `names` joined by ` › `, then `tail`. Where it
/// is wider than `width`, the names are cut in the middle (the ends of similar keys tell
/// them apart: `st:LLL…LLL:end1`) so the figures after them stay in view; names
/// narrower than an even share of the room keep their width. The line is cut at its
/// end only if even that does not fit.
fn named_title(
    head: Vec<Span<'static>>,
    names: &[&[u8]],
    tail: Vec<Span<'static>>,
    width: u16,
) -> Line<'static> {
    use crate::ui::fit::{cut_line, Cut};
    let lines: Vec<Line<'static>> = (names.iter())
        .map(|n| Line::from(theme::untrusted_spans(n, theme::channel(), |_| Vec::new())))
        .collect();
    let joints = 3 * names.len().saturating_sub(1);
    let fixed = head.iter().chain(&tail).map(Span::width).sum::<usize>() + joints;
    let mut left = usize::from(width).saturating_sub(fixed);
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by_key(|&i| lines[i].width());
    let mut room = vec![0; lines.len()];
    for (k, &i) in order.iter().enumerate() {
        let share = left / (lines.len() - k);
        let own = lines[i].width();
        room[i] = own.min(share.max(TITLE_NAME_MIN));
        left = left.saturating_sub(room[i]);
    }
    let mut spans = head;
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", theme::dim()));
        }
        spans.extend(cut_line(line, room[i], Cut::Middle, theme::dim()).spans);
    }
    spans.extend(tail);
    Line::from(spans)
}

fn id_text(id: Option<StreamId>, server_now: i64) -> String {
    match id {
        Some(id) => format!("{id} ({} ago)", age(id.age_ms(server_now))),
        None => "—".into(),
    }
}

pub fn render_groups(state: &AppState, buf: &mut Buffer, area: Rect) {
    let pane = &state.streams;
    let layout = pane.layout(area);
    let sep = || Span::styled(" · ", theme::dim());
    let (Some(snapshot), Some(stream)) = (pane.snapshot(), pane.selected_stream()) else {
        let key = pane
            .streams_sel
            .name
            .as_deref()
            .map_or_else(String::new, |k| escape_line(k).into_owned());
        let mut spans = vec![back_hint(state)];
        spans.push(Span::styled(
            format!("stream {key} is not in the last poll: deleted, or no longer a stream"),
            theme::warn(),
        ));
        crate::ui::fit::set_line_cut(buf, area.x, area.y, &Line::from(spans), area.width);
        return;
    };
    let server_now = server_now_ms(snapshot, state.now);
    let head = vec![back_hint(state), Span::styled("stream ", theme::dim())];
    let (rate, _) = rate_cell(stream.append_rate);
    let tail = vec![
        sep(),
        Span::raw(format!("length {}", thousands(stream.length))),
        sep(),
        Span::raw(plural(stream.groups_count, "group", "groups")),
        sep(),
        Span::raw(format!("appending {rate}/s")),
        sep(),
        polled_span(state, snapshot),
    ];
    let title = named_title(head, &[&stream.key], tail, area.width);
    crate::ui::fit::set_line_cut(buf, area.x, area.y, &title, area.width);
    let facts = stream_facts(stream, server_now);
    for (i, line) in facts.iter().enumerate() {
        let y = area.y + 1 + i as u16;
        if y < layout.top.bottom() {
            crate::ui::fit::set_line_cut(buf, area.x, y, line, area.width);
        }
    }
    let mut y = area.y + STREAM_FACT_ROWS;
    y = render_poll_error(
        state,
        buf,
        Rect::new(area.x, y, area.width, layout.top.bottom().saturating_sub(y)),
    );
    if let Some(e) = &stream.groups_error {
        if y < layout.top.bottom() {
            let line = Line::styled(format!(" ✖ {}", escape_str(e)), theme::warn());
            crate::ui::fit::set_line_cut(buf, area.x, y, &line, area.width);
        }
    }
    let table = layout.table;
    let t = Table::new(pane, &GROUP_COLUMNS, 12, "group", buf, table);
    let body = t.body;
    if pane.group_rows.is_empty() {
        let text = if stream.groups_error.is_some() {
            "The groups cannot be read (see above)."
        } else {
            "No consumer groups: nobody reads this stream with XREADGROUP. \
             (XGROUP CREATE adds one.)"
        };
        centered(buf, body, text.to_string());
        return;
    }
    let page = usize::from(body.height);
    let selected = pane.groups_sel.index;
    let offset = visible_offset(pane.groups_sel.offset, selected, page);
    for (i, &row) in pane.group_rows.iter().enumerate().skip(offset).take(page) {
        let Some(group) = stream.groups.get(row) else {
            continue;
        };
        let y = body.y + (i - offset) as u16;
        let cells = t
            .columns
            .iter()
            .map(|c| group_cell(group, stream.append_rate, c))
            .collect();
        t.row(buf, y, i == selected, &group.name, |_| Vec::new(), cells);
    }
    if let Some((_, group)) = pane.selected_group() {
        render_group_detail(group, server_now, buf, layout.bottom);
    }
}

/// Two lines: the first and last entries with their ages and the last generated id;
/// then the 7.0+ counters (or that the server lacks them).
fn stream_facts(stream: &StreamInfo, server_now: i64) -> [Line<'static>; 2] {
    let dim = |t: &str| Span::styled(t.to_string(), theme::dim());
    let ids = Line::from(vec![
        dim(" first "),
        Span::raw(id_text(stream.first_entry_id, server_now)),
        dim(" · last "),
        Span::raw(id_text(stream.last_entry_id, server_now)),
        dim(" · last-generated "),
        Span::raw(stream.last_generated_id.to_string()),
    ]);
    let mut counters = Vec::new();
    // Redis 7.0+ only; older servers simply lack these.
    if let Some(added) = stream.entries_added {
        counters.push(dim(" entries-added "));
        counters.push(Span::raw(thousands(added)));
    }
    if let Some(id) = stream.max_deleted_entry_id {
        counters.push(dim(" · max-deleted-entry-id "));
        counters.push(Span::raw(id.to_string()));
    }
    if let Some(id) = stream.recorded_first_entry_id {
        counters.push(dim(" · recorded-first-entry-id "));
        counters.push(Span::raw(id.to_string()));
    }
    if counters.is_empty() {
        counters.push(dim(
            " entries-added and max-deleted-entry-id: not reported (Redis 7.0+ has them)",
        ));
    }
    [ids, Line::from(counters)]
}

fn group_cell(group: &GroupInfo, append_rate: Option<f64>, column: &Column) -> (String, Style) {
    match column.title {
        "status" => (
            group.health.status.as_str().into(),
            status_style(group.health.status),
        ),
        "lag" => lag_cell(group),
        "time lag" => match group.time_lag_ms {
            Some(0) => ("0".into(), theme::dim()),
            Some(ms) => (age(ms), Style::new()),
            None => ("n/a".into(), theme::dim()),
        },
        "pending" => (thousands(group.pending), Style::new()),
        "consumers" => (group.consumers.to_string(), Style::new()),
        "read/s" => rate_cell(group.health.consume_rate),
        "outlook" => outlook_cell(group, append_rate),
        "lag 60 s" => (
            sparkline(&group.health.lag_series, usize::from(column.width)),
            theme::warn(),
        ),
        "pending 60 s" => (
            sparkline(&group.health.pending_series, usize::from(column.width)),
            theme::accent(),
        ),
        _ => (String::new(), Style::new()),
    }
}

/// The selected group: why it has its status, and where it stands.
fn render_group_detail(group: &GroupInfo, server_now: i64, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let status = group.health.status;
    let mut reason = vec![Span::raw(" ")];
    reason.extend(theme::untrusted_spans(
        &group.name,
        theme::channel(),
        |_| Vec::new(),
    ));
    reason.push(Span::raw(": "));
    reason.push(Span::styled(status.as_str(), status_style(status)));
    reason.push(Span::raw(format!(
        " — {}",
        escape_str(&group.health.reason)
    )));
    crate::ui::fit::set_line_cut(buf, area.x, area.y, &Line::from(reason), area.width);
    if area.height < 2 {
        return;
    }
    let dim = |t: &str| Span::styled(t.to_string(), theme::dim());
    let mut facts = vec![
        dim(" last-delivered "),
        Span::raw(group.last_delivered_id.to_string()),
        dim(" · entries-read "),
        Span::raw(group.entries_read.map_or_else(|| "nil".into(), thousands)),
    ];
    if let Some(id) = group.oldest_undelivered_id {
        facts.push(dim(" · oldest undelivered "));
        facts.push(Span::raw(id_text(Some(id), server_now)));
    }
    if let Some(why) = &group.consumers_error {
        facts.push(dim(" · "));
        facts.push(Span::styled(
            format!("consumers: {}", escape_str(why)),
            theme::warn(),
        ));
    }
    crate::ui::fit::set_line_cut(buf, area.x, area.y + 1, &Line::from(facts), area.width);
    if area.height > 2 {
        let source = Line::styled(format!(" lag: {}", lag_source(group)), theme::dim());
        crate::ui::fit::set_line_cut(buf, area.x, area.y + 2, &source, area.width);
    }
}

/// Where the lag figure comes from, so `≈` and `n/a` are never unexplained.
fn lag_source(group: &GroupInfo) -> String {
    let said = match group.reported_lag {
        ReportedLag::Known(_) => return "as the server reports it".into(),
        ReportedLag::Nil => "nil from the server (entries deleted or trimmed, or SETID)",
        ReportedLag::NotReported => "not reported by the server (before Redis 7.0)",
    };
    let ours = match group.lag_estimate {
        None => "it could not be estimated".to_string(),
        Some(e) => match e.method {
            LagMethod::EmptyStream => "the stream is empty: 0".into(),
            LagMethod::NothingAfter => "no entry after last-delivered-id: 0".into(),
            LagMethod::StreamLength => "every entry is after last-delivered-id".into(),
            LagMethod::XrangeCount => "counted with XRANGE".into(),
            LagMethod::EntriesAddedMinusEntriesRead => {
                "≈ entries-added − entries-read (high after deletions)".into()
            }
            LagMethod::IdInterpolation => "≈ from the ids' time span after last-delivered".into(),
        },
    };
    format!("{said}; {ours}")
}

pub fn render_consumers(state: &AppState, buf: &mut Buffer, area: Rect) {
    let pane = &state.streams;
    let layout = pane.layout(area);
    let Some((stream, group)) = pane.selected_group() else {
        let mut spans = vec![back_hint(state)];
        spans.push(Span::styled(
            "this group is not in the last poll: destroyed, or its stream is gone",
            theme::warn(),
        ));
        crate::ui::fit::set_line_cut(buf, area.x, area.y, &Line::from(spans), area.width);
        return;
    };
    let sep = || Span::styled(" · ", theme::dim());
    let tail = vec![
        sep(),
        Span::raw(plural(group.consumers, "consumer", "consumers")),
        sep(),
        Span::raw(format!("{} pending", thousands(group.pending))),
        sep(),
        Span::styled(
            group.health.status.as_str(),
            status_style(group.health.status),
        ),
    ];
    let names: [&[u8]; 2] = [&stream.key, &group.name];
    let title = named_title(vec![back_hint(state)], &names, tail, area.width);
    crate::ui::fit::set_line_cut(buf, area.x, area.y, &title, area.width);
    let y = render_poll_error(
        state,
        buf,
        Rect::new(
            area.x,
            area.y + 1,
            area.width,
            layout.top.bottom().saturating_sub(area.y + 1),
        ),
    );
    if let Some(e) = &group.consumers_error {
        if y < layout.top.bottom() {
            let line = Line::styled(format!(" ✖ {}", escape_str(e)), theme::warn());
            crate::ui::fit::set_line_cut(buf, area.x, y, &line, area.width);
        }
    }
    let table = layout.table;
    let t = Table::new(pane, &CONSUMER_COLUMNS, 12, "consumer", buf, table);
    let body = t.body;
    if pane.consumer_rows.is_empty() {
        centered(
            buf,
            body,
            "No consumers: a consumer appears when it first reads with XREADGROUP.".into(),
        );
    } else {
        let page = usize::from(body.height);
        let selected = pane.consumers_sel.index;
        let offset = visible_offset(pane.consumers_sel.offset, selected, page);
        for (i, &row) in pane
            .consumer_rows
            .iter()
            .enumerate()
            .skip(offset)
            .take(page)
        {
            let Some(consumer) = group.consumer_list.get(row) else {
                continue;
            };
            let y = body.y + (i - offset) as u16;
            let cells = t
                .columns
                .iter()
                .map(|c| consumer_cell(consumer, c))
                .collect();
            t.row(buf, y, i == selected, &consumer.name, |_| Vec::new(), cells);
        }
    }
    if layout.bottom.height > 0 {
        let note = consumer_note(state, group);
        crate::ui::fit::set_line_cut(buf, area.x, layout.bottom.y, &note, area.width);
    }
}

fn consumer_cell(consumer: &ConsumerInfo, column: &Column) -> (String, Style) {
    match column.title {
        "pending" => (thousands(consumer.pending), Style::new()),
        "idle" => (age(consumer.idle_ms), Style::new()),
        "inactive" => match consumer.inactive_ms {
            Some(-1) => ("never".into(), theme::warn()),
            Some(ms) => (age(ms.unsigned_abs()), Style::new()),
            // The server predates the field (Redis < 7.2).
            None => ("—".into(), theme::dim()),
        },
        "" if consumer.flagged => ("⚑ idle ≫ its peers".into(), theme::error()),
        _ => (String::new(), Style::new()),
    }
}

/// The line under the consumers: why the selected consumer is flagged, else what the
/// missing `inactive` column means, else how to act on the pending entries.
fn consumer_note(state: &AppState, group: &GroupInfo) -> Line<'static> {
    if let Some(c) = state.streams.selected_consumer().filter(|c| c.flagged) {
        return Line::styled(
            format!(
                " ⚑ {}: {} pending, no read for {} — far longer than its peers (stuck or gone?)",
                escape_line(&c.name),
                thousands(c.pending),
                crate::text::duration_ms(c.activity_age_ms())
            ),
            theme::error(),
        );
    }
    if !group.consumer_list.is_empty()
        && group.consumer_list.iter().all(|c| c.inactive_ms.is_none())
    {
        return Line::styled(
            " inactive: not reported by this server (Redis 7.2+ / Valkey 8 have it); idle \
             also counts reads that got nothing",
            theme::dim(),
        );
    }
    let key = state
        .keymap
        .keys_for(Scope::Streams, Command::GroupPending)
        .first()
        .map_or_else(|| "p".to_string(), ToString::to_string);
    Line::styled(
        format!(" {key}: this group's pending entries (ack, claim, dead-letter)"),
        theme::dim(),
    )
}
