//! Group health from a sliding window of samples, Burrow-style: a group's status comes
//! from how lag and the delivery position moved over the last minute, not from a fixed
//! lag threshold (a lag of 10,000 is fine for a batch consumer that is catching up, a lag
//! of 3 is a problem if nobody has read for ten minutes).
//!
//! Everything here is a pure function of samples and times passed in, so the rules are
//! unit-tested over synthetic windows. [`super::HealthTracker`] keeps the windows between
//! polls and writes the verdicts into a snapshot.

use std::time::Duration;

use super::id::StreamId;

/// What a group is doing, from the window: one rule (see [`evaluate`]) that the status
/// and outlook cells, `stats` and the sort all read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Lag within a poll's worth of appends (includes "nothing appended").
    CaughtUp,
    /// Lag above that, not growing: consumers keep pace or gain.
    CatchingUp,
    /// Lag grew over the window while consumers still read.
    FallingBehind,
    /// Lag > 0 and last-delivered-id has not moved: nobody reads new entries.
    Stalled,
    /// The group has no consumers: nobody reads, whatever the lag.
    NoConsumers,
    /// The group's position was set (XGROUP SETID, or last-delivered-id jumped without
    /// reads): a new window started and there is no trend yet.
    PositionMoved,
    /// Lag could not be determined (not even estimated).
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::CaughtUp => "caught up",
            Status::CatchingUp => "catching up",
            Status::FallingBehind => "falling behind",
            Status::Stalled => "stalled",
            Status::NoConsumers => "no consumers",
            Status::PositionMoved => "position moved",
            Status::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// How far back samples are kept (sparklines, rates, trends).
    pub window: Duration,
    /// A trend (LAGGING, IDLE) needs samples spanning at least this long; before that,
    /// status falls back to what the server itself remembers (consumer idle times, the
    /// last id's age).
    pub min_evidence: Duration,
    /// STALLED needs last-delivered-id unchanged, with lag, for at least this long, so a
    /// slow but working consumer between two reads is not called stalled.
    pub stall_after: Duration,
    /// Most samples kept per group, whatever the poll interval (bounded memory).
    pub max_samples: usize,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            window: Duration::from_secs(60),
            min_evidence: Duration::from_secs(10),
            stall_after: Duration::from_secs(30),
            max_samples: 120,
        }
    }
}

/// One poll's figures for one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSample {
    /// Local wall clock, ms. Only differences matter.
    pub at_ms: i64,
    /// Lag as reported, or the estimate when the server said nil; None if neither.
    pub lag: Option<u64>,
    pub pending: u64,
    pub last_delivered_id: StreamId,
    pub entries_read: Option<u64>,
    /// The stream's entries-added (7.0+), for "was anything appended".
    pub entries_added: Option<u64>,
}

/// What the server remembers, for status before the window has evidence (the first
/// polls, and one-shot `stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerHints {
    pub consumers: usize,
    /// Time since the most recent consumer activity: `inactive` (7.2+) when the server
    /// has it, else `idle`. None when there are no consumers or they were not read.
    pub last_consumer_activity_ms: Option<u64>,
    /// Age of the stream's last entry id: roughly the time since the last append (for
    /// auto-generated ids).
    pub last_append_age_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    /// One sentence saying why, for the pane and `stats`.
    pub reason: String,
}

fn verdict(status: Status, reason: String) -> Verdict {
    Verdict { status, reason }
}

fn secs(ms: i64) -> String {
    crate::text::duration_secs(u64::try_from(ms / 1000).unwrap_or(0))
}

/// Where the window restarts: just after the newest sample at which the group's position
/// moved without reads — last-delivered-id went backwards, entries-read went down, or lag
/// rose by more than was appended (XGROUP SETID, or a group destroyed and recreated under
/// the same name). 0 when it never moved. Entries-read becoming unknown is not a move on
/// its own: the server forgets it when a group reads past a deleted entry (XDEL), and a
/// SETID that moves back is seen by its id.
pub fn position_moved_at(window: &[GroupSample]) -> usize {
    for i in (1..window.len()).rev() {
        let (a, b) = (&window[i - 1], &window[i]);
        let backwards = b.last_delivered_id < a.last_delivered_id;
        let reset = match (a.entries_read, b.entries_read) {
            (Some(x), Some(y)) => y < x,
            _ => false,
        };
        let appended = match (a.entries_added, b.entries_added) {
            (Some(x), Some(y)) => y.saturating_sub(x),
            _ => 0,
        };
        let jumped = match (a.lag, b.lag) {
            (Some(x), Some(y)) => y > x.saturating_add(appended).saturating_add(1),
            _ => false,
        };
        if backwards || reset || jumped {
            return i;
        }
    }
    0
}

/// The lag that is noise for this window: what one poll appends at most (consumers read
/// in batches, so lag moves by about that much between polls), at least 1. Lag within it
/// is "caught up"; a trend must exceed twice it.
fn noise(window: &[GroupSample]) -> u64 {
    window
        .windows(2)
        .filter_map(|p| Some(p[1].entries_added?.saturating_sub(p[0].entries_added?)))
        .max()
        .unwrap_or(0)
        .max(1)
}

/// Status of a group from its window (oldest first), the previous verdict (hysteresis)
/// and the server's hints. One rule, first match wins:
///
/// - UNKNOWN: no sample, or lag unknown;
/// - NO CONSUMERS: the group has none;
/// - POSITION MOVED: the position moved without reads ([`position_moved_at`]) less than
///   `min_evidence` ago; the window restarts at the move either way;
/// - STALLED: lag > 0 and last-delivered-id unchanged for at least `stall_after` (or,
///   without a window yet, no consumer active for that long);
/// - CAUGHT UP: lag ≤ noise (a poll's appends, ≥ 1); once caught up, it stays so until
///   lag exceeds 3 × noise, so ±1 jitter never flips the label;
/// - FALLING BEHIND: since lag was last within noise, it rose by more than 2 × noise over
///   at least `min_evidence`, in more steps up than down; once falling behind it stays so
///   until lag drops more than 2 × noise below its peak or back within noise;
/// - CATCHING UP otherwise (lag above noise, not growing).
pub fn evaluate(
    window: &[GroupSample],
    hints: &ServerHints,
    config: &HealthConfig,
    previous: Option<Status>,
) -> Verdict {
    let Some(last) = window.last() else {
        return verdict(Status::Unknown, "not polled yet".into());
    };
    let Some(lag_now) = last.lag else {
        return verdict(
            Status::Unknown,
            "lag unknown: the server reported none and it could not be estimated".into(),
        );
    };
    if hints.consumers == 0 {
        let why = if lag_now > 0 {
            format!("lag {lag_now} and nobody reads")
        } else {
            "nothing to read yet".into()
        };
        return verdict(
            Status::NoConsumers,
            format!("the group has no consumers; {why}"),
        );
    }
    let moved = position_moved_at(window);
    let window = &window[moved..];
    let first = window[0];
    let span = last.at_ms - first.at_ms;
    let evidence = span >= ms(config.min_evidence) && span > 0;
    if moved > 0 && !evidence {
        return verdict(
            Status::PositionMoved,
            format!(
                "last-delivered-id is now {} without reads (XGROUP SETID?); lag {lag_now}, \
                 trend known {}s after the move",
                last.last_delivered_id,
                config.min_evidence.as_secs()
            ),
        );
    }
    if let Some(v) = stalled(window, hints, config, evidence) {
        return v;
    }
    let noise = noise(window);
    let caught_up_limit = if previous == Some(Status::CaughtUp) {
        noise * 3
    } else {
        noise
    };
    if lag_now <= caught_up_limit {
        let quiet = evidence
            && match (first.entries_added, last.entries_added) {
                (Some(a), Some(b)) => a == b,
                _ => first.last_delivered_id == last.last_delivered_id,
            };
        let reason = if quiet {
            format!("lag {lag_now}; nothing appended in {}", secs(span))
        } else {
            format!("lag {lag_now}, within one poll's appends ({noise})")
        };
        return verdict(Status::CaughtUp, reason);
    }
    if let Some(v) = falling_behind(window, config, previous, noise) {
        return v;
    }
    if !evidence && previous.is_none() {
        return verdict(
            Status::CatchingUp,
            format!("lag {lag_now}, consumers active; trend known after a few polls"),
        );
    }
    verdict(Status::CatchingUp, format!("lag {lag_now}, not growing"))
}

fn stalled(
    window: &[GroupSample],
    hints: &ServerHints,
    config: &HealthConfig,
    evidence: bool,
) -> Option<Verdict> {
    let last = window.last()?;
    let lag_now = last.lag?;
    if lag_now == 0 {
        return None;
    }
    let stall_ms = ms(config.stall_after);
    // How long last-delivered-id has stood still with lag behind it.
    let stuck_since = window
        .iter()
        .rev()
        .take_while(|s| s.last_delivered_id == last.last_delivered_id && s.lag.unwrap_or(0) > 0)
        .last()
        .map_or(last.at_ms, |s| s.at_ms);
    let stuck_for = last.at_ms - stuck_since;
    if stuck_for >= stall_ms && stuck_for > 0 {
        // Still since before the window's first sample: it says only "at least" (the
        // figure stopped at the window's length, 59s, however long the stall), or what
        // the server remembers where that is longer (no read since the consumers' last
        // activity, so the position has not moved since either).
        let since_window = window.first().is_some_and(|s| s.at_ms == stuck_since);
        let remembered = (hints.last_consumer_activity_ms)
            .and_then(|a| i64::try_from(a).ok())
            .filter(|&a| since_window && a > stuck_for);
        let at_least = if since_window { "at least " } else { "" };
        return Some(verdict(
            Status::Stalled,
            format!(
                "lag {lag_now} and last-delivered-id {} has not moved for {at_least}{}",
                last.last_delivered_id,
                secs(remembered.unwrap_or(stuck_for))
            ),
        ));
    }
    // Not enough history of our own: lean on what the server remembers.
    let activity = hints.last_consumer_activity_ms?;
    (!evidence && activity >= stall_ms.unsigned_abs()).then(|| {
        verdict(
            Status::Stalled,
            format!(
                "lag {lag_now} and no consumer has read for {}",
                secs(i64::try_from(activity).unwrap_or(i64::MAX))
            ),
        )
    })
}

fn falling_behind(
    window: &[GroupSample],
    config: &HealthConfig,
    previous: Option<Status>,
    noise: u64,
) -> Option<Verdict> {
    let last = window.last()?;
    let lag_now = last.lag?;
    // The trend since lag was last within noise: a burst that drained resets it.
    let start = window
        .iter()
        .rposition(|s| s.lag.is_some_and(|l| l <= noise))
        .map_or(0, |i| i + 1);
    let trend: Vec<(i64, u64)> = window[start..]
        .iter()
        .filter_map(|s| Some((s.at_ms, s.lag?)))
        .collect();
    let &(t0, lag_first) = trend.first()?;
    let peak = trend.iter().map(|&(_, l)| l).max().unwrap_or(lag_now);
    if previous == Some(Status::FallingBehind) && lag_now + 2 * noise >= peak {
        return Some(verdict(
            Status::FallingBehind,
            format!("lag {lag_now}, up from {lag_first}; not shrinking"),
        ));
    }
    let (mut rises, mut falls) = (0usize, 0usize);
    for pair in trend.windows(2) {
        if pair[1].1 > pair[0].1 {
            rises += 1;
        } else if pair[1].1 < pair[0].1 {
            falls += 1;
        }
    }
    let grow_span = last.at_ms - t0;
    (grow_span >= ms(config.min_evidence)
        && grow_span > 0
        && lag_now > lag_first + 2 * noise
        && rises > falls)
        .then(|| {
            verdict(
                Status::FallingBehind,
                format!(
                    "lag grew from {lag_first} to {lag_now} in {}",
                    secs(grow_span)
                ),
            )
        })
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Per-second rate of a counter over `(at_ms, value)` samples, oldest first: from the
/// first to the last sample. None with fewer than two samples, no elapsed time, or a
/// counter that went backwards (the stream was deleted and recreated).
pub fn rate(samples: &[(i64, u64)]) -> Option<f64> {
    let (&(t0, v0), &(t1, v1)) = (samples.first()?, samples.last()?);
    if t1 <= t0 || v1 < v0 {
        return None;
    }
    Some((v1 - v0) as f64 * 1000.0 / (t1 - t0) as f64)
}

/// When lag will reach 0 at current rates, or that it will not.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outlook {
    /// No lag.
    CaughtUp,
    /// Consumers read faster than producers append: lag gone in about this long.
    CatchingUp { eta_ms: u64 },
    /// Producers append at least as fast as consumers read (or lag is growing).
    FallingBehind,
    /// Stalled with nothing appended: lag stands still, nobody reads it down.
    NoProgress,
    /// Rates not known yet (fewer than two samples, or entries-read unknown).
    Unknown,
}

/// The outlook follows the status (one rule): caught up, falling behind (also when
/// stalled while entries are appended; no progress when stalled without), or for a group catching up `lag / (consume − append)` when consumers are
/// faster; unknown otherwise (no consumers, position moved, rates not known yet).
pub fn outlook(
    lag: Option<u64>,
    status: Status,
    consume_rate: Option<f64>,
    append_rate: Option<f64>,
) -> Outlook {
    let Some(lag) = lag else {
        return Outlook::Unknown;
    };
    match status {
        Status::CaughtUp => Outlook::CaughtUp,
        Status::FallingBehind => Outlook::FallingBehind,
        // Stalled: lag grows where entries are appended, and stands still where none
        // are ("falling behind" beside a flat lag said what was not happening).
        Status::Stalled => match append_rate {
            Some(a) if a > 0.0 => Outlook::FallingBehind,
            _ => Outlook::NoProgress,
        },
        Status::CatchingUp => match (consume_rate, append_rate) {
            (Some(c), Some(a)) if c > a => {
                let eta_ms = lag as f64 * 1000.0 / (c - a);
                Outlook::CatchingUp {
                    eta_ms: eta_ms.min(u64::MAX as f64) as u64,
                }
            }
            _ => Outlook::Unknown,
        },
        Status::NoConsumers | Status::PositionMoved | Status::Unknown => Outlook::Unknown,
    }
}

/// A consumer is flagged when it holds pending entries and has been idle far longer
/// than its peers: activity age over [`FLAG_MIN_IDLE_MS`] and over
/// [`FLAG_PEER_FACTOR`] × the median of the *other* consumers' activity ages (the lower
/// middle value for an even count). A lone consumer has no peers and is never flagged:
/// the group's STALLED status covers it. Input: `(pending, activity_age_ms)` per consumer.
pub fn flag_idle_consumers(consumers: &[(u64, u64)]) -> Vec<bool> {
    if consumers.len() < 2 {
        return vec![false; consumers.len()];
    }
    let mut sorted: Vec<u64> = consumers.iter().map(|&(_, age)| age).collect();
    sorted.sort_unstable();
    // Median of the others: drop one copy of this consumer's own age from the sorted list.
    let peers = sorted.len() - 1;
    let k = (peers - 1) / 2;
    consumers
        .iter()
        .map(|&(pending, age)| {
            let own = sorted.partition_point(|&a| a < age);
            let median = if k < own { sorted[k] } else { sorted[k + 1] };
            pending > 0 && age > FLAG_MIN_IDLE_MS && age > median.saturating_mul(FLAG_PEER_FACTOR)
        })
        .collect()
}

/// See [`flag_idle_consumers`].
pub const FLAG_MIN_IDLE_MS: u64 = 30_000;
/// See [`flag_idle_consumers`].
pub const FLAG_PEER_FACTOR: u64 = 5;

/// Health of one group, as computed from the window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupHealth {
    pub status: Status,
    pub reason: String,
    /// Entries read per second (entries-read deltas); None until two samples, or when the
    /// server does not report entries-read.
    pub consume_rate: Option<f64>,
    pub outlook: Outlook,
    /// Lag per sample over the window, oldest first, for a sparkline (unknown lag as 0).
    pub lag_series: Vec<u64>,
    /// Pending entries per sample over the window, oldest first.
    pub pending_series: Vec<u64>,
}

impl Default for GroupHealth {
    fn default() -> Self {
        GroupHealth {
            status: Status::Unknown,
            reason: "not evaluated".into(),
            consume_rate: None,
            outlook: Outlook::Unknown,
            lag_series: Vec::new(),
            pending_series: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HealthConfig {
        HealthConfig::default()
    }

    fn s(at_s: i64, lag: u64, ld: u64, added: u64) -> GroupSample {
        GroupSample {
            at_ms: at_s * 1000,
            lag: Some(lag),
            pending: 0,
            last_delivered_id: StreamId::new(ld, 0),
            entries_read: Some(added - lag),
            entries_added: Some(added),
        }
    }

    fn active() -> ServerHints {
        ServerHints {
            consumers: 2,
            last_consumer_activity_ms: Some(100),
            last_append_age_ms: Some(100),
        }
    }

    /// Evaluate a growing window sample by sample, as the tracker does (with the
    /// previous verdict), and return every verdict.
    fn run(samples: &[GroupSample], hints: &ServerHints) -> Vec<Verdict> {
        let mut previous = None;
        (1..=samples.len())
            .map(|n| {
                let v = evaluate(&samples[..n], hints, &cfg(), previous);
                previous = Some(v.status);
                v
            })
            .collect()
    }

    fn statuses(verdicts: &[Verdict]) -> Vec<Status> {
        verdicts.iter().map(|v| v.status).collect()
    }

    #[test]
    fn stalled_when_position_stands_still_with_lag() {
        let w = [s(0, 5, 10, 15), s(20, 8, 10, 18), s(40, 9, 10, 19)];
        let v = evaluate(&w, &active(), &cfg(), None);
        assert_eq!(v.status, Status::Stalled, "{v:?}");
        // Still since the window's first sample: no more than "at least" is known…
        assert!(
            v.reason.ends_with("has not moved for at least 40s"),
            "{v:?}"
        );
        // …unless the server remembers longer: no consumer has read for 9min22s.
        let asleep = ServerHints {
            last_consumer_activity_ms: Some(562_000),
            ..active()
        };
        let v = evaluate(&w, &asleep, &cfg(), None);
        assert!(
            v.reason.ends_with("has not moved for at least 9min22s"),
            "{v:?}"
        );
        // Moved after the window's first sample: how long is known.
        let w = [s(0, 5, 9, 15), s(10, 8, 10, 18), s(50, 9, 10, 19)];
        let v = evaluate(&w, &asleep, &cfg(), None);
        assert_eq!(v.status, Status::Stalled, "{v:?}");
        assert!(v.reason.ends_with("has not moved for 40s"), "{v:?}");
        // Standing still for less than stall_after is not (yet) a stall.
        let w = [s(0, 5, 9, 15), s(20, 8, 10, 18), s(40, 9, 10, 19)];
        assert_ne!(
            evaluate(&w, &active(), &cfg(), None).status,
            Status::Stalled
        );
    }

    #[test]
    fn plus_minus_one_noise_never_flips_the_label() {
        // Lag 0,1,0,1,… for a minute at one poll a second, one append a poll: the
        // consume rate equals the append rate. Always caught up.
        let w: Vec<GroupSample> = (0..60u64)
            .map(|i| {
                let added = 100 + i + i % 2;
                s(i as i64, i % 2, added - i % 2, added)
            })
            .collect();
        let all = statuses(&run(&w, &active()));
        assert!(all.iter().all(|&st| st == Status::CaughtUp), "{all:?}");
        // Lag 3,4,3,4 with two appends a poll: above the noise, never growing: one label.
        let w: Vec<GroupSample> = (0..60u64)
            .map(|i| {
                let added = 100 + 2 * i;
                s(i as i64, 3 + i % 2, added - 3 - i % 2, added)
            })
            .collect();
        let all = statuses(&run(&w, &active()));
        assert!(all.iter().all(|&st| st == Status::CatchingUp), "{all:?}");
        // Caught up stays caught up through a blip of up to 3 × noise.
        let mut w: Vec<GroupSample> = (0..20u64)
            .map(|i| s(i as i64, 0, 100 + i, 100 + i))
            .collect();
        w.push(s(20, 2, 119, 121));
        w.push(s(21, 3, 119, 122));
        w.push(s(22, 0, 123, 123));
        let all = statuses(&run(&w, &active()));
        assert!(all.iter().all(|&st| st == Status::CaughtUp), "{all:?}");
    }

    #[test]
    fn falling_behind_needs_growth_and_holds_until_lag_shrinks() {
        // Three appends a poll, one read: lag grows by 2 a poll.
        let mut w: Vec<GroupSample> = (0..16u64)
            .map(|i| s(i as i64, 2 * i, 100 + i, 100 + 3 * i))
            .collect();
        // Then consumers keep pace at lag 30 for a while, then drain to 10.
        for i in 16..22u64 {
            w.push(s(i as i64, 30, 100 + i, 100 + 3 * i));
        }
        w.push(s(22, 10, 200, 166));
        let verdicts = run(&w, &active());
        let all = statuses(&verdicts);
        assert_eq!(all[1], Status::CaughtUp, "{all:?}");
        // Growth from lag 4 (the first above noise, t=2) lasts 10 s at t=12.
        assert_eq!(all[11], Status::CatchingUp, "{all:?}");
        assert_eq!(all[12], Status::FallingBehind, "{verdicts:?}");
        assert!(
            verdicts[12].reason.contains("from 4 to 24 in 10s"),
            "{verdicts:?}"
        );
        // Holding at 30 is not shrinking: the label holds.
        assert!(
            all[13..22].iter().all(|&st| st == Status::FallingBehind),
            "{all:?}"
        );
        assert_eq!(all[22], Status::CatchingUp, "{all:?}");
    }

    #[test]
    fn a_group_without_consumers_says_so_whatever_the_lag() {
        let none = ServerHints {
            consumers: 0,
            ..active()
        };
        for w in [
            vec![s(0, 4, 10, 14)],
            vec![s(0, 0, 10, 10), s(30, 0, 10, 10)],
        ] {
            let v = evaluate(&w, &none, &cfg(), Some(Status::CaughtUp));
            assert_eq!(v.status, Status::NoConsumers, "{v:?}");
            assert_eq!(
                outlook(w[0].lag, v.status, Some(0.0), Some(0.0)),
                Outlook::Unknown
            );
        }
    }

    #[test]
    fn a_setid_shows_position_moved_until_there_is_evidence() {
        // Lag 5, steady, one append and one read a poll.
        let mut w: Vec<GroupSample> = (0..12u64)
            .map(|i| s(i as i64, 5, 95 + i, 100 + i))
            .collect();
        // XGROUP SETID back 45 entries: last-delivered-id goes backwards, lag 5 → 50,
        // entries-read unknown.
        let mut moved = s(12, 50, 62, 112);
        moved.entries_read = None;
        w.push(moved);
        // Then consumers read 3 a poll while 1 is appended.
        for i in 13..30u64 {
            let lag = 50 - 2 * (i - 12);
            w.push(s(i as i64, lag, 112 + (i - 12) - lag, 100 + i));
        }
        let verdicts = run(&w, &active());
        let all = statuses(&verdicts);
        assert_eq!(all[11], Status::CatchingUp, "{verdicts:?}");
        assert_eq!(all[12], Status::PositionMoved, "{verdicts:?}");
        assert!(
            verdicts[12].reason.contains("without reads"),
            "{verdicts:?}"
        );
        assert!(
            all[12..22].iter().all(|&st| st == Status::PositionMoved),
            "{all:?}"
        );
        // 10 s after the move the new window has evidence: catching up (never "OK —
        // lag 50, not growing" from the old window).
        assert_eq!(all[22], Status::CatchingUp, "{verdicts:?}");
        assert_eq!(position_moved_at(&w), 12);
        // Entries-read forgotten while the group reads on (it read past an XDEL'd
        // entry): not a move.
        let mut w: Vec<GroupSample> = (0..4u64).map(|i| s(i as i64, 5, 95 + i, 100 + i)).collect();
        for sample in &mut w[2..] {
            (sample.entries_read, sample.lag) = (None, None);
        }
        assert_eq!(position_moved_at(&w), 0);
        // Destroyed and recreated at 0: entries-read goes down, the lag jumps.
        let w = [s(0, 0, 10, 10), s(1, 10, 0, 10)];
        assert_eq!(position_moved_at(&w), 1);
        assert_eq!(position_moved_at(&w[..1]), 0);
    }

    #[test]
    fn single_sample_uses_server_hints() {
        let one = [s(0, 4, 10, 14)];
        let asleep = ServerHints {
            last_consumer_activity_ms: Some(31_000),
            ..active()
        };
        let v = evaluate(&one, &asleep, &cfg(), None);
        assert_eq!(v.status, Status::Stalled);
        assert!(v.reason.contains("no consumer has read for 31s"), "{v:?}");
        assert_eq!(
            evaluate(&one, &active(), &cfg(), None).status,
            Status::CatchingUp
        );
        assert_eq!(
            evaluate(&[s(0, 0, 10, 10)], &active(), &cfg(), None).status,
            Status::CaughtUp
        );
        // Nothing appended for the window: caught up, and the reason says why.
        let w = [s(0, 0, 10, 10), s(15, 0, 10, 10)];
        let v = evaluate(&w, &active(), &cfg(), None);
        assert_eq!(v.status, Status::CaughtUp);
        assert!(v.reason.contains("nothing appended in 15s"), "{v:?}");
        let mut unknown = s(0, 0, 10, 10);
        unknown.lag = None;
        assert_eq!(
            evaluate(&[unknown], &active(), &cfg(), None).status,
            Status::Unknown
        );
        assert_eq!(
            evaluate(&[], &active(), &cfg(), None).status,
            Status::Unknown
        );
    }

    #[test]
    fn rates_and_outlook() {
        assert_eq!(rate(&[(0, 10), (2000, 30)]), Some(10.0));
        assert_eq!(rate(&[(0, 10)]), None);
        assert_eq!(rate(&[(0, 10), (1000, 5)]), None);
        assert_eq!(rate(&[(1000, 10), (1000, 12)]), None);
        assert_eq!(
            outlook(Some(100), Status::CatchingUp, Some(30.0), Some(10.0)),
            Outlook::CatchingUp { eta_ms: 5000 }
        );
        // Equal rates while catching up: no ETA, and not "falling behind" either.
        assert_eq!(
            outlook(Some(100), Status::CatchingUp, Some(10.0), Some(10.0)),
            Outlook::Unknown
        );
        assert_eq!(
            outlook(Some(100), Status::FallingBehind, Some(30.0), Some(10.0)),
            Outlook::FallingBehind
        );
        // Lag 1 with equal rates is caught up, like lag 0: the outlook follows the status.
        assert_eq!(
            outlook(Some(1), Status::CaughtUp, Some(5.0), Some(5.0)),
            Outlook::CaughtUp
        );
        assert_eq!(
            outlook(Some(50), Status::PositionMoved, Some(5.0), Some(1.0)),
            Outlook::Unknown
        );
        // Stalled: lag grows where entries are appended, stands still where none are.
        assert_eq!(
            outlook(Some(42), Status::Stalled, Some(0.0), Some(2.0)),
            Outlook::FallingBehind
        );
        for append in [Some(0.0), None] {
            assert_eq!(
                outlook(Some(42), Status::Stalled, Some(0.0), append),
                Outlook::NoProgress
            );
        }
    }

    #[test]
    fn flags_only_consumers_idle_far_beyond_their_peers_with_pending() {
        // c holds entries and has been idle 10 min while peers read within a second.
        let flags = flag_idle_consumers(&[(1, 500), (0, 800), (3, 600_000)]);
        assert_eq!(flags, vec![false, false, true]);
        // Same idleness without pending entries: nothing stuck, not flagged.
        assert_eq!(
            flag_idle_consumers(&[(1, 500), (0, 800), (0, 600_000)]),
            vec![false; 3]
        );
        // Everyone equally idle: nobody stands out.
        assert_eq!(
            flag_idle_consumers(&[(1, 600_000), (1, 600_000)]),
            vec![false; 2]
        );
        // Under the absolute floor.
        assert_eq!(flag_idle_consumers(&[(1, 0), (1, 20_000)]), vec![false; 2]);
        assert_eq!(flag_idle_consumers(&[(1, 900_000)]), vec![false]);
        assert!(flag_idle_consumers(&[]).is_empty());
        // The peer median excludes the consumer itself, so two stuck consumers among
        // three healthy ones are both flagged.
        let flags = flag_idle_consumers(&[(1, 100), (1, 200), (1, 300), (1, 90_000), (1, 95_000)]);
        assert_eq!(flags, vec![false, false, false, true, true]);
    }
}
