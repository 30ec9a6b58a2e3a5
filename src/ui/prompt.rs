//! The prompt line (filter, subscribe) and the unsubscribe picker.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Widget};
use ratatui::Frame;
use tui_input::Input;

use super::theme;
use crate::render_text::{escape_line, escape_str};
use crate::state::prompt::Picker;
use crate::state::{AppState, Overlay};

pub fn render_input(state: &AppState, frame: &mut Frame, area: Rect) {
    let (label, input, error, hint) = match &state.overlay {
        Some(Overlay::Filter(edit)) => (
            " filter › ".to_string(),
            &edit.input,
            edit.error.clone(),
            "e.g. error ch:ai:* .latency_ms > 250",
        ),
        Some(Overlay::Subscribe(prompt)) => (
            format!(" subscribe [{}] › ", prompt.kind.label()),
            &prompt.input,
            None,
            "Tab: channel / pattern / shard channel",
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
    let (line, cursor) = input_line(input, error.as_ref().map(|e| e.1), room);
    buf.set_line(x, area.y, &line, area.right() - x);
    let used = line.width() as u16;
    let extra = match &error {
        Some((message, position)) => Line::from(Span::styled(
            format!("  ✖ column {}: {}", position + 1, escape_str(message)),
            theme::error(),
        )),
        None if input.value().is_empty() => Line::styled(format!("  {hint}"), theme::dim()),
        None => Line::default(),
    };
    if x + used + 1 < area.right() {
        buf.set_line(x + used, area.y, &extra, area.right() - x - used);
    }
    frame.set_cursor_position((x + cursor, area.y));
}

/// The visible slice of the input, the char at `error_at` marked, and the cursor column.
fn input_line(input: &Input, error_at: Option<usize>, room: usize) -> (Line<'static>, u16) {
    let value = input.value();
    let scroll = input.visual_scroll(room.saturating_sub(1));
    let mut spans = Vec::new();
    let mut col = 0usize;
    let mut cursor = 0usize;
    for (i, c) in value.chars().enumerate() {
        let mut tmp = [0u8; 4];
        let shown = escape_line(c.encode_utf8(&mut tmp).as_bytes()).into_owned();
        let width = Span::raw(shown.as_str()).width();
        if i == input.cursor() {
            cursor = col;
        }
        if i >= scroll {
            let style = if error_at == Some(i) {
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
        spans.push(Span::styled(" ", error_mark()));
    }
    (Line::from(spans), cursor as u16)
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
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + 1.min(area.height),
        width,
        height,
    );
    let buf = frame.buffer_mut();
    Clear.render(popup, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme::accent())
        .title(Line::styled(" unsubscribe ", theme::bold()));
    let inner = block.inner(popup);
    block.render(popup, buf);
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
