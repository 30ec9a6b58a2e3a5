use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::entries::EntriesRequest;
use super::*;
use crate::redis::streams::fixtures;
use crate::redis::streams::{
    GroupHealth, ReportedLag, ScanProgress, Status, StreamId, StreamsSnapshot, StreamsState,
};
use crate::state::{AppState, Config, Effect, Event, Tab};

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

fn consumer(name: &str, pending: u64, idle_ms: u64) -> ConsumerInfo {
    fixtures::consumer(name, pending, idle_ms, Some(idle_ms as i64))
}

/// Two consumers (`c1` holds the pending entries), delivered up to 1-0, in `status`.
fn group(name: &str, lag: u64, pending: u64, status: Status) -> GroupInfo {
    let consumers = vec![consumer("c1", pending, 100), consumer("c2", 0, 5_000)];
    GroupInfo {
        last_delivered_id: StreamId::new(1, 0),
        entries_read: Some(10),
        time_lag_ms: Some(0),
        health: GroupHealth {
            status,
            ..GroupHealth::default()
        },
        ..fixtures::group(name, consumers, ReportedLag::Known(lag))
    }
}

/// Ten entries ending at 2-0, appended at `rate`.
fn stream(key: &str, rate: Option<f64>, groups: Vec<GroupInfo>) -> StreamInfo {
    StreamInfo {
        last_entry_id: Some(StreamId::new(2, 0)),
        last_generated_id: StreamId::new(2, 0),
        append_rate: rate,
        ..fixtures::stream(key, groups)
    }
}

fn poll(generation: u64, mut streams: Vec<StreamInfo>) -> StreamsState {
    streams.sort_by(|a, b| a.key.cmp(&b.key));
    StreamsState {
        generation,
        last_ok: Some(Arc::new(StreamsSnapshot {
            streams,
            problems: Vec::new(),
            warnings: Vec::new(),
            scan: ScanProgress {
                complete: true,
                ..ScanProgress::default()
            },
            server_time_ms: t0().timestamp_millis(),
            taken_at: t0(),
            took: Duration::from_millis(1),
            commands_sent: 1,
            round_trips: 1,
            stream_nodes: Default::default(),
        })),
        last_error: None,
        scan: ScanProgress {
            complete: true,
            ..ScanProgress::default()
        },
    }
}

fn three_streams(generation: u64, orders_lag: u64) -> StreamsState {
    poll(
        generation,
        vec![
            stream(
                "orders",
                Some(5.0),
                vec![
                    group("billing", orders_lag, 3, Status::FallingBehind),
                    group("audit", 0, 0, Status::CaughtUp),
                ],
            ),
            stream(
                "jobs",
                Some(50.0),
                vec![group("workers", 20, 40, Status::Stalled)],
            ),
            stream("quiet", None, Vec::new()),
        ],
    )
}

/// The entries read the first effect asks for: generation, stream key and request.
fn entries_read(effects: &[Effect]) -> Option<(u64, Bytes, EntriesRequest)> {
    match effects.first() {
        Some(Effect::Streams(StreamsEffect::Entries {
            generation,
            key,
            request,
        })) => Some((*generation, key.clone(), *request)),
        _ => None,
    }
}

fn names(pane: &StreamsPane) -> Vec<String> {
    let snapshot = pane.snapshot().expect("a snapshot");
    pane.stream_rows
        .iter()
        .map(|&i| String::from_utf8_lossy(&snapshot.streams[i].key).into_owned())
        .collect()
}

fn selected(pane: &StreamsPane) -> Option<String> {
    pane.streams_sel
        .name
        .as_deref()
        .map(|k| String::from_utf8_lossy(k).into_owned())
}

#[test]
fn selection_follows_the_stream_through_re_sorts_and_polls() {
    let mut pane = StreamsPane::default();
    pane.on_poll(three_streams(1, 5));
    pane.refresh(10);
    // Lag, biggest first; a stream without groups sorts last.
    assert_eq!(names(&pane), ["jobs", "orders", "quiet"]);
    assert_eq!(selected(&pane).as_deref(), Some("jobs"));
    pane.move_by(1, 10);
    assert_eq!(selected(&pane).as_deref(), Some("orders"));
    // orders becomes the laggiest: it moves to the top and stays selected.
    pane.on_poll(three_streams(2, 500));
    pane.refresh(10);
    assert_eq!(names(&pane), ["orders", "jobs", "quiet"]);
    assert_eq!(
        (pane.streams_sel.index, selected(&pane)),
        (0, Some("orders".into()))
    );
    pane.cycle_sort(false); // pending
    pane.refresh(10);
    assert_eq!(names(&pane), ["jobs", "orders", "quiet"]);
    assert_eq!(pane.streams_sel.index, 1);
    // An older poll answer is ignored.
    pane.on_poll(three_streams(1, 5));
    assert_eq!(pane.poll.generation, 2);
    // The selected stream disappears: the cursor stays in place on its neighbour.
    pane.on_poll(poll(3, vec![stream("jobs", None, Vec::new())]));
    pane.refresh(10);
    assert_eq!(selected(&pane).as_deref(), Some("jobs"));
}

#[test]
fn group_selection_survives_re_sorts() {
    let mut pane = StreamsPane::default();
    pane.on_poll(three_streams(1, 5));
    pane.refresh(10);
    pane.move_by(1, 10); // orders
    assert!(pane.drill_in());
    pane.refresh(10);
    assert_eq!(pane.level, Level::Groups);
    let group_names = |pane: &StreamsPane| -> Vec<String> {
        let s = pane.selected_stream().expect("orders");
        pane.group_rows
            .iter()
            .map(|&i| String::from_utf8_lossy(&s.groups[i].name).into_owned())
            .collect()
    };
    assert_eq!(group_names(&pane), ["billing", "audit"]);
    pane.move_by(1, 10);
    assert_eq!(pane.groups_sel.name.as_deref(), Some(&b"audit"[..]));
    pane.cycle_sort(false); // pending
    pane.cycle_sort(false); // rate
    pane.cycle_sort(false); // status: LAGGING before OK
    pane.cycle_sort(true); // reversed: OK first
    pane.refresh(10);
    assert_eq!(group_names(&pane), ["audit", "billing"]);
    assert_eq!(
        pane.groups_sel.index, 0,
        "audit moved up and stays selected"
    );
    pane.on_poll(three_streams(2, 9));
    pane.refresh(10);
    assert_eq!(pane.groups_sel.name.as_deref(), Some(&b"audit"[..]));
    assert!(pane.drill_in());
    pane.refresh(10);
    assert_eq!(pane.consumer_rows.len(), 2);
    assert!(pane.drill_out() && pane.drill_out() && !pane.drill_out());
}

#[test]
fn sorts_by_each_figure_with_names_breaking_ties() {
    let streams = vec![
        stream("a", Some(1.0), vec![group("g", 7, 1, Status::CatchingUp)]),
        stream("b", Some(9.0), vec![group("g", 7, 30, Status::CaughtUp)]),
        stream("c", None, vec![group("g", 2, 5, Status::Stalled)]),
        stream("d", Some(3.0), Vec::new()),
    ];
    let order = |column, descending| {
        let mut rows: Vec<usize> = (0..streams.len()).collect();
        sort_streams(&streams, &mut rows, column, descending);
        rows.iter()
            .map(|&i| String::from_utf8_lossy(&streams[i].key).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(order(SortColumn::Lag, true), ["a", "b", "c", "d"]);
    assert_eq!(order(SortColumn::Lag, false), ["d", "c", "a", "b"]);
    assert_eq!(order(SortColumn::Pending, true), ["b", "c", "a", "d"]);
    assert_eq!(order(SortColumn::Rate, true), ["b", "d", "a", "c"]);
    assert_eq!(order(SortColumn::Status, true), ["c", "a", "b", "d"]);
    assert_eq!(order(SortColumn::Name, true), ["d", "c", "b", "a"]);
    let consumers = vec![
        consumer("x", 1, 900),
        consumer("y", 5, 10),
        consumer("z", 5, 99_000),
    ];
    let mut rows: Vec<usize> = (0..3).collect();
    sort_consumers(&consumers, &mut rows, SortColumn::Idle, true);
    assert_eq!(rows, [2, 0, 1]);
    sort_consumers(&consumers, &mut rows, SortColumn::Pending, true);
    assert_eq!(rows, [1, 2, 0]);
}

#[test]
fn filter_matches_keys_and_group_names() {
    let mut pane = StreamsPane::default();
    pane.on_poll(three_streams(1, 5));
    pane.set_filter(Filter::parse("ord").ok());
    pane.refresh(10);
    assert_eq!(names(&pane), ["orders"]);
    assert_eq!(selected(&pane).as_deref(), Some("orders"));
    pane.set_filter(Filter::parse("workers").ok());
    pane.refresh(10);
    assert_eq!(names(&pane), ["jobs"], "a stream matches through its group");
    pane.set_filter(None);
    pane.refresh(10);
    assert_eq!(names(&pane).len(), 3);
}

fn key(s: &mut AppState, code: KeyCode) -> Vec<Effect> {
    s.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)), t0())
}

fn app() -> AppState {
    let config = Config {
        size: (120, 40),
        ..Config::default()
    };
    let mut s = AppState::new(config, Default::default(), t0());
    s.update(
        Event::Streams(StreamsEvent::Poll(three_streams(1, 5))),
        t0(),
    );
    key(&mut s, KeyCode::Char('3'));
    s
}

#[test]
fn keys_drill_down_and_hand_a_group_to_the_pending_pane() {
    let mut s = app();
    assert_eq!(s.tab, Tab::Streams);
    assert_eq!(s.streams.level, Level::Streams);
    key(&mut s, KeyCode::Down); // orders
                                // Two groups: `p` cannot guess which one.
    key(&mut s, KeyCode::Char('p'));
    assert_eq!(s.tab, Tab::Streams);
    assert!(s
        .visible_notice()
        .is_some_and(|n| n.text.contains("2 groups")));
    key(&mut s, KeyCode::Enter);
    assert_eq!(s.streams.level, Level::Groups);
    key(&mut s, KeyCode::Down); // audit
    key(&mut s, KeyCode::Char('4'));
    assert_eq!(s.tab, Tab::Pending);
    let target = s.pending.target.clone().expect("a pending target");
    assert_eq!(
        (target.stream.as_ref(), target.group.as_ref()),
        (&b"orders"[..], &b"audit"[..])
    );
    key(&mut s, KeyCode::Char('3'));
    key(&mut s, KeyCode::Up); // billing
    key(&mut s, KeyCode::Char('p'));
    assert_eq!(s.tab, Tab::Pending);
    assert_eq!(
        s.pending.target.as_ref().map(|t| t.group.clone()),
        Some(Bytes::from_static(b"billing"))
    );
    key(&mut s, KeyCode::Char('3'));
    key(&mut s, KeyCode::Enter);
    assert_eq!(s.streams.level, Level::Consumers);
    key(&mut s, KeyCode::Esc);
    key(&mut s, KeyCode::Esc);
    assert_eq!(s.streams.level, Level::Streams);
    // Esc at the top is not the pane's: nothing changes.
    key(&mut s, KeyCode::Esc);
    assert_eq!(s.tab, Tab::Streams);
}

#[test]
fn entries_browser_reads_pages_and_drops_stale_answers() {
    let mut s = app();
    let effects = key(&mut s, KeyCode::Char('e'));
    let (generation, stream_key, request) = entries_read(&effects)
        .unwrap_or_else(|| panic!("expected an entries read, got {effects:?}"));
    assert_eq!(
        (stream_key.as_ref(), request),
        (&b"jobs"[..], EntriesRequest::Newest)
    );
    let entry = |ms| crate::redis::streams::StreamEntry {
        id: StreamId::new(ms, 0),
        fields: vec![(Bytes::from_static(b"k"), Bytes::from_static(b"v"))],
    };
    s.update(
        Event::Streams(StreamsEvent::Entries {
            key: stream_key.clone(),
            generation,
            request,
            result: Ok(vec![entry(3), entry(2)]),
        }),
        t0(),
    );
    assert_eq!(s.streams.entries.as_ref().map(|b| b.entries.len()), Some(2));
    // `]` asks for the page older than the last row shown.
    let effects = key(&mut s, KeyCode::Char(']'));
    assert!(matches!(
        effects.first(),
        Some(Effect::Streams(StreamsEffect::Entries {
            request: EntriesRequest::Older(id),
            ..
        })) if id.ms == 2
    ));
    // The first page's answer arriving again (late) changes nothing.
    s.update(
        Event::Streams(StreamsEvent::Entries {
            key: stream_key,
            generation,
            request,
            result: Ok(vec![entry(9)]),
        }),
        t0(),
    );
    assert_eq!(s.streams.entries.as_ref().map(|b| b.entries.len()), Some(2));
    // Typing a jump: digits go to the prompt, not to the pane switcher.
    key(&mut s, KeyCode::Char('t'));
    for c in "5m".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    let effects = key(&mut s, KeyCode::Enter);
    assert_eq!(s.tab, Tab::Streams);
    assert!(matches!(
        effects.first(),
        Some(Effect::Streams(StreamsEffect::Entries {
            request: EntriesRequest::AtTime(ms),
            ..
        })) if *ms == t0().timestamp_millis() as u64 - 300_000
    ));
    // The jump's answer: the page says which way it goes from the point typed, and the
    // selection is on the newest entry at or before it (newer ones above).
    let (generation, stream_key, request) =
        entries_read(&effects).expect("expected the jump's read");
    let at = t0().timestamp_millis() as u64 - 300_000;
    s.update(
        Event::Streams(StreamsEvent::Entries {
            key: stream_key,
            generation,
            request,
            // Topped up with one newer entry: the stream has few after the point.
            result: Ok(vec![entry(at + 2_000), entry(at), entry(at - 1_000)]),
        }),
        t0(),
    );
    let browser = s.streams.entries.as_ref().expect("browser");
    assert_eq!(browser.selected().map(|e| e.id.ms), Some(at));
    assert_eq!(
        browser.note.as_deref(),
        Some(
            "showing entries at or before 2027-01-15 07:55:00, newest first — the selected \
             entry is the newest at or before it; newer ones are above it"
        )
    );
    key(&mut s, KeyCode::Enter); // open the entry
    assert_eq!(s.streams.focus(), StreamsFocus::Entry);
    key(&mut s, KeyCode::Esc);
    key(&mut s, KeyCode::Esc);
    assert!(s.streams.entries.is_none());
}

#[test]
fn a_thousand_streams_rebuild_quickly() {
    let streams: Vec<StreamInfo> = (0..1_000)
        .map(|i| {
            let groups = (0..3)
                .map(|g| {
                    let mut group = group(
                        &format!("g{g}"),
                        (i * 7 + g) % 113,
                        i % 17,
                        Status::CatchingUp,
                    );
                    group.consumer_list = (0..10)
                        .map(|c| consumer(&format!("c{c}"), c, c * 1000))
                        .collect();
                    group
                })
                .collect();
            stream(&format!("svc:{i}:queue"), Some(i as f64), groups)
        })
        .collect();
    let mut pane = StreamsPane::default();
    let started = std::time::Instant::now();
    for generation in 1..=10 {
        pane.on_poll(poll(generation, streams.clone()));
        pane.refresh(40);
        pane.move_by(1, 40);
        pane.refresh(40);
    }
    assert_eq!(pane.stream_rows.len(), 1_000);
    // Not a benchmark: a generous bound that only catches an accidental quadratic.
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn group_actions_confirm_first_and_respect_read_only_and_pending() {
    use super::manage::GroupAction;
    let mut s = app();
    key(&mut s, KeyCode::Down); // orders
    key(&mut s, KeyCode::Enter);
    key(&mut s, KeyCode::Char('D')); // destroy billing
    assert_eq!(s.streams.focus(), StreamsFocus::Confirm);
    assert!(
        key(&mut s, KeyCode::Char('x')).is_empty(),
        "other keys wait"
    );
    let effects = key(&mut s, KeyCode::Char('y'));
    assert_eq!(
        effects,
        [Effect::Streams(StreamsEffect::Act(GroupAction::Destroy {
            stream: Bytes::from_static(b"orders"),
            group: Bytes::from_static(b"billing"),
        }))]
    );
    assert!(s.streams.modal.is_none());
    // The answer refreshes the figures at once.
    let effects = s.update(
        Event::Streams(StreamsEvent::Done {
            action: "destroy group",
            result: Ok("destroyed group billing".into()),
        }),
        t0(),
    );
    assert_eq!(effects, [Effect::Streams(StreamsEffect::PollNow)]);
    // New group: typed name and start, then confirmed.
    key(&mut s, KeyCode::Char('n'));
    for c in "late 0".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    key(&mut s, KeyCode::Enter);
    assert_eq!(s.streams.focus(), StreamsFocus::Confirm);
    key(&mut s, KeyCode::Esc);
    assert!(s.streams.modal.is_none(), "Esc cancels");
    // A consumer holding entries cannot be deleted: its entries would be lost.
    key(&mut s, KeyCode::Enter); // billing's consumers; c1 holds 3
    key(&mut s, KeyCode::Char('X'));
    assert!(s.streams.modal.is_none());
    assert!(s
        .visible_notice()
        .is_some_and(|n| n.text.contains("holds 3 pending entries")));
    key(&mut s, KeyCode::Down); // c2 holds nothing
    key(&mut s, KeyCode::Char('X'));
    assert_eq!(s.streams.focus(), StreamsFocus::Confirm);
    // Read-only: refused before any dialog.
    let mut ro = app();
    ro.config.read_only = crate::redis::actions::ReadOnly::from_flag(true);
    key(&mut ro, KeyCode::Enter);
    key(&mut ro, KeyCode::Char('D'));
    assert!(ro.streams.modal.is_none());
    assert!(ro
        .visible_notice()
        .is_some_and(|n| n.text.contains("read-only")));
}

#[test]
fn f_follows_the_selected_stream_in_the_feed_and_toggles_off() {
    let mut s = app();
    key(&mut s, KeyCode::Down); // orders
    let selected_key = s
        .streams
        .selected_stream()
        .map(|st| st.key.clone())
        .expect("selected");
    let effects = key(&mut s, KeyCode::Char('F'));
    assert!(
        matches!(&effects[..], [Effect::Streams(StreamsEffect::Follow { key, on: true })] if *key == selected_key),
        "{effects:?}"
    );
    assert!(s.followed_streams.contains(&selected_key));
    let effects = key(&mut s, KeyCode::Char('F'));
    assert!(
        matches!(&effects[..], [Effect::Streams(StreamsEffect::Follow { key, on: false })] if *key == selected_key),
        "{effects:?}"
    );
    assert!(s.followed_streams.is_empty());
}

#[test]
fn the_rescan_note_stays_until_the_pass_completes_then_says_what_it_found() {
    let mut s = app();
    let mut state = three_streams(2, 5);
    state.scan.passes_completed = 3;
    s.update(Event::Streams(StreamsEvent::Poll(state.clone())), t0());
    key(&mut s, KeyCode::Char('R'));
    let text = |s: &AppState| s.visible_notice().map(|n| n.text.clone());
    assert_eq!(
        text(&s).as_deref(),
        Some("scanning the keyspace for streams again…")
    );
    // A poll during the pass keeps the note, even past an info notice's lifetime.
    let later = t0() + chrono::TimeDelta::seconds(20);
    state.generation = 3;
    state.scan.scanning = true;
    s.update(Event::Streams(StreamsEvent::Poll(state.clone())), later);
    assert_eq!(
        text(&s).as_deref(),
        Some("scanning the keyspace for streams again…")
    );
    // The pass completes: the note is replaced by what it found.
    state.generation = 4;
    state.scan.scanning = false;
    state.scan.passes_completed = 4;
    state.scan.streams_found = 3;
    s.update(Event::Streams(StreamsEvent::Poll(state)), later);
    assert_eq!(
        text(&s).as_deref(),
        Some("keyspace scanned: 3 streams found")
    );
    assert_eq!(s.streams.rescan_after, None);
}
