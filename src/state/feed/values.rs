//! One JSON path's values for every retained message, kept while filters read that path
//! (issue 19): `.latency_ms`, then `> 2`, `> 25`, `> 250` read each payload once, not
//! four times. See `filter::ValueCell` for what a cell holds (8 bytes a message: 8 MB
//! per million retained, for one path at a time).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::OnceLock;

use super::ItemId;
use crate::filter::ValueCell;

/// Cells are allocated this many at a time, when one of them is first used: setting a
/// filter over 10M retained messages must not write 80 MB before the key returns.
const CHUNK: usize = 4096;

/// A cell per retained message, from the oldest retained id on.
#[derive(Debug)]
pub(super) struct Values {
    /// `Filter::column_key` of the filters whose values these are.
    key: String,
    /// The id of the first cell of `chunks[0]`.
    base: ItemId,
    /// Ids from `first` up to `end` have cells.
    first: ItemId,
    end: ItemId,
    chunks: VecDeque<OnceLock<Box<[ValueCell]>>>,
}

impl Values {
    /// Cells for `len` retained items from `first` on, none read yet.
    pub(super) fn new(key: String, first: ItemId, len: usize) -> Values {
        let chunks = (0..len.div_ceil(CHUNK)).map(|_| OnceLock::new()).collect();
        Values {
            key,
            base: first,
            first,
            end: first + len as u64,
            chunks,
        }
    }

    pub(super) fn key(&self) -> &str {
        &self.key
    }

    /// A cell for the item just pushed with `id` (always the next id).
    pub(super) fn push(&mut self, id: ItemId) -> Option<&ValueCell> {
        if id != self.end {
            return None;
        }
        self.extend_to(id + 1);
        self.cell(id)
    }

    /// Cells, none read yet, for the ids up to `end` (messages that arrived while these
    /// cells were set aside).
    pub(super) fn extend_to(&mut self, end: ItemId) {
        self.end = self.end.max(end);
        while (self.end - self.base) as usize > self.chunks.len() * CHUNK {
            self.chunks.push_back(OnceLock::new());
        }
    }

    /// Forget the cells of evicted items (ids below `first_id`).
    pub(super) fn evict_to(&mut self, first_id: ItemId) {
        self.first = self.first.max(first_id).min(self.end);
        while self.base + CHUNK as u64 <= self.first && self.chunks.pop_front().is_some() {
            self.base += CHUNK as u64;
        }
    }

    pub(super) fn cell(&self, id: ItemId) -> Option<&ValueCell> {
        if id < self.first || id >= self.end {
            return None;
        }
        let offset = usize::try_from(id - self.base).ok()?;
        let chunk = self.chunks.get(offset / CHUNK)?;
        let cells = chunk.get_or_init(new_chunk);
        cells.get(offset % CHUNK)
    }
}

/// The cells the count's threads read and fill, by store index.
/// A chunk of cells, none read yet.
fn new_chunk() -> Box<[ValueCell]> {
    (0..CHUNK).map(|_| ValueCell::default()).collect()
}

#[derive(Clone, Copy)]
pub(super) struct Cells<'a> {
    pub(super) values: &'a Values,
    /// The id of store index 0.
    pub(super) first_id: ItemId,
}

impl<'a> Cells<'a> {
    pub(super) fn at(&self, index: usize) -> Option<&'a ValueCell> {
        self.values.cell(self.first_id + index as u64)
    }

    /// `f(offset, cell)` for the cells of store indexes `indexes` (offset: from its
    /// start), a chunk at a time: `None` for a cell of a chunk not yet allocated (none of
    /// its cells has been read; it stays unallocated). Indexes without a cell are passed
    /// over.
    /// The cells of store indexes `indexes` in order (allocating their chunks), None
    /// for an index without one: walked a chunk at a time, not looked up one by one.
    pub(super) fn run(&self, indexes: Range<usize>) -> impl Iterator<Item = Option<&'a ValueCell>> {
        let values = self.values;
        let id = |index: usize| self.first_id + index as u64;
        let (start, end) = (id(indexes.start), id(indexes.end));
        let from = values.first.clamp(start, end);
        let to = values.end.clamp(from, end);
        let before = usize::try_from(from - start).unwrap_or(usize::MAX);
        let after = usize::try_from(end - to).unwrap_or(usize::MAX);
        let mut at = from;
        let within = std::iter::from_fn(move || {
            if at >= to {
                return None;
            }
            let offset = usize::try_from(at - values.base).ok()?;
            let cells = values.chunks.get(offset / CHUNK)?.get_or_init(new_chunk);
            let within = offset % CHUNK;
            let take = (CHUNK - within).min(usize::try_from(to - at).unwrap_or(usize::MAX));
            at += take as u64;
            Some(cells[within..within + take].iter().map(Some))
        });
        (std::iter::repeat_n(None, before))
            .chain(within.flatten())
            .chain(std::iter::repeat_n(None, after))
    }

    pub(super) fn each(
        &self,
        indexes: Range<usize>,
        mut f: impl FnMut(usize, Option<&'a ValueCell>),
    ) {
        let values = self.values;
        let id = |index: usize| self.first_id + index as u64;
        let (from, to) = (
            id(indexes.start).max(values.first),
            id(indexes.end).min(values.end),
        );
        let mut at = from;
        while at < to {
            let Ok(offset) = usize::try_from(at - values.base) else {
                return;
            };
            let Some(chunk) = values.chunks.get(offset / CHUNK) else {
                return;
            };
            let within = offset % CHUNK;
            let take = (CHUNK - within).min(usize::try_from(to - at).unwrap_or(usize::MAX));
            let first = usize::try_from(at - id(indexes.start)).unwrap_or(usize::MAX);
            match chunk.get() {
                Some(cells) => (cells[within..within + take].iter().enumerate())
                    .for_each(|(k, cell)| f(first + k, Some(cell))),
                None => (first..first + take).for_each(|k| f(k, None)),
            }
            at += take as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_the_retained_ids_across_chunks() {
        let mut values = Values::new("k".into(), 100, 2 * CHUNK + 5);
        let end = 100 + (2 * CHUNK + 5) as u64;
        assert!(values.cell(99).is_none());
        assert!(values.cell(end).is_none());
        // A cell set keeps what it was given; its neighbours stay unknown.
        let id = 100 + CHUNK as u64 + 7;
        let filter = crate::filter::Filter::parse(".a").expect("parses");
        let cell = values.cell(id).expect("retained");
        filter.matches_known(b"c", b"{\"a\":1}", Some(cell), None, None);
        assert!(values.cell(id).is_some_and(ValueCell::is_known));
        assert!(!values.cell(id + 1).is_some_and(ValueCell::is_known));
        // Pushed ids get cells; a push out of order does not.
        for next in end..end + CHUNK as u64 {
            assert!(values.push(next).is_some());
        }
        assert!(values.push(end + CHUNK as u64 + 1).is_none());
        // Set aside meanwhile: caught up to the next id.
        values.extend_to(end + CHUNK as u64 + 1);
        assert!(values.push(end + CHUNK as u64 + 1).is_some());
        // Eviction drops whole chunks, keeps the rest where it was.
        values.evict_to(100 + CHUNK as u64 + 3);
        assert_eq!(values.chunks.len(), 3);
        assert!(values.cell(100 + CHUNK as u64 + 2).is_none());
        assert!(values.cell(id).is_some_and(ValueCell::is_known));
        values.evict_to(u64::MAX);
        assert!(values.cell(end).is_none());
        assert!(
            values.push(end + CHUNK as u64 + 2).is_some(),
            "the next id still gets one"
        );
    }

    #[test]
    fn a_run_of_cells_is_the_cells_by_index() {
        let mut values = Values::new("k".into(), 100, 3 * CHUNK);
        values.evict_to(100 + 7);
        // Store index 0 is id 90: ids below 107 (evicted or never there) have no cell.
        let cells = Cells {
            values: &values,
            first_id: 90,
        };
        for range in [
            0..3 * CHUNK + 20,
            0..5,
            15..20,
            CHUNK - 3..CHUNK + 9,
            3 * CHUNK + 5..3 * CHUNK + 15,
            3 * CHUNK + 20..3 * CHUNK + 30,
            40..40,
        ] {
            let run: Vec<_> = cells
                .run(range.clone())
                .map(|c| c.map(std::ptr::from_ref))
                .collect();
            let by_index: Vec<_> = range
                .clone()
                .map(|i| cells.at(i).map(std::ptr::from_ref))
                .collect();
            assert_eq!(run, by_index, "{range:?}");
        }
    }

    #[test]
    fn cells_walked_a_chunk_at_a_time_are_the_cells_by_index() {
        let values = Values::new("k".into(), 100, 3 * CHUNK);
        // Store index 0 is id 90: the first ten indexes have no cell.
        let cells = Cells {
            values: &values,
            first_id: 90,
        };
        // Chunk 1 allocated (one of its cells asked for), chunks 0 and 2 not.
        let cell = cells.at(10 + CHUNK + 5).expect("retained");
        let filter = crate::filter::Filter::parse(".a").expect("parses");
        filter.matches_known(b"c", b"{\"a\":1}", Some(cell), None, None);
        for range in [
            0..3 * CHUNK + 20,
            5..20,
            CHUNK - 3..CHUNK + 9,
            2 * CHUNK..2 * CHUNK + 40,
        ] {
            let mut seen = Vec::new();
            cells.each(range.clone(), |offset, cell| seen.push((offset, cell)));
            let chunk_of = |index: usize| (index - 10) / CHUNK;
            let expected: Vec<_> = (range.clone())
                .filter(|&index| (10..10 + 3 * CHUNK).contains(&index))
                .map(|index| {
                    let cell = (chunk_of(index) == 1).then(|| cells.at(index)).flatten();
                    (index - range.start, cell)
                })
                .collect();
            assert_eq!(seen.len(), expected.len(), "{range:?}");
            for ((a, x), (b, y)) in seen.iter().zip(&expected) {
                assert_eq!(a, b, "{range:?}");
                assert!(
                    x.map(std::ptr::from_ref) == y.map(std::ptr::from_ref),
                    "{range:?} {a}"
                );
            }
        }
        assert!(values.chunks[0].get().is_none() && values.chunks[2].get().is_none());
    }
}
