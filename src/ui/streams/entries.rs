//! The entries browser: a page of a stream's entries newest first, and the selected
//! entry's fields in their real order (duplicate names kept), escaped, JSON values
//! pretty-printed. An entry can be opened over the whole pane and scrolled.

use chrono::{DateTime, FixedOffset};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::cells::{centered, select_marker};
use crate::keymap::{Command, Scope};
use crate::redis::streams::{StreamEntry, StreamId};
use crate::state::streams::entries::{
    entry_lines, name_column, EntriesBrowser, EntriesLayout, EntriesRequest,
};
use crate::state::streams::{find_stream, server_now_ms, visible_offset};
use crate::state::{thousands, AppState};
use crate::text::escape::escape_str;
use crate::ui::theme;

/// Bytes of each value looked at for the one-line preview in the list.
const PREVIEW_BYTES: usize = 256;
const ID_COLS: u16 = 22;
const TIME_COLS: u16 = 23;
const AGE_COLS: u16 = 7;

pub fn render(state: &AppState, browser: &EntriesBrowser, frame: &mut Frame, area: Rect) {
    let layout = browser.layout(area);
    let cursor = render_top(state, browser, frame.buffer_mut(), &layout);
    if let Some(position) = cursor {
        frame.set_cursor_position(position);
    }
    let buf = frame.buffer_mut();
    if browser.entries.is_empty() {
        let text = match (&browser.loading, &browser.error) {
            (_, Some(_)) => "The entries cannot be read (see above).",
            (Some(_), None) => "Reading entries…",
            (None, None) => "This stream has no entries.",
        };
        let rect = Rect::new(
            area.x,
            layout.list.y,
            area.width,
            area.bottom() - layout.list.y,
        );
        centered(buf, rect, text.to_string());
        return;
    }
    let server_now = state
        .streams
        .snapshot()
        .map_or(state.now.timestamp_millis(), |s| {
            server_now_ms(s, state.now)
        });
    render_list(state, browser, server_now, buf, layout.list);
    render_entry(state, browser, buf, &layout);
}

/// Title, jump prompt and the last error or note; returns where the cursor goes while
/// the jump prompt is open.
fn render_top(
    state: &AppState,
    browser: &EntriesBrowser,
    buf: &mut Buffer,
    layout: &EntriesLayout,
) -> Option<(u16, u16)> {
    let area = layout.top;
    if area.height == 0 {
        return None;
    }
    let sep = || Span::styled(" · ", theme::dim());
    let back = state
        .keymap
        .keys_for(Scope::StreamEntries, Command::DrillOut)
        .first()
        .map_or_else(|| "Esc".to_string(), ToString::to_string);
    let mut spans = vec![
        Span::styled(format!(" ‹ {back}  "), theme::dim()),
        Span::styled("entries of ", theme::dim()),
    ];
    spans.extend(theme::untrusted_spans(
        &browser.key,
        theme::channel(),
        |_| Vec::new(),
    ));
    spans.push(sep());
    spans.push(Span::raw(page_text(browser, state.config.utc_offset)));
    if let Some(stream) = state
        .streams
        .snapshot()
        .and_then(|s| find_stream(s, &browser.key))
    {
        spans.push(sep());
        spans.push(Span::raw(format!("length {}", thousands(stream.length))));
    }
    if browser.loading.is_some() {
        spans.push(sep());
        spans.push(Span::styled("reading…", theme::accent()));
    }
    crate::ui::fit::set_line_cut(buf, area.x, area.y, &Line::from(spans), area.width);
    let mut y = area.y + 1;
    let mut cursor = None;
    if let Some(prompt) = &browser.jump {
        if y < area.bottom() {
            let label = " jump to › ";
            buf.set_string(area.x, y, label, theme::accent().patch(theme::bold()));
            let x = area.x + label.chars().count() as u16;
            let value = escape_str(prompt.input.value()).into_owned();
            let room = area.right().saturating_sub(x);
            buf.set_stringn(x, y, &value, usize::from(room), Style::new());
            let typed = value.chars().count() as u16;
            let hint = match &prompt.error {
                Some(e) => Span::styled(format!("  ✖ {}", escape_str(e)), theme::error()),
                None if value.is_empty() => Span::styled(
                    "  an id 1700000000000-0 · a time 2026-11-22 10:00 or 10:00 · an age 5m",
                    theme::dim(),
                ),
                None => Span::raw(""),
            };
            if x + typed + 1 < area.right() {
                buf.set_span(x + typed, y, &hint, area.right() - x - typed);
            }
            let at = prompt.input.visual_cursor() as u16;
            cursor = Some((x.saturating_add(at).min(area.right().saturating_sub(1)), y));
            y += 1;
        }
    }
    if y < area.bottom() {
        if let Some(e) = &browser.error {
            let line = Line::styled(format!(" ✖ {}", escape_str(e)), theme::warn());
            crate::ui::fit::set_line_cut(buf, area.x, y, &line, area.width);
        } else if let Some(note) = &browser.note {
            let line = Line::styled(format!(" {}", escape_str(note)), theme::accent());
            crate::ui::fit::set_line_cut(buf, area.x, y, &line, area.width);
        }
    }
    cursor
}

/// "newest first · 100 shown (1763…-0 … 1763…-0)", saying where the page sits.
fn page_text(browser: &EntriesBrowser, offset: chrono::FixedOffset) -> String {
    let place = match browser.shown {
        None => "newest first".to_string(),
        Some(_) if browser.at_newest => "newest entries first".to_string(),
        Some(EntriesRequest::AtId(id)) => format!("at or before {id}, newest first"),
        Some(EntriesRequest::AtTime(ms)) => format!(
            "at or before {}, newest first",
            crate::state::streams::jump_time_text(ms, offset)
        ),
        Some(_) => "older entries, newest first".to_string(),
    };
    match (browser.entries.first(), browser.entries.last()) {
        (Some(first), Some(last)) => format!(
            "{place} · {} shown ({} … {})",
            browser.entries.len(),
            first.id,
            last.id
        ),
        _ => place,
    }
}

fn render_list(
    state: &AppState,
    browser: &EntriesBrowser,
    server_now: i64,
    buf: &mut Buffer,
    area: Rect,
) {
    if area.height == 0 {
        return;
    }
    let mut x = area.x + 2;
    for (title, width) in [("id", ID_COLS), ("time", TIME_COLS), ("age", AGE_COLS)] {
        let text = if title == "age" {
            format!("{title:>w$}", w = usize::from(width))
        } else {
            title.to_string()
        };
        buf.set_stringn(x, area.y, text, usize::from(width), theme::dim());
        x += width + 1;
    }
    let room = usize::from(area.right().saturating_sub(x));
    buf.set_stringn(
        x,
        area.y,
        crate::ui::fit::cut_end("fields", room),
        room,
        theme::dim(),
    );
    let body = Rect::new(
        area.x,
        area.y + 1,
        area.width,
        area.height.saturating_sub(1),
    );
    let page = usize::from(body.height);
    let offset = visible_offset(browser.offset, browser.index, page);
    for (i, entry) in browser.entries.iter().enumerate().skip(offset).take(page) {
        let y = body.y + (i - offset) as u16;
        select_marker(buf, body, y, i == browser.index);
        let mut x = body.x + 2;
        buf.set_stringn(
            x,
            y,
            entry.id.to_string(),
            usize::from(ID_COLS),
            Style::new(),
        );
        x += ID_COLS + 1;
        let time = id_time(entry.id, state.config.utc_offset);
        buf.set_stringn(x, y, time, usize::from(TIME_COLS), theme::dim());
        x += TIME_COLS + 1;
        let age = format!(
            "{:>w$}",
            crate::text::duration_ms(entry.id.age_ms(server_now)),
            w = usize::from(AGE_COLS)
        );
        buf.set_stringn(x, y, age, usize::from(AGE_COLS), theme::dim());
        x += AGE_COLS + 1;
        if x < body.right() {
            let line = preview(entry);
            crate::ui::fit::set_line_cut(buf, x, y, &line, body.right() - x);
        }
    }
}

/// `name=value  name=value …` from the first bytes of each field, escaped.
fn preview(entry: &StreamEntry) -> Line<'static> {
    if entry.fields.is_empty() {
        return Line::styled("(no fields)", theme::dim());
    }
    let mut spans = Vec::new();
    for (i, (name, value)) in entry.fields.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        spans.extend(theme::untrusted_spans(
            &name[..name.len().min(PREVIEW_BYTES)],
            theme::accent(),
            |_| Vec::new(),
        ));
        spans.push(Span::styled("=", theme::dim()));
        spans.extend(theme::untrusted_spans(
            &value[..value.len().min(PREVIEW_BYTES)],
            Style::new(),
            |_| Vec::new(),
        ));
        if spans.len() > 64 {
            break;
        }
    }
    Line::from(spans)
}

/// The selected entry: a title rule, then every field.
fn render_entry(
    state: &AppState,
    browser: &EntriesBrowser,
    buf: &mut Buffer,
    layout: &EntriesLayout,
) {
    let area = layout.detail;
    let Some(entry) = browser.selected() else {
        return;
    };
    if area.height == 0 {
        return;
    }
    let title = format!(
        "── {} · {} · {} fields ",
        entry.id,
        id_time(entry.id, state.config.utc_offset),
        entry.fields.len()
    );
    let rule = "─".repeat(usize::from(area.width).saturating_sub(title.chars().count()));
    buf.set_stringn(
        area.x,
        area.y,
        format!("{title}{rule}"),
        usize::from(area.width),
        theme::dim(),
    );
    let body = Rect::new(area.x, area.y + 1, area.width, area.height - 1);
    let skip = if browser.expanded { browser.scroll } else { 0 };
    let lines = entry_lines(entry, area.width);
    draw_fields(entry, skip, buf, body);
    let rows = usize::from(body.height);
    let shown = skip + rows;
    if shown < lines.len() && rows > 0 {
        let hint = if browser.expanded {
            String::new()
        } else {
            let open = state
                .keymap
                .keys_for(Scope::StreamEntries, Command::DrillIn)
                .first()
                .map_or_else(|| "Enter".to_string(), ToString::to_string);
            format!(": {open} opens the entry")
        };
        let more = format!(" {} more lines{hint} ", lines.len() - shown);
        let width = more.chars().count() as u16;
        let x = body.right().saturating_sub(width + 1);
        buf.set_string(x, body.bottom() - 1, more, theme::accent());
    }
}

/// The id's time part as a date and time in the shown offset; `—` for ids that are not
/// times (explicit ids beyond the calendar).
pub fn id_time(id: StreamId, offset: FixedOffset) -> String {
    i64::try_from(id.ms)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .map_or_else(
            || "—".to_string(),
            |t| {
                t.with_timezone(&offset)
                    .format("%Y-%m-%d %H:%M:%S%.3f")
                    .to_string()
            },
        )
}

/// An entry's fields from line `skip` on: names in their column, values (JSON
/// pretty-printed) after it — the entries browser and the Pending pane's open entry.
pub fn draw_fields(entry: &StreamEntry, skip: usize, buf: &mut Buffer, body: Rect) {
    let lines = entry_lines(entry, body.width);
    if lines.is_empty() {
        buf.set_string(body.x + 1, body.y, "(no fields)", theme::dim());
        return;
    }
    let name_cols = name_column(entry) as u16;
    let rows = usize::from(body.height);
    for (row, line) in lines.iter().skip(skip).take(rows).enumerate() {
        let y = body.y + row as u16;
        let value_x = body.x + 1 + name_cols + 2;
        if !line.value {
            buf.set_stringn(
                body.x + 1,
                y,
                &line.text,
                usize::from(body.width),
                theme::accent(),
            );
            continue;
        }
        if let Some(name) = &line.name {
            buf.set_stringn(body.x + 1, y, name, usize::from(name_cols), theme::accent());
        }
        if value_x < body.right() {
            buf.set_stringn(
                value_x,
                y,
                &line.text,
                usize::from(body.right() - value_x),
                Style::new(),
            );
        }
    }
}
