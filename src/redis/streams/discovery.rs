//! Finding streams: `SCAN … TYPE stream` with each key glob, a bounded number of SCAN
//! calls per poll so a keyspace of millions of keys never blocks a poll, the cursors kept
//! between polls, and a fresh pass every so often to notice new and deleted streams.
//!
//! SCAN has one MATCH per call, so each glob gets its own cursor (matching globs
//! ourselves would risk differing from the server's glob rules); all cursors advance in
//! one pipeline, so several globs cost no extra round trips.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::Value;

use super::stream_error;
use crate::redis::error::{PollError, PollErrorKind};
use crate::redis::reply::{int_of, into_bytes, into_items};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// SCAN's COUNT: hash slots visited per call (about that many keys).
    pub scan_count: u32,
    /// SCAN round trips per poll; what a large keyspace costs one poll.
    pub max_steps_per_poll: usize,
    /// Start a new pass this long after the last one completed.
    pub rediscover_every: Duration,
    /// Streams tracked at most (explicit keys included); the rest are counted, not polled.
    pub max_streams: usize,
    /// End a pass after this many SCAN calls per glob, leaving it incomplete (one-shot
    /// `stats` uses this to bound its work on a huge keyspace). None: no limit.
    pub max_scan_calls_per_pass: Option<u64>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            scan_count: 1000,
            max_steps_per_poll: 4,
            // New streams should show within 5 s: a pass starts 4 s after the last one
            // ended, at the next 1 s poll. On a small keyspace a pass is one pipelined SCAN
            // round trip; a large one scans continuously anyway, bounded per poll by
            // `max_steps_per_poll`, so the shorter pause costs it nothing extra.
            rediscover_every: Duration::from_secs(4),
            max_streams: 10_000,
            max_scan_calls_per_pass: None,
        }
    }
}

/// How far discovery has got, for a progress line (`scanning ≈43% · 120 streams`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct ScanProgress {
    /// A pass is under way.
    pub scanning: bool,
    /// At least one pass has covered the whole keyspace, so the list is complete (as of
    /// that pass; new streams appear at the next).
    pub complete: bool,
    pub passes_completed: u64,
    /// SCAN calls in the current (or last) pass, over all globs.
    pub scan_calls: u64,
    /// Streams found in the current (or last) pass.
    pub streams_found: usize,
    /// Share of the keyspace's hash table the current pass has visited, 0–1, read from the
    /// SCAN cursor. Approximate: a resize during the pass moves it.
    pub fraction: Option<f64>,
    /// DBSIZE at the start of the pass.
    pub keyspace_keys: Option<u64>,
    /// Why the list is not the whole truth, when it is not (a cap was hit).
    pub note: Option<String>,
}

#[derive(Debug)]
pub struct Discovery {
    /// Empty: all keys.
    globs: Vec<String>,
    explicit: Vec<Bytes>,
    config: DiscoveryConfig,
    /// One per glob while a pass runs; None once that glob's pass finished.
    cursors: Vec<Option<u64>>,
    pass_calls: u64,
    found_this_pass: BTreeSet<Bytes>,
    known: BTreeSet<Bytes>,
    last_pass_end: Option<Instant>,
    progress: ScanProgress,
    /// The last pass was refused (NOPERM); kept until a pass succeeds so every poll can
    /// say why discovery shows nothing new.
    scan_error: Option<PollError>,
}

impl Discovery {
    /// `globs` empty = every stream. `explicit` keys are always polled, found or not.
    pub fn new(globs: Vec<String>, explicit: Vec<Bytes>, config: DiscoveryConfig) -> Discovery {
        Discovery {
            globs,
            explicit,
            config,
            cursors: Vec::new(),
            pass_calls: 0,
            found_this_pass: BTreeSet::new(),
            known: BTreeSet::new(),
            last_pass_end: None,
            progress: ScanProgress::default(),
            scan_error: None,
        }
    }

    /// Why discovery is not running, when SCAN was refused.
    pub fn scan_error(&self) -> Option<&PollError> {
        self.scan_error.as_ref()
    }

    pub fn progress(&self) -> &ScanProgress {
        &self.progress
    }

    pub fn is_explicit(&self, key: &[u8]) -> bool {
        self.explicit.iter().any(|k| k.as_ref() == key)
    }

    /// The keys to poll: explicit ones first, then discovered ones in key order, capped at
    /// `max_streams`.
    pub fn keys(&self) -> Vec<Bytes> {
        let mut keys = self.explicit.clone();
        for k in &self.known {
            if keys.len() >= self.config.max_streams {
                break;
            }
            if !self.is_explicit(k) {
                keys.push(k.clone());
            }
        }
        keys
    }

    /// A discovered key turned out not to be a stream (deleted, or now another type):
    /// stop polling it until a pass finds it again. Explicit keys are kept, so their
    /// absence stays visible.
    pub fn forget(&mut self, key: &[u8]) {
        self.known.remove(key);
        self.found_this_pass.remove(key);
    }

    /// Begin a new pass at the next step, whatever the schedule.
    pub fn restart(&mut self) {
        self.cursors.clear();
        self.last_pass_end = None;
    }

    /// Advance discovery by at most `max_steps_per_poll` SCAN round trips. Returns
    /// `(commands sent, round trips)`. A refused SCAN ends the pass and is remembered
    /// ([`Discovery::scan_error`]) until the next scheduled pass retries it.
    pub async fn step(
        &mut self,
        conn: &mut MultiplexedConnection,
    ) -> Result<(usize, usize), PollError> {
        let result = self.step_inner(conn).await;
        if let Err(e) = &result {
            if e.kind == PollErrorKind::Denied {
                self.scan_error = Some(e.clone());
                self.cursors.clear();
                self.last_pass_end = Some(Instant::now());
                self.update_progress();
            }
        }
        result
    }

    async fn step_inner(
        &mut self,
        conn: &mut MultiplexedConnection,
    ) -> Result<(usize, usize), PollError> {
        let due = self
            .last_pass_end
            .is_none_or(|t| t.elapsed() >= self.config.rediscover_every);
        let mut commands = 0;
        let mut round_trips = 0;
        let mut starting = false;
        if self.cursors.is_empty() {
            if !due {
                return Ok((0, 0));
            }
            self.cursors = vec![Some(0); self.globs.len().max(1)];
            self.pass_calls = 0;
            self.found_this_pass.clear();
            starting = true;
        }
        while round_trips < self.config.max_steps_per_poll.max(1) {
            let mut pipe = redis::pipe();
            if starting {
                pipe.cmd("DBSIZE");
            }
            let mut active = Vec::new();
            for (i, cursor) in self.cursors.iter().enumerate() {
                let Some(cursor) = cursor else { continue };
                pipe.cmd("SCAN").arg(*cursor);
                if let Some(glob) = self.globs.get(i) {
                    pipe.arg("MATCH").arg(glob.as_bytes());
                }
                pipe.arg("COUNT")
                    .arg(self.config.scan_count.max(1))
                    .arg("TYPE")
                    .arg("stream");
                active.push(i);
            }
            if active.is_empty() {
                break;
            }
            let replies: Vec<Value> = pipe
                .ignore_errors()
                .query_async(conn)
                .await
                .map_err(|e| PollError::from_redis("SCAN", &e))?;
            commands += active.len() + usize::from(starting);
            round_trips += 1;
            let mut replies = replies.into_iter();
            if starting {
                self.progress.keyspace_keys = replies
                    .next()
                    .and_then(|v| int_of(&v))
                    .and_then(|n| u64::try_from(n).ok());
                starting = false;
            }
            for i in active {
                let reply = replies
                    .next()
                    .ok_or_else(|| super::reply_error("SCAN", "fewer replies than commands"))?;
                let (next, keys) = parse_scan(reply)?;
                for key in keys {
                    if self.found_this_pass.len() < self.config.max_streams {
                        self.found_this_pass.insert(key.clone());
                        // Polled from now on, not only once the pass completes.
                        self.known.insert(key);
                    }
                }
                self.cursors[i] = (next != 0).then_some(next);
            }
            self.pass_calls += 1;
            let capped_calls = self
                .config
                .max_scan_calls_per_pass
                .is_some_and(|max| self.pass_calls >= max);
            let capped_streams = self.found_this_pass.len() >= self.config.max_streams;
            let done = self.cursors.iter().all(Option::is_none);
            if done || capped_calls || capped_streams {
                self.finish_pass(done, capped_calls);
                break;
            }
        }
        self.update_progress();
        Ok((commands, round_trips))
    }

    fn finish_pass(&mut self, whole_keyspace: bool, capped_calls: bool) {
        let capped_streams =
            !whole_keyspace && self.found_this_pass.len() >= self.config.max_streams;
        // The pass's result replaces what we knew: streams deleted since the last pass
        // disappear here (or sooner, when XINFO says so). An incomplete pass only adds.
        if whole_keyspace || capped_streams {
            self.known = self.found_this_pass.clone();
        }
        self.progress.note = if capped_streams {
            Some(format!(
                "stopped at {} streams; narrow discovery with --streams GLOB or name \
                 streams with --stream KEY",
                self.config.max_streams
            ))
        } else if capped_calls && !whole_keyspace {
            let visited = self.pass_calls * u64::from(self.config.scan_count);
            Some(format!(
                "stopped scanning after ≈{visited} keys; streams beyond that are not listed \
                 — narrow discovery with --streams GLOB or name streams with --stream KEY"
            ))
        } else {
            None
        };
        self.scan_error = None;
        if whole_keyspace {
            self.progress.complete = true;
            self.progress.passes_completed += 1;
        }
        self.progress.fraction = Some(if whole_keyspace { 1.0 } else { self.fraction() });
        self.cursors.clear();
        self.last_pass_end = Some(Instant::now());
    }

    fn update_progress(&mut self) {
        self.progress.scanning = !self.cursors.is_empty();
        self.progress.scan_calls = self.pass_calls;
        self.progress.streams_found = self.found_this_pass.len();
        if self.progress.scanning {
            self.progress.fraction = Some(self.fraction());
        }
    }

    /// SCAN cursors count up in bit-reversed order, so reversing a cursor's bits gives
    /// the share of the hash table already visited. Averaged over globs.
    fn fraction(&self) -> f64 {
        if self.cursors.is_empty() {
            return 1.0;
        }
        let sum: f64 = self
            .cursors
            .iter()
            .map(|c| match c {
                None => 1.0,
                Some(0) => 0.0,
                Some(c) => c.reverse_bits() as f64 / 2f64.powi(64),
            })
            .sum();
        sum / self.cursors.len() as f64
    }
}

fn parse_scan(reply: Value) -> Result<(u64, Vec<Bytes>), PollError> {
    if let Value::ServerError(e) = &reply {
        return Err(stream_error("SCAN", e.code(), e.details().unwrap_or("")));
    }
    let bad = || super::reply_error("SCAN", "not [cursor, keys]");
    let mut parts = into_items(reply).ok_or_else(bad)?.into_iter();
    let cursor = parts
        .next()
        .and_then(into_bytes)
        .and_then(|b| std::str::from_utf8(&b).ok()?.parse::<u64>().ok())
        .ok_or_else(bad)?;
    let keys = parts
        .next()
        .and_then(into_items)
        .ok_or_else(bad)?
        .into_iter()
        .map(into_bytes)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)?;
    Ok((cursor, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_streams_are_found_within_five_seconds_by_default() {
        let poll = crate::redis::streams::StreamsConfig::default().interval;
        let pause = DiscoveryConfig::default().rediscover_every;
        assert!(pause <= Duration::from_secs(5), "{pause:?}");
        // The pass starts at the first poll after the pause.
        assert!(
            pause + poll <= Duration::from_secs(5),
            "{pause:?} + {poll:?}"
        );
    }

    #[test]
    fn explicit_keys_come_first_and_count_toward_the_cap() {
        let mut d = Discovery::new(
            vec![],
            vec![Bytes::from_static(b"z")],
            DiscoveryConfig {
                max_streams: 3,
                ..Default::default()
            },
        );
        for k in ["a", "z", "b", "c"] {
            d.known.insert(Bytes::from(k));
        }
        assert_eq!(d.keys(), vec!["z", "a", "b"]);
        d.forget(b"a");
        d.forget(b"z");
        assert_eq!(d.keys(), vec!["z", "b", "c"]);
    }

    #[test]
    fn cursor_fraction_reads_reversed_bits() {
        let mut d = Discovery::new(vec![], vec![], DiscoveryConfig::default());
        // Table of 8 buckets: after visiting bucket 0 the cursor is rev(1) in 3 bits = 4.
        d.cursors = vec![Some(4)];
        assert!((d.fraction() - 0.125).abs() < 1e-9);
        d.cursors = vec![Some(1), None];
        assert!((d.fraction() - 0.75).abs() < 1e-9);
    }

    #[test]
    fn scan_reply_parsing() {
        let v = redis::parse_redis_value(b"*2\r\n$2\r\n17\r\n*2\r\n$1\r\na\r\n$2\r\n\xff\x00\r\n")
            .unwrap();
        let (cursor, keys) = parse_scan(v).unwrap();
        assert_eq!(cursor, 17);
        assert_eq!(keys[1].as_ref(), b"\xff\x00");
        let denied = redis::parse_redis_value(
            b"-NOPERM this user has no permissions to run the 'scan' command\r\n",
        )
        .unwrap();
        let e = parse_scan(denied).unwrap_err();
        assert!(e.message.contains("--stream"), "{e}");
    }
}
