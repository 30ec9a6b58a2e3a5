//! Whether a payload is JSON the scanner reads to the end ([`super::scan::JsonMark`]),
//! 64 bytes at a time (issue 19).
//!
//! The scanner's walk checked a payload a byte at a time (≈ 90 ns for the render bench's
//! 85-byte payload): a JSON-field filter arriving with `/` spent most of its count there.
//! Here each 64-byte chunk is classified at once (quotes, backslashes, control and
//! non-ASCII bytes, whitespace, each bracket, `:` and `,`). With no backslash every quote
//! opens or closes a string, so which bytes are inside strings is a prefix XOR of the
//! quotes. The grammar is then checked for all tokens of the chunk at once: JSON allows
//! after each kind of token only some kinds of token (after `{` a key or `}`, after a key
//! `:`, after a value `,` or a close, …), so for each kind the positions of the tokens
//! that follow it are worked out by bit arithmetic (a carry runs across the spaces
//! between) and must all be of the allowed kinds. Only the brackets (to match them and
//! tell an object's `,` from an array's) and the scalars other than plain integers
//! (literals, signed or decimal numbers) are read one at a time. It accepts exactly what
//! the walk accepts (test:
//! `the_chunked_check_agrees_with_the_walk`, beside the walk in `scan.rs`).

use super::lex::{json_text, prefix_xor, scalar_end, MAX_DEPTH};

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
    open_object: u64,
    open_array: u64,
    close_object: u64,
    close_array: u64,
    colon: u64,
    comma: u64,
    /// `0` to `9`, and `0` alone.
    digits: u64,
    zeros: u64,
}

/// The 64 bytes of `payload` from `start`, spaces past its end (which are not tokens).
#[cfg(target_arch = "x86_64")]
#[inline]
fn classify(payload: &[u8], start: usize) -> Classes {
    if std::arch::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the processor has AVX-512BW, checked just now.
        return unsafe { classify_wide(payload, start) };
    }
    classify_narrow(payload, start)
}

/// [`classify`] with one 64-byte load and a mask per class (AVX-512BW): the bytes past
/// the payload's end are not read (a masked load) and read as spaces.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
fn classify_wide(payload: &[u8], start: usize) -> Classes {
    use std::arch::x86_64::{
        _mm512_cmpeq_epi8_mask, _mm512_cmplt_epu8_mask, _mm512_mask_loadu_epi8,
        _mm512_movepi8_mask, _mm512_set1_epi8, _mm512_sub_epi8,
    };
    let rest = payload.get(start..).unwrap_or_default();
    let present = match rest.len() {
        64.. => !0,
        n => (1u64 << n) - 1,
    };
    let spaces = _mm512_set1_epi8(b' ' as i8);
    // SAFETY: the mask covers only bytes of `rest`; masked-out bytes are not read.
    let v = unsafe { _mm512_mask_loadu_epi8(spaces, present, rest.as_ptr().cast::<i8>()) };
    macro_rules! eq {
        ($byte:expr) => {
            _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8($byte as i8))
        };
    }
    Classes {
        quotes: eq!(b'"'),
        backslashes: eq!(b'\\'),
        control: _mm512_cmplt_epu8_mask(v, _mm512_set1_epi8(0x20)),
        high: _mm512_movepi8_mask(v),
        space: eq!(b' ') | eq!(b'\t') | eq!(b'\n') | eq!(b'\r'),
        open_object: eq!(b'{'),
        open_array: eq!(b'['),
        close_object: eq!(b'}'),
        close_array: eq!(b']'),
        colon: eq!(b':'),
        comma: eq!(b','),
        digits: _mm512_cmplt_epu8_mask(
            _mm512_sub_epi8(v, _mm512_set1_epi8(b'0' as i8)),
            _mm512_set1_epi8(10),
        ),
        zeros: eq!(b'0'),
    }
}

/// [`classify`] 16 bytes at a time (SSE2, part of every x86-64 processor).
#[cfg(target_arch = "x86_64")]
fn classify_narrow(payload: &[u8], start: usize) -> Classes {
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
#[cfg(target_arch = "x86_64")]
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
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_sub_epi8,
    };
    let mut c = Classes::default();
    for (k, &v) in lanes.iter().enumerate() {
        // SAFETY: SSE2 is enabled on every x86_64 target; registers only.
        let masks = unsafe {
            let eq = |x: __m128i, byte: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(byte as i8));
            let bits = |x: __m128i| u64::from(_mm_movemask_epi8(x) as u16);
            // Signed: bytes from 0x80 are below 0x20 too (told apart by `high`).
            let below = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
            let space = _mm_or_si128(
                _mm_or_si128(eq(v, b' '), eq(v, b'\t')),
                _mm_or_si128(eq(v, b'\n'), eq(v, b'\r')),
            );
            [
                bits(eq(v, b'"')),
                bits(eq(v, b'\\')),
                bits(below),
                bits(v),
                bits(space),
                bits(eq(v, b'{')),
                bits(eq(v, b'[')),
                bits(eq(v, b'}')),
                bits(eq(v, b']')),
                bits(eq(v, b':')),
                bits(eq(v, b',')),
                // Unsigned: digits are the bytes whose distance above `0` is at most 9.
                bits({
                    let above = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
                    _mm_cmpeq_epi8(_mm_min_epu8(above, _mm_set1_epi8(9)), above)
                }),
                bits(eq(v, b'0')),
            ]
        };
        let shift = 16 * k;
        c.quotes |= masks[0] << shift;
        c.backslashes |= masks[1] << shift;
        c.high |= masks[3] << shift;
        c.control |= (masks[2] & !masks[3]) << shift;
        c.space |= masks[4] << shift;
        c.open_object |= masks[5] << shift;
        c.open_array |= masks[6] << shift;
        c.close_object |= masks[7] << shift;
        c.close_array |= masks[8] << shift;
        c.colon |= masks[9] << shift;
        c.comma |= masks[10] << shift;
        c.digits |= masks[11] << shift;
        c.zeros |= masks[12] << shift;
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
        set(&mut c.open_object, b == b'{');
        set(&mut c.open_array, b == b'[');
        set(&mut c.close_object, b == b'}');
        set(&mut c.close_array, b == b']');
        set(&mut c.colon, b == b':');
        set(&mut c.comma, b == b',');
        set(&mut c.digits, b.is_ascii_digit());
        set(&mut c.zeros, b == b'0');
    }
    c
}

/// The containers open around the current byte.
struct Stack {
    depth: usize,
    /// Bit `d - 1`: the container at depth `d` is an array.
    arrays: u64,
    /// Where the containers inside the root lie: see [`Nest`].
    nest: Nest,
}

/// Where a well-formed payload's containers inside the root lie: from the first one's
/// opening bracket (`from`) to just past the last one's closing bracket (`to`). A
/// position before `from` or from `to` on is at the root's own level (`from` is the
/// payload's length and `to` 0 where the root holds no container).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Nest {
    pub(super) from: usize,
    pub(super) to: usize,
}

impl Stack {
    /// Opens a container; false past [`MAX_DEPTH`] (the walk gives up there).
    fn open(&mut self, array: bool) -> bool {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return false;
        }
        let bit = 1u64 << (self.depth - 1);
        self.arrays = if array {
            self.arrays | bit
        } else {
            self.arrays & !bit
        };
        true
    }

    /// Whether the innermost open container is an array (None at the root's level).
    fn in_array(&self) -> Option<bool> {
        (self.depth > 0).then(|| self.arrays >> (self.depth - 1) & 1 == 1)
    }

    /// Closes the innermost container if it is of the kind given.
    fn close(&mut self, array: bool) -> bool {
        let ok = self.in_array() == Some(array);
        self.depth -= usize::from(ok);
        ok
    }
}

/// The scalar starting at `i` (a number or a literal) reads to its end: the next byte is
/// space, `,`, `}`, `]` or the payload's end.
fn scalar_ok(bytes: &[u8], i: usize) -> bool {
    scalar_end(bytes, i).is_some_and(|e| {
        matches!(
            bytes.get(e),
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}' | b']')
        )
    })
}

/// What is carried from one chunk to the next.
#[derive(Default)]
struct Carry {
    /// All ones while a string is open.
    in_string: u64,
    /// Bit 0: the last chunk ended inside a scalar.
    in_scalar: u64,
    /// Bit 0: a scalar ran to the last chunk's end (its end is found in this one).
    scalar_end: u64,
    /// Bit 0: the last chunk ended inside a key.
    in_key: u64,
    /// Bit 0 for each kind of token: one in the last chunk is followed by nothing but
    /// space to that chunk's end (what follows it is in this one).
    follows: [u64; KINDS],
}

/// The kinds of token whose followers are checked: `{`; `[`; `:` or an array's `,`
/// (a value follows); an object's `,` (a key follows); a key; a value's end.
const KINDS: usize = 6;

/// The first token at each bit of `x` (positions right after tokens) or after the spaces
/// `ws` from there, and whether one ran past the chunk's end.
fn followers(x: u64, ws: u64) -> (u64, u64) {
    let (sum, past) = (x & ws).overflowing_add(ws);
    ((x & !ws) | (sum & !ws), u64::from(past))
}

/// Check one 64-byte chunk from `start`: false where the grammar refuses it.
fn chunk(payload: &[u8], start: usize, c: &Classes, carry: &mut Carry, stack: &mut Stack) -> bool {
    // Bit `i`: byte `i` is an opening quote or inside a string.
    let inside = prefix_xor(c.quotes) ^ carry.in_string;
    // A control byte is refused in a string, and outside one unless it is space.
    if c.backslashes != 0 || c.control & (inside | !c.space) != 0 {
        return false;
    }
    carry.in_string = ((inside as i64) >> 63) as u64;
    let out = !inside & !c.quotes;
    let (opening, closing) = (c.quotes & inside, c.quotes & !inside);
    let open_object = c.open_object & out;
    let open_array = c.open_array & out;
    let close_object = c.close_object & out;
    let close_array = c.close_array & out;
    let (colon, comma) = (c.colon & out, c.comma & out);
    let ws = c.space & out;
    let structural = open_object | open_array | close_object | close_array | colon | comma;
    let scalar = out & !c.space & !structural;
    let scalar_starts = scalar & !(scalar << 1 | carry.in_scalar);
    carry.in_scalar = scalar >> 63;
    // A run of digits alone is an integer unless it starts with a 0 that goes on: read
    // only the other scalars (and one running into the next chunk, read across).
    let unusual = (scalar & !c.digits) | 1 << 63;
    let zero_led = scalar_starts & c.zeros & scalar >> 1;
    if scalar & unusual != 0 || zero_led != 0 {
        let mut starts = scalar_starts;
        while starts != 0 {
            let first = starts & starts.wrapping_neg();
            // The scalar's bytes: a carry through them from its first.
            let bytes = (scalar.wrapping_add(first) ^ scalar) & scalar;
            let plain = bytes & unusual == 0 && first & zero_led == 0;
            if !plain && !scalar_ok(payload, start + first.trailing_zeros() as usize) {
                return false;
            }
            starts ^= first;
        }
    }
    // The brackets in order: matched, and each `,` told an object's or an array's.
    let (mut in_objects, mut in_arrays) = (0u64, 0u64);
    let opens = open_object | open_array;
    let arrays = open_array | close_array;
    let mut brackets = opens | close_object | close_array;
    // The bytes not yet told which container they are in.
    let mut rest = !0u64;
    loop {
        let bracket = brackets & brackets.wrapping_neg();
        // Up to this bracket (all the rest after the last one).
        let before = rest & bracket.wrapping_sub(1);
        match stack.in_array() {
            Some(true) => in_arrays |= before,
            Some(false) => in_objects |= before,
            None => {}
        }
        if bracket == 0 {
            break;
        }
        rest &= !before;
        let array = bracket & arrays != 0;
        let at = start + bracket.trailing_zeros() as usize;
        let ok = if bracket & opens != 0 {
            let ok = stack.open(array);
            if stack.depth == 2 {
                stack.nest.from = stack.nest.from.min(at);
            }
            ok
        } else {
            let ok = stack.close(array);
            if ok && stack.depth == 1 {
                stack.nest.to = at + 1;
            }
            ok
        };
        if !ok {
            return false;
        }
        brackets ^= bracket;
    }
    if comma & !(in_objects | in_arrays) != 0 {
        // After the root's close.
        return false;
    }
    let value = opening | scalar_starts | open_object | open_array;
    let mut follow = |kind: usize, ends: u64, carried: u64| {
        let (next, past) = followers(ends << 1 | carried | carry.follows[kind], ws);
        carry.follows[kind] = ends >> 63 | past;
        next
    };
    let after_open_object = follow(0, open_object, 0);
    let after_object_comma = follow(3, comma & in_objects, 0);
    // A key: a string after `{` or an object's `,`; where it closes, found by a carry
    // through the string's bytes.
    let keys = opening & (after_open_object | after_object_comma);
    let (sum, past) = inside.overflowing_add(keys | carry.in_key);
    carry.in_key = u64::from(past);
    let key_ends = sum & !inside;
    // Where scalars end: a carry through each one's bytes.
    let (sum, past) = scalar.overflowing_add(scalar_starts | carry.scalar_end);
    carry.scalar_end = u64::from(past);
    let after_scalars = sum & !scalar;
    let value_ends = (closing & !key_ends) | close_object | close_array;
    let refused = (after_open_object & !(opening | close_object))
        | (follow(1, open_array, 0) & !(value | close_array))
        | (follow(2, colon | (comma & in_arrays), 0) & !value)
        | (after_object_comma & !opening)
        | (follow(4, key_ends, 0) & !colon)
        | (follow(5, value_ends, after_scalars) & !(comma | close_object | close_array));
    refused == 0
}

/// [`check`] alone: the tests' reference.
#[cfg(test)]
pub(super) fn well_formed(payload: &[u8]) -> bool {
    check(payload).is_some()
}

/// Where the root's containers lie ([`Nest`]) when `payload` is JSON text the scanner
/// reads to the end: an object or array at the root, UTF-8, no backslash, no control
/// byte in a string, nesting within [`MAX_DEPTH`], valid syntax (what `walk` accepts,
/// from JSON text); None when it is not.
pub(super) fn check(payload: &[u8]) -> Option<Nest> {
    if !json_text(payload) {
        return None;
    }
    let mut carry = Carry::default();
    let mut stack = Stack {
        depth: 0,
        arrays: 0,
        nest: Nest {
            from: payload.len(),
            to: 0,
        },
    };
    let mut high = 0u64;
    for start in (0..payload.len()).step_by(64) {
        let c = classify(payload, start);
        high |= c.high;
        if !chunk(payload, start, &c, &mut carry, &mut stack) {
            return None;
        }
    }
    // Every token after the first was checked as the follower of the one before it; the
    // last one's follower is the end, allowed only once the root has closed.
    let ok = carry.in_string == 0
        && stack.depth == 0
        && (high == 0 || std::str::from_utf8(payload).is_ok());
    ok.then_some(stack.nest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::lex::EDITS;

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
            // Both ways, where the processor has the wide one, from any chunk of a
            // longer payload too.
            let mut long = chunk.to_vec();
            long.extend_from_slice(&chunk[..cut]);
            long.extend_from_slice(part);
            #[cfg(target_arch = "x86_64")]
            for start in [64, 128] {
                let want = classify_bytewise(&padded(&long, start));
                assert_eq!(classify_narrow(&long, start), want);
                if std::arch::is_x86_feature_detected!("avx512bw") {
                    // SAFETY: checked just now.
                    assert_eq!(unsafe { classify_wide(&long, start) }, want);
                }
            }
            #[cfg(target_arch = "x86_64")]
            for bytes in [part, &chunk[..]] {
                assert_eq!(
                    classify_narrow(bytes, 0),
                    classify_bytewise(&padded(bytes, 0))
                );
                if std::arch::is_x86_feature_detected!("avx512bw") {
                    // SAFETY: checked just now.
                    let wide = unsafe { classify_wide(bytes, 0) };
                    assert_eq!(wide, classify_bytewise(&padded(bytes, 0)));
                }
            }
        }
    }
}
