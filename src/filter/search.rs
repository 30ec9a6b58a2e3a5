//! The substring search of the filter's text terms, folded (smart case) or exact.

use std::ops::Range;

/// `needle` (lowercase) in `hay` with ASCII case folded.
pub(super) fn find_folded(hay: &[u8], needle: &[u8]) -> Option<Range<usize>> {
    let at = Needle::new(needle, true).find(hay, 0)?;
    Some(at..at + needle.len())
}

/// A substring to find, folded (lowercase, ASCII case ignored) or exact. Candidates are
/// where its first and last bytes both are, 16 positions at a time on x86-64, each then
/// compared in full. The folded search before it (`memchr2` on the first byte's two
/// cases) stopped at every common letter and paid its set-up on every call, which a
/// search of a block of payloads makes once per payload holding the needle.
pub(crate) struct Needle<'n> {
    bytes: &'n [u8],
    fold: bool,
    pair: Pair,
    /// Searched 32 positions at a time (the CPU has AVX2; checked once per needle).
    wide: bool,
}

impl<'n> Needle<'n> {
    pub(crate) fn new(bytes: &'n [u8], fold: bool) -> Needle<'n> {
        let (first, last) = (bytes.first(), bytes.last());
        let pair = Pair::new(
            first.copied().unwrap_or_default(),
            last.copied().unwrap_or_default(),
            bytes.len().saturating_sub(1),
            fold,
        );
        #[cfg(target_arch = "x86_64")]
        let wide = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let wide = false;
        Needle {
            bytes,
            fold,
            pair,
            wide,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Where the first occurrence starting at or after `from` starts.
    #[inline]
    pub(crate) fn find(&self, hay: &[u8], from: usize) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` is set only where the CPU has AVX2.
            return unsafe { self.find_wide(hay, from) };
        }
        self.find_from(hay, from)
    }

    /// [`Needle::find`] with the CPU's AVX2: candidates 32 positions at a time (a dense
    /// needle, found in every payload, is mostly the scan up to it: half the steps).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn find_wide(&self, hay: &[u8], mut from: usize) -> Option<usize> {
        let n = self.bytes.len();
        let starts = hay.len().checked_sub(n)? + 1;
        if n > 0 {
            while from + 32 <= starts {
                let found = self.first_of(hay, from, self.pair.candidates32(hay, from));
                if found.is_some() {
                    return found;
                }
                from += 32;
            }
        }
        self.find_from(hay, from)
    }

    /// [`Needle::find`] 16 positions at a time (SSE2, every x86-64 CPU), then one by one.
    #[inline(always)]
    fn find_from(&self, hay: &[u8], from: usize) -> Option<usize> {
        let n = self.bytes.len();
        if n == 0 {
            return (from <= hay.len()).then_some(from);
        }
        let starts = hay.len().checked_sub(n)? + 1;
        let mut from = from;
        #[cfg(target_arch = "x86_64")]
        while from + 16 <= starts {
            let found = self.first_of(hay, from, self.pair.candidates16(hay, from));
            if found.is_some() {
                return found;
            }
            from += 16;
        }
        (from..starts).find(|&i| self.pair.is_candidate(hay, i) && self.is_at(hay, i))
    }

    /// The first candidate of `mask` (bit `k`: position `from + k`) the needle is at.
    #[inline(always)]
    fn first_of(&self, hay: &[u8], from: usize, mut mask: u32) -> Option<usize> {
        while mask != 0 {
            let i = from + mask.trailing_zeros() as usize;
            if self.is_at(hay, i) {
                return Some(i);
            }
            mask &= mask - 1;
        }
        None
    }

    /// Whether the needle is at `i` (the caller keeps `i + len <= hay.len()`).
    #[inline(always)]
    fn is_at(&self, hay: &[u8], i: usize) -> bool {
        let window = &hay[i..i + self.bytes.len()];
        match self.fold {
            true => window
                .iter()
                .zip(self.bytes)
                .all(|(h, c)| h.to_ascii_lowercase() == *c),
            false => window == self.bytes,
        }
    }
}

/// A needle's first and last bytes. Folded, a lowercase letter `c` is compared with bit
/// 5 set (`b | 0x20 == c` exactly when `b` is `c` in either case), any other byte as it
/// is.
struct Pair {
    first: u8,
    first_fold: u8,
    last: u8,
    last_fold: u8,
    /// Offset of the last byte from the first.
    apart: usize,
    /// The four bytes above, each in every lane.
    #[cfg(target_arch = "x86_64")]
    lanes: [std::arch::x86_64::__m128i; 4],
}

impl Pair {
    fn new(first: u8, last: u8, apart: usize, fold: bool) -> Pair {
        let fold = |b: u8| {
            if fold && b.is_ascii_lowercase() {
                0x20
            } else {
                0
            }
        };
        let (first_fold, last_fold) = (fold(first), fold(last));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE2 is enabled on every x86_64 target.
        let lanes = unsafe {
            use std::arch::x86_64::_mm_set1_epi8;
            [first, first_fold, last, last_fold].map(|b| _mm_set1_epi8(b as i8))
        };
        Pair {
            first,
            first_fold,
            last,
            last_fold,
            apart,
            #[cfg(target_arch = "x86_64")]
            lanes,
        }
    }

    fn is_candidate(&self, hay: &[u8], i: usize) -> bool {
        hay[i] | self.first_fold == self.first && hay[i + self.apart] | self.last_fold == self.last
    }

    /// Bit `k` set where position `from + k` is a candidate, for `k` in 0..16; the caller
    /// keeps `from + 16 + apart <= hay.len()`.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    fn candidates16(&self, hay: &[u8], from: usize) -> u32 {
        use std::arch::x86_64::{
            __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8,
            _mm_or_si128,
        };
        let (heads, tails) = (&hay[from..from + 16], &hay[from + self.apart..][..16]);
        let [first, first_fold, last, last_fold] = self.lanes;
        // SAFETY: SSE2 is enabled on every x86_64 target; each unaligned load reads the
        // 16 bytes of a slice checked above and nothing else.
        unsafe {
            let test = |bytes: &[u8], fold: __m128i, byte: __m128i| {
                let v = _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>());
                _mm_cmpeq_epi8(_mm_or_si128(v, fold), byte)
            };
            let both = _mm_and_si128(test(heads, first_fold, first), test(tails, last_fold, last));
            _mm_movemask_epi8(both) as u32 & 0xFFFF
        }
    }

    /// [`Pair::candidates16`] for 32 positions; the caller keeps `from + 32 + apart <=
    /// hay.len()` and has checked that the CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn candidates32(&self, hay: &[u8], from: usize) -> u32 {
        use std::arch::x86_64::{
            __m256i, _mm256_and_si256, _mm256_broadcastsi128_si256, _mm256_cmpeq_epi8,
            _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        };
        let (heads, tails) = (&hay[from..from + 32], &hay[from + self.apart..][..32]);
        let [first, first_fold, last, last_fold] =
            self.lanes.map(|lane| _mm256_broadcastsi128_si256(lane));
        let test = |bytes: &[u8], fold: __m256i, byte: __m256i| {
            // SAFETY: an unaligned load of the 32 bytes of a slice checked above.
            let v = unsafe { _mm256_loadu_si256(bytes.as_ptr().cast::<__m256i>()) };
            _mm256_cmpeq_epi8(_mm256_or_si256(v, fold), byte)
        };
        let both = _mm256_and_si256(test(heads, first_fold, first), test(tails, last_fold, last));
        _mm256_movemask_epi8(both) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;

    /// The scan it replaced: compare a window at every offset.
    fn naive(hay: &[u8], needle: &[u8]) -> Option<Range<usize>> {
        if needle.is_empty() {
            return Some(0..0);
        }
        let at = hay.windows(needle.len()).position(|w| {
            w.iter()
                .zip(needle)
                .all(|(h, c)| h.to_ascii_lowercase() == *c)
        })?;
        Some(at..at + needle.len())
    }

    #[test]
    fn a_regex_prefix_is_what_every_match_starts_with() {
        use super::super::regex_prefix;
        let prefix = |p: &str| regex_prefix(p).map(|b| String::from_utf8_lossy(&b).into_owned());
        assert_eq!(prefix("payload 9+").as_deref(), Some("payload 9"));
        assert_eq!(prefix("Timeout.*x").as_deref(), Some("timeout"));
        assert_eq!(prefix("time?out").as_deref(), Some("tim"));
        assert_eq!(prefix("ab{2}").as_deref(), None, "one byte is not worth it");
        assert_eq!(prefix("abc*d").as_deref(), Some("ab"));
        // Alternation anywhere, a group or class first, k and s (Kelvin sign, long s).
        for none in [
            "ab|cd", "x(ab|cd)", "(ab)", "[ab]c", "\\dab", "kelvin", "ask", "a.b",
        ] {
            assert_eq!(prefix(none), None, "{none}");
        }
        assert_eq!(prefix("err: disk").as_deref(), Some("err: di"));
    }

    #[test]
    fn finds_what_the_window_scan_found() {
        let alphabet = b"aAbB:\xff\x00 @`[{zZ";
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let mut next = |n: usize| rng.below(n);
        for _ in 0..20_000 {
            let hay: Vec<u8> = (0..next(160))
                .map(|_| alphabet[next(alphabet.len())])
                .collect();
            // Short random needles, and longer ones taken from the hay (past a word's
            // eight bytes, and found), with a byte changed now and then.
            let taken = |rng: &mut dyn FnMut(usize) -> usize| -> Vec<u8> {
                let (at, len) = (rng(hay.len() + 1), rng(14));
                let mut bytes = hay[at..(at + len).min(hay.len())].to_vec();
                if !bytes.is_empty() && rng(3) == 0 {
                    let k = rng(bytes.len());
                    bytes[k] = alphabet[rng(alphabet.len())];
                }
                bytes
            };
            let needle: Vec<u8> = match next(2) {
                0 => (0..next(6))
                    .map(|_| alphabet[next(alphabet.len())])
                    .collect(),
                _ => taken(&mut next),
            };
            let needle = needle.to_ascii_lowercase();
            assert_eq!(
                find_folded(&hay, &needle),
                naive(&hay, &needle),
                "{hay:?} {needle:?}"
            );
            // Exact, from an offset: what memchr's substring search finds.
            let exact: Vec<u8> = match next(2) {
                0 => (0..next(4))
                    .map(|_| alphabet[next(alphabet.len())])
                    .collect(),
                _ => taken(&mut next),
            };
            let from = next(hay.len() + 2);
            let expected = hay
                .get(from..)
                .and_then(|rest| memchr::memmem::find(rest, &exact))
                .map(|at| from + at);
            // Both ways: 32 positions at a time where the CPU can, and 16.
            let mut narrow = Needle::new(&exact, false);
            assert_eq!(
                narrow.find(&hay, from),
                expected,
                "{hay:?} {exact:?} {from}"
            );
            narrow.wide = false;
            assert_eq!(
                narrow.find(&hay, from),
                expected,
                "{hay:?} {exact:?} {from}"
            );
            let mut folded = Needle::new(&needle, true);
            folded.wide = false;
            let at = folded.find(&hay, 0).map(|at| at..at + needle.len());
            assert_eq!(at, naive(&hay, &needle), "16 at a time: {hay:?} {needle:?}");
        }
    }
}
