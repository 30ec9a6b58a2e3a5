//! Lag when the server gives none, and time lag. XINFO GROUPS reports `lag` as nil when
//! entries in the unread range were deleted or trimmed, or after XGROUP SETID. We never
//! show that as 0 or blank: ids alone often give an exact answer (empty stream, nothing
//! after last-delivered-id, everything after it); otherwise a bounded XRANGE counts up to
//! [`LAG_COUNT_LIMIT`] entries, and beyond that the figure is an estimate that says so.
//!
//! Time lag is the age of the first entry after last-delivered-id, from its id.

use super::info;
use super::{GroupHealth, GroupInfo, LagEstimate, LagMethod, StreamId, StreamInfo};

/// A nil lag is counted exactly up to this many entries (XRANGE … COUNT limit+1); beyond
/// it, it is estimated. This bounds what one group costs the server and the wire.
pub const LAG_COUNT_LIMIT: usize = 1000;

/// A group from XINFO GROUPS, with everything that can be known without another round:
/// exact lag estimates from ids alone, and time lag when the oldest undelivered entry is
/// the stream's first entry.
pub(crate) fn group_info(
    raw: info::RawGroup,
    stream: &StreamInfo,
    server_time_ms: i64,
) -> GroupInfo {
    let ld = raw.last_delivered_id;
    let mut group = GroupInfo {
        name: raw.name,
        consumers: raw.consumers,
        pending: raw.pending,
        last_delivered_id: ld,
        entries_read: raw.entries_read,
        reported_lag: raw.lag,
        lag_estimate: None,
        oldest_undelivered_id: None,
        time_lag_ms: None,
        consumer_list: Vec::new(),
        consumers_error: None,
        health: GroupHealth::default(),
    };
    let nothing_after = stream.last_entry_id.is_none_or(|last| last <= ld);
    let all_after = stream.first_entry_id.filter(|&first| first > ld);
    if group.lag().is_none() {
        let exact = |value, method| LagEstimate {
            value,
            exact: true,
            method,
        };
        group.lag_estimate = if stream.length == 0 {
            Some(exact(0, LagMethod::EmptyStream))
        } else if nothing_after {
            Some(exact(0, LagMethod::NothingAfter))
        } else if all_after.is_some() {
            Some(exact(stream.length, LagMethod::StreamLength))
        } else {
            // Counted in round 2.
            None
        };
    }
    match group.effective_lag() {
        Some(0) => group.time_lag_ms = Some(0),
        Some(_) | None => {
            if let Some(first) = all_after {
                group.oldest_undelivered_id = Some(first);
                group.time_lag_ms = Some(first.age_ms(server_time_ms));
            } else if nothing_after {
                group.time_lag_ms = Some(0);
            }
        }
    }
    group
}

/// The XRANGE COUNT round 2 needs for this group, if any: a bounded count when lag is
/// unknown, else one entry for the time lag.
pub(crate) fn undelivered_query(stream: &StreamInfo, group: &GroupInfo) -> Option<usize> {
    if group.lag_estimate.is_none() && group.lag().is_none() {
        return Some(LAG_COUNT_LIMIT + 1);
    }
    if group.oldest_undelivered_id.is_none() && group.effective_lag().is_some_and(|n| n > 0) {
        // Entries after last-delivered-id exist, but the first of them is not the
        // stream's first entry: fetch it for its id.
        return (stream.length > 0).then_some(1);
    }
    None
}

/// Lag from a bounded XRANGE that returned `counted` entries (asked for limit + 1).
pub(crate) fn estimate_from_count(
    counted: usize,
    group: &GroupInfo,
    entries_added: Option<u64>,
    length: u64,
    first_id: Option<StreamId>,
    last_id: Option<StreamId>,
) -> LagEstimate {
    let counted = u64::try_from(counted).unwrap_or(u64::MAX);
    let limit = u64::try_from(LAG_COUNT_LIMIT).unwrap_or(u64::MAX);
    if counted <= limit {
        return LagEstimate {
            value: counted,
            exact: true,
            method: LagMethod::XrangeCount,
        };
    }
    // More than the limit: at least limit + 1, at most the whole stream.
    let floor = limit + 1;
    let ceiling = length.max(floor);
    let (value, method) = match (entries_added, group.entries_read) {
        (Some(added), Some(read)) if added >= read => {
            (added - read, LagMethod::EntriesAddedMinusEntriesRead)
        }
        _ => {
            let share = match (first_id, last_id) {
                (Some(first), Some(last)) if last.ms > first.ms => {
                    let after = last.ms.saturating_sub(group.last_delivered_id.ms);
                    after as f64 / (last.ms - first.ms) as f64
                }
                _ => 0.5,
            };
            (
                (length as f64 * share.clamp(0.0, 1.0)).round() as u64,
                LagMethod::IdInterpolation,
            )
        }
    };
    LagEstimate {
        value: value.clamp(floor, ceiling),
        exact: false,
        method,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::streams::info::RawStream;
    use crate::redis::streams::poll::stream_info;
    use crate::redis::streams::ReportedLag;
    use bytes::Bytes;

    fn stream(length: u64, first: Option<(u64, u64)>, last: Option<(u64, u64)>) -> StreamInfo {
        let id = |p: Option<(u64, u64)>| p.map(|(ms, seq)| StreamId::new(ms, seq));
        stream_info(
            Bytes::from_static(b"s"),
            RawStream {
                length,
                last_generated_id: id(last).unwrap_or_default(),
                first_entry_id: id(first),
                last_entry_id: id(last),
                entries_added: Some(length + 10),
                ..Default::default()
            },
        )
    }

    fn raw(ld: u64, lag: ReportedLag) -> info::RawGroup {
        info::RawGroup {
            name: Bytes::from_static(b"g"),
            consumers: 1,
            pending: 0,
            last_delivered_id: StreamId::new(ld, 0),
            entries_read: Some(3),
            lag,
        }
    }

    #[test]
    fn nil_lag_is_exact_from_ids_when_it_can_be() {
        let s = stream(0, None, None);
        let g = group_info(raw(5, ReportedLag::Nil), &s, 0);
        assert_eq!(g.lag_estimate.map(|e| (e.value, e.exact)), Some((0, true)));
        assert_eq!(undelivered_query(&s, &g), None);

        let s = stream(7, Some((10, 0)), Some((20, 0)));
        let g = group_info(raw(5, ReportedLag::Nil), &s, 25);
        let e = g.lag_estimate.unwrap();
        assert_eq!(
            (e.value, e.exact, e.method),
            (7, true, LagMethod::StreamLength)
        );
        assert_eq!(g.oldest_undelivered_id, Some(StreamId::new(10, 0)));
        assert_eq!(g.time_lag_ms, Some(15));

        let g = group_info(raw(20, ReportedLag::Nil), &s, 25);
        assert_eq!(g.lag_estimate.unwrap().method, LagMethod::NothingAfter);
        assert_eq!(g.time_lag_ms, Some(0));

        let g = group_info(raw(15, ReportedLag::Nil), &s, 25);
        assert_eq!(g.lag_estimate, None);
        assert_eq!(undelivered_query(&s, &g), Some(LAG_COUNT_LIMIT + 1));
    }

    #[test]
    fn known_lag_asks_only_for_the_first_undelivered_entry() {
        let s = stream(7, Some((10, 0)), Some((20, 0)));
        let g = group_info(raw(15, ReportedLag::Known(3)), &s, 25);
        assert_eq!(undelivered_query(&s, &g), Some(1));
        let g = group_info(raw(20, ReportedLag::Known(0)), &s, 25);
        assert_eq!(undelivered_query(&s, &g), None);
        assert_eq!(g.time_lag_ms, Some(0));
        let g = group_info(raw(5, ReportedLag::Known(7)), &s, 25);
        assert_eq!(undelivered_query(&s, &g), None);
        assert_eq!(g.time_lag_ms, Some(15));
    }

    #[test]
    fn counts_beyond_the_limit_are_estimates_within_bounds() {
        let s = stream(5000, Some((0, 0)), Some((1000, 0)));
        let mut g = group_info(raw(500, ReportedLag::Nil), &s, 0);
        // A count of `n` (the limit is 1000) on a stream that has had 5010 entries added.
        let estimate = |n, g: &GroupInfo| {
            estimate_from_count(n, g, Some(5010), 5000, s.first_entry_id, s.last_entry_id)
        };
        let e = estimate(12, &g);
        assert_eq!(
            (e.value, e.exact, e.method),
            (12, true, LagMethod::XrangeCount)
        );
        let e = estimate(1001, &g);
        assert_eq!(e.method, LagMethod::EntriesAddedMinusEntriesRead);
        // 5010 − 3 is more than the stream holds: capped at its length.
        assert_eq!((e.value, e.exact), (5000, false));
        g.entries_read = None;
        let e = estimate(1001, &g);
        assert_eq!((e.value, e.method), (2500, LagMethod::IdInterpolation));
        g.last_delivered_id = StreamId::new(990, 0);
        let e = estimate(1001, &g);
        assert_eq!(e.value, 1001, "never below what was counted");
    }
}
