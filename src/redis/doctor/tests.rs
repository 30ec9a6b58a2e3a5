//! Findings over synthetic snapshots: thresholds, severities, fixes.

use super::*;
use crate::redis::streams::fixtures::{consumer, group, pending_row as row, stream};
use crate::redis::streams::{LagEstimate, LagMethod};

fn run(snap: &StreamsSnapshot, details: &PendingDetails) -> Vec<Finding> {
    let config = DoctorConfig {
        poison_deliveries: 5,
        zombie_after_ms: 60_000,
    };
    findings(
        snap,
        &Context {
            config: &config,
            details,
            command: "redtail",
            single_poll: true,
        },
    )
}

#[test]
fn poison_dangling_and_zombie_come_from_the_pending_rows() {
    let g = group(
        "g",
        vec![
            // inactive (7.2+) wins over idle: a blocked XREADGROUP resets idle only.
            consumer("stuck", 3, 10, Some(120_000)),
            consumer("live", 1, 5, Some(500)),
            consumer("idle-but-empty", 0, 900_000, None),
        ],
        ReportedLag::Known(0),
    );
    let snap = snapshot(vec![g]);
    let mut details = PendingDetails::new();
    details.insert(
        (Bytes::from_static(b"q"), Bytes::from_static(b"g")),
        Ok(GroupPending {
            rows: vec![
                row(10, "stuck", 130_000, 5),
                row(11, "stuck", 125_000, 9),
                row(12, "stuck", 121_000, 1),
                row(13, "live", 100, 4),
            ],
            deleted: vec![StreamId { ms: 11, seq: 0 }],
            truncated: false,
        }),
    );
    let found = run(&snap, &details);
    let kinds: Vec<_> = found.iter().map(|f| (f.severity, f.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (Severity::Critical, Kind::Poison),
            (Severity::Warning, Kind::Dangling),
            (Severity::Warning, Kind::Zombie),
        ]
    );
    // 5 deliveries reaches the threshold; the deleted entry is dangling, not poison.
    assert_eq!(found[0].ids, vec![StreamId { ms: 10, seq: 0 }]);
    assert_eq!(found[0].fix, "redtail dead-letter q g 10-0");
    assert_eq!(found[1].fix, "redtail ack q g 11-0");
    let zombie = &found[2];
    assert_eq!(zombie.consumer.as_deref(), Some(&b"stuck"[..]));
    assert!(
        zombie.evidence.contains("inactive for 2min00s"),
        "{}",
        zombie.evidence
    );
    // To the most recently active consumer; the guard is the smallest idle listed.
    assert_eq!(
        zombie.fix,
        "redtail claim q g live --min-idle 121000 10-0 12-0"
    );
}

#[test]
fn group_level_findings_and_what_is_not_one() {
    let mut nil = group("nil", vec![consumer("c", 0, 1, None)], ReportedLag::Nil);
    nil.lag_estimate = Some(LagEstimate {
        value: 7,
        exact: false,
        method: LagMethod::IdInterpolation,
    });
    let mut nobody = group("nobody", vec![], ReportedLag::Known(3));
    nobody.health.status = Status::NoConsumers;
    let mut stalled = group(
        "stalled",
        vec![consumer("c", 0, 99_000, None)],
        ReportedLag::Known(4),
    );
    stalled.health.status = Status::Stalled;
    stalled.health.reason = "lag 4 and no consumer has read for 99s".into();
    let too_much = group(
        "too-much",
        vec![consumer("c", 0, 1, None)],
        ReportedLag::Known(11),
    );
    let fine = group(
        "fine",
        vec![consumer("c", 0, 1, None)],
        ReportedLag::Known(0),
    );
    let empty_nobody = group("empty-nobody", vec![], ReportedLag::Known(0));
    let snap = snapshot(vec![nil, nobody, stalled, too_much, fine, empty_nobody]);
    let found = run(&snap, &PendingDetails::new());
    let got: Vec<_> = found
        .iter()
        .map(|f| {
            (
                f.kind,
                f.severity,
                String::from_utf8_lossy(f.group.as_deref().unwrap_or_default()).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (Kind::Stalled, Severity::Critical, "stalled".to_string()),
            (Kind::NoConsumers, Severity::Warning, "nobody".to_string()),
            (Kind::LagAnomaly, Severity::Warning, "too-much".to_string()),
            (Kind::LagAnomaly, Severity::Info, "nil".to_string()),
        ]
    );
    assert!(
        found[0].evidence.contains("from one poll"),
        "{}",
        found[0].evidence
    );
    assert!(found[3]
        .evidence
        .contains("estimated at 7 (method id-interpolation)"));
    assert!(found[2]
        .evidence
        .contains("lag 11 but the stream holds only 10"));
}

#[test]
fn dead_letter_streams_are_info_and_names_in_fixes_are_shell_safe() {
    assert!(is_dlq(b"orders:dlq") && is_dlq(b"{orders}:dlq") && !is_dlq(b"dlq"));
    assert!(is_dlq(b"x}y:dlq:23974") && !is_dlq(b"x}y:dlq:") && !is_dlq(b"orders:dlq:x"));
    assert_eq!(shell_word(b"orders:v1"), "orders:v1");
    assert_eq!(shell_word(b"it's here"), r"'it'\''s here'");
    assert_eq!(shell_word(b"-x"), "'-x'");
    assert_eq!(shell_word(b"a\x1b]0;x\x07"), "b64:YRtdMDt4Bw==");
    assert_eq!(shell_word(b"\xff"), "b64:/w==");
    assert_eq!(shell_word(b"b64:x"), "b64:YjY0Ong=");
    assert_eq!(
        shell_word("caf\u{e9} \u{202e}".as_bytes()),
        "b64:Y2Fmw6kg4oCu"
    );
    let counts = count_by_kind(&[]);
    assert_eq!(counts.len(), POSSIBLE.len());
    assert!(counts.values().all(|&n| n == 0));
}

/// One stream `q` with `groups`, polled at 1,000 s.
fn snapshot(groups: Vec<GroupInfo>) -> StreamsSnapshot {
    let taken_at = chrono::DateTime::from_timestamp(1_000, 0).unwrap_or_default();
    crate::redis::streams::fixtures::snapshot(vec![stream("q", groups)], taken_at)
}
