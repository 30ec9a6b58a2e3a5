//! The one JSON writer: every JSON document redtail prints or writes to a file goes
//! through here, so untrusted bytes never reach a terminal (or a `cat` of a log) raw.
//!
//! JSON itself only requires `"`, `\` and C0 controls to be escaped. A raw DEL, C1 control
//! (U+009B is a one-char CSI), bidi override or zero-width character inside a string is
//! valid JSON but still rewrites or hides what a person sees. So every char for which
//! [`is_unsafe_char`] is true is written as `\uXXXX` too (a surrogate pair above U+FFFF).
//! Decoders get exactly the original string back.
//!
//! Two ways in, one rule: [`SafeFormatter`] for serde (`to_writer_safe`, `to_vec_safe`)
//! and [`json_str`] for hand-written hot paths (`jsonl.rs`). Both call [`escape_into`].

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

use crate::text::escape::is_unsafe_char;

/// serde_json's compact output (the trait's default methods are `CompactFormatter`'s),
/// except that strings escape every terminal-unsafe char.
#[derive(Debug, Default, Clone, Copy)]
pub struct SafeFormatter;

impl Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json has already escaped `"`, `\` and C0; fragments are the runs between.
        if fragment.bytes().all(|b| b < 0x7f) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut buf = Vec::with_capacity(fragment.len() + 16);
        escape_into(fragment, &mut buf);
        writer.write_all(&buf)
    }
}

/// Serialize `value` as compact JSON into `writer` with the safe string rule.
pub fn to_writer_safe<W: io::Write, T: ?Sized + Serialize>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(writer, SafeFormatter);
    value.serialize(&mut ser)
}

/// [`to_writer_safe`] into a new buffer.
pub fn to_vec_safe<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    to_writer_safe(&mut out, value)?;
    Ok(out)
}

/// [`to_writer_safe`] as a `String` (the output is always UTF-8).
pub fn to_string_safe<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<String> {
    let bytes = to_vec_safe(value)?;
    // Infallible: serde_json writes UTF-8 and our escapes are ASCII.
    String::from_utf8(bytes).map_err(serde::ser::Error::custom)
}

/// A JSON string literal, quotes included: the hand-written hot path's writer.
pub fn json_str(text: &str, out: &mut Vec<u8>) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    escape_into(text, out);
    out.push(b'"');
}

/// Bytes as JSON: a string when they are UTF-8, else `{"b64":"…"}` (standard base64).
pub fn json_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    if json_str_bytes(bytes, out) {
        return;
    }
    use base64::Engine as _;
    out.extend_from_slice(b"{\"b64\":\"");
    let mut encoded = String::with_capacity(bytes.len() * 4 / 3 + 4);
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut encoded);
    out.extend_from_slice(encoded.as_bytes());
    out.extend_from_slice(b"\"}");
}

/// [`json_str`] for bytes that may not be UTF-8, checked while escaping (one pass over
/// a payload instead of `str::from_utf8` and then the escaper): true when `bytes` were
/// UTF-8 and the literal was written; false, with `out` left as it was, when not.
pub fn json_str_bytes(bytes: &[u8], out: &mut Vec<u8>) -> bool {
    let start = out.len();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if !escape_bytes_into(bytes, out) {
        out.truncate(start);
        return false;
    }
    out.push(b'"');
    true
}

/// The body of a JSON string literal (no quotes). Copies runs of plain bytes at once;
/// escapes `"`, `\`, and every char [`is_unsafe_char`] rejects (C0, DEL, C1, bidi,
/// invisible format characters, line/paragraph separators).
pub fn escape_into(text: &str, out: &mut Vec<u8>) {
    // Always true: a `&str` is UTF-8.
    let _ = escape_bytes_into(text.as_bytes(), out);
}

/// Bytes [`escape_into`] copies as they are: printable ASCII other than `"` and `\`.
const PLAIN: u8 = 0;
/// The first byte of a non-ASCII char (or not UTF-8 at all).
const NON_ASCII: u8 = 1;
/// An ASCII byte written as `\u00XX`.
const U_ESCAPE: u8 = b'u';

/// What each byte is: [`PLAIN`], [`NON_ASCII`], [`U_ESCAPE`], or the letter of its short
/// escape (`\n`, `\"`; serde_json's short forms, so both writers give identical bytes).
static CLASS: [u8; 256] = {
    let mut table = [NON_ASCII; 256];
    let mut b = 0;
    while b < 0x80 {
        table[b] = if b < 0x20 || b == 0x7f {
            U_ESCAPE
        } else {
            PLAIN
        };
        b += 1;
    }
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table
};

/// Bytes tested at once for "all plain": the compiler turns [`all_plain`] into a few
/// SIMD compares on 16 bytes (SSE2 on x86-64, NEON on aarch64).
const STRIDE: usize = 16;

#[inline(always)]
fn all_plain(chunk: &[u8; STRIDE]) -> bool {
    let mut special = false;
    for &b in chunk {
        // `b - 0x20 >= 0x5f` (wrapping) is "below space, DEL, or not ASCII".
        special |= (b.wrapping_sub(0x20) >= 0x5f) | (b == b'"') | (b == b'\\');
    }
    !special
}

/// The escaper behind [`escape_into`] and [`json_str_bytes`]: skips clean runs 16 bytes
/// at a time and copies each run once; checks UTF-8 only where a byte ≥ 0x80 occurs
/// (each maximal run of such bytes must be UTF-8 by itself, since no char's encoding
/// holds an ASCII byte). False, with a partial body in `out`, on invalid UTF-8.
fn escape_bytes_into(bytes: &[u8], out: &mut Vec<u8>) -> bool {
    let len = bytes.len();
    let mut run_start = 0;
    let mut i = 0;
    loop {
        while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<STRIDE>) {
            if !all_plain(chunk) {
                break;
            }
            i += STRIDE;
        }
        while i < len && CLASS[usize::from(bytes[i])] == PLAIN {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else { break };
        match CLASS[usize::from(b)] {
            NON_ASCII => {
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b < 0x80)
                    .map_or(len, |k| i + k);
                let Ok(text) = std::str::from_utf8(&bytes[i..end]) else {
                    return false;
                };
                for (offset, c) in text.char_indices() {
                    if is_unsafe_char(c) {
                        out.extend_from_slice(&bytes[run_start..i + offset]);
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            push_u_escape(*unit, out);
                        }
                        run_start = i + offset + c.len_utf8();
                    }
                }
                i = end;
            }
            class => {
                out.extend_from_slice(&bytes[run_start..i]);
                if class == U_ESCAPE {
                    push_u_escape(u16::from(b), out);
                } else {
                    out.extend_from_slice(&[b'\\', class]);
                }
                i += 1;
                run_start = i;
            }
        }
    }
    out.extend_from_slice(&bytes[run_start..]);
    true
}

fn push_u_escape(unit: u16, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[usize::from((unit >> shift) & 0xf)]);
    }
}

/// True when JSON text holds no char that must not reach a terminal raw: only
/// printable ASCII and safe non-ASCII chars.
pub fn is_terminal_safe(text: &str) -> bool {
    !text.chars().any(is_unsafe_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rng::XorShift;

    /// Chars a hostile name would use, plus the ones JSON itself must escape.
    const DANGEROUS: &[char] = &[
        '\0',
        '\x07',
        '\x08',
        '\t',
        '\n',
        '\r',
        '\x1b',
        '\x1f',
        '\x7f',
        '\u{80}',
        '\u{85}',
        '\u{9b}',
        '\u{9f}',
        '\u{ad}',
        '\u{61c}',
        '\u{180e}',
        '\u{200b}',
        '\u{200d}',
        '\u{200e}',
        '\u{200f}',
        '\u{2028}',
        '\u{2029}',
        '\u{202a}',
        '\u{202e}',
        '\u{2060}',
        '\u{2066}',
        '\u{2069}',
        '\u{206f}',
        '\u{feff}',
        '\u{fff9}',
        '\u{110bd}',
        '\u{1d173}',
        '\u{e0001}',
        '\u{e0041}',
        '"',
        '\\',
        '/',
        'é',
        '日',
        '🦀',
        '\u{10ffff}',
    ];

    fn random_string(rng: &mut XorShift) -> String {
        let len = rng.below(40);
        let mut s = String::new();
        for _ in 0..len {
            match rng.below(4) {
                0 => s.push(DANGEROUS[rng.below(DANGEROUS.len())]),
                1 => s.push(char::from(b' ' + rng.below(95) as u8)),
                2 => s.push(char::from_u32(rng.below(0x2_0000) as u32).unwrap_or('?')),
                _ => s.push(char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x')),
            }
        }
        s
    }

    fn random_bytes_lossy(rng: &mut XorShift) -> String {
        let bytes: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn assert_safe_and_exact(what: &str, input: &str, out: &[u8]) {
        let text = std::str::from_utf8(out).expect("JSON output is UTF-8");
        assert!(
            is_terminal_safe(text),
            "{what} leaked raw: {input:?} → {text:?}"
        );
        let back: String = serde_json::from_slice(out).expect("valid JSON");
        assert_eq!(back, input, "{what} did not round-trip");
    }

    #[test]
    fn the_sixteen_byte_test_agrees_with_the_byte_rule() {
        let plain = |b: u8| CLASS[usize::from(b)] == PLAIN;
        assert_eq!((0..=255u8).filter(|&b| plain(b)).count(), 0x7f - 0x20 - 2);
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        for round in 0..200_000u32 {
            let mut chunk = [b'a'; STRIDE];
            if round < 256 * STRIDE as u32 {
                // Every byte value in every position.
                chunk[(round / 256) as usize] = (round % 256) as u8;
            } else {
                for b in &mut chunk {
                    *b = (rng.next() % 256) as u8;
                }
            }
            assert_eq!(
                all_plain(&chunk),
                chunk.iter().all(|&b| plain(b)),
                "{chunk:?}"
            );
        }
    }

    /// The escaper as it was before the 16-byte rewrite (eight bytes at a time after a
    /// separate `str::from_utf8`): the new one must give byte-identical output.
    mod before {
        use crate::text::escape::is_unsafe_char;

        pub(super) fn json_str_bytes(bytes: &[u8]) -> Option<Vec<u8>> {
            let text = std::str::from_utf8(bytes).ok()?;
            let mut out = vec![b'"'];
            escape_into(text, &mut out);
            out.push(b'"');
            Some(out)
        }

        fn escape_into(text: &str, out: &mut Vec<u8>) {
            let bytes = text.as_bytes();
            let mut run_start = 0;
            let mut i = 0;
            while i < bytes.len() {
                if let Some(word) = bytes.get(i..i + 8) {
                    let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                    if is_plain_word(word) {
                        i += 8;
                        continue;
                    }
                }
                let b = bytes[i];
                if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
                    i += 1;
                    continue;
                }
                if b >= 0x80 {
                    let ch_len = match b {
                        0xf0..=0xff => 4,
                        0xe0..=0xef => 3,
                        _ => 2,
                    };
                    let c = text[i..i + ch_len].chars().next().unwrap_or('\u{fffd}');
                    if !is_unsafe_char(c) {
                        i += ch_len;
                        continue;
                    }
                    out.extend_from_slice(&bytes[run_start..i]);
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        super::push_u_escape(*u, out);
                    }
                    i += ch_len;
                    run_start = i;
                    continue;
                }
                out.extend_from_slice(&bytes[run_start..i]);
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0x08 => out.extend_from_slice(b"\\b"),
                    0x0c => out.extend_from_slice(b"\\f"),
                    other => super::push_u_escape(u16::from(other), out),
                }
                i += 1;
                run_start = i;
            }
            out.extend_from_slice(&bytes[run_start..]);
        }

        fn is_plain_word(word: u64) -> bool {
            const ONES: u64 = 0x0101_0101_0101_0101;
            const HIGH: u64 = 0x8080_8080_8080_8080;
            let zero = |v: u64| !(((v & !HIGH) + !HIGH) | v | !HIGH);
            let low7 = word & !HIGH;
            let below_space = !(low7 + ONES * (0x80 - 0x20)) & HIGH;
            let del = zero(word ^ (ONES * 0x7f));
            let quote = zero(word ^ (ONES * u64::from(b'"')));
            let backslash = zero(word ^ (ONES * u64::from(b'\\')));
            ((word & HIGH) | below_space | del | quote | backslash) == 0
        }
    }

    /// The new escaper against the old one on `bytes`: same bytes out, and invalid UTF-8
    /// rejected with `out` untouched.
    fn assert_same_as_before(bytes: &[u8]) {
        let mut out = b"prefix".to_vec();
        let written = json_str_bytes(bytes, &mut out);
        match before::json_str_bytes(bytes) {
            Some(expected) => {
                assert!(written, "rejected valid UTF-8 {bytes:?}");
                assert_eq!(&out[6..], &expected[..], "differs on {bytes:?}");
            }
            None => {
                assert!(!written, "accepted invalid UTF-8 {bytes:?}");
                assert_eq!(out, b"prefix", "left bytes behind for {bytes:?}");
            }
        }
    }

    /// Byte strings a hostile producer would send: pieces of dangerous chars, invalid
    /// UTF-8 (lone continuation bytes, overlongs, surrogates, above U+10FFFF, cut
    /// sequences) and long clean runs, so every position relative to a 16-byte chunk
    /// is hit.
    fn hostile_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let dangerous: Vec<Vec<u8>> = DANGEROUS
            .iter()
            .map(|c| c.to_string().into_bytes())
            .chain(
                [
                    &b"\x80"[..],
                    b"\xbf",
                    b"\xc0\xaf",
                    b"\xc1\xbf",
                    b"\xe0\x80\xaf",
                    b"\xed\xa0\x80",
                    b"\xed\xbf\xbf",
                    b"\xf4\x90\x80\x80",
                    b"\xf5",
                    b"\xff",
                    b"\xe2\x80",
                    b"\xf0\x9f\xa6",
                    b"\xc2",
                    b"\x1b[2J",
                    b"\x1b]52;c;aGk=\x07",
                    b"\xc2\x9b6n",
                ]
                .iter()
                .map(|b| b.to_vec()),
            )
            .collect();
        let piece = prop_oneof![
            4 => proptest::sample::select(dangerous),
            3 => proptest::collection::vec(0x20u8..0x7f, 0..40),
            2 => proptest::collection::vec(any::<u8>(), 0..8),
            1 => (0usize..40).prop_map(|n| "é日🦀".repeat(n).into_bytes()),
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        #[test]
        fn new_escaper_matches_the_old_one_on_hostile_bytes(bytes in hostile_bytes()) {
            assert_same_as_before(&bytes);
        }

        #[test]
        fn new_escaper_matches_the_old_one_on_random_bytes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)
        ) {
            assert_same_as_before(&bytes);
        }
    }

    #[test]
    fn new_escaper_matches_the_old_one_on_every_char_at_every_chunk_position() {
        for offset in 0..=STRIDE + 1 {
            let pad = "a".repeat(offset);
            for c in (0..=0x10ffffu32)
                .step_by(7)
                .filter_map(char::from_u32)
                .chain(DANGEROUS.iter().copied())
            {
                let text = format!("{pad}{c}{pad}");
                assert_same_as_before(text.as_bytes());
            }
        }
        for b in 0..=255u8 {
            for offset in 0..=STRIDE + 1 {
                let mut bytes = vec![b'x'; 2 * STRIDE];
                bytes[offset] = b;
                assert_same_as_before(&bytes);
            }
        }
    }

    #[test]
    fn random_strings_are_escaped_and_round_trip_through_both_writers() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for i in 0..40_000 {
            let input = if i % 3 == 0 {
                random_bytes_lossy(&mut rng)
            } else {
                random_string(&mut rng)
            };
            let mut hot = Vec::new();
            json_str(&input, &mut hot);
            assert_safe_and_exact("json_str", &input, &hot);
            let serde = to_vec_safe(&input).expect("serialisable");
            assert_safe_and_exact("SafeFormatter", &input, &serde);
            assert_eq!(hot, serde, "the two writers disagree on {input:?}");
        }
    }

    #[test]
    fn documents_keep_their_shape_and_escape_names_and_values() {
        let doc = serde_json::json!({
            "name\u{202e}": ["a\u{9b}[2J", 1, null, {"z\u{200b}": "\x7f"}],
            "n": 1.5,
        });
        let out = to_string_safe(&doc).expect("serialisable");
        assert_eq!(
            out,
            r#"{"n":1.5,"name\u202e":["a\u009b[2J",1,null,{"z\u200b":"\u007f"}]}"#
        );
        let back: serde_json::Value = serde_json::from_str(&out).expect("valid");
        assert_eq!(back, doc);
        assert_eq!(
            to_string_safe("🦀\u{e0041}").unwrap(),
            "\"🦀\\udb40\\udc41\""
        );
    }
}
