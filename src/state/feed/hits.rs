//! What a block search says of each slot of a run, a bit a slot (issue 19).
//!
//! A search of 10M payloads for a sparse needle (`payload 99`) spent a third of its time
//! on the per-slot lists it kept (a `Hit` a slot, a `bool` a slot for the slots still in)
//! and on asking each slot in turn what those lists said. As bits, 64 slots are ruled out
//! or let through with one word's arithmetic, and only the slots left are looked at.

/// What a block search says of one slot's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hit {
    No,
    Yes,
    /// A regex's match ran past the payload's end: test it alone.
    Unsure,
}

/// A bit for each of `len` slots.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Bits {
    len: usize,
    words: Vec<u64>,
}

impl Bits {
    pub(super) fn zeros(len: usize) -> Bits {
        Bits {
            len,
            words: vec![0; len.div_ceil(64)],
        }
    }

    pub(super) fn ones(len: usize) -> Bits {
        let mut bits = Bits {
            len,
            words: vec![!0; len.div_ceil(64)],
        };
        bits.trim();
        bits
    }

    /// Bits `i` for which `f(i)`.
    pub(super) fn from_fn(len: usize, f: impl Fn(usize) -> bool) -> Bits {
        let mut bits = Bits::zeros(len);
        (0..len).filter(|&i| f(i)).for_each(|i| bits.set(i));
        bits
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// How many bits are set.
    pub(super) fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub(super) fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    pub(super) fn set(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    pub(super) fn clear(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
        }
    }

    pub(super) fn words(&self) -> &[u64] {
        &self.words
    }

    /// Keep only the bits also set in `other`.
    pub(super) fn and(&mut self, other: &Bits) {
        (self.words.iter_mut().zip(&other.words)).for_each(|(w, o)| *w &= o);
    }

    /// Keep only the set bits `i` for which `keep(i)`.
    pub(super) fn retain(&mut self, keep: impl Fn(usize) -> bool) {
        for (k, word) in self.words.iter_mut().enumerate() {
            let dropped = ones_of(&[*word])
                .filter(|&bit| !keep(64 * k + bit))
                .fold(0, |w, bit| w | 1 << bit);
            *word &= !dropped;
        }
    }

    /// The set bits, in order.
    pub(super) fn ones_iter(&self) -> impl Iterator<Item = usize> + '_ {
        ones_of(&self.words)
    }

    /// No bit past `len`.
    fn trim(&mut self) {
        if let Some(last) = self
            .words
            .last_mut()
            .filter(|_| !self.len.is_multiple_of(64))
        {
            *last &= (1 << (self.len % 64)) - 1;
        }
    }
}

/// The set bits of `words`, in order.
pub(super) fn ones_of(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(k, &w)| {
        let mut w = w;
        std::iter::from_fn(move || {
            (w != 0).then(|| {
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                64 * k + bit
            })
        })
    })
}

/// What a search says of each slot of a run: found, unsure, or neither (not found).
#[derive(Debug, Clone)]
pub(super) struct Hits {
    yes: Bits,
    unsure: Bits,
}

impl Hits {
    /// Nothing found yet in `len` slots.
    pub(super) fn none(len: usize) -> Hits {
        Hits {
            yes: Bits::zeros(len),
            unsure: Bits::zeros(len),
        }
    }

    pub(super) fn get(&self, i: usize) -> Hit {
        match (self.yes.get(i), self.unsure.get(i)) {
            (true, _) => Hit::Yes,
            (false, true) => Hit::Unsure,
            (false, false) => Hit::No,
        }
    }

    pub(super) fn set(&mut self, i: usize, hit: Hit) {
        self.yes.clear(i);
        self.unsure.clear(i);
        match hit {
            Hit::Yes => self.yes.set(i),
            Hit::Unsure => self.unsure.set(i),
            Hit::No => {}
        }
    }

    /// The slots where it was found.
    pub(super) fn yes(&self) -> &Bits {
        &self.yes
    }

    pub(super) fn into_yes(self) -> Bits {
        self.yes
    }

    /// Word `k` of the slots where it was not found (neither yes nor unsure), within
    /// `len`.
    pub(super) fn no_word(&self, k: usize) -> u64 {
        let (yes, unsure) = (self.yes.words[k], self.unsure.words[k]);
        !(yes | unsure) & word_mask(self.yes.len, k)
    }

    /// The slots where it may be: found or unsure.
    pub(super) fn maybe(&self) -> Bits {
        let mut bits = self.yes.clone();
        (bits.words.iter_mut().zip(&self.unsure.words)).for_each(|(w, u)| *w |= u);
        bits
    }
}

/// The bits of word `k` that stand for slots below `len`.
pub(super) fn word_mask(len: usize, k: usize) -> u64 {
    match len.saturating_sub(64 * k) {
        0 => 0,
        n if n >= 64 => !0,
        n => (1 << n) - 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_hits_read_back_what_was_set_across_word_edges() {
        for len in [0, 1, 63, 64, 65, 130] {
            let picked = |i: usize| i.is_multiple_of(3) || i == 63 || i == 64;
            let bits = Bits::from_fn(len, picked);
            let expect: Vec<usize> = (0..len).filter(|&i| picked(i)).collect();
            assert_eq!(bits.ones_iter().collect::<Vec<_>>(), expect, "{len}");
            assert_eq!(Bits::ones(len).ones_iter().count(), len);
            assert_eq!(Bits::ones(len).count(), len);
            assert_eq!(bits.count(), expect.len());
            let mut kept = bits.clone();
            kept.retain(|i| i % 2 == 0);
            let even: Vec<usize> = expect.iter().copied().filter(|i| i % 2 == 0).collect();
            assert_eq!(kept.ones_iter().collect::<Vec<_>>(), even, "{len}");
            let mut hits = Hits::none(len);
            for i in 0..len {
                let hit = [Hit::No, Hit::Yes, Hit::Unsure][i % 3];
                hits.set(i, hit);
                hits.set(i, hit);
            }
            for i in 0..len {
                assert_eq!(
                    hits.get(i),
                    [Hit::No, Hit::Yes, Hit::Unsure][i % 3],
                    "{len} {i}"
                );
                let word = hits.no_word(i / 64);
                assert_eq!(word >> (i % 64) & 1 == 1, i % 3 == 0, "{len} {i}");
                assert_eq!(hits.maybe().get(i), i % 3 != 0);
            }
            for k in 0..len.div_ceil(64) {
                assert_eq!(
                    hits.no_word(k).count_ones() as usize,
                    (64 * k..(64 * k + 64).min(len))
                        .filter(|i| i % 3 == 0)
                        .count()
                );
            }
        }
    }
}
