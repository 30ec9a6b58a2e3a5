//! Whether a payload is JSON the scanner reads to the end ([`super::scan::JsonMark`]),
//! 64 bytes at a time (issue 19).
//!
//! The scanner's walk checked a payload a byte at a time (≈ 86 ns for the render bench's
//! 85-byte payload, ≈ 1 byte a nanosecond): a JSON-field filter arriving with `/` spends
//! most of its count there. Here each 64-byte chunk is classified at once (quotes,
//! backslashes, control and non-ASCII bytes, whitespace, brackets, `:` and `,`); with no
//! backslash every quote opens or closes a string, so which bytes are inside strings is a
//! prefix XOR of the quotes, and the grammar is checked one token at a time (a bracket,
//! a `:` or `,`, a string, a scalar) instead of one byte at a time. It accepts exactly
//! what the walk accepts (test: `the_chunked_check_agrees_with_the_walk`).

use super::scan::{literal, number_end, prefix_xor, MAX_DEPTH};

/// Where a 64-byte chunk has each kind of byte (bit `i`: byte `i`).
#[derive(Debug, Default, PartialEq)]
struct Classes {
    quotes: u64,
    backslashes: u64,
    /// Bytes below 0x20.
    control: u64,
    /// Bytes from 0x80: UTF-8 to check.
    high: u64,
    /// Space, tab, line feed, carriage return.
    space: u64,
    /// `{ } [ ] : ,` (and 0x0C, 0x1A, 0x1B, 0x1D, which are control bytes and refused).
    structural: u64,
}

/// The 64 bytes of `payload` from `start`, spaces past its end (which are not tokens).
#[cfg(target_arch = "x86_64")]
fn classify(payload: &[u8], start: usize) -> Classes {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_set1_epi8, _mm_set_epi64x};
    let mut lanes = [(); 4].map(|()| {
        // SAFETY: SSE2 is enabled on every x86_64 target.
        unsafe { _mm_set1_epi8(b' ' as i8) }
    });
    for (k, lane) in lanes.iter_mut().enumerate() {
        let at = start + 16 * k;
        if let Some(bytes) = payload.get(at..at + 16) {
            // SAFETY: SSE2 as above; the unaligned load reads these 16 bytes only.
            *lane = unsafe { _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>()) };
        } else if at < payload.len() {
            // The last part: built in registers from two words (a copy into a padded
            // buffer stalled the load that read it back).
            let (lo, hi) = (word(payload, at), word(payload, at + 8));
            // SAFETY: SSE2 as above.
            *lane = unsafe { _mm_set_epi64x(hi as i64, lo as i64) };
        }
    }
    classify_lanes(&lanes)
}

/// Eight bytes of `payload` from `at` as a little-endian word, spaces past its end.
fn word(payload: &[u8], at: usize) -> u64 {
    const SPACES: u64 = u64::from_le_bytes([b' '; 8]);
    let len = payload.len();
    if let Some(bytes) = payload.get(at..at + 8) {
        return u64::from_le_bytes(bytes.try_into().unwrap_or([b' '; 8]));
    }
    if at >= len {
        return SPACES;
    }
    let have = len - at;
    if len >= 8 {
        // The last eight bytes, shifted down to `at`, spaces filled in above.
        let last = u64::from_le_bytes(payload[len - 8..].try_into().unwrap_or([b' '; 8]));
        return last >> (8 * (8 - have)) | SPACES << (8 * have);
    }
    let mut bytes = [b' '; 8];
    bytes[..have].copy_from_slice(&payload[at..]);
    u64::from_le_bytes(bytes)
}

/// [`Classes`] of four 16-byte lanes (SSE2).
#[cfg(target_arch = "x86_64")]
#[inline]
fn classify_lanes(lanes: &[std::arch::x86_64::__m128i; 4]) -> Classes {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let mut c = Classes::default();
    for (k, &v) in lanes.iter().enumerate() {
        // SAFETY: SSE2 is enabled on every x86_64 target; registers only.
        let masks = unsafe {
            let eq = |x: __m128i, byte: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(byte as i8));
            let bits = |x: __m128i| u64::from(_mm_movemask_epi8(x) as u16);
            let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
            // Signed: bytes from 0x80 are below 0x20 too (told apart by `high`).
            let below = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
            let space = _mm_or_si128(
                _mm_or_si128(eq(v, b' '), eq(v, b'\t')),
                _mm_or_si128(eq(v, b'\n'), eq(v, b'\r')),
            );
            let structural = _mm_or_si128(
                _mm_or_si128(eq(folded, b'{'), eq(folded, b'}')),
                _mm_or_si128(eq(folded, b':'), eq(folded, b',')),
            );
            [
                bits(eq(v, b'"')),
                bits(eq(v, b'\\')),
                bits(below),
                bits(v),
                bits(space),
                bits(structural),
            ]
        };
        let shift = 16 * k;
        c.quotes |= masks[0] << shift;
        c.backslashes |= masks[1] << shift;
        c.high |= masks[3] << shift;
        c.control |= (masks[2] & !masks[3]) << shift;
        c.space |= masks[4] << shift;
        c.structural |= masks[5] << shift;
    }
    c
}

#[cfg(not(target_arch = "x86_64"))]
fn classify(payload: &[u8], start: usize) -> Classes {
    classify_bytewise(&padded(payload, start))
}

/// The 64 bytes from `start`, spaces past the end.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn padded(payload: &[u8], start: usize) -> [u8; 64] {
    let mut chunk = [b' '; 64];
    let tail = payload.get(start..).unwrap_or_default();
    let n = tail.len().min(64);
    chunk[..n].copy_from_slice(&tail[..n]);
    chunk
}

/// [`Classes`] a byte at a time: other processors, and the reference in tests.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn classify_bytewise(chunk: &[u8; 64]) -> Classes {
    let mut c = Classes::default();
    for (i, &b) in chunk.iter().enumerate() {
        let bit = 1u64 << i;
        let set = |mask: &mut u64, yes: bool| *mask |= if yes { bit } else { 0 };
        set(&mut c.quotes, b == b'"');
        set(&mut c.backslashes, b == b'\\');
        set(&mut c.control, b < 0x20);
        set(&mut c.high, b >= 0x80);
        set(&mut c.space, matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        set(
            &mut c.structural,
            matches!(b | 0x20, b'{' | b'}' | b':' | b','),
        );
    }
    c
}

/// A token's class: its first byte's (a scalar's first byte is anything else).
const OPEN_OBJECT: u8 = 0;
const OPEN_ARRAY: u8 = 1;
const CLOSE_OBJECT: u8 = 2;
const CLOSE_ARRAY: u8 = 3;
const COLON: u8 = 4;
const COMMA: u8 = 5;
const STRING: u8 = 6;
const SCALAR: u8 = 7;

const CLASS: [u8; 256] = {
    let mut class = [SCALAR; 256];
    class[b'{' as usize] = OPEN_OBJECT;
    class[b'[' as usize] = OPEN_ARRAY;
    class[b'}' as usize] = CLOSE_OBJECT;
    class[b']' as usize] = CLOSE_ARRAY;
    class[b':' as usize] = COLON;
    class[b',' as usize] = COMMA;
    class[b'"' as usize] = STRING;
    class
};

// What the next token may be; each state but the root's and the end's knows the kind
// of the innermost open container.
/// The root: an object or an array.
const ROOT: u8 = 0;
/// A member's value (after `:`).
const MEMBER_VALUE: u8 = 1;
/// An element (after `,` in an array).
const ELEMENT: u8 = 2;
/// An element or `]` (after `[`).
const FIRST_ELEMENT: u8 = 3;
/// A key or `}` (after `{`).
const FIRST_KEY: u8 = 4;
/// A key (after `,` in an object).
const KEY: u8 = 5;
/// `:` (after a key).
const KEY_COLON: u8 = 6;
/// `,` or `}` (after a member's value).
const AFTER_MEMBER: u8 = 7;
/// `,` or `]` (after an element).
const AFTER_ELEMENT: u8 = 8;
/// Nothing: the root has closed.
const END: u8 = 9;
const STATES: usize = 10;

// What a token does besides moving to a state (below 0x10: a state, nothing else).
/// Open an object, or an array.
const PUSH_OBJECT: u8 = 0x10;
const PUSH_ARRAY: u8 = 0x11;
/// Close the innermost container (its kind is the state's).
const POP: u8 = 0x20;
/// Check the scalar, then the state after a member's value, or an element.
const SCALAR_MEMBER: u8 = 0x30;
const SCALAR_ELEMENT: u8 = 0x31;
/// The grammar refuses the token.
const REFUSE: u8 = 0xFF;

/// Where a state's entry for a class is in [`TABLE`].
const fn at(state: u8, class: u8) -> usize {
    state as usize * 8 + class as usize
}

/// The grammar as a table: `TABLE[at(state, class)]`.
const TABLE: [u8; STATES * 8] = {
    let mut t = [REFUSE; STATES * 8];
    t[at(ROOT, OPEN_OBJECT)] = PUSH_OBJECT;
    t[at(ROOT, OPEN_ARRAY)] = PUSH_ARRAY;
    let values = [
        (MEMBER_VALUE, AFTER_MEMBER, SCALAR_MEMBER),
        (ELEMENT, AFTER_ELEMENT, SCALAR_ELEMENT),
        (FIRST_ELEMENT, AFTER_ELEMENT, SCALAR_ELEMENT),
    ];
    let mut k = 0;
    while k < values.len() {
        let (state, after, scalar) = values[k];
        t[at(state, OPEN_OBJECT)] = PUSH_OBJECT;
        t[at(state, OPEN_ARRAY)] = PUSH_ARRAY;
        t[at(state, STRING)] = after;
        t[at(state, SCALAR)] = scalar;
        k += 1;
    }
    t[at(FIRST_ELEMENT, CLOSE_ARRAY)] = POP;
    t[at(FIRST_KEY, STRING)] = KEY_COLON;
    t[at(FIRST_KEY, CLOSE_OBJECT)] = POP;
    t[at(KEY, STRING)] = KEY_COLON;
    t[at(KEY_COLON, COLON)] = MEMBER_VALUE;
    t[at(AFTER_MEMBER, COMMA)] = KEY;
    t[at(AFTER_MEMBER, CLOSE_OBJECT)] = POP;
    t[at(AFTER_ELEMENT, COMMA)] = ELEMENT;
    t[at(AFTER_ELEMENT, CLOSE_ARRAY)] = POP;
    t
};

/// The containers open around the current token.
struct Stack {
    depth: usize,
    /// Bit `d - 1`: the container at depth `d` is an array.
    arrays: u64,
}

/// The scalar starting at `i` (a number or a literal) reads to its end: the next byte is
/// space, `,`, `}`, `]` or the payload's end.
fn scalar_ok(bytes: &[u8], i: usize) -> bool {
    let end = match bytes[i] {
        b't' => literal(bytes, i, b"true"),
        b'f' => literal(bytes, i, b"false"),
        b'n' => literal(bytes, i, b"null"),
        _ => number_end(bytes, i),
    };
    end.is_ok_and(|e| {
        matches!(
            bytes.get(e),
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}' | b']')
        )
    })
}

/// One token, starting at `i`, from `state`: the state after it (None: refused).
#[inline]
fn step(bytes: &[u8], i: usize, state: u8, stack: &mut Stack) -> Option<u8> {
    let entry = TABLE[at(state, CLASS[usize::from(bytes[i])])];
    if entry < 0x10 {
        return Some(entry);
    }
    match entry {
        PUSH_OBJECT | PUSH_ARRAY => {
            stack.depth += 1;
            if stack.depth > MAX_DEPTH {
                return None;
            }
            let bit = 1u64 << (stack.depth - 1);
            if entry == PUSH_ARRAY {
                stack.arrays |= bit;
                Some(FIRST_ELEMENT)
            } else {
                stack.arrays &= !bit;
                Some(FIRST_KEY)
            }
        }
        POP => {
            stack.depth -= 1;
            Some(match stack.depth {
                0 => END,
                d if stack.arrays >> (d - 1) & 1 == 1 => AFTER_ELEMENT,
                _ => AFTER_MEMBER,
            })
        }
        SCALAR_MEMBER => scalar_ok(bytes, i).then_some(AFTER_MEMBER),
        SCALAR_ELEMENT => scalar_ok(bytes, i).then_some(AFTER_ELEMENT),
        _ => None,
    }
}

/// True when `payload` is JSON text the scanner reads to the end: an object or array at
/// the root, UTF-8, no backslash, no control byte in a string, nesting within
/// [`MAX_DEPTH`], valid syntax (what `walk` accepts, from JSON text).
pub(super) fn well_formed(payload: &[u8]) -> bool {
    let mut state = ROOT;
    let mut stack = Stack {
        depth: 0,
        arrays: 0,
    };
    // All ones while a string is open at the end of the last chunk.
    let mut in_string = 0u64;
    // Whether the last chunk ended inside a scalar.
    let mut in_scalar = 0u64;
    let mut high = 0u64;
    for start in (0..payload.len()).step_by(64) {
        let c = classify(payload, start);
        // Bit `i`: byte `i` is an opening quote or inside a string.
        let inside = prefix_xor(c.quotes) ^ in_string;
        // A control byte is refused in a string, and outside one unless it is space.
        if c.backslashes != 0 || c.control & (inside | !c.space) != 0 {
            return false;
        }
        high |= c.high;
        in_string = ((inside as i64) >> 63) as u64;
        let outside = !inside & !c.quotes;
        let scalar = outside & !c.space & !c.structural;
        let mut tokens =
            (c.structural & outside) | (c.quotes & inside) | (scalar & !(scalar << 1 | in_scalar));
        in_scalar = scalar >> 63;
        while tokens != 0 {
            let i = start + tokens.trailing_zeros() as usize;
            tokens &= tokens - 1;
            match step(payload, i, state, &mut stack) {
                Some(next) => state = next,
                None => return false,
            }
        }
    }
    in_string == 0 && state == END && (high == 0 || std::str::from_utf8(payload).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte loop's reference: `walk` over JSON text, as the scanner checked before.
    fn walked(payload: &[u8]) -> bool {
        super::super::scan::walked_well_formed(payload)
    }

    #[test]
    fn classes_are_what_a_byte_at_a_time_reads() {
        let mut rng = crate::test_rng::XorShift(0xC1A5_5E50_0000_0003);
        for _ in 0..2_000 {
            let mut chunk = [0u8; 64];
            for b in &mut chunk {
                *b = match rng.below(3) {
                    0 => EDITS[rng.below(EDITS.len())],
                    _ => rng.below(256) as u8,
                };
            }
            // Whole, and cut short at every length (the rest read as spaces).
            let cut = rng.below(65);
            let part = &chunk[..cut];
            assert_eq!(
                classify(part, 0),
                classify_bytewise(&padded(part, 0)),
                "{part:?}"
            );
            assert_eq!(classify(&chunk, 0), classify_bytewise(&chunk), "{chunk:?}");
        }
    }

    /// Bytes a mutation puts in: each one the grammar or the string rules care about.
    const EDITS: &[u8] = b"\"\\{}[]:, \t\n\r0-1.eE+tfnrul\x01\x0c\x1a\x1b\x1d\x7f\x80\xc3\xa9\xff";

    #[test]
    fn the_chunked_check_agrees_with_the_walk() {
        let mut rng = crate::test_rng::XorShift(0x7A11_D000_0000_0004);
        let (mut good, mut bad) = (0, 0);
        for round in 0..60_000 {
            let text = super::super::scan::tests::well_formed_text(&mut rng, 4);
            let mut bytes = match round % 3 {
                0 => text.into_bytes(),
                1 => format!("{{\"a\":{text}}}").into_bytes(),
                _ => format!(" [{text} ,\t{text}]\n").into_bytes(),
            };
            // Most mutated: a byte replaced, inserted or dropped, or cut short.
            for _ in 0..rng.below(3) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(4) {
                    0 if at < bytes.len() => bytes[at] = EDITS[rng.below(EDITS.len())],
                    1 => bytes.insert(at, EDITS[rng.below(EDITS.len())]),
                    2 if at < bytes.len() => drop(bytes.remove(at)),
                    _ => bytes.truncate(at),
                }
            }
            let want = walked(&bytes);
            assert_eq!(
                well_formed(&bytes),
                want,
                "{:?}",
                String::from_utf8_lossy(&bytes)
            );
            if want {
                good += 1;
            } else {
                bad += 1;
            }
        }
        assert!(good > 10_000 && bad > 10_000, "{good} good, {bad} bad");
    }

    #[test]
    fn nesting_is_refused_past_the_walks_depth() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        for n in [1, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 200] {
            let text = nested(n);
            assert_eq!(well_formed(text.as_bytes()), walked(text.as_bytes()), "{n}");
        }
        assert!(well_formed(nested(MAX_DEPTH).as_bytes()));
        assert!(!well_formed(nested(MAX_DEPTH + 1).as_bytes()));
    }

    #[test]
    fn what_the_walk_refuses_is_refused() {
        for text in [
            "",
            " ",
            "1",
            "\"a\"",
            "true",
            "{",
            "}",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{\"a\":}",
            "{1:2}",
            "[1 2]",
            "[tru]",
            "[truex]",
            "[01]",
            "[1.]",
            "[-]",
            "[1e]",
            "[\"a\\\"b\"]",
            "[\"a\tb\"]",
            "[\x0c]",
            "{}{}",
            "[] x",
            "[\"é\"]\u{80}",
            "[\"unterminated]",
            "[1]]",
            "[{]}",
            "[\"a\":1]",
        ] {
            assert!(!well_formed(text.as_bytes()), "{text:?}");
            assert!(!walked(text.as_bytes()), "{text:?}");
        }
        let mut invalid_utf8 = b"[\"".to_vec();
        invalid_utf8.extend_from_slice(&[0xff, b'"', b']']);
        assert!(!well_formed(&invalid_utf8));
        for text in [
            "{}",
            "[]",
            " [ 1 , -2.5e+3 , \"é\" , null ]\n",
            "{\"a\":{\"b\":[true,false]}}",
        ] {
            assert!(well_formed(text.as_bytes()), "{text:?}");
        }
    }
}
