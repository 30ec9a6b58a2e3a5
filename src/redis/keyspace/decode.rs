//! The keyspace request ([`KeyspaceSpec`]: globs, events, database → patterns and
//! flags) and the per-connection [`Decoder`] the subscriber engine runs on pmessages.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::flags;
use crate::redis::message::KeyEvent;

/// What to follow: key globs, optionally only some events and one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyspaceSpec {
    /// Redis globs on the key (PSUBSCRIBE rules); at least one.
    pub globs: Vec<Bytes>,
    /// Only these event names (`set`, `del`, …); `None`: every event.
    pub events: Option<BTreeSet<String>>,
    /// Only this database; `None`: every database (a Cluster has only 0).
    pub db: Option<u32>,
}

impl KeyspaceSpec {
    /// The PSUBSCRIBE patterns. Without `--db`, `@[0-9]__:` and `@[0-9][0-9]__:` cover
    /// databases 0–99 exactly: `@*__:` would also match a key in another position when
    /// the key itself contains `__:`.
    pub fn patterns(&self) -> BTreeSet<Bytes> {
        let prefixes: Vec<String> = match self.db {
            Some(db) => vec![format!("__keyspace@{db}__:")],
            None => vec![
                "__keyspace@[0-9]__:".to_string(),
                "__keyspace@[0-9][0-9]__:".to_string(),
            ],
        };
        let mut out = BTreeSet::new();
        for glob in &self.globs {
            for prefix in &prefixes {
                let mut p = prefix.as_bytes().to_vec();
                p.extend_from_slice(glob);
                out.insert(Bytes::from(p));
            }
        }
        out
    }

    pub fn wants_event(&self, event: &[u8]) -> bool {
        match &self.events {
            None => true,
            Some(set) => std::str::from_utf8(event).is_ok_and(|e| set.contains(e)),
        }
    }

    /// The flags the requested events need (always `K`, the channel form we subscribe to).
    pub fn required_flags(&self) -> flags::Flags {
        flags::required(self.events.as_ref())
    }
}

/// Turns an engine's pmessages on `__keyspace@…` channels into [`KeyEvent`]s, naming
/// the node, keeping only wanted events and folding the copies overlapping patterns
/// produce.
#[derive(Debug)]
pub struct Decoder {
    spec: Arc<KeyspaceSpec>,
    node: Arc<str>,
    /// The last event (channel, payload) and the patterns it already arrived through.
    /// For one notification the server sends one pmessage per matching pattern, back to
    /// back in pattern order, so a repeat through a *new* pattern is a copy, and a
    /// repeat through a pattern already seen is the next (identical) event.
    run_channel: Bytes,
    run_payload: Bytes,
    run_patterns: Vec<Bytes>,
    last_event: Bytes,
}

/// What a pmessage became.
pub enum Decoded {
    Event(KeyEvent),
    /// A copy through another pattern, or an event not asked for: nothing to show.
    Skip,
    /// Not a keyspace channel: an ordinary message.
    NotKeyspace,
}

impl Decoder {
    pub fn new(spec: Arc<KeyspaceSpec>) -> Decoder {
        Decoder {
            spec,
            node: Arc::from(""),
            run_channel: Bytes::new(),
            run_payload: Bytes::new(),
            run_patterns: Vec::new(),
            last_event: Bytes::new(),
        }
    }

    /// The node events now come from (set on every connect: after a Sentinel failover
    /// it is the new primary).
    pub fn set_node(&mut self, node: &str) {
        if &*self.node != node {
            self.node = Arc::from(node);
        }
        self.run_patterns.clear();
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn decode(
        &mut self,
        seq: &mut u64,
        received: DateTime<Utc>,
        pattern: &[u8],
        channel: &[u8],
        payload: &[u8],
    ) -> Decoded {
        let Some((db, key)) = parse_channel(channel) else {
            return Decoded::NotKeyspace;
        };
        // Patterns of one glob never overlap (they differ in the database's digits): only
        // several globs can deliver one event twice.
        if self.spec.globs.len() > 1 && self.is_copy(pattern, channel, payload) {
            return Decoded::Skip;
        }
        if !self.spec.wants_event(payload) {
            return Decoded::Skip;
        }
        if self.last_event.as_ref() != payload {
            self.last_event = Bytes::copy_from_slice(payload);
        }
        *seq += 1;
        Decoded::Event(KeyEvent {
            seq: *seq,
            received,
            node: self.node.clone(),
            db,
            key: Bytes::copy_from_slice(key),
            event: self.last_event.clone(),
        })
    }

    fn is_copy(&mut self, pattern: &[u8], channel: &[u8], payload: &[u8]) -> bool {
        let same = self.run_channel.as_ref() == channel && self.run_payload.as_ref() == payload;
        if same && !self.run_patterns.iter().any(|p| p.as_ref() == pattern) {
            self.run_patterns.push(Bytes::copy_from_slice(pattern));
            return true;
        }
        if !same {
            self.run_channel = Bytes::copy_from_slice(channel);
            self.run_payload = Bytes::copy_from_slice(payload);
        }
        self.run_patterns.clear();
        self.run_patterns.push(Bytes::copy_from_slice(pattern));
        false
    }
}

/// `__keyspace@<db>__:<key>` → (db, key).
pub fn parse_channel(channel: &[u8]) -> Option<(u32, &[u8])> {
    let rest = channel.strip_prefix(b"__keyspace@")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    let db: u32 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let key = rest[digits..].strip_prefix(b"__:")?;
    Some((db, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(globs: &[&str], events: Option<&[&str]>, db: Option<u32>) -> KeyspaceSpec {
        KeyspaceSpec {
            globs: globs.iter().map(|g| Bytes::from(g.to_string())).collect(),
            events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
            db,
        }
    }

    #[test]
    fn channels_parse_into_db_and_key() {
        assert_eq!(
            parse_channel(b"__keyspace@0__:user:1"),
            Some((0, &b"user:1"[..]))
        );
        assert_eq!(
            parse_channel(b"__keyspace@12__:a__:b"),
            Some((12, &b"a__:b"[..]))
        );
        assert_eq!(parse_channel(b"__keyspace@0__:"), Some((0, &b""[..])));
        assert_eq!(parse_channel(b"__keyevent@0__:set"), None);
        assert_eq!(parse_channel(b"__keyspace@__:k"), None);
        assert_eq!(parse_channel(b"__keyspace@0_:k"), None);
        assert_eq!(parse_channel(b"orders"), None);
    }

    #[test]
    fn patterns_pin_the_database_digits() {
        let s = spec(&["user:*"], None, None);
        let p: Vec<Bytes> = s.patterns().into_iter().collect();
        assert_eq!(
            p,
            vec![
                Bytes::from_static(b"__keyspace@[0-9][0-9]__:user:*"),
                Bytes::from_static(b"__keyspace@[0-9]__:user:*"),
            ]
        );
        let s = spec(&["a", "b"], None, Some(3));
        assert_eq!(s.patterns().len(), 2);
        assert!(s
            .patterns()
            .contains(&Bytes::from_static(b"__keyspace@3__:a")));
    }

    fn decode_all(d: &mut Decoder, items: &[(&str, &str, &str)]) -> Vec<(String, String)> {
        let mut seq = 0;
        let now = Utc::now();
        items
            .iter()
            .filter_map(|(p, c, x)| {
                match d.decode(&mut seq, now, p.as_bytes(), c.as_bytes(), x.as_bytes()) {
                    Decoded::Event(e) => Some((
                        String::from_utf8_lossy(&e.key).into_owned(),
                        String::from_utf8_lossy(&e.event).into_owned(),
                    )),
                    _ => None,
                }
            })
            .collect()
    }

    #[test]
    fn copies_through_overlapping_patterns_fold_but_repeats_do_not() {
        let mut d = Decoder::new(Arc::new(spec(&["*", "u*"], None, None)));
        d.set_node("h:1");
        let got = decode_all(
            &mut d,
            &[
                // One SET on u1, delivered through both patterns…
                ("__keyspace@[0-9]__:*", "__keyspace@0__:u1", "set"),
                ("__keyspace@[0-9]__:u*", "__keyspace@0__:u1", "set"),
                // …then a second SET on u1 (a real second event).
                ("__keyspace@[0-9]__:*", "__keyspace@0__:u1", "set"),
                ("__keyspace@[0-9]__:u*", "__keyspace@0__:u1", "set"),
                // One pattern only.
                ("__keyspace@[0-9]__:*", "__keyspace@0__:x", "del"),
                ("__keyspace@[0-9]__:*", "__keyspace@0__:x", "del"),
            ],
        );
        assert_eq!(
            got,
            vec![
                ("u1".into(), "set".into()),
                ("u1".into(), "set".into()),
                ("x".into(), "del".into()),
                ("x".into(), "del".into()),
            ]
        );
    }

    #[test]
    fn unwanted_events_and_other_channels_are_left_out() {
        let mut d = Decoder::new(Arc::new(spec(&["*"], Some(&["del"]), None)));
        let mut seq = 0;
        let now = Utc::now();
        assert!(matches!(
            d.decode(&mut seq, now, b"p", b"__keyspace@0__:k", b"set"),
            Decoded::Skip
        ));
        assert!(matches!(
            d.decode(&mut seq, now, b"p", b"__keyspace@0__:k", b"del"),
            Decoded::Event(_)
        ));
        assert!(matches!(
            d.decode(&mut seq, now, b"p", b"news", b"del"),
            Decoded::NotKeyspace
        ));
        assert_eq!(seq, 1);
    }
}
