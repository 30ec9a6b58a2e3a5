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

/// What a group is doing, from the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Consumers keep up, or lag is shrinking.
    Ok,
    /// Lag grew over the window while consumers still read: falling behind.
    Lagging,
    /// Lag > 0 and last-delivered-id has not moved: nobody reads new entries.
    Stalled,
    /// No lag and nothing appended: no traffic.
    Idle,
    /// Lag could not be determined (not even estimated).
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Lagging => "LAGGING",
            Status::Stalled => "STALLED",
            Status::Idle => "IDLE",
            Status::Unknown => "UNKNOWN",
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
    format!("{}s", ms.max(0) / 1000)
}

/// Status of a group from its window (oldest first). Rules, first match wins:
///
/// With evidence (samples span ≥ `min_evidence`):
/// - STALLED: lag > 0 and last-delivered-id unchanged (with lag all along) for at least
///   `stall_after`;
/// - LAGGING: lag > 0 now, never 0 in the window, higher than at the window's start, and
///   it rose in more steps than it fell;
/// - IDLE: lag 0 throughout, nothing appended (entries-added unchanged, or where the
///   server lacks it, last-delivered-id unchanged);
/// - OK otherwise.
///
/// Without evidence, from [`ServerHints`]: lag > 0 with no consumers, or no consumer
/// active for `stall_after` → STALLED; lag 0 and the last entry older than `window` →
/// IDLE; otherwise OK (trend not known yet).
pub fn evaluate(window: &[GroupSample], hints: &ServerHints, config: &HealthConfig) -> Verdict {
    let Some(last) = window.last() else {
        return verdict(Status::Unknown, "not polled yet".into());
    };
    let Some(lag_now) = last.lag else {
        return verdict(
            Status::Unknown,
            "lag unknown: the server reported none and it could not be estimated".into(),
        );
    };
    let stall_ms = ms(config.stall_after);
    let first = window[0];
    let span = last.at_ms - first.at_ms;

    // How long last-delivered-id has stood still with lag behind it.
    let stuck_since = window
        .iter()
        .rev()
        .take_while(|s| s.last_delivered_id == last.last_delivered_id && s.lag.unwrap_or(0) > 0)
        .last()
        .map_or(last.at_ms, |s| s.at_ms);
    let stuck_for = last.at_ms - stuck_since;
    if lag_now > 0 && stuck_for >= stall_ms && stuck_for > 0 {
        return verdict(
            Status::Stalled,
            format!(
                "lag {lag_now} and last-delivered-id {} has not moved for {}",
                last.last_delivered_id,
                secs(stuck_for)
            ),
        );
    }

    // The trend since lag was last 0: a burst that drained resets it, and a group that
    // starts caught up and then falls behind is LAGGING once the growth itself has lasted
    // `min_evidence` (not only once its caught-up start has left the window).
    let since_zero: Vec<&GroupSample> = window
        .iter()
        .rev()
        .take_while(|s| s.lag.is_some_and(|l| l > 0))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if let Some(start) = since_zero.first() {
        let grow_span = last.at_ms - start.at_ms;
        let lags: Vec<u64> = since_zero.iter().filter_map(|s| s.lag).collect();
        let (mut rises, mut falls) = (0usize, 0usize);
        for pair in lags.windows(2) {
            if pair[1] > pair[0] {
                rises += 1;
            } else if pair[1] < pair[0] {
                falls += 1;
            }
        }
        let lag_first = lags.first().copied().unwrap_or(lag_now);
        if grow_span >= ms(config.min_evidence)
            && grow_span > 0
            && lag_now > lag_first
            && rises > falls
        {
            return verdict(
                Status::Lagging,
                format!(
                    "lag grew from {lag_first} to {lag_now} in {}",
                    secs(grow_span)
                ),
            );
        }
    }

    if span >= ms(config.min_evidence) && span > 0 {
        let no_lag = window.iter().all(|s| s.lag == Some(0));
        let no_appends = match (first.entries_added, last.entries_added) {
            (Some(a), Some(b)) => a == b,
            _ => first.last_delivered_id == last.last_delivered_id,
        };
        if no_lag && no_appends {
            return verdict(
                Status::Idle,
                format!("no lag and nothing appended in {}", secs(span)),
            );
        }
        return verdict(Status::Ok, ok_reason(lag_now));
    }

    // Not enough history of our own: lean on what the server remembers.
    if lag_now > 0 {
        if hints.consumers == 0 {
            return verdict(
                Status::Stalled,
                format!("lag {lag_now} and the group has no consumers"),
            );
        }
        if let Some(activity) = hints.last_consumer_activity_ms {
            if activity >= stall_ms.unsigned_abs() {
                return verdict(
                    Status::Stalled,
                    format!(
                        "lag {lag_now} and no consumer has read for {}",
                        secs(i64::try_from(activity).unwrap_or(i64::MAX))
                    ),
                );
            }
        }
        return verdict(
            Status::Ok,
            format!("lag {lag_now}, consumers active; trend known after a few polls"),
        );
    }
    if let Some(age) = hints.last_append_age_ms {
        if age >= ms(config.window).unsigned_abs() {
            return verdict(
                Status::Idle,
                format!(
                    "no lag and the last entry is {} old",
                    secs(i64::try_from(age).unwrap_or(i64::MAX))
                ),
            );
        }
    }
    verdict(Status::Ok, ok_reason(0))
}

fn ok_reason(lag: u64) -> String {
    if lag == 0 {
        "consumers are caught up".into()
    } else {
        format!("lag {lag}, not growing")
    }
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
    /// Rates not known yet (fewer than two samples, or entries-read unknown).
    Unknown,
}

/// `lag / (consume − append)` when consumers are faster; "falling behind" when the
/// status says lag grows or appends outpace reads.
pub fn outlook(
    lag: Option<u64>,
    status: Status,
    consume_rate: Option<f64>,
    append_rate: Option<f64>,
) -> Outlook {
    let Some(lag) = lag else {
        return Outlook::Unknown;
    };
    if lag == 0 {
        return Outlook::CaughtUp;
    }
    if matches!(status, Status::Lagging | Status::Stalled) {
        return Outlook::FallingBehind;
    }
    match (consume_rate, append_rate) {
        (Some(c), Some(a)) if c > a => {
            let eta_ms = lag as f64 * 1000.0 / (c - a);
            Outlook::CatchingUp {
                eta_ms: eta_ms.min(u64::MAX as f64) as u64,
            }
        }
        (Some(_), Some(_)) => Outlook::FallingBehind,
        _ => Outlook::Unknown,
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

    #[test]
    fn stalled_when_position_stands_still_with_lag() {
        let w = [s(0, 5, 10, 15), s(20, 8, 10, 18), s(40, 9, 10, 19)];
        let v = evaluate(&w, &active(), &cfg());
        assert_eq!(v.status, Status::Stalled, "{v:?}");
        assert!(v.reason.contains("has not moved for 40s"), "{v:?}");
        // Standing still for less than stall_after is not (yet) a stall.
        let w = [s(0, 5, 9, 15), s(20, 8, 10, 18), s(40, 9, 10, 19)];
        assert_ne!(evaluate(&w, &active(), &cfg()).status, Status::Stalled);
    }

    #[test]
    fn lagging_when_lag_grows_while_consumers_read() {
        let w = [s(0, 5, 10, 15), s(10, 7, 12, 19), s(20, 12, 14, 26)];
        let v = evaluate(&w, &active(), &cfg());
        assert_eq!(v.status, Status::Lagging, "{v:?}");
        assert!(v.reason.contains("from 5 to 12"), "{v:?}");
        // One spike that then shrinks is not lagging.
        let w = [
            s(0, 5, 10, 15),
            s(10, 40, 12, 52),
            s(15, 30, 22, 52),
            s(20, 6, 46, 52),
        ];
        assert_eq!(evaluate(&w, &active(), &cfg()).status, Status::Ok);
        // Lag that went back to 0 was a burst, not falling behind: the trend restarts.
        let w = [
            s(0, 0, 10, 10),
            s(10, 3, 12, 15),
            s(20, 9, 14, 23),
            s(25, 0, 23, 23),
            s(30, 2, 23, 25),
        ];
        assert_eq!(evaluate(&w, &active(), &cfg()).status, Status::Ok);
        // A group that started caught up and then fell behind: LAGGING once the growth
        // has lasted min_evidence, though the window still holds the lag-0 start.
        let w = [
            s(0, 0, 10, 10),
            s(5, 0, 10, 10),
            s(8, 3, 10, 13),
            s(13, 6, 12, 18),
            s(18, 9, 14, 23),
        ];
        let v = evaluate(&w, &active(), &cfg());
        assert_eq!(v.status, Status::Lagging, "{v:?}");
        assert!(v.reason.contains("from 3 to 9 in 10s"), "{v:?}");
        // …but not before.
        assert_eq!(evaluate(&w[..4], &active(), &cfg()).status, Status::Ok);
    }

    #[test]
    fn idle_when_no_lag_and_no_appends() {
        let w = [s(0, 0, 10, 10), s(15, 0, 10, 10)];
        assert_eq!(evaluate(&w, &active(), &cfg()).status, Status::Idle);
        let w = [s(0, 0, 10, 10), s(15, 0, 11, 11)];
        assert_eq!(evaluate(&w, &active(), &cfg()).status, Status::Ok);
        // Too short a window for a trend: falls back to hints.
        let w = [s(0, 0, 10, 10), s(2, 0, 10, 10)];
        assert_eq!(evaluate(&w, &active(), &cfg()).status, Status::Ok);
    }

    #[test]
    fn single_sample_uses_server_hints() {
        let one = [s(0, 4, 10, 14)];
        let none = ServerHints {
            consumers: 0,
            ..active()
        };
        assert_eq!(evaluate(&one, &none, &cfg()).status, Status::Stalled);
        let asleep = ServerHints {
            last_consumer_activity_ms: Some(31_000),
            ..active()
        };
        let v = evaluate(&one, &asleep, &cfg());
        assert_eq!(v.status, Status::Stalled);
        assert!(v.reason.contains("no consumer has read for 31s"), "{v:?}");
        assert_eq!(evaluate(&one, &active(), &cfg()).status, Status::Ok);
        let quiet = ServerHints {
            last_append_age_ms: Some(61_000),
            ..active()
        };
        assert_eq!(
            evaluate(&[s(0, 0, 10, 10)], &quiet, &cfg()).status,
            Status::Idle
        );
        assert_eq!(
            evaluate(&[s(0, 0, 10, 10)], &active(), &cfg()).status,
            Status::Ok
        );
        let mut unknown = s(0, 0, 10, 10);
        unknown.lag = None;
        assert_eq!(
            evaluate(&[unknown], &active(), &cfg()).status,
            Status::Unknown
        );
        assert_eq!(evaluate(&[], &active(), &cfg()).status, Status::Unknown);
    }

    #[test]
    fn rates_and_outlook() {
        assert_eq!(rate(&[(0, 10), (2000, 30)]), Some(10.0));
        assert_eq!(rate(&[(0, 10)]), None);
        assert_eq!(rate(&[(0, 10), (1000, 5)]), None);
        assert_eq!(rate(&[(1000, 10), (1000, 12)]), None);
        assert_eq!(
            outlook(Some(100), Status::Ok, Some(30.0), Some(10.0)),
            Outlook::CatchingUp { eta_ms: 5000 }
        );
        assert_eq!(
            outlook(Some(100), Status::Ok, Some(10.0), Some(30.0)),
            Outlook::FallingBehind
        );
        assert_eq!(
            outlook(Some(100), Status::Lagging, Some(30.0), Some(10.0)),
            Outlook::FallingBehind
        );
        assert_eq!(
            outlook(Some(0), Status::Idle, None, None),
            Outlook::CaughtUp
        );
        assert_eq!(
            outlook(Some(3), Status::Ok, None, Some(1.0)),
            Outlook::Unknown
        );
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
