//! Which retained items pass the feed's filter, worked out newest first so a keystroke at
//! the `/` prompt shows the visible page at once and the full count follows in bounded
//! steps (issue 19: a filter over a million retained messages re-scanned everything per
//! key, 74 ms median).
//!
//! The matching list is always exact *above* the scan frontier: every retained id newer
//! than what is still to check has been checked. What is left is a list of previous
//! matches to check again (when the new filter provably narrows the old one, only those
//! can match) and, below them, a range of ids never looked at. Both shrink from the
//! newest end, so matches found are pushed at the front of the ascending list.

use std::ops::Range;
use std::sync::Arc;

use super::ids::IdSet;
use super::store::{Channels, Memo, Store};
use super::values::Cells;
use super::ItemId;
use crate::filter::{Filter, SearchTerm};

/// How the work after a filter change is cut up (unit tests use tiny figures to
/// exercise every boundary with a few hundred messages).
#[derive(Debug, Clone, Copy)]
pub(super) struct Pacing {
    /// Items one step checks per thread: about 1–6 ms of substring or JSON tests, so a
    /// key waits at most that long, and a key that matches nothing (a JSON field name
    /// half typed) costs one step.
    pub(super) step_per_thread: usize,
    /// Below this many items a chunk is checked on the calling thread: starting a thread
    /// costs more than it saves.
    pub(super) parallel_min: usize,
    /// Matches wanted before the key returns: more than the tallest screen has rows.
    pub(super) first_page: usize,
    /// A filter change with no more than this much work left finishes it at once, so
    /// small feeds never show a partial count.
    pub(super) finish_at_once: usize,
    /// Threads worth using (both cores of the target machine; at most 4).
    pub(super) threads: usize,
}

impl Default for Pacing {
    fn default() -> Pacing {
        Pacing {
            step_per_thread: 16_384,
            parallel_min: 8_192,
            first_page: 256,
            finish_at_once: 65_536,
            threads: threads(),
        }
    }
}

impl Pacing {
    pub(super) fn step(&self) -> usize {
        self.step_per_thread * self.threads
    }

    /// Where one step of idle work going down from id `below` (newest first) stops,
    /// given the oldest retained id: None when nothing is left below it.
    pub(super) fn step_below(&self, below: ItemId, first: ItemId) -> Option<ItemId> {
        let lo = below.saturating_sub(self.step() as u64).max(first);
        (lo < below).then_some(lo)
    }
}

/// Which retained items pass the filter.
#[derive(Debug, Default)]
pub(super) enum Matching {
    /// No filter: every retained item, and no list to keep (8 bytes a message saved).
    #[default]
    All,
    /// Ids of entries passing the filter, ascending; maintained on push and eviction so
    /// a 100k-item feed is never rescanned per message.
    Ids(IdSet),
}

/// What is left to check after a filter change (see the module comment).
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// Matches of previous filters, checked again from the back: each set newer than the
    /// sets before it (kept apart, never merged).
    pub(super) recheck: Vec<Recheck>,
    /// Retained ids below this have not been checked (all of them are below `recheck`).
    pub(super) below: ItemId,
}

/// Matches of a previous filter, to check again.
#[derive(Debug)]
pub(super) struct Recheck {
    pub(super) ids: IdSet,
    /// The filter every one of them passed: what it implies needs no second look.
    pub(super) passed: Arc<Filter>,
}

impl Scan {
    /// Items still to check, given the oldest retained id.
    pub(super) fn remaining(&self, first_id: ItemId) -> usize {
        let range = self.below.saturating_sub(first_id);
        let listed: usize = self.recheck.iter().map(|r| r.ids.len()).sum();
        listed + usize::try_from(range).unwrap_or(usize::MAX)
    }

    pub(super) fn is_done(&self, first_id: ItemId) -> bool {
        self.recheck.iter().all(|r| r.ids.is_empty()) && self.below <= first_id
    }

    /// The next (newest) `budget` candidates, ascending, taken off the scan.
    pub(super) fn take(&mut self, first_id: ItemId, budget: usize) -> Candidates {
        while self.recheck.last().is_some_and(|r| r.ids.is_empty()) {
            self.recheck.pop();
        }
        if let Some(newest) = self.recheck.last_mut() {
            let ids = newest.ids.split_off_newest(budget);
            return Candidates::List(ids, newest.passed.clone());
        }
        let lo = self
            .below
            .saturating_sub(budget as u64)
            .max(first_id)
            .min(self.below);
        let range = lo..self.below;
        self.below = lo;
        Candidates::Range(range)
    }
}

/// Ids to check in one go.
pub(super) enum Candidates {
    /// Matches of a previous filter (the one given).
    List(IdSet, Arc<Filter>),
    Range(Range<ItemId>),
}

impl Candidates {
    fn len(&self) -> usize {
        match self {
            Candidates::List(ids, _) => ids.len(),
            Candidates::Range(r) => usize::try_from(r.end - r.start).unwrap_or(usize::MAX),
        }
    }

    /// The ids of candidates `range` (positions in the candidates, ascending).
    fn ids(&self, range: Range<usize>) -> impl Iterator<Item = ItemId> + '_ {
        let (set, first) = match self {
            Candidates::List(ids, _) => (Some(ids), 0),
            Candidates::Range(r) => (None, r.start),
        };
        IdSet::slice(set, first, range.start, range.len())
    }

    /// The candidates that pass `filter`, ascending, checked on up to `threads` threads;
    /// channel verdicts are remembered under `memo`, the filter's. Ids no longer retained
    /// (evicted meanwhile) do not pass.
    pub(super) fn select(
        &self,
        store: &Store,
        first_id: ItemId,
        (filter, memo): (&Filter, Memo),
        pacing: &Pacing,
        cells: Option<Cells<'_>>,
    ) -> Vec<ItemId> {
        // Narrowing: a needle the previous filter implies holds for every candidate.
        let found = match self {
            Candidates::List(_, passed) => filter.needle_implied_by(passed),
            Candidates::Range(_) => None,
        };
        // A filled cell gives a column filter's verdict without a look at the slot
        // (narrowing `.latency_ms < 498` → `< 480` at 10M: 128–142 → 95–109 ms).
        // So does a needle ANDed with one, where the previous filter implies the needle
        // (`token` → `token .latency_ms > 250`).
        let column = filter.column_search().or_else(|| {
            found
                .as_ref()
                .and_then(|_| filter.column_search_after_needle())
        });
        let passes = |id: ItemId| {
            let index = id
                .checked_sub(first_id)
                .and_then(|i| usize::try_from(i).ok());
            let cell = cells.zip(index).and_then(|(c, i)| c.at(i));
            if let Some(verdict) = column.as_ref().zip(cell).and_then(|(s, c)| s.verdict(c)) {
                return verdict;
            }
            index
                .and_then(|i| store.get(i))
                .is_some_and(|slot| slot.passes_found(Some(filter), cell, found.as_ref()))
        };
        let terms = match self {
            Candidates::List(_, passed) => filter.search_terms_beyond(Some(passed)),
            Candidates::Range(_) => filter.search_terms(),
        };
        // Whether any channel passes each term (the needle's answer after them): looked
        // at while the feed has no more channels than this step has candidates, and only
        // for a term that reads payloads (for a glob the answer would change nothing).
        let limit = self.len();
        let mut some: Vec<bool> = (terms.as_deref().unwrap_or_default().iter())
            .map(|t| {
                let key = memo.term_key(t);
                !t.reads_payload() || store.some_channel(limit, key, |c| t.channel_matches(c))
            })
            .collect();
        if terms.is_none() {
            let needle = filter.needle();
            let key = memo.needle_key();
            some.extend(needle.map(|n| store.some_channel(limit, key, |c| n.channel_matches(c))));
        }
        let channels = Channels::new(memo, &some);
        // Ids `from..from + len`, consecutive: the store's blocks are walked in order.
        // `holds`: the needle holds for the listed ids, the only ones the caller keeps.
        let consecutive = |from: ItemId, len: usize, holds: bool| -> Vec<ItemId> {
            // Room for all: a dense needle passes most (growing it was 4 % of a key).
            let mut found = Vec::with_capacity(len);
            // Ids evicted meanwhile do not pass; the rest are walked.
            let end = from.saturating_add(len as u64);
            let from = from.max(first_id);
            let start = usize::try_from(from - first_id).unwrap_or(usize::MAX);
            let len = usize::try_from(end.saturating_sub(from)).unwrap_or(0);
            for run in store.runs(start..start.saturating_add(len)) {
                let mut push = |index| found.push(first_id + index as u64);
                match &terms {
                    Some(terms) => run.passing_by_search(filter, terms, None, channels, &mut push),
                    None => run.passing(filter, cells, channels, holds, &mut push),
                }
            }
            found
        };
        let by_column = terms.is_none() && column.is_some() && cells.is_some();
        let piece = |range: Range<usize>| -> Vec<ItemId> {
            match self {
                // Where the previous filter matched every id in this part (a dense
                // needle typed on: `pa` → `pay`), the part is walked as a range.
                Candidates::List(ids, _) if terms.is_some() && ids.is_run(range.clone()) => ids
                    .get(range.start)
                    .map_or_else(Vec::new, |from| consecutive(from, range.len(), false)),
                // A column filter over a part that is mostly listed: the whole span is
                // walked (the cells answer most ids at a time, and an id between the
                // listed ones failed the filter this one narrows, so it fails here too).
                // At 10M, `.latency_ms < 498` → `< 480`: 89–95 ms id by id.
                Candidates::List(ids, _) if by_column => {
                    let last = range.end.checked_sub(1).and_then(|r| ids.get(r));
                    let ends = ids.get(range.start).zip(last);
                    match ends.map(|(lo, hi)| (lo, (hi - lo + 1) as usize)) {
                        // With the needle the old filter implies taken to hold, and
                        // the ids it passed kept.
                        Some((lo, span)) if range.len() * 4 >= span => match found {
                            Some(_) => {
                                let mut kept = consecutive(lo, span, true);
                                kept.retain(|&id| ids.contains(id));
                                kept
                            }
                            None => consecutive(lo, span, false),
                        },
                        _ => self.ids(range).filter(|&id| passes(id)).collect(),
                    }
                }
                Candidates::List(..) => match &terms {
                    Some(terms) => {
                        let ids = self.ids(range);
                        listed_by_search(ids, store, first_id, (filter, terms, channels), &passes)
                    }
                    None => self.ids(range).filter(|&id| passes(id)).collect(),
                },
                Candidates::Range(ids) => {
                    consecutive(ids.start + range.start as u64, range.len(), false)
                }
            }
        };
        on_threads(self.len(), pacing, piece)
    }
}

/// `piece` over `0..len` on up to `pacing.threads` threads (this one included), their
/// outputs in order. The range is cut in four parts a thread, taken in turn by whichever
/// thread is free: on a shared machine one core often runs slower for a while, and
/// halves fixed in advance left the other core waiting (a JSON pass at 1M: 49 ms of wall
/// time for 62 ms of CPU).
pub(super) fn on_threads<T: Send>(
    len: usize,
    pacing: &Pacing,
    piece: impl Fn(Range<usize>) -> Vec<T> + Sync,
) -> Vec<T> {
    let threads = pacing
        .threads
        .clamp(1, len / pacing.parallel_min.max(1) + 1);
    if threads == 1 {
        return piece(0..len);
    }
    let parts = threads * 4;
    let size = len.div_ceil(parts);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let part = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if part >= parts {
                return done;
            }
            let range = (part * size).min(len)..((part + 1) * size).min(len);
            done.push((part, piece(range)));
        }
    };
    let mut done = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut done = work();
        for other in others {
            match other.join() {
                Ok(more) => done.extend(more),
                // A panic in a filter test is a bug; surface it on this thread.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    done.sort_unstable_by_key(|(part, _)| *part);
    let mut all = Vec::with_capacity(done.iter().map(|(_, found)| found.len()).sum());
    done.into_iter().for_each(|(_, found)| all.extend(found));
    all
}

/// Check the payloads of store indexes `range` for well-formed JSON where that is not
/// known (the verdict stays in each slot: see `filter::JsonMark`).
pub(super) fn check_json(store: &Store, range: Range<usize>, pacing: &Pacing) {
    on_threads(range.len(), pacing, |part: Range<usize>| {
        let part = range.start + part.start..range.start + part.end;
        for run in store.runs(part) {
            run.check_json();
        }
        Vec::<()>::new()
    });
}

/// The listed candidates `ids` (ascending) that pass a filter of search terms alone:
/// where they are dense in a block (a narrowing key re-checking most of it) the block's
/// payloads are searched at once, elsewhere each is tested.
fn listed_by_search(
    ids: impl Iterator<Item = ItemId>,
    store: &Store,
    first_id: ItemId,
    (filter, terms, channels): (&Filter, &[SearchTerm<'_>], Channels<'_>),
    passes: &dyn Fn(ItemId) -> bool,
) -> Vec<ItemId> {
    let mut found = Vec::new();
    let index_of = |id: ItemId| {
        id.checked_sub(first_id)
            .and_then(|x| usize::try_from(x).ok())
            .filter(|&x| x < store.len())
    };
    let mut ids = ids.peekable();
    let mut listed = Vec::new();
    while let Some(&id) = ids.peek() {
        let (Some(index), Some(run)) = (
            index_of(id),
            index_of(id).and_then(|x| store.runs(x..usize::MAX).next()),
        ) else {
            // Evicted meanwhile: tested alone (it does not pass).
            ids.next();
            if passes(id) {
                found.push(id);
            }
            continue;
        };
        // The listed ones in this block.
        let block_end = index + run.len();
        listed.clear();
        while let Some(x) = ids.peek().and_then(|&id| index_of(id)) {
            if x >= block_end {
                break;
            }
            listed.push(x);
            ids.next();
        }
        let last = listed.last().copied().unwrap_or(index);
        let mut push = |x: usize| found.push(first_id + x as u64);
        if listed.len() * 4 >= last + 1 - index {
            if let Some(run) = store.runs(index..last + 1).next() {
                run.passing_by_search(filter, terms, Some(&listed), channels, &mut push);
            }
        } else {
            for &x in &listed {
                if passes(first_id + x as u64) {
                    push(x);
                }
            }
        }
    }
    found
}

/// Asked once: the standard library reads cgroup files for it.
fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
}

#[cfg(test)]
mod tests {
    use super::super::{FeedItem, FeedState, View};
    use super::*;
    use crate::redis::message::{Gap, Kind, Message};
    use crate::test_rng::XorShift;
    use bytes::Bytes;
    use chrono::DateTime;

    /// Tiny steps so a few hundred messages cross every boundary, on two threads.
    fn tiny() -> Pacing {
        Pacing {
            step_per_thread: 16,
            parallel_min: 8,
            first_page: 5,
            finish_at_once: 10,
            threads: 2,
        }
    }

    fn pick<'a>(rng: &mut XorShift, from: &[&'a str]) -> &'a str {
        from[rng.below(from.len())]
    }

    fn item(rng: &mut XorShift) -> FeedItem {
        if rng.below(50) == 0 {
            return FeedItem::Gap(Gap {
                from: DateTime::from_timestamp(0, 0).unwrap_or_default(),
                to: DateTime::from_timestamp(1, 0).unwrap_or_default(),
                reason: "lost".into(),
                handover: false,
            });
        }
        let words = ["ab", "abc", "Abc", "b", "ca", "x", "timeout", "time"];
        // Sometimes none (an empty payload), sometimes enough for a long payload kept
        // beside the block, sometimes enough for a regex's text to occur more often in
        // one payload than it is tried anchored; neighbours' bytes run together in the
        // block ("ab" + "c…").
        let count = match rng.below(100) {
            0 => 0,
            1 => 3_000,
            2..=9 => 5 + rng.below(8),
            _ => 1 + rng.below(4),
        };
        let payload: Vec<&str> = (0..count).map(|_| pick(rng, &words)).collect();
        let channel = pick(rng, &["svc:1", "svc:12", "svc:2", "web"]);
        message(
            channel,
            payload.join(if rng.below(2) == 0 { " " } else { "" }),
        )
    }

    fn message(channel: &str, payload: impl Into<String>) -> FeedItem {
        FeedItem::Message(Message {
            seq: 0,
            received: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            kind: Kind::Message,
            pattern: None,
            channel: Bytes::from(channel.to_string()),
            payload: Bytes::from(payload.into()),
        })
    }

    /// A feed with tiny steps holding `n` items made by `make`.
    fn tiny_feed(rng: &mut XorShift, n: usize, make: fn(&mut XorShift) -> FeedItem) -> FeedState {
        let mut feed = FeedState::new(10_000, usize::MAX);
        feed.pacing = tiny();
        for _ in 0..n {
            feed.push(make(rng));
        }
        feed
    }

    /// Set `expr`, finish the count, and check it against a full rescan.
    fn count_equals_rescan(feed: &mut FeedState, expr: &str) {
        feed.set_filter(Filter::parse(expr).ok());
        feed.finish_count();
        assert_eq!(ids(feed), rescan(feed), "{expr}");
    }

    /// What a full rescan selects: the reference every shortcut must equal.
    fn rescan(feed: &FeedState) -> Vec<ItemId> {
        let first = feed.first_id();
        (first..feed.next_id)
            .filter(|&id| feed.slot(id).is_some_and(|s| s.passes(feed.filter())))
            .collect()
    }

    fn ids(feed: &FeedState) -> Vec<ItemId> {
        (0..feed.matching_len())
            .filter_map(|i| feed.matching_id(i))
            .collect()
    }

    const EXPRESSIONS: &[&str] = &[
        "a",
        "ab",
        "ab ",
        "ab  x",
        "abc",
        "Abc",
        "ab x",
        "ab ch:svc:*",
        "ab ch:svc:1*",
        "ch:svc:*",
        "ch:svc:1*",
        "time",
        "timeout",
        "not ab",
        "not abc",
        "ab or x",
        "ab or x or ca",
        "p:b",
        "/ab+c/",
        "/b|bc/",
        "/a.?b/",
        "/ca?b/ ch:svc:1*",
        "/^ab/",
        "/c\\b/",
        "/(?i)ABC/",
        "/abc+/",
        "/ab.c/",
        "/Ab+/",
        "/time?out/",
        "/timeout/",
        "/x*/",
        "/ab.*x/",
        "/abab+c/",
        "/ab[bc]x/",
        "/ab[^c]x/",
        "/a[^x]*t/",
        "/b$/",
        "/abca?t/",
        // Text every match holds beyond its start: swept for first.
        "/b.timeout/",
        "/x.*abc/",
        "/c\\w*time?out/",
        "/b.TIMEOUT/i",
        "/x.*ABC/i",
        // A substring, then a regex tried in the payloads still in.
        "ab /time?out/",
        "x /b.timeout/",
        "timeout /ab.*x/",
        "xtime /ab.*x/",
        "cab /time?out/",
        "bx /b.?time/",
        "ch:svc:1* ab",
        "ch:svc:1* not ab",
        "p:ab ch:web",
        "bca",
        "p:bca",
        "Abca x",
        "not ab bc",
        "eout",
        // A term some channels pass (`svc`, `b` in `web`) ANDed with payload terms.
        "svc ab",
        "b x",
        "time x ab",
    ];

    #[test]
    fn narrowed_result_equals_fresh_result_on_random_data() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut narrowings = 0;
        for round in 0..600 {
            let mut feed = FeedState::new(150 + rng.below(200), usize::MAX);
            feed.pacing = tiny();
            for _ in 0..rng.below(600) {
                feed.push(item(&mut rng));
            }
            let old = Filter::parse(pick(&mut rng, EXPRESSIONS)).ok();
            let new = Filter::parse(pick(&mut rng, EXPRESSIONS)).ok();
            if let (Some(old), Some(new)) = (&old, &new) {
                narrowings += usize::from(new.narrows(old));
            }
            // A chain of filters, each count left unfinished some of the time, with
            // arrivals meanwhile: narrowing then re-checks several lists.
            let first = Filter::parse(pick(&mut rng, EXPRESSIONS)).ok();
            for filter in [first, old, new] {
                feed.set_filter(filter);
                for _ in 0..rng.below(4) {
                    feed.count_step();
                    for _ in 0..rng.below(40) {
                        feed.push(item(&mut rng));
                    }
                }
            }
            while feed.counting() {
                for _ in 0..rng.below(30) {
                    feed.push(item(&mut rng));
                }
                feed.count_step();
            }
            assert_eq!(ids(&feed), rescan(&feed), "round {round}");
        }
        assert!(
            narrowings > 30,
            "the pairs exercise narrowing: {narrowings}"
        );
    }

    fn json_item(rng: &mut XorShift) -> FeedItem {
        let value = pick(
            rng,
            &["0", "3", "25", "26", "251", "-2", "null", "\"x\"", "[1]"],
        );
        let payload = match rng.below(12) {
            0 => "not json".to_string(),
            1 => format!("{{\"other\":{value}}}"),
            2 => format!("{{\"lat\\u0065ncy\":{value}}}"),
            // Not JSON, though the field reads as if it were there.
            3 => format!("{{\"seq\":1,\"latency\":{value}"),
            4 => format!("{{\"latency\":{value},}}"),
            _ => format!("{{\"seq\":1,\"latency\":{value}}}"),
        };
        message(pick(rng, &["svc:1", "svc:2"]), payload)
    }

    /// The feed's cells (of `.latency`) hold the value of every retained message whose
    /// payload has the key's text: where it does not, a search tells the verdict without a
    /// cell.
    fn cells_known(feed: &FeedState) -> bool {
        let values = feed.values.as_ref().expect("cells for .latency");
        let has_key = |id| {
            let payload = feed.slot(id).and_then(|s| s.message_payload());
            payload.is_some_and(|p| memchr::memmem::find(p, b"\"latency\"").is_some())
        };
        (feed.first_id()..feed.next_id)
            .all(|id| !has_key(id) || values.cell(id).is_some_and(|c| c.is_known()))
    }

    #[test]
    fn json_filters_typed_in_turn_reuse_values_and_equal_a_rescan() {
        // As typed at `/`: each filter reads `.latency` from the cells the ones before
        // filled (some counts left unfinished, arrivals and evictions meanwhile).
        let typed = [
            ".l",
            ".lat",
            ".latency",
            ".latency > 2",
            ".latency > 25",
            ".latency > 250",
            ".latency > 25",
            "not .latency > 2",
            ".latency == null",
            "ch:svc:1 .latency >= 3",
            "seq",
            "seq .latency > 25",
            "svc:2 .latency <= 25 .latency != 3",
            // A needle ANDed with the field: in every payload, in some, in none, in
            // every channel, and with the field's test negated; some narrowing the
            // needle alone.
            "{",
            "{ .latency > 25",
            "latency .latency <= 25",
            "1 .latency",
            "x .latency > 2",
            "svc .latency >= 3",
            "seq not .latency > 2",
            "x",
            ".latency < 26",
            ".other > 1",
            ".latency",
        ];
        let mut rng = XorShift(0x0123_4567_89AB_CDEF);
        for round in 0..100 {
            let mut feed = FeedState::new(100 + rng.below(300), usize::MAX);
            feed.pacing = tiny();
            for _ in 0..rng.below(500) {
                feed.push(json_item(&mut rng));
            }
            for expr in typed {
                feed.set_filter(Filter::parse(expr).ok());
                // Idle time between keys: the count, then reading ahead.
                for _ in 0..rng.below(3) + 2 * rng.below(2) {
                    feed.count_step();
                    for _ in 0..rng.below(40) {
                        feed.push(json_item(&mut rng));
                    }
                }
                if rng.below(2) == 0 {
                    feed.finish_count();
                    assert_eq!(ids(&feed), rescan(&feed), "round {round}: {expr}");
                }
            }
            feed.finish_count();
            assert_eq!(ids(&feed), rescan(&feed), "round {round}");
            // `.latency` read every message's value: the cells hold them all.
            assert!(cells_known(&feed), "round {round}");
        }
    }

    #[test]
    fn a_regex_searched_by_its_prefix_still_matches_unicode_case_variants() {
        // Case-insensitive regexes (`/…/i`) match `k` as the Kelvin sign and `s` as the long s;
        // the prefix search must not lose those payloads.
        let mut feed = FeedState::new(10_000, usize::MAX);
        for payload in ["LOO\u{212A}", "lo\u{17F}t", "look", "lost", "loop", "x lo"] {
            feed.push(message("c", payload));
        }
        for (expr, want) in [("/look/i", 2), ("/lost/i", 2), ("/lo+/", 5), ("/look/", 1)] {
            count_equals_rescan(&mut feed, expr);
            assert_eq!(feed.matching_len(), want, "{expr}");
        }
    }

    #[test]
    fn a_field_name_being_typed_is_read_ahead_and_its_values_become_the_filters() {
        let mut rng = XorShift(99);
        let mut feed = tiny_feed(&mut rng, 2_000, json_item);
        // `.lat`: nothing has it; most of the newest payloads have `latency`.
        feed.set_filter(Filter::parse(".lat").ok());
        feed.finish_count();
        assert_eq!(ids(&feed), Vec::<ItemId>::new());
        assert!(feed.reading_ahead());
        let mut steps = 0;
        while feed.reading_ahead() {
            feed.count_step();
            steps += 1;
        }
        assert!(steps > 10, "in steps: {steps}");
        // `.latency`: the values read ahead are the filter's, every one known.
        feed.set_filter(Filter::parse(".latency").ok());
        assert!(cells_known(&feed));
        assert!(!feed.reading_ahead(), "the complete name is not read ahead");
        feed.finish_count();
        assert_eq!(ids(&feed), rescan(&feed));
        // Typed again: the field's cells are kept, nothing to read.
        feed.set_filter(Filter::parse(".lat").ok());
        assert!(!feed.reading_ahead());
        feed.set_filter(Filter::parse(".latency > 25").ok());
        assert!(cells_known(&feed));
        feed.finish_count();
        assert_eq!(ids(&feed), rescan(&feed));
        // A name nothing starts with stops it; clearing the filter drops the cells.
        feed.set_filter(Filter::parse(".lat").ok());
        feed.set_filter(Filter::parse(".latx").ok());
        assert!(feed.read_ahead.is_none());
        feed.set_filter(Filter::parse(".lat").ok());
        feed.set_filter(None);
        assert!(feed.read_ahead.is_none());
    }

    #[test]
    fn counts_across_blocks_equal_a_rescan_with_dense_and_sparse_needles() {
        // Steps of the real size span several blocks, with dense needles and sparse ones.
        let mut rng = XorShift(0x5DEE_CE66_D1CE_4E5B);
        let mut feed = FeedState::new(100_000, usize::MAX);
        for _ in 0..3 * super::super::store::BLOCK + 77 {
            feed.push(item(&mut rng));
        }
        for expr in [
            "b",
            "a",
            "timeout",
            "ab x",
            "Abc",
            "bca",
            "not ab",
            "/b|bc/",
            "/a.?b/",
            "/^ab/",
            "/abc+/",
            "/time?out/",
            "/Ab+/",
            "ch:web",
            "p:ab ch:web",
            // Not searches alone (see also the next test).
            "ab not zzz",
            "timeout not /^x/",
        ] {
            count_equals_rescan(&mut feed, expr);
        }
    }

    #[test]
    fn a_needle_the_block_search_found_holds_only_where_it_was_found() {
        // `token` is searched across each block once; where it was found the filter's
        // other terms decide without a search of each payload for it. Where it was not
        // (a long payload kept beside the block, a channel that has it) the payload is
        // tested in full.
        let mut feed = FeedState::new(100_000, usize::MAX);
        let long = "y".repeat(super::super::store::INLINE_MAX + 1);
        for i in 0..3 * super::super::store::BLOCK {
            feed.push(match i % 50 {
                2 => message("c", long.clone()),
                4 => message("c", format!("{{\"n\":{i},\"t\":\"token {long}\"}}")),
                k if k % 3 == 0 => message("c", format!("{{\"n\":{i},\"t\":\"token\"}}")),
                k if k % 3 == 1 => message("c", format!("{{\"n\":{i}}}")),
                _ => message("token:c", format!("{{\"n\":{i}}}")),
            });
        }
        for expr in [
            "token not zzz",
            "token .n > 7",
            "p:token not .x",
            "token or .n < 3",
        ] {
            count_equals_rescan(&mut feed, expr);
            assert!(feed.matching_len() > 0, "{expr}");
        }
    }

    #[test]
    fn an_equivalent_filter_keeps_the_matches_and_the_count_in_progress() {
        let mut rng = XorShift(11);
        let mut feed = tiny_feed(&mut rng, 1_000, item);
        feed.set_filter(Filter::parse("ab").ok());
        feed.count_step();
        let left = |f: &FeedState| f.scan.as_ref().map(|s| s.remaining(f.first_id()));
        let (known, before) = (ids(&feed), left(&feed));
        assert!(feed.counting());
        // A space typed after the term: the same filter, nothing re-checked.
        feed.set_filter(Filter::parse("ab ").ok());
        assert_eq!(ids(&feed), known);
        assert_eq!(left(&feed), before);
        assert_eq!(feed.filter().map(Filter::source), Some("ab "));
        feed.finish_count();
        assert_eq!(ids(&feed), rescan(&feed));
    }

    #[test]
    fn terms_in_another_order_read_no_channel_verdict_of_the_old_order() {
        // `x y`, then `y x`: the same filter, so the matches and the count in progress
        // stand; a channel verdict remembered for the term at one position must not
        // answer for the other term now there.
        let mut feed = FeedState::new(10_000, usize::MAX);
        feed.pacing = tiny();
        for i in 0..400 {
            let (channel, payload) = match i % 4 {
                // x by its channel, y in the payload: passes.
                0 => ("ch:x", "y"),
                // No y anywhere: fails, and `ch:x` is remembered as no y.
                1 => ("ch:x", "none"),
                2 => ("ch:y", "x"),
                _ => ("ch:z", "x y"),
            };
            feed.push(message(channel, payload));
        }
        feed.set_filter(Filter::parse("x y").ok());
        feed.count_step();
        let left = |f: &FeedState| f.scan.as_ref().map(|s| s.remaining(f.first_id()));
        let (known, before) = (ids(&feed), left(&feed));
        assert!(feed.counting());
        feed.set_filter(Filter::parse("y x").ok());
        assert_eq!(
            (ids(&feed), left(&feed)),
            (known, before),
            "nothing re-checked"
        );
        feed.finish_count();
        assert_eq!(ids(&feed), rescan(&feed));
        assert_eq!(feed.matching_len(), 300);
    }

    #[test]
    fn the_newest_page_comes_first_and_the_count_follows_in_steps() {
        let mut rng = XorShift(7);
        let mut feed = tiny_feed(&mut rng, 1_000, item);
        feed.set_filter(Filter::parse("abc").ok());
        let all = rescan(&feed);
        assert!(
            feed.counting(),
            "1,000 messages are more than one call's work"
        );
        // The newest page is already exact: what the live view shows is right.
        let known = ids(&feed);
        assert!(known.len() >= tiny().first_page);
        assert_eq!(known, all[all.len() - known.len()..]);
        let mut steps = 0;
        let mut last = known.len();
        while feed.counting() {
            feed.count_step();
            steps += 1;
            assert!(feed.matching_len() >= last, "the count only grows");
            last = feed.matching_len();
        }
        assert!(steps > 10, "spread over steps: {steps}");
        assert_eq!(ids(&feed), all);
        // A small feed finishes at once: no partial count ever shows.
        let mut small = FeedState::new(100, usize::MAX);
        small.pacing = tiny();
        for _ in 0..8 {
            small.push(item(&mut rng));
        }
        small.set_filter(Filter::parse("b").ok());
        assert!(!small.counting());
    }

    #[test]
    fn paused_new_count_and_export_see_the_whole_count() {
        let mut feed = FeedState::new(10_000, usize::MAX);
        feed.pacing = tiny();
        let msg = |p: &str| message("c", p);
        for i in 0..300 {
            feed.push(msg(&format!("old {i}")));
        }
        feed.pause(5);
        for i in 0..300 {
            feed.push(msg(&format!(
                "{} {i}",
                if i % 3 == 0 { "hit" } else { "miss" }
            )));
        }
        feed.set_filter(Filter::parse("hit").ok());
        assert!(feed.counting());
        while feed.counting() {
            feed.count_step();
        }
        assert_eq!(feed.new_since_pause(), Some(100));
        assert!(matches!(feed.view, View::Paused { .. }));
        feed.set_filter(Filter::parse("i").ok());
        assert!(feed.counting());
        assert_eq!(
            feed.matching_messages().len(),
            300,
            "export finishes the count"
        );
        assert!(!feed.counting());
        assert_eq!(feed.new_since_pause(), Some(300));
    }
}
