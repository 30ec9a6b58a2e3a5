//! The lexical pieces the scanner ([`super::scan`]) and the well-formedness check
//! ([`super::valid`]) share: JSON text's first byte, numbers and literals, the depth both
//! give up at, and the prefix XOR that tells which bytes are inside strings.

/// Well below serde_json's recursion limit (128), so a value handed to serde on its own
/// parses as it would in place.
pub(super) const MAX_DEPTH: usize = 64;

// Named so that brace-counting tools are not misled by a brace in a literal.
const OBJECT: u8 = b'{';
const ARRAY: u8 = b'[';

/// True when `payload` takes the parser's route: JSON text, an object or array first.
pub(super) fn json_text(payload: &[u8]) -> bool {
    let first = payload.iter().find(|b| !b.is_ascii_whitespace());
    matches!(first, Some(&OBJECT | &ARRAY))
}

/// The scanner gave up; the parser decides.
pub(super) struct Unsure;

pub(super) type Step<T> = Result<T, Unsure>;

/// Each bit `i` set where bits `0..=i` of `x` hold an odd number of ones.
pub(super) fn prefix_xor(mut x: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        x ^= x << shift;
    }
    x
}

pub(super) fn literal(bytes: &[u8], i: usize, word: &[u8]) -> Step<usize> {
    match bytes.get(i..i + word.len()) {
        Some(found) if found == word => Ok(i + word.len()),
        _ => Err(Unsure),
    }
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` from `i`, as serde reads it;
/// where it ends.
pub(super) fn number_end(bytes: &[u8], mut i: usize) -> Step<usize> {
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let digits = |mut i: usize| {
        while at(i).is_ascii_digit() {
            i += 1;
        }
        i
    };
    let some_digits = |i: usize| match digits(i) {
        end if end > i => Ok(end),
        _ => Err(Unsure),
    };
    if at(i) == b'-' {
        i += 1;
    }
    i = match at(i) {
        b'0' if at(i + 1).is_ascii_digit() => return Err(Unsure),
        b'0' => i + 1,
        b'1'..=b'9' => digits(i + 1),
        _ => return Err(Unsure),
    };
    if at(i) == b'.' {
        i = some_digits(i + 1)?;
    }
    if let b'e' | b'E' = at(i) {
        i += 1;
        if let b'+' | b'-' = at(i) {
            i += 1;
        }
        i = some_digits(i)?;
    }
    Ok(i)
}

/// Bytes the tests' mutations put in: each one the grammar or the string rules care
/// about.
/// Where the scalar at `i` ends, read as in a well-formed payload (a string's next quote
/// closes it: no escapes); None for a container or anything not a scalar.
pub(super) fn scalar_end(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i)? {
        // No escapes: the next quote closes it.
        b'"' => memchr::memchr(b'"', &bytes[i + 1..]).map(|n| i + n + 2),
        b'-' | b'0'..=b'9' => number_end(bytes, i).ok(),
        b't' => literal(bytes, i, b"true").ok(),
        b'f' => literal(bytes, i, b"false").ok(),
        b'n' => literal(bytes, i, b"null").ok(),
        _ => None,
    }
}

#[cfg(test)]
pub(in crate::filter) const EDITS: &[u8] =
    b"\"\\{}[]:, \t\n\r0-1.eE+tfnrul\x01\x0c\x1a\x1b\x1d\x7f\x80\xc3\xa9\xff";
