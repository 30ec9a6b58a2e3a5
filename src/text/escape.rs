//! Turning untrusted bytes into text that is safe to put on a terminal.
//!
//! Everything redtail shows (channel names, payloads, stream fields, server
//! error text) comes off the network. A single raw ESC, C1 control or bidi
//! override in it could clear the screen, retitle the window, read or write
//! the clipboard (OSC 52), answer terminal queries on the user's behalf, or
//! visually reorder text. Every output path goes through this module, which
//! guarantees that no such character reaches the terminal while ordinary
//! text, including non-ASCII UTF-8, stays readable.
//!
//! Escape rules (close to redis-cli's quoted output):
//! - `\n`, `\r` and `\t` become the two characters `\n`, `\r`, `\t`;
//! - every other C0 control and DEL becomes `\xNN` (lowercase), so ESC is `\x1b`;
//! - every byte that is not part of valid UTF-8 becomes `\xNN`;
//! - C1 controls (U+0080..=U+009F) and the invisible / bidi format characters
//!   listed in [`is_unsafe_char`] become `\u{..}` (lowercase, no padding).
//!
//! A backslash in the input is deliberately *not* escaped. Payloads are very
//! often JSON, whose own `\"` and `\u00e9` escapes would turn into unreadable
//! `\\"` noise if doubled. The cost is ambiguity: `\x1b` on screen may be an
//! ESC byte we escaped or four literal characters in the payload.
//! [`escape_segments`] reports which runs we produced so the UI can style
//! them differently and remove that ambiguity.

use std::borrow::Cow;
use std::fmt::Write as _;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Nesting deeper than this is not worth pretty-printing, and the indentation
/// of a hostile `[[[[...` payload would otherwise grow quadratically.
const MAX_JSON_DEPTH: usize = 128;

/// A run of escaped output. `escaped == true` means the text is an escape
/// sequence we produced (such as `\x1b`), not text from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub escaped: bool,
}

/// True when a char must never reach the terminal raw.
pub fn is_unsafe_char(c: char) -> bool {
    let v = u32::from(c);
    if v < 0x80 {
        // Checked first because nearly all traffic is ASCII.
        return v < 0x20 || v == 0x7f;
    }
    // C1 controls, U+2028/2029 line/paragraph separators, and every format character
    // (Unicode category Cf, as of Unicode 15.1): bidi controls, zero-width chars, soft
    // hyphen, tags. All are invisible or reorder text.
    matches!(
        v,
        0x80..=0x9f // C1 controls, e.g. U+009B is a one-char CSI
            | 0x00ad
            | 0x0600..=0x0605
            | 0x061c
            | 0x06dd
            | 0x070f
            | 0x0890..=0x0891
            | 0x08e2
            | 0x180e
            | 0x200b..=0x200f
            | 0x2028..=0x202e
            | 0x2060..=0x2064
            | 0x2066..=0x206f
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x13430..=0x1343f
            | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a
            | 0xe0000..=0xe007f
    )
}

/// One-line display: escapes everything unsafe, including `\n`, `\r` and `\t`.
/// Borrows (no allocation) when the input is valid UTF-8 with nothing to escape.
pub fn escape_line(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return escape_str(s);
    }
    let mut out = String::with_capacity(escaped_capacity(bytes.len()));
    escape_bytes_into(bytes, &mut out);
    Cow::Owned(out)
}

/// [`escape_line`] for text that is already a `&str`.
pub fn escape_str(s: &str) -> Cow<'_, str> {
    let Some(first) = first_unsafe(s) else {
        return Cow::Borrowed(s);
    };
    let (clean, rest) = s.split_at(first);
    let mut out = String::with_capacity(escaped_capacity(s.len()));
    out.push_str(clean);
    escape_valid_into(rest, &mut out);
    Cow::Owned(out)
}

/// Multi-line display: one escaped line per `\n`-separated piece.
///
/// `\r\n` counts as a single break; any other `\r` is content and is shown as
/// `\r`. The split is lossless: `"a\n"` gives `["a", ""]` and empty input one
/// empty line, so a trailing newline stays visible.
pub fn escape_lines(bytes: &[u8]) -> Vec<String> {
    // Splitting raw bytes is sound: 0x0a never occurs inside a UTF-8 sequence.
    let mut pieces = bytes.split(|&b| b == b'\n').peekable();
    let mut lines = Vec::new();
    while let Some(piece) = pieces.next() {
        let piece = match piece.strip_suffix(b"\r") {
            Some(stripped) if pieces.peek().is_some() => stripped,
            _ => piece,
        };
        lines.push(escape_line(piece).into_owned());
    }
    lines
}

/// Same escaping as [`escape_line`], split into literal and escaped runs.
/// Adjacent runs of the same kind are merged and no segment is empty.
pub fn escape_segments(bytes: &[u8]) -> Vec<Segment> {
    let mut segments = Vec::new();
    escape_bytes_into(bytes, &mut segments);
    segments
}

/// Pretty-prints JSON with 2-space indentation, one escaped line per entry.
///
/// Returns `None` unless `bytes` is exactly one JSON value (surrounding
/// whitespace allowed). The input text is re-indented rather than re-encoded,
/// so key order, duplicate keys, number spelling and string escapes appear
/// exactly as sent; only raw characters that are unsafe on a terminal (such as
/// a literal U+202E inside a string) are escaped. Numbers beyond f64 range
/// (such as `1e400`) fail serde_json's validation and yield `None`.
pub fn pretty_json(bytes: &[u8]) -> Option<Vec<String>> {
    // Validation only. The tree is thrown away because serde_json's Map
    // (without "preserve_order") sorts keys and collapses duplicates.
    serde_json::from_slice::<serde_json::Value>(bytes).ok()?;
    let text = std::str::from_utf8(bytes).ok()?;
    let mut out = JsonPrinter::default();
    let mut pos = 0;
    while let Some(token) = next_json_token(text, &mut pos) {
        match token {
            "{" | "[" => {
                let mut after = pos;
                let close = if token == "{" { "}" } else { "]" };
                if next_json_token(text, &mut after) == Some(close) {
                    out.line.push_str(token);
                    out.line.push_str(close);
                    pos = after;
                } else {
                    out.depth += 1;
                    if out.depth > MAX_JSON_DEPTH {
                        return None;
                    }
                    out.line.push_str(token);
                    out.break_line();
                }
            }
            "}" | "]" => {
                out.depth = out.depth.saturating_sub(1);
                out.break_line();
                out.line.push_str(token);
            }
            "," => {
                out.line.push(',');
                out.break_line();
            }
            ":" => out.line.push_str(": "),
            _ => out.line.push_str(token),
        }
    }
    if !out.line.is_empty() {
        out.break_line();
    }
    Some(out.lines)
}

/// Classic `hexdump -C` lines: offset, 16 bytes in two groups of 8, and an
/// ASCII column where anything but printable ASCII is `.`.
pub fn hex_dump(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(row, chunk)| {
            let mut line = String::with_capacity(80);
            let _ = write!(line, "{:08x}  ", row * 16);
            for i in 0..16 {
                match chunk.get(i) {
                    Some(&b) => {
                        push_hex_digits(&mut line, b);
                        line.push(' ');
                    }
                    None => line.push_str("   "),
                }
                if i == 7 {
                    line.push(' ');
                }
            }
            line.push_str(" |");
            let shown = |&b: &u8| char::from(if is_printable_ascii(b) { b } else { b'.' });
            line.extend(chunk.iter().map(shown));
            line.push('|');
            line
        })
        .collect()
}

/// True when a detail view should default to hex: invalid UTF-8, or more than
/// 10% of the chars are control characters other than `\n`, `\r`, `\t`.
pub fn looks_binary(bytes: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(bytes) else {
        return true;
    };
    let (mut total, mut control) = (0usize, 0usize);
    for c in s.chars() {
        total += 1;
        if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
            control += 1;
        }
    }
    control * 10 > total
}

/// Where escaped output goes: one flat `String`, or a list of segments.
trait Sink {
    /// The buffer for the next piece of text; `escaped` says whether that
    /// text is an escape sequence of ours.
    fn buf(&mut self, escaped: bool) -> &mut String;
}

impl Sink for String {
    fn buf(&mut self, _escaped: bool) -> &mut String {
        self
    }
}

impl Sink for Vec<Segment> {
    fn buf(&mut self, escaped: bool) -> &mut String {
        let reuse = matches!(self.last(), Some(seg) if seg.escaped == escaped);
        if !reuse {
            self.push(Segment {
                text: String::new(),
                escaped,
            });
        }
        let last = self.len() - 1;
        &mut self[last].text
    }
}

/// Room for the input plus a few escapes, so typical dirty lines do not
/// reallocate while huge binary payloads do not over-reserve by 4x up front.
fn escaped_capacity(len: usize) -> usize {
    len + len / 8 + 16
}

fn is_printable_ascii(b: u8) -> bool {
    (0x20..0x7f).contains(&b)
}

/// Byte index of the first char that needs escaping.
fn first_unsafe(s: &str) -> Option<usize> {
    // Printable ASCII dominates real traffic, so only decode chars past it.
    // The first non-printable byte is ASCII or a UTF-8 lead byte, hence a
    // char boundary.
    let ascii = s.bytes().position(|b| !is_printable_ascii(b))?;
    s[ascii..]
        .char_indices()
        .find(|&(_, c)| is_unsafe_char(c))
        .map(|(i, _)| ascii + i)
}

fn escape_bytes_into(bytes: &[u8], sink: &mut impl Sink) {
    // utf8_chunks walks exactly like from_utf8 + valid_up_to/error_len, but
    // without re-validating each valid prefix.
    for chunk in bytes.utf8_chunks() {
        escape_valid_into(chunk.valid(), sink);
        for &b in chunk.invalid() {
            push_hex_byte(sink.buf(true), b);
        }
    }
}

fn escape_valid_into(mut s: &str, sink: &mut impl Sink) {
    while let Some(i) = first_unsafe(s) {
        let (clean, rest) = s.split_at(i);
        let mut chars = rest.chars();
        let Some(c) = chars.next() else { break };
        if !clean.is_empty() {
            sink.buf(false).push_str(clean);
        }
        push_char_escape(sink.buf(true), c);
        s = chars.as_str();
    }
    if !s.is_empty() {
        sink.buf(false).push_str(s);
    }
}

fn push_char_escape(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0'..='\x1f' | '\x7f' => push_hex_byte(out, c as u8),
        _ => {
            let v = u32::from(c);
            let digits = (32 - v.leading_zeros()).div_ceil(4).max(1);
            out.push_str("\\u{");
            for shift in (0..digits).rev() {
                out.push(char::from(HEX[((v >> (shift * 4)) & 0xf) as usize]));
            }
            out.push('}');
        }
    }
}

fn push_hex_byte(out: &mut String, b: u8) {
    out.push_str("\\x");
    push_hex_digits(out, b);
}

fn push_hex_digits(out: &mut String, b: u8) {
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

#[derive(Default)]
struct JsonPrinter {
    lines: Vec<String>,
    line: String,
    depth: usize,
}

impl JsonPrinter {
    /// Finishes the current line and starts the next one at the current depth.
    fn break_line(&mut self) {
        let line = std::mem::replace(&mut self.line, " ".repeat(self.depth * 2));
        // Avoid copying the (usually clean) line just to escape nothing.
        let line = if first_unsafe(&line).is_none() {
            line
        } else {
            escape_str(&line).into_owned()
        };
        self.lines.push(line);
    }
}

/// Next token of already-validated JSON text: a punctuation char, a whole
/// string literal including quotes and escapes, or a bare scalar.
fn next_json_token<'a>(text: &'a str, pos: &mut usize) -> Option<&'a str> {
    let bytes = text.as_bytes();
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = *pos + bytes.get(*pos..)?.iter().position(|b| !is_ws(b))?;
    let end = match bytes.get(start)? {
        b'{' | b'}' | b'[' | b']' | b':' | b',' => start + 1,
        b'"' => {
            let mut i = start + 1;
            while let Some(&b) = bytes.get(i) {
                i += 1;
                match b {
                    b'\\' => i += 1,
                    b'"' => break,
                    _ => {}
                }
            }
            i.min(bytes.len())
        }
        _ => bytes[start..]
            .iter()
            .position(|b| is_ws(b) || b"{}[]:,\"".contains(b))
            .map_or(bytes.len(), |n| start + n),
    };
    *pos = end;
    text.get(start..end)
}

/// Where a preview of untrusted `payload` ends (a feed row, a channel name): at most
/// `max` bytes, moved back to the
/// start of a UTF-8 sequence it would cut in half (which would show as bogus `\x`
/// escapes) — by at most three bytes, the most a sequence continues for. A run of
/// continuation bytes that is not UTF-8 (`\x91` × 3,000) is cut where it is: moving back
/// over all of it left the row empty, a payload hidden from view.
pub fn cut_at(payload: &[u8], max: usize) -> usize {
    let end = payload.len().min(max);
    let continues = |i: usize| payload.get(i).is_some_and(|b| b & 0xc0 == 0x80);
    (0..=3)
        .map(|back| end.saturating_sub(back))
        .find(|&at| at == payload.len() || !continues(at))
        .filter(|&at| at > 0 || end == 0)
        .unwrap_or(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_never_cuts_a_character_and_never_hides_a_payload() {
        // A two-byte character across the limit: cut before it.
        let mut split = vec![b'a'; 2047];
        split.extend_from_slice("é".as_bytes());
        assert_eq!(cut_at(&split, 2048), 2047);
        // Continuation bytes that are not UTF-8, longer than the limit: cut at the limit
        // (moving back over all of them showed nothing).
        for payload in [vec![0x91; 3000], [b"a".as_slice(), &[0x91; 3000]].concat()] {
            assert_eq!(cut_at(&payload, 2048), 2048);
        }
        assert_eq!(cut_at(b"short", 2048), 5);
        assert_eq!(cut_at(b"", 2048), 0);
        // Four-byte characters on every side of the limit.
        let emoji = "😀".repeat(1000);
        for max in 2040..2050 {
            let end = cut_at(emoji.as_bytes(), max);
            assert!(
                emoji.is_char_boundary(end) && end <= max && max - end < 4,
                "{max}: {end}"
            );
        }
    }

    fn line(bytes: &[u8]) -> String {
        escape_line(bytes).into_owned()
    }

    #[test]
    fn escape_sequences_are_neutralised() {
        assert_eq!(line(b"\x1b[2J"), "\\x1b[2J");
        assert_eq!(line(b"\x1b]52;c;aGVsbG8=\x07"), "\\x1b]52;c;aGVsbG8=\\x07");
        assert_eq!(line(b"\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
        assert_eq!(line(b"\x1b[6n"), "\\x1b[6n");
    }

    #[test]
    fn controls_and_invalid_utf8() {
        assert_eq!(line(b"a\x9bb"), "a\\x9bb");
        assert_eq!(line("a\u{9b}[2J".as_bytes()), "a\\u{9b}[2J");
        assert_eq!(line("abc\u{202e}fed".as_bytes()), "abc\\u{202e}fed");
        assert_eq!(line(b"a\0b"), "a\\x00b");
        assert_eq!(line(b"\x7f"), "\\x7f");
        assert_eq!(line(b"\xff\xfe"), "\\xff\\xfe");
        assert_eq!(line(b"\xc3\xa9\xff\xe6\x97\xa5"), "\u{e9}\\xff\u{65e5}");
        assert_eq!(line(b"ok\xe6\x97"), "ok\\xe6\\x97");
        assert_eq!(line(b"\xe2\x80a"), "\\xe2\\x80a");
        assert_eq!(line(b"1\n2\r3\t4"), "1\\n2\\r3\\t4");
        assert_eq!(line("\u{feff}\u{61c}".as_bytes()), "\\u{feff}\\u{61c}");
        assert_eq!(line("\u{e0041}\u{2066}".as_bytes()), "\\u{e0041}\\u{2066}");
        assert_eq!(line(b"C:\\x1b"), "C:\\x1b", "backslash is kept as-is");
        assert_eq!(escape_str("err\x1b[31m"), "err\\x1b[31m");
    }

    #[test]
    fn clean_input_is_borrowed() {
        let ascii = escape_line(b"hello world ~");
        assert!(matches!(ascii, Cow::Borrowed("hello world ~")));
        assert!(matches!(escape_line(b""), Cow::Borrowed("")));
        let s = "caf\u{e9} \u{65e5}\u{672c}\u{8a9e} \u{1f600}";
        assert!(matches!(escape_line(s.as_bytes()), Cow::Borrowed(b) if b == s));
        assert!(matches!(escape_str(s), Cow::Borrowed(_)));
        assert!(matches!(escape_line(b"a\tb"), Cow::Owned(_)));
    }

    #[test]
    fn lines_split_on_lf_and_crlf() {
        assert_eq!(escape_lines(b"a\r\nb\nc\rd\r"), ["a", "b", "c\\rd\\r"]);
        assert_eq!(escape_lines(b"a\t\x1b\n"), ["a\\t\\x1b", ""]);
        assert_eq!(escape_lines(b""), [""]);
    }

    #[test]
    fn segments_mark_our_escapes() {
        let kinds = |bytes: &[u8]| -> Vec<(String, bool)> {
            let segments = escape_segments(bytes).into_iter();
            segments.map(|s| (s.text, s.escaped)).collect()
        };
        let expected = [
            ("a", false),
            ("\\x1b\\x00", true),
            ("\\x1b", false),
            ("\\xff", true),
        ];
        let expected: Vec<_> = expected.iter().map(|&(t, e)| (t.to_string(), e)).collect();
        assert_eq!(kinds(b"a\x1b\x00\\x1b\xff"), expected);
        assert_eq!(kinds(b"plain"), [("plain".to_string(), false)]);
        assert!(escape_segments(b"").is_empty());
    }

    #[test]
    fn pretty_json_keeps_order_and_duplicates() {
        let out = pretty_json(br#" {"b":1,"a":[1,[],{"c":null}],"b":{}} "#);
        let expected = r#"{
  "b": 1,
  "a": [
    1,
    [],
    {
      "c": null
    }
  ],
  "b": {}
}"#;
        assert_eq!(out.map(|lines| lines.join("\n")).as_deref(), Some(expected));
    }

    #[test]
    fn pretty_json_matches_serde_layout() {
        let src = br#"[1,{"a":true,"b":["x",{}]},[],null,"s"]"#;
        let value: serde_json::Value = serde_json::from_slice(src).expect("valid test JSON");
        let serde_pretty = serde_json::to_string_pretty(&value).expect("serialisable");
        assert_eq!(pretty_json(src).map(|l| l.join("\n")), Some(serde_pretty));
    }

    #[test]
    fn pretty_json_strings_and_escapes() {
        let src = "{\"k\":\"q\\\"b\\\\s\\u202e\",\"raw\":\"x\u{202e}y\u{9b}\"}";
        let out = pretty_json(src.as_bytes()).map(|lines| lines.join("\n"));
        let expected = r#"{
  "k": "q\"b\\s\u202e",
  "raw": "x\u{202e}y\u{9b}"
}"#;
        assert_eq!(out.as_deref(), Some(expected));
        assert_eq!(pretty_json(br#""{:,""#), Some(vec![r#""{:,""#.to_string()]));
    }

    #[test]
    fn pretty_json_rejects_non_json() {
        let bad_inputs = b"|  |hello|{\"a\":1|1 2|[1,]|\"\xff\"|{'a':1}|\"\x01\"|nul|01";
        for bad in bad_inputs.split(|&b| b == b'|') {
            assert_eq!(pretty_json(bad), None, "{bad:?}");
        }
        assert_eq!(pretty_json(b" 42\n"), Some(vec!["42".to_string()]));
        assert_eq!(pretty_json(b"-1.5e3"), Some(vec!["-1.5e3".to_string()]));
        let deep = "[".repeat(MAX_JSON_DEPTH + 1) + &"]".repeat(MAX_JSON_DEPTH + 1);
        assert_eq!(pretty_json(deep.as_bytes()), None);
    }

    #[test]
    fn hex_dump_layout() {
        assert_eq!(
            hex_dump(b"\x1b[2Jhi\nabcdefghijk"),
            [
                "00000000  1b 5b 32 4a 68 69 0a 61  62 63 64 65 66 67 68 69  |.[2Jhi.abcdefghi|",
                "00000010  6a 6b                                             |jk|",
            ]
        );
        let dump = hex_dump(&[0xab; 33]);
        assert_eq!(dump.len(), 3);
        assert!(dump[2].starts_with("00000020  ab    "));
        assert!(hex_dump(b"").is_empty());
    }

    #[test]
    fn binary_detection() {
        assert!(looks_binary(b"\x00\x01\x02\x03\x04\x05\x06\x07"));
        assert!(looks_binary(b"ok\xff"));
        assert!(looks_binary(b"abcdefgh\x1b\x1b"));
        assert!(!looks_binary(br#"{"user": "caf\u00e9", "n": [1, 2]}"#));
        assert!(!looks_binary(b"line one\r\nline\ttwo\n"));
        assert!(!looks_binary(b""));
    }

    use crate::test_rng::XorShift;

    /// Hostile fragments separated by `|`: terminal controls, C1 in raw and
    /// UTF-8 form, bidi / invisible encodings, truncated sequences, fake escapes.
    const ATOMS: &[u8] = b"\x1b|\x1b[2J|\x1b]52;c;|\x07|\0|\x7f|\n|\r|\t|\r\n|\xc2\x9b|\xc2\x85|\
        \xe2\x80\xae|\xe2\x80\xab|\xe2\x80\x8b|\xe2\x81\xa6|\xe2\x81\xa9|\xe2\x80\xa8|\xd8\x9c|\
        \xef\xbb\xbf|\xef\xbf\xb9|\xf3\xa0\x80\x81|\xc3\xa9|\xe6\x97\xa5|\xf0\x9f\x98\x80|\
        \xe2\x80|\xf0\x9f|\\x1b|\"|\\";

    fn random_bytes(rng: &mut XorShift, atoms: &[&[u8]]) -> Vec<u8> {
        let len = rng.below(64);
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            match rng.below(5) {
                0 => v.push(rng.next() as u8),
                1 => v.push(rng.below(0x20) as u8),
                2 => v.push(0x7f + rng.below(0x21) as u8),
                3 => v.extend_from_slice(atoms[rng.below(atoms.len())]),
                _ => v.push(b' ' + rng.below(95) as u8),
            }
        }
        // Cutting may split a multi-byte atom, which is exactly the point.
        v.truncate(len);
        v
    }

    fn assert_safe(what: &str, input: &[u8], out: &str) {
        if let Some(c) = out.chars().find(|&c| c.is_control() || is_unsafe_char(c)) {
            panic!("{what} leaked {c:?} for input {input:?}: {out:?}");
        }
    }

    #[test]
    fn random_inputs_never_leak_unsafe_chars() {
        let atoms: Vec<&[u8]> = ATOMS.split(|&b| b == b'|').collect();
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..30_000 {
            let input = random_bytes(&mut rng, &atoms);
            let escaped = escape_line(&input);
            assert_safe("escape_line", &input, &escaped);
            if let Ok(s) = std::str::from_utf8(&input) {
                assert_eq!(escape_str(s), escaped);
                if !s.chars().any(is_unsafe_char) {
                    assert!(matches!(&escaped, Cow::Borrowed(b) if *b == s), "{input:?}");
                }
            }

            let segments = escape_segments(&input);
            let joined: String = segments.iter().map(|s| s.text.as_str()).collect();
            assert_eq!(joined, escaped, "{input:?}");
            for (i, seg) in segments.iter().enumerate() {
                assert_safe("escape_segments", &input, &seg.text);
                assert!(!seg.text.is_empty());
                assert!(!seg.escaped || seg.text.starts_with('\\'));
                assert!(i == 0 || segments[i - 1].escaped != seg.escaped);
            }

            let lines = escape_lines(&input);
            lines
                .iter()
                .for_each(|l| assert_safe("escape_lines", &input, l));
            if !input.contains(&b'\r') {
                assert_eq!(lines.join("\\n"), escaped, "{input:?}");
            }

            let raw_pretty = pretty_json(&input).unwrap_or_default();
            raw_pretty
                .iter()
                .for_each(|l| assert_safe("pretty_json", &input, l));
            // JSON forbids raw C0 and unescaped quotes/backslashes in strings,
            // but DEL, C1 and bidi characters are legal and must be escaped.
            let text: String = String::from_utf8_lossy(&input)
                .chars()
                .filter(|&c| c >= ' ' && c != '"' && c != '\\')
                .collect();
            let json = format!(r#"{{"k{text}": ["{text}", 1, {{}}], "k{text}": "{text}"}}"#);
            let pretty = pretty_json(json.as_bytes());
            assert_eq!(pretty.as_ref().map(Vec::len), Some(8), "{json:?}");
            for l in pretty.unwrap_or_default() {
                assert_safe("pretty_json", json.as_bytes(), &l);
            }
        }
    }
}
