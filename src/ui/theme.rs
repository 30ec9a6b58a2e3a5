//! Colours and the one helper that turns escaped text + highlights into styled spans.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;

use crate::text::escape::escape_segments;

/// Which palette: data decided by the config (`theme`, `--theme`); colours are ours.
pub use crate::config::values::Theme;

/// Chosen once at startup, before the first frame. A process-wide switch rather than a
/// field of the render state so the style helpers below keep their signatures; tests
/// never set it, so snapshots always use the dark palette.
static LIGHT: AtomicBool = AtomicBool::new(false);

pub fn set(theme: Theme) {
    LIGHT.store(theme == Theme::Light, Ordering::Relaxed);
}

fn light() -> bool {
    LIGHT.load(Ordering::Relaxed)
}

/// Cyan is hard to read on white; blue is the light palette's accent.
fn accent_color() -> Color {
    if light() {
        Color::Blue
    } else {
        Color::Cyan
    }
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}
pub fn accent() -> Style {
    Style::new().fg(accent_color())
}
pub fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}
pub fn ok() -> Style {
    Style::new().fg(Color::Green)
}
pub fn warn() -> Style {
    // Yellow vanishes on white; dark orange (256-colour 130) reads on light backgrounds
    // and stays apart from the magenta of escapes.
    Style::new().fg(if light() {
        Color::Indexed(130)
    } else {
        Color::Yellow
    })
}
pub fn error() -> Style {
    Style::new().fg(Color::Red)
}
/// Escapes we produced (`\x1b`), so they differ from the same text in a payload.
pub fn escaped() -> Style {
    Style::new()
        .fg(Color::Magenta)
        .add_modifier(Modifier::ITALIC)
}
/// Text the filter matched.
pub fn highlight() -> Style {
    Style::new().fg(Color::Black).bg(Color::Yellow)
}
pub fn selected() -> Style {
    Style::new().bg(if light() {
        Color::Gray
    } else {
        Color::DarkGray
    })
}
pub fn channel() -> Style {
    Style::new().fg(accent_color())
}
pub fn tab_active() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::Cyan)
        .add_modifier(Modifier::BOLD)
}
pub fn tab_inactive() -> Style {
    Style::new().fg(if light() {
        Color::DarkGray
    } else {
        Color::Gray
    })
}
pub fn bar() -> Style {
    Style::new().bg(if light() { Color::Gray } else { Color::Black })
}
pub fn key() -> Style {
    Style::new().fg(accent_color()).add_modifier(Modifier::BOLD)
}

/// Untrusted bytes as spans: escaped, our escapes styled apart, filter matches highlighted.
pub fn untrusted_spans(
    bytes: &[u8],
    base: Style,
    highlights: impl FnOnce(&str) -> Vec<Range<usize>>,
) -> Vec<Span<'static>> {
    let mut text = String::with_capacity(bytes.len());
    let mut escapes = Vec::new();
    for segment in escape_segments(bytes) {
        let start = text.len();
        text.push_str(&segment.text);
        if segment.escaped {
            escapes.push(start..text.len());
        }
    }
    let marks = highlights(&text);
    styled_spans(&text, &escapes, &marks, base)
}

/// Split already-safe `text` at every escape / highlight boundary and style each piece.
pub fn styled_spans(
    text: &str,
    escapes: &[Range<usize>],
    marks: &[Range<usize>],
    base: Style,
) -> Vec<Span<'static>> {
    if escapes.is_empty() && marks.is_empty() {
        return vec![Span::styled(text.to_string(), base)];
    }
    let mut cuts: Vec<usize> = vec![0, text.len()];
    for r in escapes.iter().chain(marks) {
        cuts.push(r.start.min(text.len()));
        cuts.push(r.end.min(text.len()));
    }
    cuts.retain(|&c| text.is_char_boundary(c));
    cuts.sort_unstable();
    cuts.dedup();
    let inside =
        |ranges: &[Range<usize>], at: usize| ranges.iter().any(|r| r.start <= at && at < r.end);
    cuts.windows(2)
        .filter(|w| w[0] < w[1])
        .map(|w| {
            let mut style = base;
            if inside(escapes, w[0]) {
                style = style.patch(escaped());
            }
            if inside(marks, w[0]) {
                style = style.patch(highlight());
            }
            Span::styled(text[w[0]..w[1]].to_string(), style)
        })
        .collect()
}

// One formatter per kind (src/text.rs); these names stay for the panes that use them.
pub use crate::text::{bytes as human_bytes, seconds_tenths as seconds};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_split_on_escapes_and_marks() {
        let spans = untrusted_spans(b"ab\x1bcd", Style::new(), |t| {
            assert_eq!(t, "ab\\x1bcd");
            std::iter::once(1..3).collect()
        });
        let parts: Vec<(&str, Style)> = spans
            .iter()
            .map(|s| (s.content.as_ref(), s.style))
            .collect();
        assert_eq!(
            parts,
            [
                ("a", Style::new()),
                ("b", highlight()),
                ("\\", escaped().patch(highlight())),
                ("x1b", escaped()),
                ("cd", Style::new()),
            ]
        );
    }
}

/// `NO_COLOR` (https://no-color.org): drop every colour after drawing, keeping bold /
/// italic, and turn coloured backgrounds (selection, filter matches) into reverse video
/// so they stay visible.
pub fn monochrome(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        if cell.bg != Color::Reset {
            cell.modifier.insert(Modifier::REVERSED);
        }
        cell.fg = Color::Reset;
        cell.bg = Color::Reset;
    }
}

/// True when the user asked for no colour (`NO_COLOR` set and not empty).
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod monochrome_tests {
    use super::*;
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;

    #[test]
    fn colours_go_and_backgrounds_become_reverse_video() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 3, 1));
        buf[(0, 0)].set_style(highlight());
        buf[(1, 0)].set_style(escaped());
        monochrome(&mut buf);
        assert!(buf
            .content
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset));
        assert!(buf[(0, 0)].modifier.contains(Modifier::REVERSED));
        assert!(buf[(1, 0)].modifier.contains(Modifier::ITALIC));
        assert!(!buf[(1, 0)].modifier.contains(Modifier::REVERSED));
    }
}
