//! The message detail view: the whole payload, pretty-printed, decoded (MessagePack,
//! gzip → JSON, …; a key cycles the decoders that apply), escaped or hex, wrapped to the
//! screen width and scrollable.

use std::ops::Range;

use unicode_width::UnicodeWidthStr as _;

use super::feed::ItemId;
use crate::decode::{decode, Choice, Decoded, Failure, Format};
use crate::redis::message::Message;
use crate::text::escape::{escape_segments, hex_dump, looks_binary, pretty_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    /// A decoder's value (MessagePack, gzip → JSON, …), pretty-printed.
    Decoded,
    Text,
    Hex,
}

impl BodyFormat {
    pub fn label(self) -> &'static str {
        match self {
            BodyFormat::Json => "JSON",
            BodyFormat::Decoded => "decoded",
            BodyFormat::Text => "text",
            BodyFormat::Hex => "hex",
        }
    }
}

/// One row of a wrapped logical line: `line`'s bytes `range`.
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

/// One readable form of the payload: JSON as sent, a decoder's value, or the raw text.
#[derive(Debug, Clone)]
struct View {
    /// `JSON`, `gzip → msgpack`, `text`.
    label: String,
    format: BodyFormat,
    /// Logical lines, computed once when the detail view opens.
    lines: Vec<String>,
    /// Escape runs per logical line (so `\x1b` we produced differs from a literal one).
    escaped: Vec<Vec<Range<usize>>>,
}

impl View {
    fn plain(label: &str, format: BodyFormat, lines: Vec<String>) -> View {
        let escaped = vec![Vec::new(); lines.len()];
        View {
            label: label.to_string(),
            format,
            lines,
            escaped,
        }
    }

    fn decoded(decoded: &Decoded) -> View {
        // The one JSON writer escapes every unsafe char, so the lines are terminal-safe.
        let compact = crate::json::to_vec_safe(&decoded.value).unwrap_or_default();
        let lines = pretty_json(&compact)
            .unwrap_or_else(|| vec![String::from_utf8_lossy(&compact).into_owned()]);
        View::plain(&decoded.chain_label(), BodyFormat::Decoded, lines)
    }

    fn text(payload: &[u8]) -> View {
        let (lines, escaped) = text_lines(payload);
        View {
            label: "text".to_string(),
            format: BodyFormat::Text,
            lines,
            escaped,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DetailState {
    pub id: ItemId,
    pub message: Message,
    pub format: BodyFormat,
    /// Readable forms in the order the decoder key cycles them; hex comes after them.
    views: Vec<View>,
    /// Index into `views`, or `views.len()` for hex.
    current: usize,
    /// What `h` returns to from hex.
    readable: usize,
    /// Why the payload looked encoded but did not decode (`gzip: output larger than 16
    /// MiB`): shown beside the raw form.
    pub not_decoded: Option<String>,
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

/// The readable forms of a payload: the first is what `choice` gives (JSON text as sent,
/// or the decoded value), then every other decoder that applies, then the raw text.
fn views_of(payload: &[u8], choice: Choice) -> (Vec<View>, Option<String>) {
    let mut views = Vec::new();
    let mut not_decoded = None;
    if let (Choice::Auto, Some(lines)) = (choice, pretty_json(payload)) {
        views.push(View::plain("JSON", BodyFormat::Json, lines));
    } else {
        match decode(payload, choice) {
            Ok(d) if d.chain == [Format::Json] => match pretty_json(payload) {
                Some(lines) => views.push(View::plain("JSON", BodyFormat::Json, lines)),
                None => views.push(View::decoded(&d)),
            },
            Ok(d) => views.push(View::decoded(&d)),
            // "No known format" on binary bytes is what hex already says.
            Err(
                failure @ (Failure::Rejected {
                    format: Some(_), ..
                }
                | Failure::Several(_)),
            ) => not_decoded = Some(failure.reason()),
            Err(_) => {}
        }
    }
    // Other decoders are offered for binary payloads and ones that decoded: on text,
    // "parses as Protobuf / a MessagePack integer" is almost always true and meaningless.
    let decoded = views
        .first()
        .is_some_and(|v| v.format == BodyFormat::Decoded);
    if decoded || looks_binary(payload) {
        for format in Format::NAMED {
            // Auto already tried (and reported) this one: a zip bomb is inflated once.
            let prefix = format!("{format}: ");
            if not_decoded
                .as_deref()
                .is_some_and(|r| r.starts_with(&prefix))
            {
                continue;
            }
            let Ok(d) = decode(payload, Choice::Only(format)) else {
                continue;
            };
            let label = d.chain_label();
            let ends_raw = matches!(d.chain.last(), Some(Format::Bytes | Format::Json));
            if !ends_raw && !views.iter().any(|v| v.label == label) {
                views.push(View::decoded(&d));
            }
        }
    }
    views.push(View::text(payload));
    (views, not_decoded)
}

impl DetailState {
    /// Open with `auto` decoding.
    pub fn open(id: ItemId, message: Message, width: u16) -> DetailState {
        DetailState::open_with(id, message, width, Choice::Auto)
    }

    /// Open showing what `choice` (the channel's configured decoder) gives first.
    pub fn open_with(id: ItemId, message: Message, width: u16, choice: Choice) -> DetailState {
        let (views, not_decoded) = views_of(&message.payload, choice);
        let first = &views[0];
        let current = if first.format == BodyFormat::Text && looks_binary(&message.payload) {
            views.len()
        } else {
            0
        };
        let mut detail = DetailState {
            id,
            message,
            format: BodyFormat::Hex,
            views,
            current,
            readable: 0,
            not_decoded,
            rows: Vec::new(),
            width: 0,
            scroll: 0,
        };
        detail.show(current, width);
        detail
    }

    /// Show view `index` (`views.len()` is hex) from the top.
    fn show(&mut self, index: usize, width: u16) {
        self.current = index.min(self.views.len());
        self.format = self
            .views
            .get(self.current)
            .map_or(BodyFormat::Hex, |v| v.format);
        if self.current < self.views.len() {
            self.readable = self.current;
        }
        self.scroll = 0;
        self.rows.clear();
        self.width = 0;
        self.set_width(width);
    }

    /// What the rule names: `JSON`, `gzip → msgpack`, `text` or `hex`.
    pub fn label(&self) -> &str {
        self.views
            .get(self.current)
            .map_or("hex", |v| v.label.as_str())
    }

    /// More than one form to cycle through (besides raw text and hex).
    pub fn has_decoders(&self) -> bool {
        self.views.len() > 1
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
        if let Some(view) = self.views.get(self.current) {
            for (index, line) in view.lines.iter().enumerate() {
                wrap(index, line, &view.escaped[index], width, &mut self.rows);
            }
        }
        if let Some(line) = first_line {
            self.scroll = self.rows.iter().position(|r| r.line == line).unwrap_or(0);
        }
    }

    fn width_u16(&self) -> u16 {
        u16::try_from(self.width).unwrap_or(u16::MAX).max(1)
    }

    pub fn toggle_hex(&mut self) {
        let target = if self.format == BodyFormat::Hex {
            self.readable
        } else {
            self.views.len()
        };
        self.show(target, self.width_u16());
    }

    /// The next form: the decoded value(s), the raw text, hex, then round again.
    pub fn cycle_decoder(&mut self) {
        let next = (self.current + 1) % (self.views.len() + 1);
        self.show(next, self.width_u16());
    }

    pub fn row_count(&self) -> usize {
        match self.format {
            BodyFormat::Hex => self.message.payload.len().div_ceil(16),
            _ => self.rows.len(),
        }
    }

    pub fn line_count(&self) -> usize {
        self.views.get(self.current).map_or(0, |v| v.lines.len())
    }

    /// A wrapped text row (every form but hex).
    pub fn row(&self, index: usize) -> Option<RowText<'_>> {
        let row = self.rows.get(index)?;
        let view = self.views.get(self.current)?;
        let line = view.lines.get(row.line)?;
        let text = line.get(row.range.clone())?;
        let escaped = view.escaped[row.line]
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
    fn decoded_forms_cycle_then_raw_text_then_hex() {
        let value = serde_json::json!({"event": "chat", "user": {"id": 42}});
        let packed = crate::decode::to_msgpack(&value);
        let mut detail = DetailState::open(0, message(&crate::decode::gzip(&packed)), 80);
        assert_eq!(detail.label(), "gzip → msgpack");
        assert_eq!(detail.format, BodyFormat::Decoded);
        assert_eq!(detail.row(0).map(|r| r.text), Some("{"));
        assert_eq!(
            detail.row(1).map(|r| r.text),
            Some("  \"event\": \"chat\",")
        );
        let mut seen = vec![detail.label().to_string()];
        for _ in 0..3 {
            detail.cycle_decoder();
            seen.push(detail.label().to_string());
        }
        assert_eq!(seen, ["gzip → msgpack", "text", "hex", "gzip → msgpack"]);
        detail.toggle_hex();
        assert_eq!(detail.label(), "hex");
        detail.toggle_hex();
        assert_eq!(detail.label(), "gzip → msgpack");
    }

    #[test]
    fn a_configured_decoder_comes_first_and_failures_say_why() {
        let packed = crate::decode::to_cbor(&serde_json::json!([1, 2]));
        let detail = DetailState::open_with(0, message(&packed), 80, Choice::Only(Format::Cbor));
        assert_eq!((detail.label(), detail.has_decoders()), ("cbor", true));
        let bomb = crate::decode::gzip(&vec![b'a'; crate::decode::MAX_OUTPUT + 1]);
        let detail = DetailState::open(0, message(&bomb), 80);
        assert_eq!(
            detail.not_decoded.as_deref(),
            Some("gzip: output larger than 16 MiB")
        );
        assert_eq!(detail.label(), "hex");
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
