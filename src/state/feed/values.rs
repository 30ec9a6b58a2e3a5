//! One JSON path's values for every retained message, kept while filters read that path
//! (issue 19): `.latency_ms`, then `> 2`, `> 25`, `> 250` read each payload once, not
//! four times. See `filter::ValueCell` for what a cell holds (8 bytes a message: 8 MB
//! per million retained, for one path at a time).

use std::collections::VecDeque;

use super::ItemId;
use crate::filter::ValueCell;

/// A cell per retained message, from the oldest retained id on.
#[derive(Debug)]
pub(super) struct Values {
    /// `Filter::column_key` of the filters whose values these are.
    key: String,
    /// The id of `cells[0]`.
    first: ItemId,
    cells: VecDeque<ValueCell>,
}

impl Values {
    /// Cells for `len` retained items from `first` on, none read yet.
    pub(super) fn new(key: String, first: ItemId, len: usize) -> Values {
        let mut cells = VecDeque::with_capacity(len);
        cells.resize_with(len, ValueCell::default);
        Values { key, first, cells }
    }

    pub(super) fn key(&self) -> &str {
        &self.key
    }

    /// A cell for the item just pushed with `id` (always the next id).
    pub(super) fn push(&mut self, id: ItemId) -> Option<&ValueCell> {
        if id != self.first + self.cells.len() as u64 {
            return None;
        }
        self.cells.push_back(ValueCell::default());
        self.cells.back()
    }

    /// Forget the cells of evicted items (ids below `first_id`).
    pub(super) fn evict_to(&mut self, first_id: ItemId) {
        while self.first < first_id && self.cells.pop_front().is_some() {
            self.first += 1;
        }
        self.first = self.first.max(first_id);
    }

    pub(super) fn cell(&self, id: ItemId) -> Option<&ValueCell> {
        let index = usize::try_from(id.checked_sub(self.first)?).ok()?;
        self.cells.get(index)
    }
}

/// The cells the count's threads read and fill, by store index.
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
}
