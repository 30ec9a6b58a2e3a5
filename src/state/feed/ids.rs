//! The feed's matches as a set of item ids: a bit per id, in groups of 4096 that know how
//! many of their bits are set.
//!
//! Issue 19: the matches were a list of ids, 8 bytes a match. A filter matching all of
//! 10M retained messages kept an 80 MB list (160 MB while a narrowing key re-checked the
//! old one), none of it counted against the feed's byte bound, and building and cutting
//! it cost a fifth of a key's count. As bits, 10M retained ids cost 1.25 MB whatever the
//! filter matches. Ids only enter above the highest (arrivals) or below the lowest (the
//! count, newest first) and leave from the low end (eviction), so a group's rank — how
//! many members come before it — changes at the ends only.

use std::collections::VecDeque;
use std::ops::Range;

use super::ItemId;

/// Words (of 64 ids) per group.
const GROUP: usize = 64;
const GROUP_IDS: u64 = (GROUP * 64) as u64;

/// Set bits in a group of [`GROUP`] words, and the rank of its first one.
#[derive(Debug, Clone, Copy)]
struct Group {
    /// Rank of the group's first member, counted from an origin that moves: only the
    /// differences mean anything (the set's first member has rank `groups[0].start`).
    start: i64,
    count: u32,
}

/// A set of item ids (see the module comment). Invariant: empty, or the first group
/// holds a member.
#[derive(Default, Clone)]
pub(super) struct IdSet {
    /// Id of the first bit of `words[0]`, a multiple of [`GROUP_IDS`].
    base: ItemId,
    words: VecDeque<u64>,
    groups: VecDeque<Group>,
    len: usize,
}

impl std::fmt::Debug for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdSet({} ids)", self.len)
    }
}

impl IdSet {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The lowest id.
    pub(super) fn first(&self) -> Option<ItemId> {
        self.iter_from(0).next()
    }

    /// The `index`-th id, ascending.
    pub(super) fn get(&self, index: usize) -> Option<ItemId> {
        self.iter_from(index).next()
    }

    /// Whether the ids at ranks `ranks` are consecutive (every id between the first and
    /// the last is in the set).
    pub(super) fn is_run(&self, ranks: Range<usize>) -> bool {
        let last = ranks.end.checked_sub(1).and_then(|r| self.get(r));
        match (self.get(ranks.start), last) {
            (Some(a), Some(b)) => b - a == (ranks.len() - 1) as u64,
            _ => false,
        }
    }

    /// Ids `start..start + count` (ranks) of `set`, or without a set the ids
    /// `first + start..first + start + count`: one iterator either way.
    pub(super) fn slice(
        set: Option<&IdSet>,
        first: ItemId,
        start: usize,
        count: usize,
    ) -> impl Iterator<Item = ItemId> + '_ {
        let (listed, span) = match set {
            Some(set) => (Some(set.iter_from(start).take(count)), None),
            None => {
                let from = first + start as u64;
                (None, Some(from..from + count as u64))
            }
        };
        listed
            .into_iter()
            .flatten()
            .chain(span.into_iter().flatten())
    }

    /// How many ids are below `id`.
    pub(super) fn rank(&self, id: ItemId) -> usize {
        let Some(offset) = id.checked_sub(self.base).filter(|_| !self.is_empty()) else {
            return 0;
        };
        let word = usize::try_from(offset / 64).unwrap_or(usize::MAX);
        if word >= self.words.len() {
            return self.len;
        }
        let group = word / GROUP;
        let before_group = self.groups[group].start - self.groups[0].start;
        let in_group: u32 = (group * GROUP..word)
            .map(|w| self.words[w].count_ones())
            .sum();
        let below = (1u64 << (offset % 64)) - 1;
        let in_word = (self.words[word] & below).count_ones();
        usize::try_from(before_group).unwrap_or(0) + (in_group + in_word) as usize
    }

    /// Add `id`, higher than every id in the set.
    pub(super) fn push_back(&mut self, id: ItemId) {
        debug_assert!(self.is_empty() || (self.rank(id) == self.len && !self.contains(id)));
        if self.is_empty() {
            self.reset_at(id);
        }
        while id >= self.end() {
            let last = self
                .groups
                .back()
                .copied()
                .unwrap_or(Group { start: 0, count: 0 });
            self.groups.push_back(Group {
                start: last.start + i64::from(last.count),
                count: 0,
            });
            self.words.extend([0; GROUP]);
        }
        let (word, bit) = self.place(id);
        self.words[word] |= bit;
        self.groups[word / GROUP].count += 1;
        self.len += 1;
    }

    /// Add `ids` (ascending), all lower than every id in the set.
    pub(super) fn prepend(&mut self, ids: &[ItemId]) {
        let (Some(&lowest), Some(&highest)) = (ids.first(), ids.last()) else {
            return;
        };
        debug_assert!(self.is_empty() || self.rank(highest) == 0 && !self.contains(highest));
        if self.is_empty() {
            self.push_back(highest);
            return self.prepend(&ids[..ids.len() - 1]);
        }
        while lowest < self.base {
            let start = self.groups[0].start;
            self.groups.push_front(Group { start, count: 0 });
            for _ in 0..GROUP {
                self.words.push_front(0);
            }
            self.base -= GROUP_IDS;
        }
        let added = ids.len();
        // Bits a word at a time.
        let mut ids = ids.iter().peekable();
        while let Some(&id) = ids.next() {
            let (word, mut bits) = self.place(id);
            while let Some(&&next) = ids.peek() {
                match self.place(next) {
                    (w, bit) if w == word => bits |= bit,
                    _ => break,
                }
                ids.next();
            }
            self.words[word] |= bits;
        }
        // Nothing was added above the highest one's group: the ranks after it stand, and
        // the groups up to it are counted again, going down from there.
        let top = self.place(highest).0 / GROUP;
        let mut end = self.groups[top].start + i64::from(self.groups[top].count);
        for g in (0..=top).rev() {
            let count: u32 = self
                .words
                .range(g * GROUP..(g + 1) * GROUP)
                .map(|w| w.count_ones())
                .sum();
            end -= i64::from(count);
            self.groups[g] = Group { start: end, count };
        }
        self.len += added;
    }

    /// Remove `id`, the lowest id the set may hold (the feed evicts its oldest item).
    pub(super) fn pop_front_if(&mut self, id: ItemId) {
        if !self.contains(id) {
            return;
        }
        debug_assert_eq!(self.first(), Some(id));
        let (word, bit) = self.place(id);
        self.words[word] &= !bit;
        self.groups[0].count -= 1;
        self.groups[0].start += 1;
        self.len -= 1;
        self.drop_empty_front();
    }

    /// Take the highest `count` ids off the set (all of them if it has no more).
    pub(super) fn split_off_newest(&mut self, count: usize) -> IdSet {
        if count >= self.len {
            return std::mem::take(self);
        }
        let Some(cut) = self.get(self.len - count) else {
            return IdSet::default();
        };
        let mut newer = IdSet::default();
        // Whole words from the cut's word on move over; the cut word is split by bits.
        let (word, bit) = self.place(cut);
        let group = word / GROUP;
        newer.base = self.base + (group as u64) * GROUP_IDS;
        newer.words = self.words.split_off(group * GROUP);
        let low_bits = bit - 1;
        let at = word - group * GROUP;
        self.words.extend(newer.words.iter().take(at).copied());
        self.words.push_back(newer.words[at] & low_bits);
        newer.words[at] &= !low_bits;
        for w in newer.words.range_mut(..at) {
            *w = 0;
        }
        self.words
            .resize(self.words.len().div_ceil(GROUP) * GROUP, 0);
        self.groups.truncate(group + 1);
        let in_group = self
            .words
            .range(group * GROUP..)
            .map(|w| w.count_ones())
            .sum();
        self.groups[group].count = in_group;
        self.len -= count;
        newer.len = count;
        let mut start = 0;
        newer.groups = newer
            .words
            .make_contiguous()
            .chunks(GROUP)
            .map(|g| {
                let count = g.iter().map(|w| w.count_ones()).sum();
                let group = Group { start, count };
                start += i64::from(count);
                group
            })
            .collect();
        newer.drop_empty_front();
        self.drop_empty_back();
        newer
    }

    /// The ids from the `index`-th on, ascending.
    pub(super) fn iter_from(&self, index: usize) -> impl Iterator<Item = ItemId> + '_ {
        let mut word = self.words.len();
        let mut bits = 0u64;
        if index < self.len {
            let rank = self.groups[0].start + index as i64;
            let group = self.groups.partition_point(|g| g.start <= rank) - 1;
            let mut skip = usize::try_from(rank - self.groups[group].start).unwrap_or(0);
            word = group * GROUP;
            loop {
                let w = self.words[word];
                let ones = w.count_ones() as usize;
                if skip < ones {
                    bits = w;
                    for _ in 0..skip {
                        bits &= bits - 1;
                    }
                    break;
                }
                skip -= ones;
                word += 1;
            }
        }
        std::iter::from_fn(move || {
            while bits == 0 {
                word += 1;
                bits = *self.words.get(word)?;
            }
            let id = self.base + word as u64 * 64 + u64::from(bits.trailing_zeros());
            bits &= bits - 1;
            Some(id)
        })
    }

    /// Whether `id` is in the set.
    pub(super) fn contains(&self, id: ItemId) -> bool {
        (self.base..self.end()).contains(&id) && {
            let (word, bit) = self.place(id);
            self.words[word] & bit != 0
        }
    }

    /// Word index and bit of `id` (covered by the words).
    fn place(&self, id: ItemId) -> (usize, u64) {
        let offset = id - self.base;
        (
            usize::try_from(offset / 64).unwrap_or(usize::MAX),
            1 << (offset % 64),
        )
    }

    /// The id after the last the words cover.
    fn end(&self) -> ItemId {
        self.base + self.words.len() as u64 * 64
    }

    fn reset_at(&mut self, id: ItemId) {
        *self = IdSet {
            base: id - id % GROUP_IDS,
            ..IdSet::default()
        };
    }

    fn drop_empty_front(&mut self) {
        if self.len == 0 {
            *self = IdSet::default();
            return;
        }
        while self.groups.front().is_some_and(|g| g.count == 0) {
            self.groups.pop_front();
            self.words.drain(..GROUP);
            self.base += GROUP_IDS;
        }
    }

    fn drop_empty_back(&mut self) {
        if self.len == 0 {
            *self = IdSet::default();
            return;
        }
        while self.groups.back().is_some_and(|g| g.count == 0) {
            self.groups.pop_back();
            self.words.truncate(self.words.len() - GROUP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;

    /// The set and a plain list of the same ids agree on every question.
    fn agree(set: &IdSet, list: &VecDeque<ItemId>, rng: &mut XorShift) {
        assert_eq!(set.len(), list.len());
        assert_eq!(set.first(), list.front().copied());
        assert!(set.iter_from(0).eq(list.iter().copied()), "{set:?}");
        for _ in 0..20 {
            let index = rng.below(list.len() + 2);
            assert_eq!(set.get(index), list.get(index).copied(), "get {index}");
            assert!(set.iter_from(index).eq(list.iter().skip(index).copied()));
            let lo = list.front().copied().unwrap_or(0);
            let id = lo.saturating_sub(100) + rng.below(list.len() * 3 + 9000) as u64;
            assert_eq!(set.rank(id), list.partition_point(|&m| m < id), "rank {id}");
            assert_eq!(set.contains(id), list.binary_search(&id).is_ok());
        }
    }

    #[test]
    fn the_id_set_answers_as_a_list_of_the_same_ids_would() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for round in 0..200 {
            let (mut set, mut list) = (IdSet::default(), VecDeque::new());
            // The count's frontier going down, arrivals going up, eviction at the bottom.
            let mut low = 50_000 + rng.below(20_000) as u64;
            let mut high = low;
            let mut oldest = low.saturating_sub(30_000);
            let density = 1 + rng.below(40);
            for _ in 0..30 {
                match rng.below(4) {
                    0 => {
                        let n = rng.below(3000);
                        let found: Vec<ItemId> = (low.saturating_sub(n as u64)..low)
                            .filter(|&id| id >= oldest && rng.below(density) == 0)
                            .collect();
                        low = low.saturating_sub(n as u64).max(oldest);
                        set.prepend(&found);
                        for &id in found.iter().rev() {
                            list.push_front(id);
                        }
                    }
                    1 => {
                        for _ in 0..rng.below(5000) {
                            if rng.below(density) == 0 {
                                set.push_back(high);
                                list.push_back(high);
                            }
                            high += 1;
                        }
                    }
                    2 => {
                        // Only what arrived is evicted.
                        for _ in 0..rng.below(6000).min((high - oldest) as usize) {
                            set.pop_front_if(oldest);
                            if list.front() == Some(&oldest) {
                                list.pop_front();
                            }
                            oldest += 1;
                        }
                        low = low.max(oldest);
                    }
                    _ => {
                        let count = rng.below(list.len() + 2);
                        let newer = set.split_off_newest(count);
                        let keep = list.len().saturating_sub(count);
                        let newer_list = list.split_off(keep);
                        agree(&newer, &newer_list, &mut rng);
                        if round % 2 == 0 {
                            // Keep the newer part instead (a recheck list's next step).
                            (set, list) = (newer, newer_list);
                        }
                    }
                }
                agree(&set, &list, &mut rng);
            }
        }
    }
}
