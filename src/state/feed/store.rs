//! Where the feed keeps its items: compact, in fixed-size blocks.
//!
//! Two things made a retained 100-byte message cost about 250 bytes (issue 8):
//! - a `VecDeque<Entry>` grows by doubling and a ring buffer touches all of its capacity,
//!   so 1.2M retained items cost the memory of 2M slots; blocks of [`BLOCK`] slots cost
//!   what is retained, plus at most two partly used blocks;
//! - each slot held a full [`Message`] (three `Bytes` handles, 120 bytes). Here the
//!   channel and pattern live once per distinct (channel, pattern) in a shared
//!   [`Source`], so a slot is 64 bytes. [`Message`]s are rebuilt (reference-count
//!   clones, no copies) only for what is shown or exported.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::FeedItem;
use crate::filter::Filter;
use crate::redis::message::{Gap, Kind, Message, MESSAGE_OVERHEAD};

/// Slots per block: 256 KiB blocks, large enough that block bookkeeping is noise.
pub(super) const BLOCK: usize = 4096;

/// The channel a message came on and the pattern that matched it, shared by every
/// retained message with the same pair.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Source {
    channel: Bytes,
    pattern: Option<Bytes>,
}

#[derive(Debug)]
pub(super) struct Stored {
    seq: u64,
    received: DateTime<Utc>,
    kind: Kind,
    source: Arc<Source>,
    payload: Bytes,
}

/// One retained item. Gaps and errors are rare, so they are boxed to keep slots small.
#[derive(Debug)]
pub(super) enum Slot {
    Message(Stored),
    Gap(Box<Gap>),
    ServerError(Box<str>),
}

impl Slot {
    /// What the item counts against the byte bound: the same as the [`FeedItem`] it was
    /// made from ([`Message::approx_bytes`]), so accounting does not depend on storage.
    pub(super) fn cost(&self) -> usize {
        match self {
            Slot::Message(m) => {
                MESSAGE_OVERHEAD
                    + m.payload.len()
                    + m.source.channel.len()
                    + m.source.pattern.as_ref().map_or(0, Bytes::len)
            }
            Slot::Gap(g) => MESSAGE_OVERHEAD + g.reason.len(),
            Slot::ServerError(e) => MESSAGE_OVERHEAD + e.len(),
        }
    }

    /// The engine's sequence number of a message.
    pub(super) fn seq(&self) -> Option<u64> {
        match self {
            Slot::Message(m) => Some(m.seq),
            _ => None,
        }
    }

    pub(super) fn is_message(&self) -> bool {
        matches!(self, Slot::Message(_))
    }

    /// Gaps and errors are never filtered out: hiding an outage would fake continuity.
    pub(super) fn passes(&self, filter: Option<&Filter>) -> bool {
        match (self, filter) {
            (Slot::Message(m), Some(f)) => f.matches(&m.source.channel, &m.payload),
            _ => true,
        }
    }

    /// The item as the rest of the program sees it (reference-count clones only).
    pub(super) fn item(&self) -> FeedItem {
        match self {
            Slot::Message(m) => FeedItem::Message(Message {
                seq: m.seq,
                received: m.received,
                kind: m.kind,
                pattern: m.source.pattern.clone(),
                channel: m.source.channel.clone(),
                payload: m.payload.clone(),
            }),
            Slot::Gap(g) => FeedItem::Gap((**g).clone()),
            Slot::ServerError(e) => FeedItem::ServerError(e.to_string()),
        }
    }
}

/// Interned sources. Consecutive messages usually share one (a flood on one channel), so
/// the last one is checked before the table.
#[derive(Debug, Default)]
struct Sources {
    last: Option<Arc<Source>>,
    table: HashSet<Arc<Source>>,
    /// Table size at which sources no retained message uses any more are dropped.
    prune_at: usize,
}

impl Sources {
    fn intern(&mut self, channel: Bytes, pattern: Option<Bytes>) -> Arc<Source> {
        if let Some(last) = &self.last {
            if last.channel == channel && last.pattern == pattern {
                return last.clone();
            }
        }
        let wanted = Source { channel, pattern };
        let source = match self.table.get(&wanted) {
            Some(found) => found.clone(),
            None => {
                if self.table.len() >= self.prune_at {
                    // Only the table (and maybe `last`) holds it: no retained message does.
                    self.table.retain(|s| Arc::strong_count(s) > 1);
                    self.prune_at = (self.table.len() * 2).max(BLOCK);
                }
                let source = Arc::new(wanted);
                self.table.insert(source.clone());
                source
            }
        };
        self.last = Some(source.clone());
        source
    }
}

/// A FIFO of slots in blocks of [`BLOCK`]: pushed at the back, evicted at the front.
/// Every block but the first and the last is full, which makes indexing arithmetic.
#[derive(Debug, Default)]
pub(super) struct Store {
    blocks: VecDeque<VecDeque<Slot>>,
    /// The last emptied block, reused for the next one (no allocator churn at the
    /// rate messages turn over).
    spare: Option<VecDeque<Slot>>,
    len: usize,
    sources: Sources,
}

impl Store {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn push_back(&mut self, item: FeedItem) -> &Slot {
        let slot = match item {
            FeedItem::Message(m) => Slot::Message(Stored {
                seq: m.seq,
                received: m.received,
                kind: m.kind,
                source: self.sources.intern(m.channel, m.pattern),
                payload: m.payload,
            }),
            FeedItem::Gap(g) => Slot::Gap(Box::new(g)),
            FeedItem::ServerError(e) => Slot::ServerError(e.into_boxed_str()),
        };
        if self.blocks.back().is_none_or(|b| b.len() == BLOCK) {
            let block = self
                .spare
                .take()
                .unwrap_or_else(|| VecDeque::with_capacity(BLOCK));
            self.blocks.push_back(block);
        }
        self.len += 1;
        let back = self.blocks.back_mut().expect("a block was just ensured");
        back.push_back(slot);
        back.back().expect("just pushed")
    }

    pub(super) fn pop_front(&mut self) -> Option<Slot> {
        let first = self.blocks.front_mut()?;
        let slot = first.pop_front()?;
        if first.is_empty() {
            self.spare = self.blocks.pop_front();
        }
        self.len -= 1;
        Some(slot)
    }

    pub(super) fn get(&self, index: usize) -> Option<&Slot> {
        let first = self.blocks.front()?;
        if index < first.len() {
            return first.get(index);
        }
        let rest = index - first.len();
        self.blocks.get(1 + rest / BLOCK)?.get(rest % BLOCK)
    }

    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.blocks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(channel: &'static str, payload: String) -> FeedItem {
        FeedItem::Message(Message {
            seq: 0,
            received: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            kind: Kind::PMessage,
            pattern: Some(Bytes::from_static(b"*")),
            channel: Bytes::from_static(channel.as_bytes()),
            payload: Bytes::from(payload),
        })
    }

    #[test]
    fn slots_stay_small() {
        // Three Bytes handles (96 bytes) were the bulk of a retained message.
        assert!(
            std::mem::size_of::<Slot>() <= 64,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }

    #[test]
    fn fifo_across_blocks_with_indexing() {
        let mut store = Store::default();
        let n = BLOCK * 3 + 17;
        for i in 0..n {
            store.push_back(msg("c", i.to_string()));
        }
        for _ in 0..BLOCK + 5 {
            store.pop_front();
        }
        assert_eq!(store.len(), n - BLOCK - 5);
        let payload = |s: Option<&Slot>| match s.map(Slot::item) {
            Some(FeedItem::Message(m)) => String::from_utf8_lossy(&m.payload).into_owned(),
            _ => "none".into(),
        };
        assert_eq!(payload(store.get(0)), (BLOCK + 5).to_string());
        assert_eq!(payload(store.get(BLOCK)), (2 * BLOCK + 5).to_string());
        assert_eq!(payload(store.get(store.len() - 1)), (n - 1).to_string());
        assert_eq!(payload(store.get(store.len())), "none");
        assert_eq!(store.iter().count(), store.len());
        let all: Vec<String> = store.iter().map(|s| payload(Some(s))).collect();
        let expected: Vec<String> = (BLOCK + 5..n).map(|i| i.to_string()).collect();
        assert_eq!(all, expected);
        while store.pop_front().is_some() {}
        assert_eq!(store.len(), 0);
        assert!(store.get(0).is_none());
    }

    #[test]
    fn sources_are_shared_and_pruned() {
        let mut store = Store::default();
        for i in 0..10 {
            store.push_back(msg(if i % 2 == 0 { "a" } else { "b" }, i.to_string()));
        }
        assert_eq!(store.sources.table.len(), 2);
        let source = |i| match store.get(i) {
            Some(Slot::Message(m)) => m.source.clone(),
            _ => unreachable!("messages only"),
        };
        assert!(Arc::ptr_eq(&source(0), &source(8)));
        assert!(!Arc::ptr_eq(&source(0), &source(1)));
        // Sources of evicted messages go at the next prune.
        while store.pop_front().is_some() {}
        let names: Vec<String> = (0..BLOCK * 2).map(|i| format!("ch{i}")).collect();
        for name in &names {
            store.push_back(FeedItem::Message(Message {
                seq: 0,
                received: DateTime::from_timestamp(0, 0).unwrap_or_default(),
                kind: Kind::Message,
                pattern: None,
                channel: Bytes::from(name.clone()),
                payload: Bytes::new(),
            }));
            store.pop_front();
        }
        assert!(store.sources.table.len() <= BLOCK + 1);
    }
}
