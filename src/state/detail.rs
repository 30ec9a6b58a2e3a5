//! The message detail view: the whole payload, pretty-printed, escaped or hex, wrapped to
//! the screen width and scrollable.

use std::ops::Range;

use unicode_width::UnicodeWidthStr as _;

use super::feed::ItemId;
use crate::redis::message::Message;
use crate::text::escape::{escape_segments, hex_dump, looks_binary, pretty_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Text,
    Hex,
}

impl BodyFormat {
    pub fn label(self) -> &'static str {
        match self {
            BodyFormat::Json => "JSON",
            BodyFormat::Text => "text",
            BodyFormat::Hex => "hex",
        }
    }
}

/// One screen row of a wrapped logical line: `line`'s bytes `range`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WrappedRow {
    line: usize,
    range: Range<usize>,
}

/// A row ready to draw: its text and which byte ranges of it are our escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowText<'a> {
    pub text: &'a str,
    pub escaped: Vec<Range<usize>>,
}

#[derive(Debug, Clone)]
pub struct DetailState {
    pub id: ItemId,
    pub message: Message,
    pub format: BodyFormat,
    /// What `h` returns to from hex: JSON or text.
    readable: BodyFormat,
    /// Logical lines of the readable form, computed once when opened.
    lines: Vec<String>,
    /// Escape runs per logical line (so `\x1b` we produced differs from a literal one).
    escaped: Vec<Vec<Range<usize>>>,
    rows: Vec<WrappedRow>,
    width: usize,
    pub scroll: usize,
}

/// Columns a char takes; escaped text holds no control chars, so ASCII is always one.
fn char_cols(c: char, s: &str) -> usize {
    if c.is_ascii() {
        1
    } else {
        s.width()
    }
}

impl DetailState {
    pub fn open(id: ItemId, message: Message, width: u16) -> DetailState {
        let (readable, lines, escaped) = match pretty_json(&message.payload) {
            Some(lines) => {
                let escaped = vec![Vec::new(); lines.len()];
                (BodyFormat::Json, lines, escaped)
            }
            None => {
                let (lines, escaped) = text_lines(&message.payload);
                (BodyFormat::Text, lines, escaped)
            }
        };
        let format = if readable == BodyFormat::Text && looks_binary(&message.payload) {
            BodyFormat::Hex
        } else {
            readable
        };
        let mut detail = DetailState {
            id,
            message,
            format,
            readable,
            lines,
            escaped,
            rows: Vec::new(),
            width: 0,
            scroll: 0,
        };
        detail.set_width(width);
        detail
    }

    /// Re-wrap for a new screen width, keeping the first visible logical line in view.
    pub fn set_width(&mut self, width: u16) {
        let width = usize::from(width).max(1);
        if width == self.width {
            return;
        }
        let first_line = self.rows.get(self.scroll).map(|r| r.line);
        self.width = width;
        self.rows.clear();
        for (index, line) in self.lines.iter().enumerate() {
            wrap(index, line, &self.escaped[index], width, &mut self.rows);
        }
        if let Some(line) = first_line {
            self.scroll = self.rows.iter().position(|r| r.line == line).unwrap_or(0);
        }
    }

    pub fn toggle_hex(&mut self) {
        self.format = if self.format == BodyFormat::Hex {
            self.readable
        } else {
            BodyFormat::Hex
        };
        self.scroll = 0;
    }

    pub fn row_count(&self) -> usize {
        match self.format {
            BodyFormat::Hex => self.message.payload.len().div_ceil(16),
            _ => self.rows.len(),
        }
    }

    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// A wrapped text row (JSON / text formats).
    pub fn row(&self, index: usize) -> Option<RowText<'_>> {
        let row = self.rows.get(index)?;
        let line = self.lines.get(row.line)?;
        let text = line.get(row.range.clone())?;
        let escaped = self.escaped[row.line]
            .iter()
            .filter_map(|r| {
                let start = r.start.max(row.range.start);
                let end = r.end.min(row.range.end);
                (start < end).then(|| start - row.range.start..end - row.range.start)
            })
            .collect();
        Some(RowText { text, escaped })
    }

    /// Hex rows `start..start+count`, dumped only for what is on screen so a huge binary
    /// payload costs nothing until scrolled to.
    pub fn hex_rows(&self, start: usize, count: usize) -> Vec<String> {
        let payload = &self.message.payload;
        let from = start.saturating_mul(16).min(payload.len());
        let to = start
            .saturating_add(count)
            .saturating_mul(16)
            .min(payload.len());
        hex_dump(&payload[from..to])
            .into_iter()
            .enumerate()
            .map(|(i, line)| {
                let rest = line.find("  ").map_or("", |at| &line[at..]);
                format!("{:08x}{rest}", from + i * 16)
            })
            .collect()
    }

    fn max_scroll(&self, page: usize) -> usize {
        self.row_count().saturating_sub(page.max(1))
    }

    pub fn scroll_by(&mut self, delta: isize, page: usize) {
        self.scroll = self
            .scroll
            .saturating_add_signed(delta)
            .min(self.max_scroll(page));
    }

    pub fn scroll_top(&mut self) {
        self.scroll = 0;
    }

    pub fn scroll_bottom(&mut self, page: usize) {
        self.scroll = self.max_scroll(page);
    }
}

/// Lines split like `escape_lines` (`\r\n` is one break), each with its escape runs.
fn text_lines(payload: &[u8]) -> (Vec<String>, Vec<Vec<Range<usize>>>) {
    let mut lines = Vec::new();
    let mut escaped = Vec::new();
    let mut pieces = payload.split(|&b| b == b'\n').peekable();
    while let Some(piece) = pieces.next() {
        let piece = match piece.strip_suffix(b"\r") {
            Some(stripped) if pieces.peek().is_some() => stripped,
            _ => piece,
        };
        let mut line = String::with_capacity(piece.len());
        let mut runs = Vec::new();
        for segment in escape_segments(piece) {
            let start = line.len();
            line.push_str(&segment.text);
            if segment.escaped {
                runs.push(start..line.len());
            }
        }
        lines.push(line);
        escaped.push(runs);
    }
    (lines, escaped)
}

/// Wrap one line into rows of at most `width` columns, never splitting one of our escape
/// sequences (`\x8` + `4` would read as a different byte).
fn wrap(
    index: usize,
    line: &str,
    escapes: &[Range<usize>],
    width: usize,
    rows: &mut Vec<WrappedRow>,
) {
    // A char never takes more columns than bytes, so this is a cheap sufficient test.
    if line.len() <= width {
        rows.push(WrappedRow {
            line: index,
            range: 0..line.len(),
        });
        return;
    }
    let mut start = 0;
    let mut cols = 0;
    for (at, c) in line.char_indices() {
        let w = char_cols(c, &line[at..at + c.len_utf8()]);
        if cols + w > width && at > start {
            let mut cut = at;
            let inside = escapes.iter().find(|r| r.start < at && at < r.end);
            if let Some(run) = inside.filter(|_| line.as_bytes()[at] != b'\\') {
                // Runs of escapes are merged; each escape starts with a backslash.
                let from = run.start.max(start + 1);
                if let Some(p) = line.get(from..at).and_then(|s| s.rfind('\\')) {
                    cut = from + p;
                }
            }
            rows.push(WrappedRow {
                line: index,
                range: start..cut,
            });
            // Escapes are ASCII: the carried-over part is one column per byte.
            cols = at - cut;
            start = cut;
        }
        cols += w;
    }
    rows.push(WrappedRow {
        line: index,
        range: start..line.len(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::message::Kind;
    use bytes::Bytes;

    fn message(payload: &[u8]) -> Message {
        Message {
            seq: 1,
            received: chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
            kind: Kind::Message,
            pattern: None,
            channel: Bytes::from_static(b"c"),
            payload: Bytes::copy_from_slice(payload),
        }
    }

    #[test]
    fn picks_json_text_or_hex() {
        assert_eq!(
            DetailState::open(0, message(br#"{"a":1}"#), 80).format,
            BodyFormat::Json
        );
        assert_eq!(
            DetailState::open(0, message(b"hello\nworld"), 80).format,
            BodyFormat::Text
        );
        let mut bin = DetailState::open(0, message(b"\x00\x01\x02\xff"), 80);
        assert_eq!(bin.format, BodyFormat::Hex);
        bin.toggle_hex();
        assert_eq!(bin.format, BodyFormat::Text);
        assert_eq!(bin.row(0).map(|r| r.text), Some("\\x00\\x01\\x02\\xff"));
    }

    #[test]
    fn long_lines_wrap_completely() {
        let payload = "x".repeat(250);
        let detail = DetailState::open(0, message(payload.as_bytes()), 100);
        assert_eq!(detail.row_count(), 3);
        let joined: String = (0..3)
            .filter_map(|i| detail.row(i))
            .map(|r| r.text)
            .collect();
        assert_eq!(joined, payload);
        let wide = "日本".repeat(30);
        let detail = DetailState::open(0, message(wide.as_bytes()), 10);
        assert_eq!(detail.row_count(), 12, "wide chars take two columns");
    }

    #[test]
    fn hex_rows_carry_real_offsets() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(40 * 16).collect();
        let detail = DetailState::open(0, message(&payload), 80);
        let rows = detail.hex_rows(30, 2);
        assert!(rows[0].starts_with("000001e0  e0 e1"), "{}", rows[0]);
        assert!(rows[1].starts_with("000001f0  f0 f1"), "{}", rows[1]);
        assert_eq!(detail.hex_rows(39, 5).len(), 1);
    }

    #[test]
    fn scrolling_is_clamped() {
        let payload = (0..50)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        let mut detail = DetailState::open(0, message(payload.as_bytes()), 80);
        detail.scroll_by(100, 20);
        assert_eq!(detail.scroll, 30);
        detail.scroll_by(-5, 20);
        assert_eq!(detail.scroll, 25);
        detail.scroll_top();
        assert_eq!(detail.scroll, 0);
        detail.scroll_bottom(20);
        assert_eq!(detail.scroll, 30);
    }

    #[test]
    fn escape_runs_are_marked() {
        let detail = DetailState::open(0, message(b"a\x1b[2Jb \\x1b"), 80);
        let row = detail.row(0);
        assert_eq!(row.as_ref().map(|r| r.text), Some("a\\x1b[2Jb \\x1b"));
        assert_eq!(
            row.map(|r| r.escaped),
            Some(std::iter::once(1..5).collect())
        );
    }

    #[test]
    fn wrapping_never_splits_an_escape() {
        let mut detail = DetailState::open(0, message(&[0x80u8; 10]), 9);
        detail.toggle_hex();
        let rows: Vec<&str> = (0..detail.row_count())
            .filter_map(|i| detail.row(i))
            .map(|r| r.text)
            .collect();
        assert_eq!(rows[0], "\\x80\\x80");
        assert!(rows.iter().all(|r| r.len() % 4 == 0), "{rows:?}");
        assert_eq!(rows.concat(), "\\x80".repeat(10));
    }
}
