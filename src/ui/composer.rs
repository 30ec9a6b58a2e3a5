//! The publish composer overlay: channel, command, JSON check, payload, and the result
//! of the last publish. Its keys are in the footer (from the keymap).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::popup::{self, Place};
use super::{fit, theme};
use crate::keymap::{Command, Scope};
use crate::state::composer::{published_text, ComposerState, Field, Outcome};
use crate::state::AppState;
use crate::text::escape::escape_str;

/// Label column: "channel  ", "command  ", "payload  ".
const LABEL_COLS: u16 = 9;
const MAX_WIDTH: u16 = 96;
const MAX_HEIGHT: u16 = 14;

pub fn render(state: &AppState, composer: &ComposerState, frame: &mut Frame, area: Rect) {
    let width = area.width.saturating_sub(4).min(MAX_WIDTH);
    let height = area.height.min(MAX_HEIGHT);
    if width < LABEL_COLS + 4 || height < 7 {
        return;
    }
    let rect = popup::rect(area, width, height, Place::Middle);
    let buf = frame.buffer_mut();
    let title = match (
        composer.again,
        composer.payload_escaped || composer.channel_escaped,
    ) {
        (true, true) => "send again · binary: \\xNN is a byte, \\\\ a backslash",
        (true, false) => "send again",
        (false, _) => "publish",
    };
    let inner = popup::padded(popup::frame(buf, rect, title));
    let key = |command| {
        state
            .keymap
            .keys_label(Scope::Composer, command)
            .unwrap_or_else(|| "?".into())
    };
    let channel_cursor = draw_channel(composer, buf, inner);
    // Command and JSON check.
    let check = if composer.validate_json { "on" } else { "off" };
    let options = Line::from(vec![
        label("command", false),
        Span::styled(composer.command_name(), theme::bold()),
        Span::styled(format!(" ({})", key(Command::ToggleShard)), theme::dim()),
        Span::raw("   JSON check "),
        Span::styled(check, theme::bold()),
        Span::styled(format!(" ({})", key(Command::ToggleJson)), theme::dim()),
        Span::raw("   send as "),
        Span::styled(composer.send_as.label(), theme::bold()),
        Span::styled(format!(" ({})", key(Command::CycleEncoding)), theme::dim()),
    ]);
    let options = fit::cut_line(
        &options,
        usize::from(inner.width),
        fit::Cut::End,
        theme::dim(),
    );
    buf.set_line(inner.x, inner.y + 1, &options, inner.width);
    let payload_cursor = draw_payload(composer, buf, inner);
    let send_hint = format!(
        "{} to send · {} cancels",
        key(Command::Send),
        key(Command::Cancel)
    );
    draw_results(composer, send_hint, buf, inner);
    if let Some(position) = channel_cursor.or(payload_cursor) {
        frame.set_cursor_position(position);
    }
}

/// A field's label, bright when the field has the focus.
fn label(text: &str, focused: bool) -> Span<'static> {
    let style = if focused {
        theme::accent().patch(theme::bold())
    } else {
        theme::dim()
    };
    Span::styled(format!("{text:<w$}", w = usize::from(LABEL_COLS)), style)
}

/// The channel row (the first); the cursor's position when it has the focus.
fn draw_channel(composer: &ComposerState, buf: &mut Buffer, inner: Rect) -> Option<(u16, u16)> {
    let field_x = inner.x + LABEL_COLS;
    let field_cols = inner.width.saturating_sub(LABEL_COLS);
    let channel_focused = composer.field == Field::Channel;
    buf.set_span(
        inner.x,
        inner.y,
        &label("channel", channel_focused),
        LABEL_COLS,
    );
    let value = composer.channel.value();
    let scroll = composer
        .channel
        .visual_scroll(usize::from(field_cols.saturating_sub(1)));
    let (text, cursor) = scrolled(value, composer.channel.cursor(), scroll, field_cols);
    if value.is_empty() && !channel_focused {
        buf.set_stringn(
            field_x,
            inner.y,
            "(type a channel)",
            usize::from(field_cols),
            theme::dim(),
        );
    }
    buf.set_stringn(
        field_x,
        inner.y,
        text,
        usize::from(field_cols),
        theme::channel(),
    );
    channel_focused.then_some((field_x + cursor, inner.y))
}

/// The payload: from row 2 to the two status rows at the bottom, scrolled to keep the
/// cursor's line and column in view; the cursor's position when it has the focus.
fn draw_payload(composer: &ComposerState, buf: &mut Buffer, inner: Rect) -> Option<(u16, u16)> {
    let field_x = inner.x + LABEL_COLS;
    let field_cols = inner.width.saturating_sub(LABEL_COLS);
    let payload_focused = composer.field == Field::Payload;
    let top = inner.y + 2;
    let rows = inner.height.saturating_sub(4).max(1);
    buf.set_span(inner.x, top, &label("payload", payload_focused), LABEL_COLS);
    let (cursor_row, cursor_col) = composer.payload.cursor();
    let first = cursor_row.saturating_sub(usize::from(rows) - 1);
    let mut cursor_at = None;
    for (i, line) in composer
        .payload
        .lines()
        .iter()
        .enumerate()
        .skip(first)
        .take(usize::from(rows))
    {
        let y = top + (i - first) as u16;
        let room = usize::from(field_cols);
        let (text, col) = if i == cursor_row {
            let cut = line
                .char_indices()
                .nth(cursor_col)
                .map_or(line.len(), |(b, _)| b);
            let (before, after) = line.split_at(cut);
            // Keep the cursor on screen: show only the end of what precedes it.
            let before = escape_str(tail(before, room)).into_owned();
            let skip = before
                .chars()
                .count()
                .saturating_sub(room.saturating_sub(1));
            let shown: String = before.chars().skip(skip).collect();
            let col = Span::raw(shown.as_str()).width() as u16;
            (shown + &escape_str(head(after, room)), col)
        } else {
            (escape_str(head(line, room)).into_owned(), 0)
        };
        buf.set_stringn(field_x, y, text, usize::from(field_cols), Style::new());
        if i == cursor_row && payload_focused {
            cursor_at = Some((field_x + col, y));
        }
    }
    if composer.payload.lines() == [String::new()] && !payload_focused {
        buf.set_stringn(
            field_x,
            top,
            "(empty payload)",
            usize::from(field_cols),
            theme::dim(),
        );
    }
    cursor_at
}

/// The two bottom rows: the JSON check's result, then the outcome of the last send (or
/// `send_hint` before the first).
fn draw_results(composer: &ComposerState, send_hint: String, buf: &mut Buffer, inner: Rect) {
    let check_y = inner.bottom().saturating_sub(2);
    let check_line = match (&composer.json_error, composer.validate_json) {
        (Some(e), _) => Line::styled(format!("✖ not JSON: {}", escape_str(e)), theme::error()),
        (None, true) => Line::styled("✔ valid JSON", theme::ok()),
        (None, false) => Line::default(),
    };
    let check_empty = check_line.width() == 0;
    let check_line = fit::cut_line(
        &check_line,
        usize::from(inner.width),
        fit::Cut::End,
        theme::dim(),
    );
    buf.set_line(inner.x, check_y, &check_line, inner.width);
    let outcome = match &composer.outcome {
        None => Line::styled(send_hint, theme::dim()),
        Some(Outcome::Sending) => Line::styled("publishing…", theme::dim()),
        Some(Outcome::Delivered(done)) => {
            let style = if done.receivers == 0 {
                theme::warn().patch(theme::bold())
            } else {
                theme::ok()
            };
            Line::styled(published_text(done), style)
        }
        Some(Outcome::Failed(e)) => Line::styled(
            format!("✖ publish failed: {}", escape_str(e)),
            theme::error(),
        ),
        Some(Outcome::Blocked(why)) => {
            Line::styled(format!("✖ not sent: {}", escape_str(why)), theme::error())
        }
    };
    // A long error wraps into the JSON check's row when that is free; what still does
    // not fit ends in `…` inside the box, never past its border.
    let rows = if check_empty { 2 } else { 1 };
    let text: String = outcome.spans.iter().map(|s| s.content.as_ref()).collect();
    let style = outcome.spans.first().map_or(outcome.style, |s| s.style);
    let lines = fit::wrap(&text, usize::from(inner.width), rows);
    let top = inner
        .bottom()
        .saturating_sub(lines.len() as u16)
        .max(check_y);
    for (i, line) in lines.iter().enumerate() {
        let y = top + i as u16;
        if y < inner.bottom() {
            buf.set_stringn(inner.x, y, line, usize::from(inner.width), style);
        }
    }
}

/// The escaped channel text from char `scroll` on, and the cursor's column in it.
fn scrolled(value: &str, cursor: usize, scroll: usize, cols: u16) -> (String, u16) {
    let mut text = String::new();
    let mut col = 0u16;
    for (i, c) in value.chars().enumerate().skip(scroll) {
        let mut tmp = [0u8; 4];
        let shown = escape_str(c.encode_utf8(&mut tmp)).into_owned();
        if i < cursor {
            col = col.saturating_add(Span::raw(shown.as_str()).width() as u16);
        }
        text.push_str(&shown);
    }
    (text, col.min(cols.saturating_sub(1)))
}

/// At most the first `n` chars (a huge pasted line costs nothing per frame).
fn head(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(b, _)| &s[..b])
}

/// At most the last `n` chars.
fn tail(s: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    s.char_indices()
        .rev()
        .nth(n - 1)
        .map_or(s, |(b, _)| &s[b..])
}
