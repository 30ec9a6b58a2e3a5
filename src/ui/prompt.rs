//! The prompt line (filter, subscribe) and the unsubscribe picker.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;
use tui_input::Input;

use super::popup::{self, Place};
use super::{fit, theme};
use crate::keymap::{Command, Keymap, Scope};
use crate::state::prompt::{FilterEdit, Picker};
use crate::state::{AppState, Overlay};
use crate::text::escape::{escape_line, escape_str};

pub fn render_input(state: &AppState, frame: &mut Frame, area: Rect) {
    let (label, input, error) = match &state.overlay {
        Some(Overlay::Filter(edit)) => (" filter › ".to_string(), &edit.input, edit.error.clone()),
        Some(Overlay::Subscribe(prompt)) => (
            format!(" subscribe [{}] › ", prompt.kind.label()),
            &prompt.input,
            None,
        ),
        _ => return,
    };
    let buf = frame.buffer_mut();
    buf.set_style(area, theme::bar());
    let label_width = label.chars().count() as u16;
    buf.set_string(area.x, area.y, &label, theme::accent().patch(theme::bold()));
    let x = area.x + label_width;
    if x >= area.right() {
        return;
    }
    let room = usize::from(area.right() - x);
    let shown = input_line(input, error.as_ref().map(|e| e.1), room);
    buf.set_line(x, area.y, &shown.line, area.right() - x);
    match &state.overlay {
        Some(Overlay::Filter(edit)) if area.height > 1 => {
            let below = Rect::new(area.x, area.y + 1, area.width, 1);
            let keymap = &state.keymap;
            render_filter_note(edit, keymap, shown.error_col.map(|c| x + c), buf, below);
        }
        Some(Overlay::Subscribe(_)) if input.value().is_empty() => {
            let used = shown.line.width() as u16;
            let cycle = state.keymap.first_key(Scope::Input, Command::CycleKind);
            let hint = Line::styled(
                format!("  {cycle}: channel / pattern / shard channel"),
                theme::dim(),
            );
            if x + used + 1 < area.right() {
                buf.set_line(x + used, area.y, &hint, area.right() - x - used);
            }
        }
        _ => {}
    }
    frame.set_cursor_position((x + shown.cursor, area.y));
}

/// The filter prompt's second line: a caret under the problem and what it is, or a hint.
fn render_filter_note(
    edit: &FilterEdit,
    keymap: &Keymap,
    caret_x: Option<u16>,
    buf: &mut Buffer,
    area: Rect,
) {
    let accept = keymap.first_key(Scope::Input, Command::Accept);
    let cancel = keymap.first_key(Scope::Input, Command::Cancel);
    let Some((message, position)) = &edit.error else {
        let hint = if edit.input.value().is_empty() {
            format!(
                "   e.g. error ch:ai:* .latency_ms > 250 · {accept} on nothing clears the filter"
            )
        } else {
            let restore = match &edit.original {
                Some(source) => format!("{cancel} goes back to {}", escape_str(source)),
                None => format!("{cancel} goes back to no filter"),
            };
            format!("   previewing as you type · {accept} keeps it · {restore}")
        };
        let hint = fit::cut_end(&hint, usize::from(area.width));
        buf.set_line(
            area.x,
            area.y,
            &Line::styled(hint, theme::dim()),
            area.width,
        );
        return;
    };
    let mut text = format!("column {}: {}", position + 1, escape_str(message));
    if edit.refused {
        text.push_str(&format!(" — not applied: fix it, or {cancel} to cancel"));
    }
    let caret_x = caret_x
        .unwrap_or(area.x)
        .min(area.right().saturating_sub(1));
    let room_right = usize::from(area.right() - caret_x);
    let room_left = usize::from(caret_x - area.x);
    let caret = |t: &'static str| Span::styled(t, theme::error().patch(theme::bold()));
    let line = if fit::width(&text) + 2 <= room_right || room_right >= room_left {
        // After the caret (cut with … when even the wider side is too narrow).
        let text = fit::cut_end(&text, room_right.saturating_sub(2));
        Line::from(vec![caret("^ "), Span::styled(text, theme::error())])
    } else {
        // More room left of the caret: the message ends just before it.
        let text = fit::cut_end(&text, room_left.saturating_sub(1));
        let start = caret_x - (fit::width(&text) + 1) as u16;
        buf.set_line(
            start,
            area.y,
            &Line::styled(format!("{text} "), theme::error()),
            caret_x - start,
        );
        Line::from(caret("^"))
    };
    buf.set_line(caret_x, area.y, &line, area.right() - caret_x);
}

/// The input as drawn: its visible slice, the cursor column and the error's column.
struct ShownInput {
    line: Line<'static>,
    cursor: u16,
    /// Column (from the input's left edge) of the char at the error position.
    error_col: Option<u16>,
}

/// The visible slice of the input, the char at `error_at` marked, and the cursor column.
fn input_line(input: &Input, error_at: Option<usize>, room: usize) -> ShownInput {
    let value = input.value();
    let scroll = input.visual_scroll(room.saturating_sub(1));
    let mut spans = Vec::new();
    let mut col = 0usize;
    let mut cursor = 0usize;
    let mut error_col = None;
    for (i, c) in value.chars().enumerate() {
        let mut tmp = [0u8; 4];
        let shown = escape_line(c.encode_utf8(&mut tmp).as_bytes()).into_owned();
        let width = Span::raw(shown.as_str()).width();
        if i == input.cursor() {
            cursor = col;
        }
        if i >= scroll {
            let style = if error_at == Some(i) {
                error_col = Some(col as u16);
                error_mark()
            } else {
                Style::new()
            };
            spans.push(Span::styled(shown, style));
            col += width;
        }
    }
    if input.cursor() >= value.chars().count() {
        cursor = col;
    }
    // An error at the very end ("expected a value") gets a visible marker.
    if error_at.is_some_and(|p| p >= value.chars().count()) {
        error_col = Some(col as u16);
        spans.push(Span::styled(" ", error_mark()));
    }
    ShownInput {
        line: Line::from(spans),
        cursor: cursor as u16,
        error_col,
    }
}

fn error_mark() -> Style {
    Style::new()
        .fg(ratatui::style::Color::White)
        .bg(ratatui::style::Color::Red)
}

pub fn render_picker(picker: &Picker, frame: &mut Frame, area: Rect) {
    let rows = picker.items.len() as u16;
    let width = area.width.saturating_sub(4).min(60);
    let height = (rows + 2).min(area.height);
    let rect = popup::rect(area, width, height, Place::Below(1));
    let buf = frame.buffer_mut();
    let inner = popup::frame(buf, rect, "unsubscribe");
    let visible = usize::from(inner.height).max(1);
    let start = picker.selected.saturating_sub(visible - 1);
    for (i, (kind, name)) in picker.items.iter().enumerate().skip(start).take(visible) {
        let y = inner.y + (i - start) as u16;
        let selected = i == picker.selected;
        let style = if selected {
            theme::selected()
        } else {
            Style::new()
        };
        let line = Line::from(vec![
            Span::styled(if selected { "› " } else { "  " }, theme::accent()),
            Span::styled(format!("{:<14}", kind.label()), theme::dim()),
            Span::raw(escape_line(name).into_owned()),
        ]);
        buf.set_style(Rect::new(inner.x, y, inner.width, 1), style);
        buf.set_line(inner.x, y, &line, inner.width);
    }
}
