//! A minimal RESP2 reader for the subscriber connection (and, in [`reader`], a borrowing
//! RESP2/RESP3 reader for replies parsed straight into structs). We read pub/sub frames
//! ourselves (instead of redis-rs's PubSub) to get SSUBSCRIBE, byte-exact names, a
//! bounded hand-off, and liveness pings — see REDIS-NOTES.md.

use std::ops::Range;

mod reader;
pub use reader::{skip_value, Item, ReadError, Reader, Skipper};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Simple(Range<usize>),
    Error(Range<usize>),
    Integer(i64),
    Bulk(Range<usize>),
    Nil,
    Array(Vec<Frame>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// A whole frame and how many bytes it used.
    Complete(Frame, usize),
    /// Need more input; `hint` is the total buffer length known to be needed (0 = unknown).
    Incomplete { hint: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "protocol error: {}", self.0)
    }
}

/// Largest bulk string we accept (Redis's own proto-max-bulk-len default).
const MAX_BULK: usize = 512 * 1024 * 1024;
const MAX_ARRAY: usize = 1 << 20;

pub fn parse(buf: &[u8]) -> Result<Parse, ProtocolError> {
    parse_at(buf, 0, 0)
}

/// [`parse`] of the frame that starts at `start`: ranges, the end and the hint are
/// positions in all of `buf`.
pub fn parse_from(buf: &[u8], start: usize) -> Result<Parse, ProtocolError> {
    parse_at(buf, start, 0)
}

/// Which published-message frame a [`Push`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    /// `*3 $7 message $n channel $n payload`
    Message,
    /// `*4 $8 pmessage $n pattern $n channel $n payload`
    PMessage,
    /// `*3 $8 smessage $n channel $n payload`
    SMessage,
}

/// A published message's parts as byte ranges of the buffer it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub kind: PushKind,
    pub pattern: Option<Range<usize>>,
    pub channel: Range<usize>,
    pub payload: Range<usize>,
    /// Where the frame ends (the next frame starts) in the buffer.
    pub end: usize,
}

/// The fast path for the frames a subscriber reads by the million: a complete message,
/// pmessage or smessage at `start`, in the exact form the server writes (bulk strings,
/// plain decimal lengths), read as ranges without building a [`Frame`] per part. `None`
/// for anything else — another frame, a partial one, an unusual or damaged encoding —
/// which [`parse_from`] then reads (or rejects) as before; where this returns a push,
/// [`parse_from`] returns the same frame (a proptest holds them to it).
pub fn parse_push(buf: &[u8], start: usize) -> Option<Push> {
    let rest = buf.get(start..)?;
    const MESSAGE: &[u8] = b"*3\r\n$7\r\nmessage\r\n";
    const PMESSAGE: &[u8] = b"*4\r\n$8\r\npmessage\r\n";
    const SMESSAGE: &[u8] = b"*3\r\n$8\r\nsmessage\r\n";
    let (kind, mut pos) = if rest.starts_with(MESSAGE) {
        (PushKind::Message, start + MESSAGE.len())
    } else if rest.starts_with(PMESSAGE) {
        (PushKind::PMessage, start + PMESSAGE.len())
    } else if rest.starts_with(SMESSAGE) {
        (PushKind::SMessage, start + SMESSAGE.len())
    } else {
        return None;
    };
    let pattern = if kind == PushKind::PMessage {
        let (range, next) = push_bulk(buf, pos)?;
        pos = next;
        Some(range)
    } else {
        None
    };
    let (channel, pos) = push_bulk(buf, pos)?;
    let (payload, end) = push_bulk(buf, pos)?;
    Some(Push {
        kind,
        pattern,
        channel,
        payload,
        end,
    })
}

/// `$<digits>\r\n<bytes>\r\n` at `pos`: the bytes' range and the position after it.
/// Only 1 to 19 digits without a sign (what [`int`] reads the same way), within
/// [`MAX_BULK`]; anything else is left to the generic parser.
fn push_bulk(buf: &[u8], pos: usize) -> Option<(Range<usize>, usize)> {
    if *buf.get(pos)? != b'$' {
        return None;
    }
    let mut at = pos + 1;
    let mut n: usize = 0;
    while let Some(&b) = buf.get(at) {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add(usize::from(b - b'0'))?;
        at += 1;
    }
    let digits = at - pos - 1;
    if digits == 0 || digits > 19 || n > MAX_BULK || buf.get(at..at + 2)? != b"\r\n" {
        return None;
    }
    let from = at + 2;
    let to = from.checked_add(n)?;
    if buf.get(to..to + 2)? != b"\r\n" {
        return None;
    }
    Some((from..to, to + 2))
}

fn parse_at(buf: &[u8], start: usize, depth: usize) -> Result<Parse, ProtocolError> {
    if depth > 8 {
        return Err(ProtocolError("nesting too deep".into()));
    }
    let Some(&tag) = buf.get(start) else {
        return Ok(Parse::Incomplete { hint: 0 });
    };
    let Some(line_end) = find_crlf(buf, start + 1) else {
        return Ok(Parse::Incomplete { hint: 0 });
    };
    let line = start + 1..line_end;
    let after = line_end + 2;
    match tag {
        b'+' => Ok(Parse::Complete(Frame::Simple(line), after)),
        b'-' => Ok(Parse::Complete(Frame::Error(line), after)),
        b':' => Ok(Parse::Complete(Frame::Integer(int(&buf[line])?), after)),
        b'$' => {
            let n = int(&buf[line])?;
            if n < 0 {
                return Ok(Parse::Complete(Frame::Nil, after));
            }
            let n = usize::try_from(n).map_err(|_| ProtocolError("bad length".into()))?;
            if n > MAX_BULK {
                return Err(ProtocolError(format!("bulk string of {n} bytes")));
            }
            let end = after + n;
            if buf.len() < end + 2 {
                return Ok(Parse::Incomplete { hint: end + 2 });
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError("bulk string not terminated by CRLF".into()));
            }
            Ok(Parse::Complete(Frame::Bulk(after..end), end + 2))
        }
        b'*' => {
            let n = int(&buf[line])?;
            if n < 0 {
                return Ok(Parse::Complete(Frame::Nil, after));
            }
            let n = usize::try_from(n).map_err(|_| ProtocolError("bad length".into()))?;
            if n > MAX_ARRAY {
                return Err(ProtocolError(format!("array of {n} elements")));
            }
            let mut items = Vec::with_capacity(n);
            let mut pos = after;
            for _ in 0..n {
                match parse_at(buf, pos, depth + 1)? {
                    Parse::Complete(f, next) => {
                        items.push(f);
                        pos = next;
                    }
                    incomplete => return Ok(incomplete),
                }
            }
            Ok(Parse::Complete(Frame::Array(items), pos))
        }
        other => Err(ProtocolError(format!("unexpected type byte 0x{other:02x}"))),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\r', &rest[i..]) {
        let at = i + off;
        match rest.get(at + 1) {
            Some(b'\n') => return Some(from + at),
            Some(_) => i = at + 1,
            None => return None,
        }
    }
    None
}

/// A RESP integer line: an optional `-` (or `+`), then 1 to 19 ASCII digits — what
/// `i64::from_str` accepts, without going through `str` for every frame header.
fn int(bytes: &[u8]) -> Result<i64, ProtocolError> {
    let bad = || ProtocolError("invalid integer".into());
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 19 {
        // Longer runs (leading zeros) are rare: leave them to the standard parser.
        return std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad);
    }
    let mut n: i128 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(bad());
        }
        n = n * 10 + i128::from(b - b'0');
    }
    let n = if negative { -n } else { n };
    i64::try_from(n).map_err(|_| bad())
}

/// Encode a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-level integer reader accepts and rejects exactly what `i64::from_str`
    /// does (it replaced it on every frame header).
    #[test]
    fn int_agrees_with_the_standard_parser() {
        let std_int = |b: &[u8]| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
        };
        let mut cases: Vec<Vec<u8>> = [
            "0",
            "-0",
            "+0",
            "7",
            "-1",
            "+12",
            "1024",
            "",
            "-",
            "+",
            "--1",
            "+-1",
            "1 ",
            " 1",
            "1.0",
            "0x10",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "00000000000000000000001",
            "-0000000000000000000001",
            "١٢",
        ]
        .iter()
        .map(|c| c.as_bytes().to_vec())
        .collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 22) as usize;
            let alphabet = b"0123456789-+ x\r";
            cases.push(
                (0..len)
                    .map(|i| alphabet[((seed >> (i * 3 % 60)) as usize + i) % alphabet.len()])
                    .collect(),
            );
        }
        for case in cases {
            assert_eq!(
                int(&case).ok(),
                std_int(&case),
                "{:?}",
                String::from_utf8_lossy(&case)
            );
        }
    }

    #[test]
    fn parses_a_message_frame() {
        let buf = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhe\r\nl\r\nrest";
        let Parse::Complete(Frame::Array(items), used) = parse(buf).unwrap() else {
            panic!("expected complete array");
        };
        assert_eq!(used, buf.len() - 4);
        let Frame::Bulk(p) = &items[2] else { panic!() };
        assert_eq!(&buf[p.clone()], b"he\r\nl");
    }

    #[test]
    fn incomplete_input_asks_for_more_with_a_hint() {
        let full = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$10\r\n0123456789\r\n";
        for cut in 0..full.len() {
            match parse(&full[..cut]).unwrap() {
                // A hint names a length we do not have yet and never overshoots.
                Parse::Incomplete { hint } => {
                    assert!(hint == 0 || (hint > cut && hint <= full.len()))
                }
                Parse::Complete(..) => panic!("complete at {cut}"),
            }
        }
        assert!(matches!(parse(full).unwrap(), Parse::Complete(_, n) if n == full.len()));
    }

    #[test]
    fn errors_integers_and_nil() {
        assert_eq!(
            parse(b"-NOPERM no\r\n").unwrap(),
            Parse::Complete(Frame::Error(1..10), 12)
        );
        assert_eq!(
            parse(b":-5\r\n").unwrap(),
            Parse::Complete(Frame::Integer(-5), 5)
        );
        assert_eq!(parse(b"$-1\r\n").unwrap(), Parse::Complete(Frame::Nil, 5));
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b"$3\r\nabcXY").is_err());
    }

    /// What [`parse_from`] must return where [`parse_push`] found `push` at `start`.
    fn frame_of(push: &Push, start: usize) -> Parse {
        let name_len = match push.kind {
            PushKind::Message => 7,
            PushKind::PMessage | PushKind::SMessage => 8,
        };
        let mut items = vec![Frame::Bulk(start + 8..start + 8 + name_len)];
        items.extend(push.pattern.clone().map(Frame::Bulk));
        items.push(Frame::Bulk(push.channel.clone()));
        items.push(Frame::Bulk(push.payload.clone()));
        Parse::Complete(Frame::Array(items), push.end)
    }

    /// The bytes the server writes for `frame` (read from `buf`): bulk strings with plain
    /// lengths, the form the fast path must take.
    fn canonical(buf: &[u8], frame: &Frame) -> Option<Vec<u8>> {
        let Frame::Array(items) = frame else {
            return None;
        };
        let mut parts = Vec::new();
        for item in items {
            let Frame::Bulk(r) = item else { return None };
            parts.push(&buf[r.clone()]);
        }
        let mut out = Vec::new();
        encode_command(&parts, &mut out);
        Some(out)
    }

    /// The fast path and the generic parser agree on `buf` from `start`: a push is the
    /// same frame to both, and every frame the server could have written as a message,
    /// pmessage or smessage is taken by the fast path.
    fn agree(buf: &[u8], start: usize) -> Result<(), proptest::test_runner::TestCaseError> {
        let slow = parse_from(buf, start);
        match parse_push(buf, start) {
            Some(push) => proptest::prop_assert_eq!(slow, Ok(frame_of(&push, start))),
            None => {
                if let Ok(Parse::Complete(frame, end)) = &slow {
                    let written = canonical(buf, frame);
                    let is_push = matches!(&frame, Frame::Array(items) if matches!(
                        (items.first(), items.len()),
                        (Some(Frame::Bulk(k)), 3) if [&b"message"[..], b"smessage"].contains(&&buf[k.clone()])
                    ) || matches!(
                        (items.first(), items.len()),
                        (Some(Frame::Bulk(k)), 4) if &buf[k.clone()] == b"pmessage"
                    ));
                    proptest::prop_assert!(
                        !(is_push && written.as_deref() == Some(&buf[start..*end])),
                        "fast path missed a plain push frame"
                    );
                }
            }
        }
        Ok(())
    }

    fn push_bytes(kind: u8, pattern: &[u8], channel: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match kind % 4 {
            0 => encode_command(&[b"message", channel, payload], &mut out),
            1 => encode_command(&[b"pmessage", pattern, channel, payload], &mut out),
            2 => encode_command(&[b"smessage", channel, payload], &mut out),
            // Not a push: a subscription confirmation-like frame of bulk strings.
            _ => encode_command(&[b"subscribe", channel], &mut out),
        }
        out
    }

    fn part() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        proptest::collection::vec(
            prop_oneof![
                any::<u8>(),
                Just(b'\r'),
                Just(b'\n'),
                Just(b'$'),
                Just(b'0')
            ],
            0..40,
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// Random frames, back to back, then cut short and damaged (bytes replaced,
        /// inserted), read from every offset: the fast path never disagrees.
        #[test]
        fn fast_path_agrees_with_the_generic_parser(
            frames in proptest::collection::vec(
                (proptest::prelude::any::<u8>(), part(), part(), part()), 1..4),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            cut_it in proptest::prelude::any::<bool>(),
            edits in proptest::collection::vec(
                (proptest::prelude::any::<proptest::sample::Index>(),
                 proptest::prelude::prop_oneof![
                     proptest::prelude::any::<u8>(),
                     proptest::strategy::Just(b'\r'),
                     proptest::strategy::Just(b'\n'),
                     proptest::strategy::Just(b'9'),
                     proptest::strategy::Just(b'0'),
                     proptest::strategy::Just(b'+'),
                 ],
                 proptest::prelude::any::<bool>()),
                0..3),
        ) {
            let mut buf = Vec::new();
            for (kind, pattern, channel, payload) in &frames {
                buf.extend(push_bytes(*kind, pattern, channel, payload));
            }
            for (at, byte, insert) in edits {
                let at = at.index(buf.len() + 1);
                if insert || at == buf.len() {
                    buf.insert(at, byte);
                } else {
                    buf[at] = byte;
                }
            }
            if cut_it {
                buf.truncate(cut.index(buf.len() + 1));
            }
            for start in 0..=buf.len() {
                agree(&buf, start)?;
            }
        }
    }

    #[test]
    fn fast_path_reads_each_push_kind_and_leaves_the_rest() {
        let buf = push_bytes(1, b"p*", b"p1", b"he\r\nllo");
        let push = parse_push(&buf, 0).unwrap();
        assert_eq!(push.kind, PushKind::PMessage);
        assert_eq!(&buf[push.pattern.clone().unwrap()], b"p*");
        assert_eq!(&buf[push.channel.clone()], b"p1");
        assert_eq!(&buf[push.payload.clone()], b"he\r\nllo");
        assert_eq!(push.end, buf.len());
        let two = [
            push_bytes(0, b"", b"c", b""),
            push_bytes(2, b"", b"s", b"x"),
        ]
        .concat();
        let first = parse_push(&two, 0).unwrap();
        assert_eq!((first.kind, first.payload.len()), (PushKind::Message, 0));
        let second = parse_push(&two, first.end).unwrap();
        assert_eq!(second.kind, PushKind::SMessage);
        assert_eq!(second.end, two.len());
        // Left to the generic parser: partial, leading zeros past 19 digits, a sign,
        // other frames.
        assert!(parse_push(&buf[..buf.len() - 1], 0).is_none());
        assert!(parse_push(b"*3\r\n$7\r\nmessage\r\n$+1\r\nc\r\n$0\r\n\r\n", 0).is_none());
        assert!(parse_push(&push_bytes(3, b"", b"c", b""), 0).is_none());
        assert!(parse_push(b"+OK\r\n", 0).is_none());
        let zeros = b"*3\r\n$7\r\nmessage\r\n$00000000000000000001\r\nc\r\n$0\r\n\r\n";
        assert!(parse_push(zeros, 0).is_none());
        assert!(matches!(parse(zeros), Ok(Parse::Complete(..))));
    }

    #[test]
    fn encodes_binary_arguments() {
        let mut out = Vec::new();
        encode_command(&[b"SUBSCRIBE", b"a\r\nb"], &mut out);
        assert_eq!(out, b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\na\r\nb\r\n");
    }
}
