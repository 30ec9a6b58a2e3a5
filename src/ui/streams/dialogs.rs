//! Group-management dialogs over the Streams pane: the prompt for a new group's name and
//! start (or a SETID target), and the confirmation that says what will change.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};
use ratatui::Frame;

use crate::keymap::{Command, Scope};
use crate::state::streams::manage::{PromptKind, StreamsModal};
use crate::state::AppState;
use crate::text::escape::{escape_line, escape_str};
use crate::ui::popup::{self, Place};
use crate::ui::theme;

const MAX_WIDTH: u16 = 84;

pub fn render(state: &AppState, frame: &mut Frame, area: Rect) {
    let Some(modal) = &state.streams.modal else {
        return;
    };
    let key = |scope, command| state.keymap.first_key(scope, command);
    match modal {
        StreamsModal::Prompt {
            kind,
            stream,
            group,
            input,
            error,
        } => {
            let (title, question, example) = match kind {
                PromptKind::Create => (
                    "new group",
                    format!("New consumer group on {}:", escape_line(stream)),
                    "name, then $ (new entries only), 0 (all entries) or an id; $ if left out",
                ),
                PromptKind::SetId => (
                    "setid",
                    format!(
                        "Move group {} of {} to read after:",
                        escape_line(group),
                        escape_line(stream)
                    ),
                    "$ (skip to the end), 0 (re-read everything) or an id",
                ),
            };
            let mut lines = vec![Line::raw(question), Line::styled(example, theme::dim())];
            if let Some(e) = error {
                lines.push(Line::styled(format!("✖ {}", escape_str(e)), theme::error()));
            }
            let hints = format!(
                "{} next   {} cancel",
                key(Scope::Input, Command::Accept),
                key(Scope::Input, Command::Cancel)
            );
            let inner = popup(frame, area, title, lines, &hints, true);
            // The input row sits under the text, above the hints.
            let y = inner.bottom().saturating_sub(2);
            let value = escape_str(input.value()).into_owned();
            let prompt = "› ";
            frame.buffer_mut().set_line(
                inner.x,
                y,
                &Line::from(vec![
                    Span::styled(prompt, theme::accent()),
                    Span::raw(value),
                ]),
                inner.width,
            );
            let x = inner.x + prompt.chars().count() as u16 + input.visual_cursor() as u16;
            frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), y));
        }
        StreamsModal::Confirm { text, .. } => {
            let hints = format!(
                "{} yes   {}/{} no",
                key(Scope::Dialog, Command::Confirm),
                key(Scope::Dialog, Command::Cancel),
                key(Scope::Input, Command::Cancel)
            );
            popup(
                frame,
                area,
                "confirm",
                vec![Line::raw(text.clone())],
                &hints,
                false,
            );
        }
    }
}

/// A box with wrapped `lines`, an optional input row and a hint row; returns its inner
/// rect.
fn popup(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line<'static>>,
    hints: &str,
    input_row: bool,
) -> Rect {
    let width = area.width.saturating_sub(4).min(MAX_WIDTH);
    let text_width = usize::from(width.saturating_sub(2)).max(1);
    let text_rows: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(text_width).max(1))
        .sum();
    let height = (text_rows as u16 + 2 + u16::from(input_row) + 2).min(area.height);
    let rect = popup::rect(area, width, height, Place::Middle);
    let buf = frame.buffer_mut();
    let inner = popup::frame(buf, rect, title);
    Paragraph::new(lines).wrap(Wrap { trim: false }).render(
        Rect::new(inner.x, inner.y, inner.width, text_rows as u16),
        buf,
    );
    popup::hints(buf, inner, &[hints.to_string()]);
    inner
}
