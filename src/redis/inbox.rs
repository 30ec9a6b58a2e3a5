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
                if matches!(d, Delivery::Message(_)) {
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
                if matches!(old, Delivery::Message(_)) {
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
