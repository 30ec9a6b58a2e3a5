//! The value at one JSON path, read by a lazy scanner instead of a parser (issue 19).
//!
//! A filter with one field test, `.latency_ms > 250`, parsed each of a million payloads
//! with serde (a pruned `Value`: a map and a key string allocated per message, 280 ns
//! a payload). This scanner walks the payload's bytes once, checks them to be valid JSON
//! as it goes, skips what the path does not enter and hands only the value at the path
//! to serde, which gives exactly the `Value` a full parse would.
//!
//! It answers only where it is sure to agree with [`super::json::project`] followed by
//! `filter::lookup`; anything unusual — an escape (`\`), a control character in a string,
//! nesting deeper than [`MAX_DEPTH`], a syntax error, a payload that is not JSON text —
//! is [`Scanned::Unsure`], and the caller takes the parser's path. Every input the
//! scanner accepts, serde accepts too (a subset of the JSON grammar with no escapes), so
//! "the path is absent" here means absent there.
//!
//! A payload the scanner has read to the end is marked well formed ([`JsonMark`]); in
//! such a payload a top-level field is found without reading it all: a search for the
//! quoted key, and a look at quote parity and bracket depth before it, 64 bytes at a
//! time ([`top_level`], and [`KeySearch::known_in`] for a block of payloads at once).

use std::ops::Range;
use std::sync::atomic::{AtomicU8, Ordering};

use memchr::memmem::Finder;
use serde_json::Value;

use super::known::Known;
use super::lex::{json_text, literal, number_end, prefix_xor, scalar_end, Step, Unsure, MAX_DEPTH};
use super::Seg;

// Named so that brace-counting tools are not misled by a brace in a literal.
const OBJECT: u8 = b'{';
const OBJECT_END: u8 = b'}';
const ARRAY: u8 = b'[';
const ARRAY_END: u8 = b']';

/// JSON text without a backslash: every key in it is written as it reads, so one whose
/// quoted form is not in the bytes is not there (the key pre-check's rule).
pub(super) fn plain_json_text(payload: &[u8]) -> bool {
    json_text(payload) && memchr::memchr(b'\\', payload).is_none()
}

/// Whether a retained payload is JSON text the scanner reads to the end (UTF-8, no
/// escapes, valid syntax; see [`super::valid`]), once something has checked: a JSON
/// filter's scan, or the feed's check in idle time as payloads arrive. A
/// top-level field of a well-formed payload is found by a search for its quoted key and
/// a look at the bytes before it, not by a scan of the whole payload (issue 19: a pass
/// of `.latency_ms > 250` over 1M payloads, 145–190 ms of CPU before, 45–60 ms after on
/// checked payloads). The check also keeps where the root's containers lie (as far as
/// the bits kept tell, from each end: [`JsonMark::at_root_level`]), so that a key found
/// before them or after them needs no look at the bytes before it. Two bytes, in a
/// retained message's slot padding.
#[derive(Debug, Default)]
pub struct JsonMark {
    /// Bits 0–1: checked or not, and what was found; bits 2–7: how many of the payload's
    /// first bytes are outside every container but the root, up to 63 (0: not known).
    state: AtomicU8,
    /// How many of its last bytes are (0: not known).
    tail: AtomicU8,
}

const UNCHECKED: u8 = 0;
const WELL_FORMED: u8 = 1;
const NOT_WELL_FORMED: u8 = 2;
const STATE: u8 = 0b11;
const HEAD_MAX: usize = 63;

impl JsonMark {
    /// Check `payload` unless it has been checked.
    pub fn check(&self, payload: &[u8]) {
        if self.is_checked() {
            return;
        }
        let nest = super::valid::check(payload);
        let head = nest.map_or(0, |n| n.from.min(HEAD_MAX) as u8);
        if let Some(nest) = nest {
            let tail = (payload.len() - nest.to).min(u8::MAX.into()) as u8;
            self.tail.store(tail, Ordering::Relaxed);
        }
        let state = if nest.is_some() {
            WELL_FORMED
        } else {
            NOT_WELL_FORMED
        };
        self.state.store(head << 2 | state, Ordering::Relaxed);
    }

    pub fn is_checked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & STATE != UNCHECKED
    }

    pub fn well_formed(&self) -> bool {
        self.state.load(Ordering::Relaxed) & STATE == WELL_FORMED
    }

    /// Whether byte `at` of the well-formed payload (`len` bytes) this marks is outside
    /// every container but the root, as far as the check left it known.
    fn at_root_level(&self, len: usize, at: usize) -> bool {
        let head = usize::from(self.state.load(Ordering::Relaxed) >> 2);
        let tail = usize::from(self.tail.load(Ordering::Relaxed));
        at < head || at + tail >= len && tail > 0
    }

    /// What a scan found, where nothing is known of the containers.
    pub(super) fn set(&self, well_formed: bool) {
        let state = if well_formed {
            WELL_FORMED
        } else {
            NOT_WELL_FORMED
        };
        self.state.store(state, Ordering::Relaxed);
    }
}

/// What the scanner found at the path.
#[derive(Debug, PartialEq)]
pub(super) enum Scanned {
    /// The value there (`Value::Null` for a JSON `null`).
    Found(Value),
    /// Valid JSON (or not JSON at all) without a value there: the field test fails.
    Absent,
    /// Not decided here: ask the parser.
    Unsure,
}

/// The value of `payload` at `path`, as `lookup(project(payload), path)` gives it.
///
/// `mark` is the payload's [`JsonMark`]: once a scan (or the feed's idle check) has found
/// the payload well formed, a top-level field (`search`: the path's, when it is one
/// plain key) is found by searching for the key and classifying only the bytes before
/// it ([`top_level`]); a full scan marks what it learns.
pub(super) fn field(
    payload: &[u8],
    path: &[Seg],
    mark: Option<&JsonMark>,
    search: Option<KeySearch<'_>>,
) -> Scanned {
    if let Some(found) = searched(payload, mark, search) {
        return match found {
            Ok(Some(at)) => read_value(&payload[at]).map_or(Scanned::Unsure, Scanned::Found),
            Ok(None) => Scanned::Absent,
            Err(Unsure) => Scanned::Unsure,
        };
    }
    // The parser's route is taken only by JSON text.
    if !json_text(payload) {
        mark.inspect(|m| m.set(false));
        return Scanned::Unsure;
    }
    // `project` reads the payload as a `str` first: not UTF-8, no value anywhere.
    if std::str::from_utf8(payload).is_err() {
        mark.inspect(|m| m.set(false));
        return Scanned::Absent;
    }
    let walked = walk(payload, path);
    if walked.is_ok() {
        // An error may be the path's alone (a duplicate key on it): left unmarked.
        mark.inspect(|m| m.set(true));
    }
    match walked {
        // Parsed by serde, as the parser does with the value at the path.
        Ok(Some(at)) => read_value(&payload[at]).map_or(Scanned::Unsure, Scanned::Found),
        Ok(None) => Scanned::Absent,
        Err(Unsure) => Scanned::Unsure,
    }
}

/// What a cell would hold for the value at `path` ([`Known`]), where the search of a
/// well-formed payload finds it and no serde read is needed to say (a number other than
/// a small integer is left to [`field`]).
pub(super) fn known(
    payload: &[u8],
    mark: Option<&JsonMark>,
    search: Option<KeySearch<'_>>,
) -> Option<Known> {
    match searched(payload, mark, search)? {
        Ok(None) => Some(Known::Absent),
        Ok(Some(at)) => token_known(&payload[at]),
        Err(Unsure) => None,
    }
}

/// What a cell holds for a scalar token, where no serde read is needed to say (a
/// number other than a small integer is left to serde).
fn token_known(token: &[u8]) -> Option<Known> {
    match token {
        [b'n', ..] => Some(Known::Null),
        [b'"' | b't' | b'f', ..] => Some(Known::Other),
        // As serde's `as_f64` gives a `u64` or `i64`.
        _ => match small_integer_parts(token)? {
            // At most 18 digits: an `i64` holds it, and converts in one instruction
            // (`u64` to `f64` took a sequence), to the same `f64`.
            (false, n) => Some(Known::Number(n as i64 as f64)),
            (true, n) => Some(Known::Number(-(n as i64) as f64)),
        },
    }
}

/// Where the value at a one-key path lies, found by [`top_level`] when `mark` says the
/// payload is well formed; None when a scan must say.
fn searched(
    payload: &[u8],
    mark: Option<&JsonMark>,
    search: Option<KeySearch<'_>>,
) -> Option<Step<Option<Range<usize>>>> {
    match (mark, search) {
        (Some(mark), Some(search)) if mark.well_formed() => top_level(payload, search.0, mark),
        _ => None,
    }
}

/// A top-level key to search well-formed payloads for (see [`top_level`]): the finder of
/// the key with its quotes that the filter's field keeps, for a path of one key written
/// the same way in every well-formed payload that has it ([`searchable`]).
#[derive(Clone, Copy)]
pub(super) struct KeySearch<'f>(&'f Finder<'static>);

/// True for a path of one plain key (see [`plain_key`]): its field can be searched for.
pub(super) fn searchable(path: &[Seg]) -> bool {
    matches!(path, [Seg::Key(key)] if plain_key(key))
}

impl<'f> KeySearch<'f> {
    /// The search for a [`searchable`] path's key, given the finder of `"key"`.
    pub(super) fn new(quoted: &'f Finder<'static>) -> KeySearch<'f> {
        KeySearch(quoted)
    }

    /// Whether the key occurs anywhere in `bytes`.
    pub(super) fn occurs_in(&self, bytes: &[u8]) -> bool {
        self.0.find(bytes).is_some()
    }

    /// What a cell holds for a payload the key does not occur in, by
    /// [`KeySearch::known_in`]'s rule: nothing, where the payload is well formed or JSON
    /// text without a backslash; None where the payload is to be read.
    pub(super) fn lacking(payload: &[u8], mark: &JsonMark) -> Option<Known> {
        (mark.well_formed() || plain_json_text(payload)).then_some(Known::Absent)
    }

    /// What cells hold for the key in payloads laid end to end in `bytes` (`items`: each
    /// one's range, ascending, with its mark and a tag for the caller; payloads between
    /// them are passed over), by one search for the key across them all: one search call
    /// a payload that has the key (a search per payload also looked for a second one in
    /// the rest of it), none for a payload without it. A well-formed payload is read where
    /// the key occurs; any other JSON text without a backslash and without the key lacks
    /// the field (the key pre-check's rule). Calls `out(range, mark, tag, known, sure)` for
    /// each item, except where a scan must say (a container value, a duplicate key). The
    /// items are taken as they come (a list of them, built for each run of a count, was
    /// memory the allocator handed back and took again: page faults were a sixth of a
    /// JSON-field count at 10M).
    ///
    /// Not `sure`: other JSON text without a backslash that has the key, not known to be
    /// well formed, read as if it were. Its value is that one where the payload is well
    /// formed, and none where it is not JSON (a scan would tell which): a caller may take
    /// a verdict that is the same either way, and must not keep the value.
    pub(super) fn known_in<'m, T>(
        &self,
        bytes: &[u8],
        items: impl IntoIterator<Item = (Range<usize>, &'m JsonMark, T)>,
        mut out: impl FnMut(Range<usize>, &'m JsonMark, T, Known, bool),
    ) {
        let len = self.0.needle().len();
        let token = string_token(self.0.needle());
        let find = |from: usize| find_from(self.0, bytes, from);
        // The key's next occurrence, once searched for.
        let mut next: Option<usize> = None;
        for (span, mark, tag) in items {
            // None yet, or left in an earlier payload, or running past its end.
            let mut at = match next {
                Some(at) if at >= span.start => at,
                _ => find(span.start),
            };
            let payload = &bytes[span.clone()];
            let has_key = at.saturating_add(len) <= span.end;
            let sure = mark.well_formed();
            let quick = (has_key && sure && token)
                .then(|| quick_member(payload, at - span.start, len, mark))
                .flatten()
                .map(|(known, end)| (known, find(span.start + end)))
                // A second occurrence in the payload: `locate` says (a duplicate key?).
                .filter(|&(_, next)| next.saturating_add(len) > span.end);
            let known = if let Some((known, after)) = quick {
                at = after;
                Some((known, true))
            } else if !has_key {
                KeySearch::lacking(payload, mark).map(|known| (known, true))
            } else if sure || plain_json_text(payload) {
                let level = |at: usize| sure && mark.at_root_level(payload.len(), at);
                let level = (token, level);
                let (found, after) = locate(payload, span.start, at, len, &find, level);
                at = after;
                match found {
                    Some(Ok(None)) => Some(Known::Absent),
                    Some(Ok(Some(at))) => token_known(&payload[at]),
                    // A duplicate key, or a container value: a scan says.
                    Some(Err(Unsure)) | None => None,
                }
                .map(|known| (known, sure))
            } else {
                None
            };
            next = Some(at);
            if let Some((known, sure)) = known {
                out(span, mark, tag, known, sure);
            }
        }
    }
}

/// The commonest member read without [`locate`]'s generality: in a well-formed payload,
/// the key's occurrence at `at` (`len` bytes, a string token) lies at the root's level
/// as the mark tells, `:` follows at once (or after one space), and the value is an
/// integer of at most 18 digits. Its value and where it ends; None where `locate` is to
/// say (anything else: other spacing, other scalars, a decimal or exponent, `-0`). A
/// caller still makes sure no second occurrence follows in the payload. At 10M, reading
/// such a value through `locate`, `scalar_end` and a second parse was a fifth of a first
/// read.
fn quick_member(payload: &[u8], at: usize, len: usize, mark: &JsonMark) -> Option<(Known, usize)> {
    if !mark.at_root_level(payload.len(), at) {
        return None;
    }
    let mut i = at + len;
    if payload.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    if payload.get(i) == Some(&b' ') {
        i += 1;
    }
    let negative = payload.get(i) == Some(&b'-');
    let from = i + usize::from(negative);
    let mut end = from;
    let mut n: u64 = 0;
    while let Some(&d) = payload.get(end).filter(|d| d.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        end += 1;
    }
    let digits = end - from;
    let plain = (1..=18).contains(&digits)
        && !matches!(payload.get(end), Some(b'.' | b'e' | b'E'))
        && (digits == 1 || payload[from] != b'0')
        && !(negative && n == 0);
    // At most 18 digits: an `i64` holds it (as `token_known` converts).
    let value = if negative { -(n as i64) } else { n as i64 };
    plain.then_some((Known::Number(value as f64), end))
}

/// A key written the same way in every well-formed payload that has it (no quote,
/// backslash or control character, which only an escape could write there).
fn plain_key(key: &str) -> bool {
    !key.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)
}

/// The top-level member `quoted` names, in a well-formed payload (see
/// [`super::valid::check`]); None where a full scan must decide (a container value: its
/// extent needs one).
///
/// Without escapes every quote opens or closes a string, so an occurrence of `"key"`
/// is that key at depth 1 when the quotes before it are even and the brackets outside
/// strings before it leave depth 1, and a member's key when `:` follows; where the mark
/// tells that the occurrence lies outside the root's containers, and the key's text is
/// always that string ([`string_token`]), the bytes before it are not looked at. A
/// second such member (a duplicate key) is left to the parser, as the full scan leaves
/// it.
fn top_level(
    payload: &[u8],
    quoted: &Finder<'_>,
    mark: &JsonMark,
) -> Option<Step<Option<Range<usize>>>> {
    let find = |from: usize| find_from(quoted, payload, from);
    let level = |at: usize| mark.at_root_level(payload.len(), at);
    let level = (string_token(quoted.needle()), level);
    locate(payload, 0, find(0), quoted.needle().len(), &find, level).0
}

/// Whether every occurrence of `quoted` (a key with its quotes) in a well-formed payload
/// is that string: its first quote opens a string (where it closed one, the key's first
/// byte would follow a string, which JSON allows only for space, `:`, `,`, `}` and `]`),
/// and without a quote in the key the next one closes it.
fn string_token(quoted: &[u8]) -> bool {
    quoted.len() > 2 && !matches!(quoted[1], b' ' | b':' | b',' | b'}' | b']')
}

/// Where `quoted` next occurs in `bytes` at or after `from`; `usize::MAX` where it does
/// not.
fn find_from(quoted: &Finder<'_>, bytes: &[u8], from: usize) -> usize {
    let rest = bytes.get(from..).unwrap_or_default();
    quoted.find(rest).map_or(usize::MAX, |i| from + i)
}

/// The top-level member a search found occurrences of in a well-formed payload: the
/// payload starts at `start` of the searched bytes, `next` is the first occurrence of
/// the quoted key (`len` bytes) at or after it, `find(from)` the next one from `from`.
/// Gives the member's scalar value, None where a scan must say (a container value),
/// and the occurrence the search is left at.
fn locate(
    payload: &[u8],
    start: usize,
    mut next: usize,
    len: usize,
    find: &impl Fn(usize) -> usize,
    (string_token, root_level): (bool, impl Fn(usize) -> bool),
) -> (Option<Step<Option<Range<usize>>>>, usize) {
    if payload.get(ws(payload, 0)) != Some(&OBJECT) {
        // A well-formed array: no member at all.
        return (Some(Ok(None)), next);
    }
    let end = start + payload.len();
    let mut structure = None;
    let mut found = None;
    while next.saturating_add(len) <= end {
        let at = next - start;
        let mut from = next + 1;
        let colon = ws(payload, at + len);
        // A string at the root's level, known from the check or else worked out.
        let mut member = || {
            string_token && root_level(at)
                || structure
                    .get_or_insert_with(|| Structure::new(payload))
                    .at(at)
                    == (true, 1)
        };
        if payload.get(colon) == Some(&b':') && member() {
            if found.is_some() {
                return (Some(Err(Unsure)), next);
            }
            let value = ws(payload, colon + 1);
            let Some(value_end) = scalar_end(payload, value) else {
                return (None, next);
            };
            found = Some(value..value_end);
            from = start + value_end;
        }
        next = find(from);
    }
    (Some(Ok(found)), next)
}

/// Quote parity and bracket depth of a payload without escapes, worked out 64 bytes at
/// a time for positions asked in increasing order.
struct Structure<'a> {
    bytes: &'a [u8],
    /// The chunk classified last starts here.
    chunk: usize,
    /// Bit `i`: an odd number of quotes up to and including byte `chunk + i`.
    inside: u64,
    /// Brackets outside strings.
    opens: u64,
    closes: u64,
    /// The depth at `chunk`.
    depth: i64,
}

impl<'a> Structure<'a> {
    fn new(bytes: &'a [u8]) -> Structure<'a> {
        let mut s = Structure {
            bytes,
            chunk: 0,
            inside: 0,
            opens: 0,
            closes: 0,
            depth: 0,
        };
        s.classify(0, false);
        s
    }

    fn classify(&mut self, start: usize, in_string: bool) {
        let chunk = match self.bytes.get(start..start + 64) {
            Some(whole) => marks(whole.try_into().unwrap_or(&[b' '; 64])),
            None => {
                // The tail, padded with spaces (which mark nothing).
                let mut padded = [b' '; 64];
                let tail = self.bytes.get(start..).unwrap_or_default();
                padded[..tail.len()].copy_from_slice(tail);
                marks(&padded)
            }
        };
        let inside = prefix_xor(chunk.quotes) ^ if in_string { !0 } else { 0 };
        self.chunk = start;
        self.inside = inside;
        self.opens = chunk.opens & !inside;
        self.closes = chunk.closes & !inside;
    }

    /// For the quote at `at`: whether it opens a string, and the depth there.
    fn at(&mut self, at: usize) -> (bool, i64) {
        while at >= self.chunk + 64 {
            self.depth += i64::from(self.opens.count_ones()) - i64::from(self.closes.count_ones());
            self.classify(self.chunk + 64, self.inside >> 63 == 1);
        }
        let bit = at - self.chunk;
        let before = (1u64 << bit) - 1;
        let depth = self.depth + i64::from((self.opens & before).count_ones())
            - i64::from((self.closes & before).count_ones());
        // Odd up to and including this quote: the ones before it were even.
        (self.inside >> bit & 1 == 1, depth)
    }
}

/// Where a 64-byte chunk has quotes, opening brackets and closing brackets.
#[derive(Debug, Default, PartialEq)]
struct Marks {
    quotes: u64,
    opens: u64,
    closes: u64,
}

/// `[` and `{` (and `]`, `}`) differ only in bit 5: with it set, each pair is one byte.
const OPEN_FOLDED: u8 = OBJECT;
const CLOSE_FOLDED: u8 = OBJECT_END;

/// [`Marks`] 16 bytes at a time (SSE2, part of every x86-64 processor).
#[cfg(target_arch = "x86_64")]
fn marks(chunk: &[u8; 64]) -> Marks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let mut m = Marks::default();
    for (k, part) in chunk.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is enabled on every x86_64 target; the unaligned load reads the 16
        // bytes of `part` and nothing else.
        let (quotes, opens, closes) = unsafe {
            let v = _mm_loadu_si128(part.as_ptr().cast::<__m128i>());
            let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
            let mask = |x: __m128i, byte: u8| {
                _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(byte as i8)))
            };
            (
                mask(v, b'"'),
                mask(folded, OPEN_FOLDED),
                mask(folded, CLOSE_FOLDED),
            )
        };
        let shift = 16 * k;
        // `_mm_movemask_epi8` sets the low 16 bits only.
        m.quotes |= u64::from(quotes as u16) << shift;
        m.opens |= u64::from(opens as u16) << shift;
        m.closes |= u64::from(closes as u16) << shift;
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
fn marks(chunk: &[u8; 64]) -> Marks {
    marks_bytewise(chunk)
}

/// [`Marks`] a byte at a time: other processors, and the reference in tests.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn marks_bytewise(chunk: &[u8; 64]) -> Marks {
    let mut m = Marks::default();
    for (i, &b) in chunk.iter().enumerate() {
        let bit = 1u64 << i;
        match b | 0x20 {
            _ if b == b'"' => m.quotes |= bit,
            OPEN_FOLDED => m.opens |= bit,
            CLOSE_FOLDED => m.closes |= bit,
            _ => {}
        }
    }
    m
}

/// A value's text read alone, as the parser reads it in place (None: serde refuses it).
fn read_value(text: &[u8]) -> Option<Value> {
    if let Some(n) = small_integer(text) {
        return Some(n);
    }
    serde_json::from_str(std::str::from_utf8(text).ok()?).ok()
}

/// A checked number token that is an integer of at most 18 digits, as serde gives it
/// (`u64` when not negative, else `i64`), without serde's set-up (a full `.latency_ms` pass
/// at 1M: 13 % less CPU). `-0` is left to serde (it reads it as the float `-0.0`).
fn small_integer(token: &[u8]) -> Option<Value> {
    match small_integer_parts(token)? {
        (false, n) => Some(Value::from(n)),
        // 18 digits fit an i64.
        (true, n) => Some(Value::from(-(n as i64))),
    }
}

/// [`small_integer`]'s sign and magnitude (never `-0`).
fn small_integer_parts(token: &[u8]) -> Option<(bool, u64)> {
    let (negative, digits) = match token.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, token),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    (!negative || n != 0).then_some((negative, n))
}

/// What the value about to be read is to the path.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// Not on the path.
    Off,
    /// The value at the path.
    Target,
    /// On the path, which goes deeper: a container of the kind the next segment names
    /// stays on it; any other value ends it.
    Into,
}

/// Where the value at `path` lies in `bytes`, checking the whole text as JSON on the way.
///
/// One loop over the bytes with the open containers kept as bits, not a recursive
/// descent: the descent it replaces moved each level's `Option<Value>` result through
/// the stack and spent a fifth of its time there (perf, issue 19). The containers at
/// depth `1..=on` are the path's; the members of the one at depth `on` are picked by
/// `path[on - 1]`. A second member picked at one level (a duplicate key: the last one
/// wins in a parse) is left to the parser.
fn walk(bytes: &[u8], path: &[Seg]) -> Step<Option<Range<usize>>> {
    // 0 past the end: no token starts with it and strings refuse it.
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let mut i = ws(bytes, 0);
    let mut depth = 0;
    // Bit `d - 1`: the container at depth `d` is an array.
    let mut arrays = 0u64;
    let mut on = 0;
    // Bit `l`: the member `path[l]` picks has been met.
    let mut met = 0u64;
    // The next element's index in the array at depth `on`, until its member is met.
    let mut element = 0;
    let mut role = if path.is_empty() {
        Role::Target
    } else {
        Role::Into
    };
    // The path's value: where it starts and the depth it is at, then its extent.
    let mut target = None;
    let mut found = None;
    loop {
        // A value starts at `i`.
        let start = i;
        if role == Role::Target {
            target = Some((start, depth));
        }
        match at(i) {
            open @ (OBJECT | ARRAY) => {
                let array = open == ARRAY;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Unsure);
                }
                let bit = 1u64 << (depth - 1);
                arrays = if array { arrays | bit } else { arrays & !bit };
                let kind = matches!(
                    (array, path.get(depth - 1)),
                    (false, Some(Seg::Key(_))) | (true, Some(Seg::Index(_)))
                );
                if role == Role::Into && kind {
                    on = depth;
                    element = 0;
                }
                i = ws(bytes, i + 1);
                let close = if array { ARRAY_END } else { OBJECT_END };
                if at(i) != close {
                    (i, role) = if array {
                        (i, pick_element(path, depth, on, &mut met, &mut element))
                    } else {
                        member(bytes, i, path, depth, on, &mut met)?
                    };
                    continue;
                }
                i += 1;
                if on == depth {
                    on -= 1;
                }
                depth -= 1;
            }
            b'"' => i = string_end(bytes, i)?.1,
            b'-' | b'0'..=b'9' => {
                i = number_end(bytes, i)?;
                // A number where the path goes deeper is read in full by the parser (one
                // out of range fails the payload).
                if role == Role::Into && read_value(&bytes[start..i]).is_none() {
                    return Err(Unsure);
                }
            }
            b't' => i = literal(bytes, i, b"true")?,
            b'f' => i = literal(bytes, i, b"false")?,
            b'n' => i = literal(bytes, i, b"null")?,
            _ => return Err(Unsure),
        }
        // A value (a container's closing byte included) ended at `i`, at `depth`.
        loop {
            if let Some((from, level)) = target {
                if level == depth {
                    found = Some(from..i);
                    target = None;
                }
            }
            i = ws(bytes, i);
            if depth == 0 {
                return if i == bytes.len() {
                    Ok(found)
                } else {
                    Err(Unsure)
                };
            }
            let array = arrays & (1u64 << (depth - 1)) != 0;
            match (at(i), array) {
                (b',', true) => {
                    i = ws(bytes, i + 1);
                    role = pick_element(path, depth, on, &mut met, &mut element);
                    break;
                }
                (b',', false) => {
                    (i, role) = member(bytes, ws(bytes, i + 1), path, depth, on, &mut met)?;
                    break;
                }
                (ARRAY_END, true) | (OBJECT_END, false) => {
                    i += 1;
                    if on == depth {
                        on -= 1;
                    }
                    depth -= 1;
                }
                _ => return Err(Unsure),
            }
        }
    }
}

/// The role of the next element of the array at `depth`.
fn pick_element(path: &[Seg], depth: usize, on: usize, met: &mut u64, element: &mut usize) -> Role {
    if depth != on || *met & (1u64 << (on - 1)) != 0 {
        return Role::Off;
    }
    let index = *element;
    *element += 1;
    match path[on - 1] {
        Seg::Index(n) if n == index => {
            *met |= 1u64 << (on - 1);
            deeper(path, on)
        }
        _ => Role::Off,
    }
}

/// An object member's key at `i` (after `{` or `,` and spaces), its `:` and the spaces
/// after: where its value starts and that value's role.
fn member(
    bytes: &[u8],
    i: usize,
    path: &[Seg],
    depth: usize,
    on: usize,
    met: &mut u64,
) -> Step<(usize, Role)> {
    if bytes.get(i) != Some(&b'"') {
        return Err(Unsure);
    }
    let (key, i) = string_end(bytes, i)?;
    let i = ws(bytes, i);
    if bytes.get(i) != Some(&b':') {
        return Err(Unsure);
    }
    let i = ws(bytes, i + 1);
    if depth != on {
        return Ok((i, Role::Off));
    }
    let role = match &path[on - 1] {
        Seg::Key(k) if &bytes[key] == k.as_bytes() => {
            let bit = 1u64 << (on - 1);
            if *met & bit != 0 {
                // A duplicate key on the path: the parser decides which one counts.
                return Err(Unsure);
            }
            *met |= bit;
            deeper(path, on)
        }
        _ => Role::Off,
    };
    Ok((i, role))
}

/// The role of a value picked by `path[on - 1]`.
fn deeper(path: &[Seg], on: usize) -> Role {
    if on == path.len() {
        Role::Target
    } else {
        Role::Into
    }
}

/// JSON whitespace from `i` (not form feed: serde rejects it); where it ends.
fn ws(bytes: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = bytes.get(i) {
        i += 1;
    }
    i
}

/// The string opening at `i`, without escapes or control characters: its contents'
/// range and where it ends (past the closing quote).
fn string_end(bytes: &[u8], i: usize) -> Step<(Range<usize>, usize)> {
    let start = i + 1;
    // A byte loop: keys and most values are a few bytes, where a memchr call's set-up
    // costs more than the search (eight bytes at a time measured no faster).
    for (n, &b) in bytes.get(start..).unwrap_or_default().iter().enumerate() {
        match b {
            b'"' => return Ok((start..start + n, start + n + 1)),
            b'\\' | 0..0x20 => return Err(Unsure),
            _ => {}
        }
    }
    Err(Unsure)
}

#[cfg(test)]
mod tests {
    use super::super::{json, lookup, valid, Filter, Seg};
    use super::*;
    use crate::filter::lex::EDITS;
    use proptest::prelude::*;

    /// What the parser's route gives: the reference the scanner must agree with.
    fn parsed(payload: &[u8], path: &[Seg]) -> Option<Value> {
        let mut paths = json::Paths::default();
        paths.add(path);
        let root = json::project(payload, &paths)?;
        lookup(&root, path).cloned()
    }

    /// The finder of a searchable path's quoted key, as `Field` keeps it.
    fn finder(path: &[Seg]) -> Option<Finder<'static>> {
        match path {
            [Seg::Key(k)] if searchable(path) => {
                Some(Finder::new(format!("\"{k}\"").as_bytes()).into_owned())
            }
            _ => None,
        }
    }

    /// The scanner agrees with the parser: scanning (which marks the payload), and again
    /// once the payload is marked well formed by the idle check (a one-key path is then
    /// searched); what [`known`] says is what a cell given the parsed value holds.
    fn agrees(payload: &[u8], path: &[Seg]) -> Result<bool, TestCaseError> {
        let want = parsed(payload, path);
        let text = String::from_utf8_lossy(payload);
        let finder = finder(path);
        let search = finder.as_ref().map(KeySearch::new);
        let scanned = JsonMark::default();
        let first = field(payload, path, Some(&scanned), search);
        prop_assert!(
            !scanned.well_formed() || valid::well_formed(payload),
            "{}",
            text
        );
        let checked = JsonMark::default();
        checked.check(payload);
        let again = field(payload, path, Some(&checked), search);
        let mut decided = false;
        for found in [first, again] {
            match found {
                Scanned::Found(v) => prop_assert_eq!(Some(v), want.clone(), "{} {:?}", text, path),
                Scanned::Absent => prop_assert_eq!(None, want.clone(), "{} {:?}", text, path),
                Scanned::Unsure => continue,
            }
            decided = true;
        }
        if let Some(known) = known(payload, Some(&checked), search) {
            let cell = super::super::ValueCell::default();
            cell.set(want.as_ref());
            prop_assert_eq!(cell.get(), Some(known), "{} {:?}", text, path);
        }
        Ok(decided)
    }

    const KEYS: &[&str] = &[
        r#""a""#,
        r#""b""#,
        r#""latency_ms""#,
        r#""""#,
        "\"é\"",
        // Keys whose first byte may follow a string: `":"` is also a string's end, a
        // colon and the next string's start.
        r#"":""#,
        r#"",""#,
    ];
    /// Keys the parser reads its own way (escapes).
    const ODD_KEYS: &[&str] = &[r#""l\u0061tency_ms""#, r#""a\"b""#, r#""a\\""#];
    const SCALARS: &[&str] = &[
        "null",
        "true",
        "false",
        "0",
        "-0",
        "250",
        "251",
        "2.5e2",
        "25.0",
        "-1.5E-3",
        "18446744073709551616",
        "-9223372036854775809",
        r#""x""#,
        r#""250""#,
        r#""""#,
        r#""latency_ms""#,
        "\"é ü\"",
    ];
    /// Scalars the parser rejects or reads its own way.
    const ODD_SCALARS: &[&str] = &[
        "1e400",
        "-1e400",
        "01",
        "1.",
        "-",
        ".5",
        "tru",
        r#""a\"b""#,
        r#""\u0041\ud800""#,
        "\"tab\there\"",
    ];
    fn space() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            40 => Just(""),
            6 => Just(" "),
            2 => Just("\n\t"),
            1 => Just("\r"),
            // Form feed: whitespace to Rust, not to JSON.
            1 => Just("\u{c}"),
        ]
    }

    fn pick(usual: &'static [&'static str], odd: &'static [&'static str]) -> BoxedStrategy<String> {
        prop_oneof![
            40 => prop::sample::select(usual).prop_map(String::from),
            1 => prop::sample::select(odd).prop_map(String::from),
        ]
        .boxed()
    }

    /// JSON-ish text: mostly valid, with the odd number, escape, space or key that the
    /// parser treats in its own way.
    fn json_ish() -> impl Strategy<Value = String> {
        let leaf = pick(SCALARS, ODD_SCALARS);
        leaf.prop_recursive(5, 48, 5, |inner| {
            let item = (space(), inner, space())
                .prop_map(|(a, v, b)| format!("{a}{v}{b}"))
                .boxed();
            let member = (pick(KEYS, ODD_KEYS), space(), item.clone())
                .prop_map(|(k, s, v)| format!("{k}{s}:{v}"));
            prop_oneof![
                1 => prop::collection::vec(item, 0..5).prop_map(|v| format!("[{}]", v.join(","))),
                2 => prop::collection::vec(member, 0..5).prop_map(|v| format!("{{{}}}", v.join(","))),
            ]
        })
    }

    /// A payload: JSON-ish text, sometimes damaged (a byte dropped, replaced or added).
    fn payload() -> impl Strategy<Value = Vec<u8>> {
        let damage = prop_oneof![
            20 => Just(None),
            1 => (any::<prop::sample::Index>(), prop::sample::select(&b"{}[],:\"\\ 0e\xff\x01"[..]), 0..3u8)
                .prop_map(Some),
        ];
        (space(), json_ish(), space(), damage).prop_map(|(a, text, b, damage)| {
            let mut bytes = format!("{a}{text}{b}").into_bytes();
            if let Some((at, byte, how)) = damage {
                let i = at.index(bytes.len() + 1);
                match how {
                    0 if i < bytes.len() => drop(bytes.remove(i)),
                    1 if i < bytes.len() => bytes[i] = byte,
                    _ => bytes.insert(i, byte),
                }
            }
            bytes
        })
    }

    fn seg() -> impl Strategy<Value = Seg> {
        prop_oneof![
            3 => prop::sample::select(&["a", "b", "latency_ms", "a", "b", "latency_ms", "a\"b", "", "é", ":", ","][..])
                .prop_map(|k| Seg::Key(k.to_string())),
            1 => (0..3usize).prop_map(Seg::Index),
        ]
    }

    /// The filter's text for a path.
    fn path_text(path: &[Seg]) -> String {
        path.iter()
            .map(|s| match s {
                Seg::Key(k) => format!(".{}", serde_json::Value::String(k.clone())),
                Seg::Index(i) => format!(".[{i}]"),
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn the_scanner_finds_what_the_parser_finds(
            payload in payload(),
            path in prop::collection::vec(seg(), 1..4),
        ) {
            agrees(&payload, &path)?;
        }

        #[test]
        fn shortcuts_never_change_a_verdict(
            payload in payload(),
            paths in prop::collection::vec(prop::collection::vec(seg(), 1..3), 1..3),
            ops in prop::collection::vec(
                prop::sample::select(&["", " == 250", " > 25", " <= 2.5e2", " != \"x\"",
                    " == null", " ~ a", " == true", " ~ 25", " == \"250\""][..]), 3),
            shape in 0..4usize,
        ) {
            let field = |i: usize| format!("{}{}", path_text(&paths[i % paths.len()]), ops[i]);
            let expr = match shape {
                0 => field(0),
                1 => format!("{} and {}", field(0), field(1)),
                2 => format!("{} or not {}", field(0), field(1)),
                _ => format!("not ({} or {}) or {}", field(0), field(1), field(2)),
            };
            let filter = Filter::parse(&expr).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(
                filter.eval(b"c", &payload, true, None, None, None),
                filter.eval(b"c", &payload, false, None, None, None),
                "{} on {}", expr, String::from_utf8_lossy(&payload)
            );
        }
    }

    /// Well-formed JSON text of up to a few hundred bytes: the key searched for at every
    /// depth, strings full of brackets, colons and key-like text, arrays at the root.
    pub(in crate::filter) fn well_formed_text(
        rng: &mut crate::test_rng::XorShift,
        depth: usize,
    ) -> String {
        let space = |rng: &mut crate::test_rng::XorShift| [" ", "", "", "\n", "\t "][rng.below(5)];
        let key = |rng: &mut crate::test_rng::XorShift| {
            ["a", "b", "latency_ms", "a ", "ab"][rng.below(5)]
        };
        let scalar = |rng: &mut crate::test_rng::XorShift| {
            let texts = [
                "250",
                "-1.5e3",
                "0",
                "null",
                "true",
                "\"x\"",
                "\"{[a]:}\"",
                "\"a:\"",
                "\"latency_ms\"",
                "\" \\u{e9} {\"",
                "12345678901234567890",
                "\"\"",
                // Well formed, but out of serde's range: an earlier duplicate like
                // this fails the whole parse.
                "1e400",
            ];
            texts[rng.below(texts.len())].replace("\\u{e9}", "\u{e9}")
        };
        let n = rng.below(6);
        match (depth, rng.below(4)) {
            (0, _) | (_, 0) => scalar(rng),
            (_, 1) => {
                let items: Vec<String> = (0..n).map(|_| well_formed_text(rng, depth - 1)).collect();
                format!("[{}{}]", space(rng), items.join(","))
            }
            _ => {
                let members: Vec<String> = (0..n)
                    .map(|_| {
                        let (k, s) = (key(rng), space(rng));
                        format!("\"{k}\"{s}:{s}{}", well_formed_text(rng, depth - 1))
                    })
                    .collect();
                format!(
                    "{{{}{}}}",
                    space(rng),
                    members.join(&format!(",{}", space(rng)))
                )
            }
        }
    }

    #[test]
    fn a_well_formed_payload_is_searched_as_it_is_scanned() {
        let mut rng = crate::test_rng::XorShift(0x5EA2_C4ED_0000_0001);
        let (mut searched, mut long) = (0, 0);
        for _ in 0..20_000 {
            let text = well_formed_text(&mut rng, 4);
            let root = if rng.below(4) == 0 {
                text
            } else {
                format!("{{\"a\":{text}}}")
            };
            let payload = root.as_bytes();
            if !valid::well_formed(payload) {
                continue;
            }
            long += usize::from(payload.len() > 64);
            for k in ["a", "latency_ms", "a "] {
                let path = [Seg::Key(k.to_string())];
                let decided = agrees(payload, &path).map_err(|e| format!("{e}"));
                assert!(decided.is_ok(), "{decided:?}");
                let mark = JsonMark::default();
                mark.check(payload);
                searched += usize::from(searched_value(payload, &path, &mark));
            }
        }
        // Most were decided by the search, many across more than one 64-byte chunk.
        assert!(
            searched > 20_000 && long > 5_000,
            "{searched} searched, {long} long"
        );
    }

    #[test]
    fn payloads_end_to_end_are_searched_as_each_is_alone() {
        let mut rng = crate::test_rng::XorShift(0xB10C_5EA2_0000_0002);
        // Unchecked payloads with the key read as if well formed: how many were JSON
        // (the value stood) and how many were not (no value).
        let (mut unsure, mut not_json) = (0, 0);
        for round in 0..400 {
            // Payloads laid end to end as in a block; some are left out of the spans,
            // some are not checked (or not JSON at all).
            let (mut bytes, mut ranges, mut marks) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rng.below(40) {
                let text = well_formed_text(&mut rng, 3);
                let text = match rng.below(8) {
                    0 => text,
                    1 => "{\"a\":\"x\"}".to_string(),
                    2 => format!("{{\"a\\u0020\":1,\"b\":{text}}}"),
                    3 => format!("a {text}"),
                    // Not JSON: left open, or a value where a key goes.
                    4 => format!("{{\"a\":{text}"),
                    5 => format!("{{\"a\":1,{text}}}"),
                    _ => format!("{{\"a\":{text}}}"),
                };
                let start = bytes.len();
                bytes.extend_from_slice(text.as_bytes());
                if rng.below(5) != 0 {
                    let mark = JsonMark::default();
                    if rng.below(3) != 0 {
                        mark.check(text.as_bytes());
                    }
                    ranges.push(start..bytes.len());
                    marks.push(mark);
                }
            }
            let spans: Vec<(Range<usize>, &JsonMark)> =
                ranges.iter().cloned().zip(&marks).collect();
            // `}{` occurs across payload boundaries (`..."}{"...`).
            for key in ["a", "latency_ms", "a ", "}{"] {
                let path = [Seg::Key(key.to_string())];
                let finder = finder(&path).expect("a plain key");
                let search = KeySearch::new(&finder);
                let mut got = vec![None; spans.len()];
                let items = spans
                    .iter()
                    .enumerate()
                    .map(|(i, (r, m))| (r.clone(), *m, i));
                search.known_in(&bytes, items, |_, _, i, known, sure| {
                    got[i] = Some((known, sure))
                });
                for ((span, mark), got) in spans.iter().zip(got) {
                    let payload = &bytes[span.clone()];
                    let text = String::from_utf8_lossy(payload);
                    // What the block search is sure of is what the parser says; what
                    // it is not, the parser says or finds no value (not JSON). Where
                    // the payload was checked, it says as much as the search of it alone.
                    let cell = super::super::ValueCell::default();
                    cell.set(parsed(payload, &path).as_ref());
                    let at = format!("round {round}: {key:?} in {text}");
                    match got {
                        Some((got, true)) => assert_eq!(cell.get(), Some(got), "{at}"),
                        Some((got, false)) => {
                            assert!(!mark.well_formed(), "{at}");
                            let either = [Some(got), Some(Known::Absent)];
                            assert!(either.contains(&cell.get()), "{at}: {got:?}");
                            unsure += usize::from(cell.get() == Some(got));
                            not_json += usize::from(cell.get() != Some(got));
                        }
                        None => {}
                    }
                    if mark.well_formed() {
                        let alone = known(payload, Some(mark), Some(search));
                        let got = got.map(|(got, sure)| sure.then_some(got));
                        assert_eq!(got, alone.map(Some), "{at}");
                    }
                }
            }
        }
        assert!(
            unsure > 500 && not_json > 500,
            "{unsure} unsure, {not_json} not JSON"
        );
    }

    #[test]
    fn a_key_text_that_spans_two_strings_is_not_taken_for_the_key() {
        // `","` is the end of `"x"`, a comma and the start of `":"`, followed by a colon:
        // no key `,` here, though no container comes before it.
        let payload = br#"{"a":"x",":":","}"#;
        let mark = JsonMark::default();
        mark.check(payload);
        assert!(mark.well_formed() && mark.at_root_level(payload.len(), 7));
        for (key, want) in [
            (",", None),
            (":", Some(serde_json::json!(","))),
            ("a", Some(serde_json::json!("x"))),
        ] {
            let path = [Seg::Key(key.to_string())];
            assert_eq!(parsed(payload, &path), want, "{key}");
            let finder = finder(&path).expect("a plain key");
            let found = field(payload, &path, Some(&mark), Some(KeySearch::new(&finder)));
            let want = want.map_or(Scanned::Absent, Scanned::Found);
            assert_eq!(found, want, "{key}");
        }
    }

    /// True when the search (not a scan) decided.
    fn searched_value(payload: &[u8], path: &[Seg], mark: &JsonMark) -> bool {
        let finder = finder(path);
        let search = finder.as_ref().map(KeySearch::new);
        matches!(searched(payload, Some(mark), search), Some(Ok(_)))
    }

    #[test]
    fn marks_are_what_a_byte_at_a_time_reads() {
        let mut rng = crate::test_rng::XorShift(0x0DD5_EED5);
        let alphabet = b"\"{}[]a :,\x7b\x5b\xdb\xfb\x7d\x5d\x02\x22";
        for _ in 0..2_000 {
            let mut chunk = [0u8; 64];
            for b in &mut chunk {
                *b = if rng.below(4) == 0 {
                    rng.below(256) as u8
                } else {
                    alphabet[rng.below(alphabet.len())]
                };
            }
            assert_eq!(marks(&chunk), marks_bytewise(&chunk), "{chunk:?}");
        }
    }

    #[test]
    fn small_integers_read_as_serde_reads_them() {
        let mut tokens: Vec<String> = [
            "0",
            "-0",
            "7",
            "-7",
            "10",
            "-10",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "18446744073709551615",
            "1.5",
            "1e3",
            "-",
            "",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let mut rng = crate::test_rng::XorShift(0xDEC1_4A11);
        for _ in 0..5_000 {
            let digits = 1 + rng.below(20);
            let mut t: String = (0..digits)
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            if t.len() > 1 {
                t = t.trim_start_matches('0').to_string();
            }
            if rng.below(2) == 0 {
                t.insert(0, '-');
            }
            tokens.push(t);
        }
        for token in tokens {
            let serde = serde_json::from_str::<Value>(&token).ok();
            match small_integer(token.as_bytes()) {
                Some(v) => assert_eq!(Some(v), serde, "{token}"),
                None => assert!(
                    token.len() > 18
                        || token == "-0"
                        || !matches!(serde, Some(Value::Number(ref n)) if n.is_i64() || n.is_u64()),
                    "{token} left to serde"
                ),
            }
        }
    }

    #[test]
    fn plain_payloads_are_scanned_not_parsed() {
        let key = |k: &str| Seg::Key(k.to_string());
        let payload = br#" {"seq":1,"user":{"id":42,"tags":["x",{"k":[1,2]}]},"latency_ms":250.5,"t":"p 9"} "#;
        for (path, want) in [
            (vec![key("latency_ms")], Some(serde_json::json!(250.5))),
            (vec![key("user"), key("id")], Some(serde_json::json!(42))),
            (
                vec![key("user"), key("tags"), Seg::Index(1), key("k")],
                Some(serde_json::json!([1, 2])),
            ),
            (vec![key("user"), key("tags"), Seg::Index(2)], None),
            (vec![key("seq"), key("x")], None),
            (vec![key("missing")], None),
        ] {
            let scanned = field(payload, &path, None, None);
            let expected = want.map_or(Scanned::Absent, Scanned::Found);
            assert_eq!(scanned, expected, "{path:?}");
            assert!(agrees(payload, &path).expect("agrees"));
        }
        // What the scanner leaves to the parser.
        for unsure in [
            &br#"{"a\u0062":1}"#[..],
            b"{\"a\":\"\x01\"}",
            br#"{"a":1,}"#,
            br#"{"a":1e400}"#,
            // An earlier duplicate the parser fails on fails the payload there too.
            br#"{"a":[1e400],"a":null}"#,
            b"\xa4\x01",
            b"plain text",
        ] {
            let path = [key("a")];
            assert_eq!(
                field(unsure, &path, None, None),
                Scanned::Unsure,
                "{unsure:?}"
            );
        }
        // Cases proptest found once (were proptest-regressions/filter/scan.txt).
        for (payload, path) in [
            (&b"null"[..], vec![Seg::Index(0)]),
            (
                br#"{"latency_ms":[1e400],"latency_ms":null}"#,
                vec![key("latency_ms")],
            ),
        ] {
            assert!(agrees(payload, &path).is_ok(), "{path:?}");
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(70), "]".repeat(70));
        assert_eq!(
            field(deep.as_bytes(), &[key("a")], None, None),
            Scanned::Unsure
        );
        assert_eq!(
            field(b"{\"a\":\"\xff\"}", &[key("a")], None, None),
            Scanned::Absent,
            "not UTF-8"
        );
    }

    /// [`well_formed`] by the walk, a byte at a time: the reference the chunked check
    /// ([`valid::well_formed`]) agrees with.
    fn walked(payload: &[u8]) -> bool {
        json_text(payload) && std::str::from_utf8(payload).is_ok() && walk(payload, &[]).is_ok()
    }

    #[test]
    fn the_chunked_check_agrees_with_the_walk() {
        let mut rng = crate::test_rng::XorShift(0x7A11_D000_0000_0004);
        let (mut good, mut bad) = (0, 0);
        for round in 0..60_000 {
            let text = well_formed_text(&mut rng, 4);
            // Something of any length before it, so that every token falls on every
            // side of a 64-byte chunk's edge.
            let n = rng.below(140);
            let mut bytes = match round % 7 {
                0 => text.into_bytes(),
                1 => format!("{{\"a\":{text}}}").into_bytes(),
                2 => format!(" [{text} ,\t{text}]\n").into_bytes(),
                3 => format!("{{\"{}\":{text}}}", "k".repeat(n)).into_bytes(),
                4 => format!("[{}{text}]", " ".repeat(n)).into_bytes(),
                5 => format!("[{}1,{text}]", "9".repeat(n)).into_bytes(),
                _ => format!("[\"{}\",{text}]", "x".repeat(n)).into_bytes(),
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
                valid::well_formed(&bytes),
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
            assert_eq!(
                valid::well_formed(text.as_bytes()),
                walked(text.as_bytes()),
                "{n}"
            );
        }
        assert!(valid::well_formed(nested(MAX_DEPTH).as_bytes()));
        assert!(!valid::well_formed(nested(MAX_DEPTH + 1).as_bytes()));
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
            assert!(!valid::well_formed(text.as_bytes()), "{text:?}");
            assert!(!walked(text.as_bytes()), "{text:?}");
        }
        let mut invalid_utf8 = b"[\"".to_vec();
        invalid_utf8.extend_from_slice(&[0xff, b'"', b']']);
        assert!(!valid::well_formed(&invalid_utf8));
        for text in [
            "{}",
            "[]",
            " [ 1 , -2.5e+3 , \"é\" , null ]\n",
            "{\"a\":{\"b\":[true,false]}}",
        ] {
            assert!(valid::well_formed(text.as_bytes()), "{text:?}");
        }
    }
}
