//! The Pending pane's dialogs, drawn as boxes over the list: prompts, the claim picker,
//! confirmations and the wait for a preview. Key hints come from the keymap.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;
use tui_input::Input;

use super::popup::{self, Place};
use super::{fit, theme};
use crate::keymap::{Command, Scope};
use crate::state::pending::dialog::{
    ClaimField, ClaimPicker, ClaimPurpose, Confirm, PendingModal, TextPrompt,
};
use crate::state::AppState;
use crate::text::escape::{escape_line, escape_str};

const MAX_WIDTH: u16 = 84;
/// Consumer rows the picker shows at once.
const PICKER_ROWS: usize = 8;

pub fn render(state: &AppState, frame: &mut Frame, area: Rect) {
    let Some(modal) = &state.pending.modal else {
        return;
    };
    let key = |scope, command| state.keymap.first_key(scope, command);
    match modal {
        PendingModal::Prompt(prompt) => {
            let hints = format!(
                "{} apply   {} cancel",
                key(Scope::Input, Command::Accept),
                key(Scope::Input, Command::Cancel)
            );
            render_prompt(prompt, &hints, frame, area);
        }
        PendingModal::Claim(picker) => {
            let hints = format!(
                "↑/↓ pick   {} min idle / consumer   {} next   {} cancel",
                key(Scope::Dialog, Command::SwitchField),
                key(Scope::Input, Command::Accept),
                key(Scope::Input, Command::Cancel)
            );
            render_picker(picker, &hints, frame, area);
        }
        PendingModal::Confirm(confirm) => {
            let hints = format!(
                "{} yes   {}/{} no",
                key(Scope::Dialog, Command::Confirm),
                key(Scope::Dialog, Command::Cancel),
                key(Scope::Input, Command::Cancel)
            );
            render_confirm(confirm, &hints, frame, area);
        }
        PendingModal::Waiting(what) => {
            let lines = vec![Line::raw(format!(
                "Counting what {what} would change (nothing is changed yet)…"
            ))];
            let hints = format!("{} cancel", key(Scope::Input, Command::Cancel));
            let _ = popup(frame, area, what, lines, &hints);
        }
    }
}

/// Draw a box with `lines` and a hint row; the inner rect of the content.
fn popup(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line<'static>>,
    hints: &str,
) -> Rect {
    let width = area.width.saturating_sub(4).min(MAX_WIDTH);
    let inner_width = usize::from(width.saturating_sub(4));
    let mut wrapped: Vec<Line<'static>> = Vec::new();
    for line in lines {
        wrapped.extend(wrap_line(line, inner_width));
    }
    // The hint wraps too: at 60 columns it does not fit one row.
    let hints = fit::wrap(hints, inner_width, 2);
    let height = (wrapped.len() as u16 + 3 + hints.len() as u16).min(area.height);
    let rect = popup::rect(area, width, height, Place::UpperThird);
    let buf = frame.buffer_mut();
    let content = popup::padded(popup::frame(buf, rect, title));
    let hint_rows = popup::hints(buf, content, &hints);
    let text_bottom = content.bottom() - hint_rows;
    let room = usize::from(content.width);
    for (i, line) in wrapped.iter().enumerate() {
        let y = content.y + i as u16;
        if y + 1 >= text_bottom {
            break;
        }
        // The last row that fits says when more text did not.
        let line = if y + 2 == text_bottom && i + 1 < wrapped.len() {
            let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
            Line::styled(fit::cut_end(&format!("{text} …"), room), theme::dim())
        } else {
            fit::cut_line(line, room, fit::Cut::End, theme::dim())
        };
        buf.set_line(content.x, y, &line, content.width);
    }
    content
}

/// Word wrap of a styled line with one span (others are cut with `…` when drawn).
fn wrap_line(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    if line.spans.len() != 1 || line.width() <= width || width == 0 {
        return vec![line];
    }
    let style = line.spans[0].style;
    fit::wrap(&line.spans[0].content, width, usize::MAX)
        .into_iter()
        .map(|l| Line::styled(l, style))
        .collect()
}

fn render_prompt(prompt: &TextPrompt, hints: &str, frame: &mut Frame, area: Rect) {
    let below = match &prompt.error {
        Some(e) => Line::styled(format!("✖ {}", escape_str(e)), theme::error()),
        None => Line::styled(prompt.kind.hint(), theme::dim()),
    };
    let lines = vec![Line::default(), below];
    let content = popup(frame, area, prompt.kind.title(), lines, hints);
    input_row(frame, content, 0, "› ", &prompt.input, true);
}

/// One editable field: label, the visible slice of the text, the cursor when focused.
fn input_row(
    frame: &mut Frame,
    content: Rect,
    row: u16,
    label: &str,
    input: &Input,
    focused: bool,
) {
    let y = content.y + row;
    if y >= content.bottom() {
        return;
    }
    let buf = frame.buffer_mut();
    let label_style = if focused {
        theme::accent().patch(theme::bold())
    } else {
        theme::dim()
    };
    buf.set_string(content.x, y, label, label_style);
    let x = content.x + label.chars().count() as u16;
    if x >= content.right() {
        return;
    }
    let room = usize::from(content.right() - x);
    let scroll = input.visual_scroll(room.saturating_sub(1));
    // Typed text is shown escaped, like everything else: a pasted escape stays inert.
    let mut shown = String::new();
    let mut cursor = 0usize;
    for (i, c) in input.value().chars().enumerate() {
        if i == input.cursor() {
            cursor = shown.chars().count();
        }
        if i >= scroll {
            let mut tmp = [0u8; 4];
            shown.push_str(&escape_line(c.encode_utf8(&mut tmp).as_bytes()));
        }
    }
    if input.cursor() >= input.value().chars().count() {
        cursor = shown.chars().count();
    }
    let style = if focused { Style::new() } else { theme::dim() };
    buf.set_stringn(x, y, &shown, room, style);
    if focused {
        frame.set_cursor_position((x + (cursor.min(room)) as u16, y));
    }
}

fn render_picker(picker: &ClaimPicker, hints: &str, frame: &mut Frame, area: Rect) {
    let title = match &picker.purpose {
        ClaimPurpose::Claim { ids } => format!(
            "claim {} to…",
            crate::state::pending::dialog::entries(ids.len())
        ),
        ClaimPurpose::Autoclaim => "autoclaim sweep to…".to_string(),
    };
    let visible = PICKER_ROWS.min(picker.consumers.len() + 1);
    let start = picker
        .selected
        .saturating_sub(visible.saturating_sub(1))
        .min((picker.consumers.len() + 1).saturating_sub(visible));
    // The name gives way to the figures after it (` 123456 pending  idle 15min05s`).
    let inner = usize::from(
        area.width
            .saturating_sub(4)
            .min(MAX_WIDTH)
            .saturating_sub(4),
    );
    let name_w = inner.saturating_sub(2 + 31).clamp(8, 24);
    let mut lines = vec![Line::styled(
        "consumer (preselected: the most recently active one not holding these entries)",
        theme::dim(),
    )];
    let list_top = lines.len() as u16;
    for i in start..start + visible {
        let chosen = i == picker.selected;
        let marker = Span::styled(if chosen { "› " } else { "  " }, theme::accent());
        let style = if chosen && picker.field == ClaimField::Consumer {
            theme::selected()
        } else {
            Style::new()
        };
        match picker.consumers.get(i) {
            Some(c) => {
                let idle = c
                    .idle_ms
                    .map(|ms| format!("idle {}", crate::text::duration_ms(ms)))
                    .unwrap_or_default();
                lines.push(Line::from(vec![
                    marker,
                    Span::styled(
                        fit::pad(
                            &fit::cut_middle(&escape_line(&c.name), name_w),
                            name_w,
                            false,
                        ),
                        style,
                    ),
                    Span::styled(format!(" {:>6} pending  {idle}", c.pending), theme::dim()),
                ]));
            }
            // The typed-name row is drawn as an input below.
            None => lines.push(Line::from(vec![marker])),
        }
    }
    let name_row = list_top + (picker.consumers.len() - start.min(picker.consumers.len())) as u16;
    let name_row = name_row.min(list_top + visible as u16 - 1);
    lines.push(Line::default());
    let idle_row = lines.len() as u16 - 1;
    let zero = crate::state::pending::dialog::parse_duration_ms(picker.min_idle.value())
        .is_ok_and(|ms| ms.is_none())
        && !picker.min_idle.value().trim().is_empty();
    lines.push(match &picker.error {
        Some(e) => Line::styled(format!("✖ {}", escape_str(e)), theme::error()),
        None if zero => Line::styled(
            crate::state::pending::dialog::MIN_IDLE_ZERO_WARNING,
            theme::warn(),
        ),
        None => Line::styled(
            "only entries idle at least this long move: a live worker keeps what it just took",
            theme::dim(),
        ),
    });
    let content = popup(frame, area, &title, lines, hints);
    let consumer_focus = picker.field == ClaimField::Consumer;
    if picker.typed_row() || start + visible > picker.consumers.len() {
        let typed_focus = consumer_focus && picker.typed_row();
        let row = Rect::new(
            content.x + 2,
            content.y,
            content.width.saturating_sub(2),
            content.height,
        );
        input_row(
            frame,
            row,
            name_row,
            "new name: ",
            &picker.name,
            typed_focus,
        );
    }
    input_row(
        frame,
        content,
        idle_row,
        "min idle (ms, 90s, 5min): ",
        &picker.min_idle,
        !consumer_focus,
    );
}

fn render_confirm(confirm: &Confirm, hints: &str, frame: &mut Frame, area: Rect) {
    let lines = confirm.lines.iter().map(|l| Line::raw(l.clone())).collect();
    popup(frame, area, &confirm.title, lines, hints);
}
