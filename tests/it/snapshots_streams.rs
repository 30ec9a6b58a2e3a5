//! Streams pane snapshots: the real `ui::render` into a `TestBackend` of fixed size, with
//! a fixed clock and hand-built `StreamsSnapshot`s (no server), compared as text with
//! insta. Colour is invisible in a text snapshot, so the stale-figures dimming is
//! asserted cell by cell.

use crate::common::screen;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use crossterm::event::{KeyCode, KeyModifiers};
use ratatui::style::Color;

use redtail::redis::streams::ProblemKind;
use redtail::redis::streams::{
    ConsumerInfo, GroupHealth, GroupInfo, LagEstimate, LagMethod, Outlook, ReportedLag,
    ScanProgress, Status, StreamEntry, StreamId, StreamInfo, StreamProblem, StreamsSnapshot,
    StreamsState,
};
use redtail::redis::subscriber::Subscriptions;
use redtail::state::status::{ConnView, StatusUpdate};
use redtail::state::streams::StreamsEvent;
use redtail::state::{AppState, Config, Effect, Event};
use screen::{draw, rows, text};

const WIDTH: u16 = 120;
const HEIGHT: u16 = 30;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:05Z")
        .map(|d| d.to_utc())
        .expect("fixed test time")
}

/// Unix ms `seconds_ago` before `now`.
fn ms_ago(seconds_ago: i64) -> u64 {
    (now() - TimeDelta::seconds(seconds_ago)).timestamp_millis() as u64
}

fn id_ago(seconds_ago: i64, seq: u64) -> StreamId {
    StreamId::new(ms_ago(seconds_ago), seq)
}

fn state(size: (u16, u16)) -> AppState {
    let config = Config {
        target: "redis://10.0.0.5:6380".into(),
        size,
        ..Config::default()
    };
    let mut s = AppState::new(config, Subscriptions::default(), now());
    s.update(
        Event::Status(StatusUpdate {
            conn: ConnView::Connected {
                since: now() - TimeDelta::seconds(60),
            },
            wanted: Subscriptions::default(),
        }),
        now(),
    );
    s
}

fn consumer(name: &[u8], pending: u64, idle_s: u64, inactive_s: Option<i64>) -> ConsumerInfo {
    ConsumerInfo {
        name: Bytes::copy_from_slice(name),
        pending,
        idle_ms: idle_s * 1000,
        inactive_ms: inactive_s.map(|s| if s < 0 { -1 } else { s * 1000 }),
        flagged: false,
    }
}

fn health(status: Status, reason: &str, rate: Option<f64>, outlook: Outlook) -> GroupHealth {
    GroupHealth {
        status,
        reason: reason.into(),
        consume_rate: rate,
        outlook,
        lag_series: Vec::new(),
        pending_series: Vec::new(),
    }
}

/// `orders`: a healthy group catching up, one falling behind with growing lag, one
/// stalled, and one whose lag the server reports as nil (estimated).
fn orders() -> StreamInfo {
    let mut fast = GroupInfo {
        name: Bytes::from_static(b"billing"),
        consumers: 3,
        pending: 12,
        last_delivered_id: id_ago(2, 0),
        entries_read: Some(1_204_900),
        reported_lag: ReportedLag::Known(340),
        lag_estimate: None,
        oldest_undelivered_id: Some(id_ago(1, 0)),
        time_lag_ms: Some(1_400),
        consumer_list: vec![
            consumer(b"billing-1", 5, 0, Some(0)),
            consumer(b"billing-2", 7, 1, Some(1)),
            consumer(b"billing-3", 0, 2, Some(2)),
        ],
        consumers_error: None,
        health: health(
            Status::CatchingUp,
            "lag 340, not growing",
            Some(180.0),
            Outlook::CatchingUp { eta_ms: 8_500 },
        ),
    };
    fast.health.lag_series = vec![900, 820, 760, 700, 610, 540, 480, 420, 380, 340];
    fast.health.pending_series = vec![10, 14, 9, 12, 11, 13, 12, 10, 12, 12];
    let mut behind = GroupInfo {
        name: Bytes::from_static(b"analytics"),
        consumers: 1,
        pending: 2_048,
        last_delivered_id: id_ago(95, 3),
        entries_read: Some(1_180_000),
        reported_lag: ReportedLag::Known(25_240),
        lag_estimate: None,
        oldest_undelivered_id: Some(id_ago(95, 4)),
        time_lag_ms: Some(95_000),
        consumer_list: vec![consumer(b"etl", 2_048, 0, Some(0))],
        consumers_error: None,
        health: health(
            Status::FallingBehind,
            "lag grew from 19200 to 25240 in 58s",
            Some(60.0),
            Outlook::FallingBehind,
        ),
    };
    behind.health.lag_series = (0..20).map(|i| 19_200 + i * 318).collect();
    behind.health.pending_series = vec![2_048; 20];
    let mut stuck = GroupInfo {
        name: Bytes::from_static(b"mailer"),
        consumers: 2,
        pending: 310,
        last_delivered_id: id_ago(600, 0),
        entries_read: Some(1_150_000),
        reported_lag: ReportedLag::Known(55_240),
        lag_estimate: None,
        oldest_undelivered_id: Some(id_ago(599, 0)),
        time_lag_ms: Some(599_000),
        consumer_list: vec![
            consumer(b"mailer-a", 300, 600, Some(600)),
            consumer(b"mailer-b", 10, 610, Some(610)),
        ],
        consumers_error: None,
        health: health(
            Status::Stalled,
            &format!(
                "lag 55240 and last-delivered-id {} has not moved for 58s",
                id_ago(600, 0)
            ),
            Some(0.0),
            Outlook::FallingBehind,
        ),
    };
    stuck.health.lag_series = (0..20).map(|i| 49_000 + i * 328).collect();
    stuck.health.pending_series = vec![310; 20];
    let mut trimmed = GroupInfo {
        name: Bytes::from_static(b"search-indexer"),
        consumers: 1,
        pending: 0,
        last_delivered_id: id_ago(40, 0),
        entries_read: None,
        reported_lag: ReportedLag::Nil,
        lag_estimate: Some(LagEstimate {
            value: 1_204,
            exact: false,
            method: LagMethod::EntriesAddedMinusEntriesRead,
        }),
        oldest_undelivered_id: Some(id_ago(39, 0)),
        time_lag_ms: Some(39_000),
        consumer_list: vec![consumer(b"indexer", 0, 3, None)],
        consumers_error: None,
        health: health(
            Status::CatchingUp,
            "lag 1204, consumers active; trend known after a few polls",
            None,
            Outlook::Unknown,
        ),
    };
    trimmed.health.lag_series = vec![1_204];
    trimmed.health.pending_series = vec![0];
    StreamInfo {
        key: Bytes::from_static(b"orders"),
        length: 80_512,
        first_entry_id: Some(id_ago(86_400 * 3 + 4 * 3600, 0)),
        last_entry_id: Some(id_ago(0, 7)),
        last_generated_id: id_ago(0, 7),
        entries_added: Some(1_205_240),
        max_deleted_entry_id: Some(id_ago(86_400 * 3 + 4 * 3600 + 1, 0)),
        recorded_first_entry_id: Some(id_ago(86_400 * 3 + 4 * 3600, 0)),
        groups_count: 4,
        groups: vec![behind, fast, stuck, trimmed],
        groups_error: None,
        append_rate: Some(240.0),
    }
}

fn simple(key: &[u8], length: u64, rate: Option<f64>, groups: Vec<GroupInfo>) -> StreamInfo {
    StreamInfo {
        key: Bytes::copy_from_slice(key),
        length,
        first_entry_id: (length > 0).then(|| id_ago(3600, 0)),
        last_entry_id: (length > 0).then(|| id_ago(12, 0)),
        last_generated_id: id_ago(12, 0),
        entries_added: Some(length),
        max_deleted_entry_id: None,
        recorded_first_entry_id: None,
        groups_count: groups.len() as u64,
        groups,
        groups_error: None,
        append_rate: rate,
    }
}

fn idle_group(name: &[u8]) -> GroupInfo {
    GroupInfo {
        name: Bytes::copy_from_slice(name),
        consumers: 1,
        pending: 0,
        last_delivered_id: id_ago(12, 0),
        entries_read: Some(40),
        reported_lag: ReportedLag::Known(0),
        lag_estimate: None,
        oldest_undelivered_id: None,
        time_lag_ms: Some(0),
        consumer_list: vec![consumer(b"w", 0, 12, Some(12))],
        consumers_error: None,
        health: health(
            Status::CaughtUp,
            "no lag and nothing appended in 58s",
            Some(0.0),
            Outlook::CaughtUp,
        ),
    }
}

fn snapshot(streams: Vec<StreamInfo>, scan: ScanProgress) -> StreamsSnapshot {
    let mut streams = streams;
    streams.sort_by(|a, b| a.key.cmp(&b.key));
    let taken_at = now() - TimeDelta::milliseconds(400);
    StreamsSnapshot {
        streams,
        problems: Vec::new(),
        warnings: Vec::new(),
        scan,
        server_time_ms: taken_at.timestamp_millis(),
        taken_at,
        took: Duration::from_millis(3),
        commands_sent: 14,
        round_trips: 2,
        stream_nodes: Default::default(),
    }
}

fn complete() -> ScanProgress {
    ScanProgress {
        complete: true,
        passes_completed: 1,
        scan_calls: 2,
        streams_found: 4,
        fraction: Some(1.0),
        keyspace_keys: Some(1_830),
        ..ScanProgress::default()
    }
}

fn workload() -> StreamsSnapshot {
    snapshot(
        vec![
            orders(),
            simple(b"audit:log", 40, Some(0.0), vec![idle_group(b"archiver")]),
            simple(b"ai:inference:queue", 0, None, Vec::new()),
            simple(
                b"evil\x1b[2Jname\xff",
                3,
                Some(0.05),
                vec![idle_group(b"g\x07")],
            ),
        ],
        complete(),
    )
}

fn poll(generation: u64, snapshot: StreamsSnapshot) -> StreamsState {
    StreamsState {
        generation,
        scan: snapshot.scan.clone(),
        last_ok: Some(Arc::new(snapshot)),
        last_error: None,
    }
}

fn key(s: &mut AppState, code: KeyCode) -> Vec<Effect> {
    screen::press(s, code, KeyModifiers::NONE, now())
}

fn keys(s: &mut AppState, text: &str) {
    screen::type_text(s, text, now());
}

/// The pane on screen with `streams` polled.
fn streams_pane(size: (u16, u16), streams: StreamsState) -> AppState {
    let mut s = state(size);
    s.update(Event::Streams(StreamsEvent::Poll(streams)), now());
    key(&mut s, KeyCode::Char('3'));
    s
}

#[test]
fn streams_table() {
    let s = streams_pane((WIDTH, HEIGHT), poll(1, workload()));
    let screen = text(&draw(&s));
    insta::assert_snapshot!("streams_table", screen);
    assert!(screen.contains("evil\\x1b[2Jname\\xff"), "keys are escaped");
    assert!(!screen.contains('\x1b'));
}

#[test]
fn streams_table_narrow_keeps_the_important_columns() {
    let s = streams_pane((80, 14), poll(1, workload()));
    insta::assert_snapshot!("streams_table_narrow", text(&draw(&s)));
}

#[test]
fn streams_failed_poll_and_discovery_in_progress() {
    let mut snap = workload();
    snap.problems.push(StreamProblem {
        key: Bytes::from_static(b"orders:old"),
        kind: ProblemKind::Missing,
        message: "orders:old: no such key (deleted or expired)".into(),
    });
    let scanning = ScanProgress {
        scanning: true,
        complete: false,
        passes_completed: 0,
        scan_calls: 12,
        streams_found: 4,
        fraction: Some(0.43),
        keyspace_keys: Some(1_204_332),
        note: None,
    };
    snap.scan = scanning.clone();
    // The last good poll is 40 s old; the latest attempt failed 2 s ago.
    snap.taken_at = now() - TimeDelta::seconds(40);
    snap.server_time_ms = snap.taken_at.timestamp_millis();
    let state = StreamsState {
        generation: 7,
        last_ok: Some(Arc::new(snap)),
        last_error: Some((
            now() - TimeDelta::seconds(2),
            "XINFO STREAM failed: connection reset by peer; reconnecting".into(),
        )),
        scan: scanning,
    };
    let s = streams_pane((WIDTH, HEIGHT), state);
    let buf = draw(&s);
    insta::assert_snapshot!("streams_failed_poll", text(&buf));
    // Stale figures are drawn dim, so they do not look current.
    let screen = rows(&buf);
    let (y, row) = screen
        .iter()
        .enumerate()
        .find(|(_, r)| r.contains("80,512"))
        .expect("the orders row");
    let x = row[..row.find("80,512").unwrap_or(0)].chars().count() as u16;
    assert_eq!(buf[(x, y as u16)].fg, Color::DarkGray);
}

#[test]
fn streams_before_the_first_poll() {
    let s = streams_pane((WIDTH, 12), StreamsState::default());
    insta::assert_snapshot!("streams_polling", text(&draw(&s)));
}

/// Select `orders` (laggiest: first row) and open its groups.
fn groups_view(size: (u16, u16)) -> AppState {
    let mut s = streams_pane(size, poll(1, workload()));
    key(&mut s, KeyCode::Enter);
    s
}

#[test]
fn groups_with_sparklines_and_statuses() {
    let mut s = groups_view((WIDTH, HEIGHT));
    insta::assert_snapshot!("groups", text(&draw(&s)));
    // The nil-lag group (third by lag): an estimate, explained under the table.
    keys(&mut s, "G");
    key(&mut s, KeyCode::Up);
    let screen = text(&draw(&s));
    insta::assert_snapshot!("groups_nil_lag_selected", screen);
    assert!(screen.contains("≈1,204"));
    assert!(screen.contains("nil from the server"));
}

#[test]
fn consumers_with_a_flagged_one_and_inactive_reported() {
    let mut snap = workload();
    if let Some(orders) = snap.streams.iter_mut().find(|s| s.key == "orders") {
        if let Some(mailer) = orders.groups.iter_mut().find(|g| g.name == "mailer") {
            mailer.consumer_list = vec![
                consumer(b"mailer-a", 300, 1, Some(2)),
                consumer(b"mailer-b", 10, 0, Some(1)),
                ConsumerInfo {
                    flagged: true,
                    ..consumer(b"mailer-\xffc", 1_200, 900, Some(900))
                },
                consumer(b"mailer-new", 0, 5, Some(-1)),
            ];
            mailer.consumers = 4;
        }
    }
    let mut s = streams_pane((WIDTH, 20), poll(1, snap));
    key(&mut s, KeyCode::Enter);
    // Groups by lag, biggest first: mailer is on top.
    key(&mut s, KeyCode::Enter);
    // Pending, most first: the flagged consumer is selected.
    insta::assert_snapshot!("consumers_flagged", text(&draw(&s)));
}

#[test]
fn consumers_on_a_server_without_inactive() {
    let mut s = groups_view((WIDTH, 16));
    // search-indexer (third by lag): its consumer has no `inactive`.
    keys(&mut s, "G");
    key(&mut s, KeyCode::Up);
    key(&mut s, KeyCode::Enter);
    insta::assert_snapshot!("consumers_no_inactive", text(&draw(&s)));
}

fn entries() -> Vec<StreamEntry> {
    let field = |n: &[u8], v: &[u8]| (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v));
    vec![
        StreamEntry {
            id: id_ago(1, 0),
            fields: vec![
                field(b"type", b"order.created"),
                field(b"tag", b"priority"),
                field(b"tag", b"gift"),
                field(
                    b"payload",
                    br#"{"order":1001,"items":[{"sku":"A-1","qty":2}],"note":"ring \u0007"}"#,
                ),
                field(b"sig", b"\x00\x01\xfe\xff\x1b[31mred"),
            ],
        },
        StreamEntry {
            id: id_ago(3, 2),
            fields: vec![field(b"type", b"order.paid"), field(b"amount", b"42.50")],
        },
        StreamEntry {
            id: id_ago(65, 0),
            fields: vec![field(b"type", b"order.created\nsecond line")],
        },
    ]
}

fn entries_view(size: (u16, u16)) -> AppState {
    let mut s = groups_view(size);
    let effects = key(&mut s, KeyCode::Char('e'));
    let Some(Effect::Streams(redtail::state::streams::StreamsEffect::Entries {
        generation,
        key: stream,
        request,
    })) = effects.into_iter().next()
    else {
        panic!("e reads a page of entries");
    };
    s.update(
        Event::Streams(StreamsEvent::Entries {
            key: stream,
            generation,
            request,
            result: Ok(entries()),
        }),
        now(),
    );
    s
}

#[test]
fn entries_with_binary_duplicate_and_json_fields() {
    let s = entries_view((WIDTH, HEIGHT));
    let screen = text(&draw(&s));
    insta::assert_snapshot!("entries", screen);
    assert!(!screen.contains('\x1b') && !screen.contains('\x07'));
}

#[test]
fn entry_opened_and_jump_prompt() {
    let mut s = entries_view((WIDTH, 16));
    key(&mut s, KeyCode::Enter);
    insta::assert_snapshot!("entry_open", text(&draw(&s)));
    key(&mut s, KeyCode::Esc);
    key(&mut s, KeyCode::Char('t'));
    keys(&mut s, "yesterday");
    key(&mut s, KeyCode::Enter);
    let screen = rows(&draw(&s))[3..6].join("\n");
    insta::assert_snapshot!("entries_jump_error", screen);
}

#[test]
fn destroying_a_group_asks_first() {
    let mut s = groups_view((WIDTH, 20));
    key(&mut s, KeyCode::Char('D')); // mailer: the laggiest, selected
    insta::assert_snapshot!("destroy_confirm", text(&draw(&s)));
}

#[test]
fn tiny_terminals_draw_every_view_without_panicking() {
    for size in [
        (1, 1),
        (12, 5),
        (30, 7),
        (60, 9),
        (80, 6),
        (100, 8),
        (3, 40),
    ] {
        let mut s = entries_view(size);
        draw(&s);
        key(&mut s, KeyCode::Enter); // the entry, opened
        draw(&s);
        key(&mut s, KeyCode::Char('t')); // the jump prompt
        draw(&s);
        let mut s = groups_view(size);
        draw(&s);
        key(&mut s, KeyCode::Char('D')); // a confirmation box
        draw(&s);
        key(&mut s, KeyCode::Esc);
        key(&mut s, KeyCode::Enter); // consumers
        draw(&s);
        key(&mut s, KeyCode::Char('n')); // a prompt box
        draw(&s);
        let mut failed = workload();
        failed.scan.complete = false;
        let state = StreamsState {
            generation: 1,
            scan: failed.scan.clone(),
            last_ok: Some(Arc::new(failed)),
            last_error: Some((now(), "boom".into())),
        };
        draw(&streams_pane(size, state));
    }
}

/// The workload plus streams, groups and consumers with similar and hostile names.
fn crowded() -> StreamsSnapshot {
    let mut snap = workload();
    for (i, name) in [screen::SIMILAR[0], screen::SIMILAR[1], screen::HOSTILE]
        .into_iter()
        .enumerate()
    {
        let group = idle_group(format!("{name}-group").as_bytes());
        snap.streams.push(simple(
            name.as_bytes(),
            10 + i as u64,
            Some(1.0),
            vec![group],
        ));
    }
    if let Some(orders) = snap.streams.iter_mut().find(|s| s.key == "orders") {
        for name in [screen::SIMILAR[0], screen::SIMILAR[1], screen::HOSTILE] {
            orders.groups.push(idle_group(name.as_bytes()));
        }
        orders.groups_count = orders.groups.len() as u64;
        if let Some(mailer) = orders.groups.iter_mut().find(|g| g.name == "mailer") {
            mailer.consumer_list = vec![
                consumer(b"worker-ai:stream:sess-1a2b", 300, 1, Some(2)),
                consumer(b"worker-ai:stream:sess-1c4d", 10, 0, Some(1)),
                consumer(screen::HOSTILE.as_bytes(), 0, 5, Some(-1)),
            ];
            mailer.consumers = 3;
        }
    }
    snap.streams.sort_by(|a, b| a.key.cmp(&b.key));
    snap
}

/// Streams views at 60×15, 100×30 and 250×70 with similar and hostile names: the
/// streams table, a stream's groups, a group's consumers, the entries browser and one
/// entry. Each fits (no row too wide, no raw control character, boxes intact, cut names
/// marked with …).
#[test]
fn streams_views_fit_at_every_size() {
    let names = [screen::SIMILAR[0], screen::SIMILAR[1], "evil\\x1b[2J"];
    let expect = |distinct: bool| screen::Expect {
        distinct: if distinct { &["1a2b", "1c4d"] } else { &[] },
        names: &names,
        ..screen::Expect::default()
    };
    let pane = || streams_pane((WIDTH, HEIGHT), poll(1, crowded()));
    let mut views: Vec<(&str, AppState, screen::Expect)> = Vec::new();
    views.push(("streams", pane(), expect(true)));
    let mut groups = pane();
    key(&mut groups, KeyCode::Enter);
    views.push(("groups", groups, expect(false)));
    let mut consumers = pane();
    key(&mut consumers, KeyCode::Enter);
    key(&mut consumers, KeyCode::Enter);
    views.push(("consumers", consumers, expect(true)));
    views.push(("entries", crowded_entries(), expect(false)));
    let mut entry = crowded_entries();
    key(&mut entry, KeyCode::Enter);
    views.push(("entry", entry, expect(false)));
    // The group dialogs: destroy (confirm), create and SETID (prompts). A dialog hides
    // part of the table under it, which is not a cut: names are not checked there.
    let dialog = screen::Expect::default;
    let mut destroy = pane();
    key(&mut destroy, KeyCode::Enter);
    key(&mut destroy, KeyCode::Char('D'));
    views.push(("destroy", destroy, dialog()));
    let mut create = pane();
    key(&mut create, KeyCode::Char('n'));
    keys(&mut create, "a-new-group-with-a-long-name $");
    views.push(("create", create, dialog()));
    let mut setid = pane();
    key(&mut setid, KeyCode::Enter);
    key(&mut setid, KeyCode::Char('s'));
    views.push(("setid", setid, dialog()));
    for (view, mut s, expect) in views {
        for size in screen::SIZES {
            let buf = screen::draw_at(&mut s, size, now());
            insta::assert_snapshot!(format!("sweep_{view}_{}x{}", size.0, size.1), text(&buf));
            screen::check_screen(&buf, &expect);
        }
    }
}

/// The entries browser of `orders` with a hostile field name among the fields.
fn crowded_entries() -> AppState {
    let mut s = streams_pane((WIDTH, HEIGHT), poll(1, crowded()));
    key(&mut s, KeyCode::Enter);
    let effects = key(&mut s, KeyCode::Char('e'));
    let Some(Effect::Streams(redtail::state::streams::StreamsEffect::Entries {
        generation,
        key: stream,
        request,
    })) = effects.into_iter().next()
    else {
        panic!("e reads a page of entries");
    };
    let mut list = entries();
    list[0].fields.push((
        Bytes::from_static(screen::HOSTILE.as_bytes()),
        Bytes::from_static(screen::SIMILAR[0].as_bytes()),
    ));
    s.update(
        Event::Streams(StreamsEvent::Entries {
            key: stream,
            generation,
            request,
            result: Ok(list),
        }),
        now(),
    );
    s
}

/// Two stream keys 300 characters long that differ only at their end, each with a
/// long-named group: the groups and consumers titles cut the names in the middle, so
/// `:end1` and `:end2` stay apart and the figures after the names stay in view.
#[test]
fn long_similar_stream_keys_are_cut_in_the_middle_of_the_titles() {
    let long = |end: &str| format!("st:{}:{end}", "L".repeat(300));
    let group = |end: &str| idle_group(format!("grp-{}-{end}", "G".repeat(100)).as_bytes());
    let streams = vec![
        simple(long("end1").as_bytes(), 11, Some(1.0), vec![group("g1")]),
        simple(long("end2").as_bytes(), 12, Some(1.0), vec![group("g2")]),
    ];
    for size in screen::SIZES {
        let mut s = streams_pane(size, poll(1, snapshot(streams.clone(), complete())));
        key(&mut s, KeyCode::Enter);
        let screen = text(&screen::draw_at(&mut s, size, now()));
        let title = (screen.lines())
            .find(|l| l.contains("stream st:"))
            .unwrap_or_else(|| panic!("a groups title at {size:?}:\n{screen}"));
        assert!(title.contains('…'), "{size:?}: {title}");
        assert!(
            title.contains(":end1"),
            "{size:?}: the key's end kept: {title}"
        );
        if size.0 >= 100 {
            assert!(title.contains("length 11"), "{size:?}: {title}");
        }
        key(&mut s, KeyCode::Enter);
        let buf = screen::draw_at(&mut s, size, now());
        let screen = text(&buf);
        insta::assert_snapshot!(format!("long_keys_consumers_{}x{}", size.0, size.1), screen);
        let title = (screen.lines())
            .find(|l| l.contains(" › "))
            .unwrap_or_else(|| panic!("a consumers title at {size:?}:\n{screen}"));
        assert!(title.contains(":end1"), "{size:?}: {title}");
        assert!(
            title.contains("-g1"),
            "{size:?}: the group's end kept: {title}"
        );
        if size.0 >= 100 {
            assert!(title.contains("1 consumer"), "{size:?}: {title}");
        }
    }
}
