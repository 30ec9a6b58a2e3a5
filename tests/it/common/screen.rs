//! What the snapshot tests share: pressing keys into an `AppState` at a fixed clock, and
//! drawing it with the real `ui::render` into a `TestBackend` of the state's size, read
//! back as text rows.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
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
    s.update(Event::Key(KeyEvent::new(code, modifiers)), now)
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

/// The sizes every view is drawn at: the smallest supported, a laptop, a wide monitor.
pub const SIZES: [(u16, u16); 3] = [(60, 15), (100, 30), (250, 70)];

/// Names the hostile/similar sweeps put on screen.
pub const SIMILAR: [&str; 2] = ["ai:stream:sess-1a2b", "ai:stream:sess-1c4d"];
/// A name with control characters, a bidi override, CJK wide characters, and length.
pub const HOSTILE: &str =
    "evil\x1b[2J\u{202e}txt.exe-会话流媒体频道名称-very-long-name-that-goes-on-and-on-and-on-forever";

/// What a sweep view promises, for [`check_screen`].
#[derive(Default)]
pub struct Expect<'a> {
    /// Distinguishing ends (e.g. `1a2b`, `1c4d`) that must all be on screen.
    pub distinct: &'a [&'a str],
    /// A sort arrow (▲/▼/↑/↓) must be on screen.
    pub sort_arrow: bool,
    /// Names that may be shown: where one is shown only in part (its first 5 cells on a
    /// row without the whole name), that row must carry `…`.
    pub names: &'a [&'a str],
}

/// Checks every rendered screen must pass, whatever the view and size: no row wider
/// than the terminal, no raw control or bidi character, dialog borders intact (no text
/// crossed them), plus what `expect` asks for. Panics with the screen on failure.
pub fn check_screen(buf: &Buffer, expect: &Expect) {
    use unicode_width::UnicodeWidthStr;
    let width = usize::from(buf.area.width);
    let screen = text(buf);
    let rows = rows(buf);
    for (y, row) in rows.iter().enumerate() {
        // Cells a wide character covers are skipped: the row as the terminal shows it.
        let mut cells = 0;
        let mut x = 0;
        while x < buf.area.width {
            let w = buf[(x, y as u16)].symbol().width().max(1);
            cells += w;
            x += w as u16;
        }
        assert!(
            cells <= width,
            "row {y} is {cells} cells on a {width}-cell screen:\n{screen}"
        );
        for c in row.chars() {
            let unsafe_char = c.is_control()
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}');
            assert!(!unsafe_char, "raw {c:?} on row {y}:\n{screen}");
        }
    }
    check_boxes(buf, &screen);
    for end in expect.distinct {
        assert!(screen.contains(end), "{end:?} is not on screen:\n{screen}");
    }
    if expect.sort_arrow {
        assert!(
            screen.contains(['▲', '▼', '↑', '↓']),
            "no sort arrow on screen:\n{screen}"
        );
    }
    for name in expect.names {
        let head: String = name.chars().take(5).collect();
        for (y, row) in rows.iter().enumerate() {
            let whole = expect.names.iter().any(|n| row.contains(n));
            if row.contains(&head) && !whole {
                assert!(
                    row.contains('…'),
                    "row {y} shows part of {name:?} without …:\n{screen}"
                );
            }
        }
    }
}

/// Every box (┌ … ┐ down to └ … ┘) keeps its side borders on every row.
fn check_boxes(buf: &Buffer, screen: &str) {
    let at = |x: u16, y: u16| buf[(x, y)].symbol().to_string();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            if at(x, y) != "┌" {
                continue;
            }
            let Some(right) = (x + 1..buf.area.width).find(|&r| at(r, y) == "┐") else {
                continue;
            };
            for by in y + 1..buf.area.height {
                let (l, r) = (at(x, by), at(right, by));
                if l == "└" {
                    assert_eq!(r, "┘", "box at ({x},{y}): bottom-right corner:\n{screen}");
                    break;
                }
                assert!(
                    l == "│" && r == "│",
                    "box at ({x},{y}): text crosses its border on row {by} ({l:?} {r:?}):\n{screen}"
                );
            }
        }
    }
}

/// Resize `state` to `size` (as the terminal would) and draw it.
pub fn draw_at(state: &mut AppState, size: (u16, u16), now: DateTime<Utc>) -> Buffer {
    state.update(Event::Resize(size.0, size.1), now);
    draw(state)
}
