//! The sliding windows behind group health: samples kept between polls per stream and
//! group, fed to the pure rules in [`super::health`], verdicts written into the snapshot.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::Bytes;

use super::health::{
    evaluate, ms, outlook, position_moved_at, rate, GroupHealth, GroupSample, HealthConfig,
    ServerHints, Status,
};
use super::StreamsSnapshot;

/// Windows of samples between polls, keyed by stream and group.
#[derive(Debug, Default)]
pub struct HealthTracker {
    config: HealthConfig,
    groups: HashMap<(Bytes, Bytes), VecDeque<GroupSample>>,
    /// The last verdict per group: the rule's hysteresis.
    verdicts: HashMap<(Bytes, Bytes), Status>,
    /// `(at_ms, entries-added)` per stream, for the append rate.
    streams: HashMap<Bytes, VecDeque<(i64, u64)>>,
}

impl HealthTracker {
    pub fn new(config: HealthConfig) -> HealthTracker {
        HealthTracker {
            config,
            ..Default::default()
        }
    }

    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Add the snapshot's figures at `at_ms` (pass explicit times in tests) and write each
    /// stream's append rate and each group's health into it. Streams and groups missing
    /// from the snapshot lose their history.
    pub fn observe(&mut self, snapshot: &mut StreamsSnapshot, at_ms: i64) {
        let window_ms = ms(self.config.window);
        let max = self.config.max_samples.max(2);
        let trim = |at: i64| at < at_ms - window_ms;
        let mut seen_streams = Vec::with_capacity(snapshot.streams.len());
        let mut seen_groups = Vec::new();
        for stream in &mut snapshot.streams {
            seen_streams.push(stream.key.clone());
            let added = self.streams.entry(stream.key.clone()).or_default();
            if let Some(n) = stream.entries_added {
                push(added, (at_ms, n), max, |s| trim(s.0));
            }
            stream.append_rate = rate(added.make_contiguous());
            let last_append_age_ms = stream
                .last_entry_id
                .map(|id| id.age_ms(snapshot.server_time_ms));
            for group in &mut stream.groups {
                let key = (stream.key.clone(), group.name.clone());
                let window = self.groups.entry(key.clone()).or_default();
                seen_groups.push(key.clone());
                let sample = GroupSample {
                    at_ms,
                    lag: group.effective_lag(),
                    pending: group.pending,
                    last_delivered_id: group.last_delivered_id,
                    entries_read: group.entries_read,
                    entries_added: stream.entries_added,
                };
                push(window, sample, max, |s| trim(s.at_ms));
                // Rates use the one sample kept from before the window; status does not.
                // (Borrowed in place: this runs for every group on every poll.)
                let samples: &[GroupSample] = window.make_contiguous();
                let in_window: Vec<GroupSample> =
                    samples.iter().copied().filter(|s| !trim(s.at_ms)).collect();
                let hints = ServerHints {
                    consumers: usize::try_from(group.consumers).unwrap_or(usize::MAX),
                    last_consumer_activity_ms: group
                        .consumer_list
                        .iter()
                        .map(|c| c.activity_age_ms())
                        .min(),
                    last_append_age_ms,
                };
                let previous = self.verdicts.get(&key).copied();
                let verdict = evaluate(&in_window, &hints, &self.config, previous);
                self.verdicts.insert(key.clone(), verdict.status);
                // A moved position starts a new window for the rates too.
                let samples = &samples[position_moved_at(samples)..];
                // entries-read resets to nil on SETID; rate only over the known stretch
                // (the newest samples that all have it).
                let known = samples
                    .iter()
                    .rposition(|s| s.entries_read.is_none())
                    .map_or(0, |i| i + 1);
                let read: Vec<(i64, u64)> = samples[known..]
                    .iter()
                    .filter_map(|s| Some((s.at_ms, s.entries_read?)))
                    .collect();
                let consume_rate = rate(&read);
                group.health = GroupHealth {
                    outlook: outlook(sample.lag, verdict.status, consume_rate, stream.append_rate),
                    status: verdict.status,
                    reason: verdict.reason,
                    consume_rate,
                    lag_series: in_window.iter().map(|s| s.lag.unwrap_or(0)).collect(),
                    pending_series: in_window.iter().map(|s| s.pending).collect(),
                };
            }
        }
        // Forget what is gone, so a recreated stream or group starts a fresh window.
        let seen_streams: HashSet<Bytes> = seen_streams.into_iter().collect();
        let seen_groups: HashSet<(Bytes, Bytes)> = seen_groups.into_iter().collect();
        self.streams.retain(|k, _| seen_streams.contains(k));
        self.groups.retain(|k, _| seen_groups.contains(k));
        self.verdicts.retain(|k, _| seen_groups.contains(k));
    }
}

fn push<T>(window: &mut VecDeque<T>, item: T, max: usize, too_old: impl Fn(&T) -> bool) {
    window.push_back(item);
    // Keep one sample older than the window start so rates cover the whole window.
    while window.len() > max || (window.len() > 2 && window.get(1).is_some_and(&too_old)) {
        window.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_keeps_one_sample_before_its_start_and_caps_count() {
        let mut w = VecDeque::new();
        for at in [0, 30, 61, 70, 80] {
            push(&mut w, at, 100, |&a: &i64| a < 80 - 60);
        }
        assert_eq!(
            w.iter().copied().collect::<Vec<_>>(),
            vec![0, 30, 61, 70, 80]
        );
        let mut w = VecDeque::new();
        for at in 0..10 {
            push(&mut w, at, 4, |_: &i64| false);
        }
        assert_eq!(w.len(), 4);
    }
}
