//! What the snapshot tests share: pressing keys into an `AppState` at a fixed clock, and
//! drawing it with the real `ui::render` into a `TestBackend` of the state's size, read
//! back as text rows.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;

use redtail::state::{AppState, Effect, Event};

/// One key press at `now`; the effects the state asks for.
pub fn press(
    s: &mut AppState,
    code: KeyCode,
    modifiers: KeyModifiers,
    now: DateTime<Utc>,
) -> Vec<Effect> {
    s.update(
        Event::Key(KeyEvent {
            code,
            modifiers,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }),
        now,
    )
}

/// Each character of `text` as a plain key press.
pub fn type_text(s: &mut AppState, text: &str, now: DateTime<Utc>) {
    for c in text.chars() {
        press(s, KeyCode::Char(c), KeyModifiers::NONE, now);
    }
}

pub fn draw(state: &AppState) -> Buffer {
    let (w, h) = state.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    terminal
        .draw(|frame| redtail::ui::render(state, frame))
        .expect("draw");
    terminal.backend().buffer().clone()
}

/// The screen's rows, trailing blanks trimmed.
pub fn rows(buf: &Buffer) -> Vec<String> {
    (0..buf.area.height)
        .map(|y| {
            let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
            line.trim_end().to_string()
        })
        .collect()
}

pub fn text(buf: &Buffer) -> String {
    rows(buf).join("\n")
}

/// Column (in cells) where `needle` starts on row `y`.
pub fn column_of(buf: &Buffer, y: usize, needle: &str) -> Option<u16> {
    let row = &rows(buf)[y];
    row.find(needle).map(|b| row[..b].chars().count() as u16)
}
