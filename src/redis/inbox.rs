//! The bounded hand-off between the socket reader and whoever consumes deliveries.
//!
//! The reader never waits for the consumer: if the consumer falls behind, the oldest
//! deliveries are evicted and counted, so the socket is always drained at full speed
//! (the server never disconnects us for reading slowly) and memory stays bounded.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::message::Delivery;

#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub max_items: usize,
    pub max_bytes: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_items: 100_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Caps {
    /// Share one memory budget (`--max-messages` / `--max-bytes`) between the engine's
    /// inbox and the consumer's own buffer (the TUI's feed), so that both together stay
    /// within `max_bytes` instead of each getting all of it (twice the budget).
    ///
    /// The inbox only holds what arrives between two drains by the consumer, so it gets
    /// an eighth of the bytes (at least [`MIN_INBOX_BYTES`], but never more than half);
    /// the consumer keeps the rest. The count bound is what the feed shows the user
    /// ("100,000 retained"), so the consumer keeps all of it and the inbox gets an eighth
    /// (at least [`MIN_INBOX_ITEMS`]). Returns (inbox, consumer).
    pub fn split(max_items: usize, max_bytes: usize) -> (Caps, Caps) {
        let max_items = max_items.max(1);
        let max_bytes = max_bytes.max(2);
        let inbox_bytes = (max_bytes / 8).max(MIN_INBOX_BYTES.min(max_bytes / 2));
        let inbox = Caps {
            max_items: (max_items / 8).max(MIN_INBOX_ITEMS),
            max_bytes: inbox_bytes,
        };
        let consumer = Caps {
            max_items,
            max_bytes: max_bytes - inbox_bytes,
        };
        (inbox, consumer)
    }
}

/// Slots the inbox keeps allocated after a drained backlog (see `drain_into`).
const KEEP_CAPACITY: usize = 16 * 1024;

/// Smallest inbox count bound from [`Caps::split`]: a few drain batches of the TUI.
pub const MIN_INBOX_ITEMS: usize = 10_000;
/// Smallest inbox byte bound from [`Caps::split`] (unless the whole budget is tiny).
pub const MIN_INBOX_BYTES: usize = 1 << 20;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Messages read from the socket since start.
    pub received: u64,
    /// Messages evicted before any consumer took them.
    pub evicted: u64,
    pub evicted_bytes: u64,
}

#[derive(Debug)]
struct Inner {
    items: VecDeque<Delivery>,
    bytes: usize,
    counters: Counters,
}

#[derive(Debug)]
pub struct Inbox {
    caps: Caps,
    inner: Mutex<Inner>,
    notify: Notify,
}

impl Inbox {
    pub fn new(caps: Caps) -> Inbox {
        Inbox {
            caps: Caps {
                max_items: caps.max_items.max(1),
                max_bytes: caps.max_bytes.max(1),
            },
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                bytes: 0,
                counters: Counters::default(),
            }),
            notify: Notify::new(),
        }
    }

    /// Append a batch (one lock per socket read, not per message) and wake the consumer.
    pub fn push_batch(&self, batch: &mut Vec<Delivery>) {
        if batch.is_empty() {
            return;
        }
        {
            let mut inner = self.lock();
            for d in batch.drain(..) {
                if d.is_data() {
                    inner.counters.received += 1;
                }
                inner.bytes += d.approx_bytes();
                inner.items.push_back(d);
            }
            while inner.items.len() > self.caps.max_items
                || (inner.bytes > self.caps.max_bytes && inner.items.len() > 1)
            {
                let Some(old) = inner.items.pop_front() else {
                    break;
                };
                let size = old.approx_bytes();
                inner.bytes -= size;
                if old.is_data() {
                    inner.counters.evicted += 1;
                    inner.counters.evicted_bytes += size as u64;
                }
            }
        }
        self.notify.notify_one();
    }

    /// Move up to `max` deliveries into `out`, oldest first.
    pub fn drain_into(&self, max: usize, out: &mut Vec<Delivery>) -> usize {
        let mut inner = self.lock();
        let n = max.min(inner.items.len());
        for d in inner.items.drain(..n) {
            out.push(d);
        }
        let taken: usize = out[out.len() - n..]
            .iter()
            .map(Delivery::approx_bytes)
            .sum();
        inner.bytes -= taken;
        // A backlog grew the ring; a ring buffer keeps touching all of its capacity, so
        // give the memory back once the backlog is gone.
        if inner.items.is_empty() && inner.items.capacity() > 4 * KEEP_CAPACITY {
            inner.items.shrink_to(KEEP_CAPACITY);
        }
        n
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn counters(&self) -> Counters {
        self.lock().counters
    }

    /// Resolves when something was pushed since the last call (or immediately if a push
    /// happened while nobody waited).
    pub async fn notified(&self) {
        self.notify.notified().await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::message::{Kind, Message};
    use bytes::Bytes;

    fn msg(seq: u64, payload: usize) -> Delivery {
        Delivery::Message(Message {
            seq,
            received: chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
            kind: Kind::Message,
            pattern: None,
            channel: Bytes::from_static(b"c"),
            payload: Bytes::from(vec![b'x'; payload]),
        })
    }

    #[test]
    fn evicts_oldest_by_count_and_counts_it() {
        let inbox = Inbox::new(Caps {
            max_items: 3,
            max_bytes: usize::MAX,
        });
        let mut batch: Vec<_> = (0..5).map(|i| msg(i, 1)).collect();
        inbox.push_batch(&mut batch);
        let mut out = Vec::new();
        inbox.drain_into(10, &mut out);
        let seqs: Vec<u64> = out
            .iter()
            .filter_map(|d| match d {
                Delivery::Message(m) => Some(m.seq),
                _ => None,
            })
            .collect();
        assert_eq!(seqs, vec![2, 3, 4]);
        let c = inbox.counters();
        assert_eq!((c.received, c.evicted), (5, 2));
    }

    #[test]
    fn split_keeps_inbox_and_consumer_within_one_budget() {
        let (inbox, feed) = Caps::split(100_000, 64 << 20);
        assert_eq!((inbox.max_items, inbox.max_bytes), (12_500, 8 << 20));
        assert_eq!((feed.max_items, feed.max_bytes), (100_000, 56 << 20));
        // Small budgets: the inbox keeps a useful minimum, but never more than half.
        let (inbox, feed) = Caps::split(10, 4 << 20);
        assert_eq!(
            (inbox.max_items, inbox.max_bytes),
            (MIN_INBOX_ITEMS, 1 << 20)
        );
        assert_eq!(feed.max_bytes, 3 << 20);
        let (inbox, feed) = Caps::split(1, 1000);
        assert_eq!((inbox.max_bytes, feed.max_bytes), (500, 500));
        for (items, bytes) in [(0, 0), (1, 1), (7, 9), (usize::MAX, usize::MAX)] {
            let (inbox, feed) = Caps::split(items, bytes);
            assert!(inbox.max_bytes + feed.max_bytes <= bytes.max(2));
            assert!(inbox.max_bytes >= 1 && feed.max_bytes >= 1 && feed.max_items >= 1);
        }
    }

    #[test]
    fn evicts_by_bytes_but_keeps_the_newest_even_if_huge() {
        let inbox = Inbox::new(Caps {
            max_items: 100,
            max_bytes: 1000,
        });
        let mut batch = vec![msg(0, 400), msg(1, 400), msg(2, 5000)];
        inbox.push_batch(&mut batch);
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox.counters().evicted, 2);
        let mut out = Vec::new();
        assert_eq!(inbox.drain_into(1, &mut out), 1);
        assert!(inbox.is_empty());
        inbox.push_batch(&mut vec![msg(3, 10)]);
        assert_eq!(
            inbox.len(),
            1,
            "byte accounting returned to zero after drain"
        );
    }
}
