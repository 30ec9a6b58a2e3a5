use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use crossterm::event::{KeyCode, KeyEvent as Key, KeyModifiers};

use super::*;
use crate::redis::message::KeyEvent;
use crate::state::{AppState, Config, Event, Tab};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .map(|d| d.to_utc())
        .expect("fixed time")
}

fn ev(seq: u64, key: &str, event: &str, node: &str, secs: i64) -> KeyEvent {
    KeyEvent {
        seq,
        received: t0() + TimeDelta::seconds(secs),
        node: Arc::from(node),
        db: 0,
        key: Bytes::copy_from_slice(key.as_bytes()),
        event: Bytes::copy_from_slice(event.as_bytes()),
    }
}

fn key(c: char) -> Event {
    Event::Key(Key::new(KeyCode::Char(c), KeyModifiers::NONE))
}

#[test]
fn ring_keeps_the_newest_and_counts_evictions() {
    let mut pane = KeyspacePane::with_cap(3, 100);
    for i in 0..5 {
        pane.push(ev(i, &format!("k:{i}"), "set", "n:1", 0));
    }
    assert_eq!(pane.len(), 3);
    assert_eq!(pane.evicted, 2);
    assert_eq!(rows(&pane, 10), ["k:4", "k:3", "k:2"], "newest first");
    // The keys table counted every event, evicted from the ring or not.
    assert_eq!(pane.keys.len(), 5);
}

#[test]
fn pause_holds_the_view_and_counts_what_arrived() {
    let mut pane = KeyspacePane::with_cap(100, 100);
    pane.push(ev(1, "a", "set", "n", 0));
    pane.toggle_pause();
    pane.push(ev(2, "b", "set", "n", 1));
    pane.push(ev(3, "c", "del", "n", 2));
    assert_eq!(pane.held(), 2);
    assert_eq!(rows(&pane, 10), ["a"], "events after the pause wait");
    pane.toggle_pause();
    assert_eq!(pane.visible(10).len(), 3);
}

#[test]
fn keys_table_counts_events_per_key_and_name() {
    let mut table = KeysTable::with_limit(100);
    for (i, (k, e)) in [("a", "set"), ("a", "set"), ("a", "expire"), ("b", "del")]
        .into_iter()
        .enumerate()
    {
        table.record(&ev(i as u64, k, e, "n:1", i as i64));
    }
    let rows = table.rows(t0() + TimeDelta::seconds(4), None);
    assert_eq!(rows.len(), 2);
    let a = &rows[0];
    assert_eq!(&a.key[..], b"a", "most events first by default");
    assert_eq!(a.total, 3);
    assert_eq!(
        a.events,
        vec![(Bytes::from("set"), 2), (Bytes::from("expire"), 1)]
    );
    assert_eq!(&a.last_event[..], b"expire");
    assert_eq!(a.last_at, t0() + TimeDelta::seconds(2));
    assert!(a.rate > 0.0);
    assert_eq!(rows[1].total, 1);
}

#[test]
fn keys_table_sorts_like_the_channels_table() {
    let mut table = KeysTable::with_limit(100);
    table.record(&ev(1, "b", "set", "n:2", 0));
    table.record(&ev(2, "a", "set", "n:1", 1));
    table.record(&ev(3, "a", "set", "n:1", 2));
    let keys = |t: &KeysTable| -> Vec<Bytes> {
        t.rows(t0() + TimeDelta::seconds(3), None)
            .into_iter()
            .map(|r| r.key)
            .collect()
    };
    assert_eq!(keys(&table), [Bytes::from("a"), Bytes::from("b")]);
    table.sort_next(); // rate
    assert_eq!(table.sort, KeySort::Rate);
    table.sort_next(); // last event, newest first
    assert_eq!(table.sort, KeySort::Last);
    assert_eq!(keys(&table), [Bytes::from("a"), Bytes::from("b")]);
    table.sort_next(); // node, A→Z
    assert_eq!(keys(&table), [Bytes::from("a"), Bytes::from("b")]);
    table.descending ^= true;
    assert_eq!(keys(&table), [Bytes::from("b"), Bytes::from("a")]);
    table.sort_next(); // key, A→Z
    assert_eq!(table.sort, KeySort::Key);
    assert!(!table.descending);
    assert_eq!(keys(&table), [Bytes::from("a"), Bytes::from("b")]);
}

#[test]
fn keys_table_evicts_the_oldest_idle_and_counts_them() {
    let mut table = KeysTable::with_limit(10);
    for i in 0..10 {
        table.record(&ev(i, &format!("k:{i}"), "set", "n", i as i64));
    }
    // k:0 is busy again: the idle ones go first.
    table.record(&ev(10, "k:0", "set", "n", 10));
    table.record(&ev(11, "new", "set", "n", 11));
    assert!(table.len() <= 10);
    assert!(table.evicted() > 0);
    assert_eq!(
        table.len() as u64 + table.evicted(),
        11,
        "every key counted once"
    );
    let rows = table.rows(t0() + TimeDelta::seconds(12), None);
    assert!(
        rows.iter().any(|r| &r.key[..] == b"k:0"),
        "recently busy kept"
    );
    assert!(rows.iter().any(|r| &r.key[..] == b"new"), "newest kept");
    assert!(
        !rows.iter().any(|r| &r.key[..] == b"k:1"),
        "oldest idle evicted"
    );
}

#[test]
fn filter_maps_channel_to_key_and_payload_to_event() {
    let mut pane = KeyspacePane::with_cap(100, 100);
    pane.push(ev(1, "user:1", "set", "n", 0));
    pane.push(ev(2, "user:2", "del", "n", 1));
    pane.push(ev(3, "order:1", "set", "n", 2));
    pane.set_filter(Some(
        crate::filter::Filter::parse("channel:user:*").expect("parses"),
    ));
    assert_eq!(pane.matching_len(), 2);
    pane.set_filter(Some(crate::filter::Filter::parse("del").expect("parses")));
    assert_eq!(rows(&pane, 10), ["user:2"]);
    let filter = crate::filter::Filter::parse("channel:order:* set").expect("parses");
    let rows = pane.keys.rows(t0(), Some(&filter));
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0].key[..], b"order:1");
    assert_eq!(pane.keys.matching_len(Some(&filter)), 1);
}

#[test]
fn start_prompt_parses_glob_and_events() {
    let spec = parse_start("user:* set,DEL expired", Some(2)).expect("a spec");
    assert_eq!(spec.globs, vec![Bytes::from("user:*")]);
    let events: Vec<&str> = spec.events.iter().flatten().map(String::as_str).collect();
    assert_eq!(events, ["del", "expired", "set"]);
    assert_eq!(spec.db, Some(2));
    assert!(parse_start("   ", None).is_none());
    assert!(parse_start("k:*", None).expect("a spec").events.is_none());
}

#[test]
fn pane_keys_start_toggle_and_refuse_enable_in_read_only() {
    let config = Config {
        read_only: crate::redis::actions::ReadOnly::from_flag(true),
        ..Config::default()
    };
    let mut s = AppState::new(config, Default::default(), t0());
    s.update(key('5'), t0());
    assert_eq!(s.tab, Tab::Keyspace);
    // Start: the prompt takes a glob and asks app.rs to start the engine.
    s.update(key('s'), t0());
    for c in "k:* set".chars() {
        s.update(key(c), t0());
    }
    let effects = s.update(
        Event::Key(Key::new(KeyCode::Enter, KeyModifiers::NONE)),
        t0(),
    );
    let started = effects.iter().any(|e| {
        matches!(e, Effect::Keyspace(KeyspaceEffect::Start(spec))
            if spec.globs == vec![Bytes::from("k:*")])
    });
    assert!(started, "{effects:?}");
    s.update(key('t'), t0());
    assert!(s.keyspace.show_keys);
    // A node lacks flags: enabling is refused in read-only mode, and the refusal audited.
    s.update(
        Event::Keyspace(KeyspaceEvent::Settings(vec![Finding::Missing {
            addr: "127.0.0.1:6379".into(),
            replica: false,
            current: String::new(),
            missing: "K$".into(),
            fix: String::new(),
        }])),
        t0(),
    );
    let effects = s.update(key('E'), t0());
    assert!(s.keyspace.modal.is_none(), "no dialog in read-only mode");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::AuditRefusal { action, .. } if action == "notify-enable")),
        "{effects:?}"
    );
}

#[test]
fn enable_asks_for_confirmation_first() {
    let mut s = AppState::new(Config::default(), Default::default(), t0());
    s.start_keyspace(parse_start("k:*", None).expect("a spec"));
    s.update(key('5'), t0());
    s.update(
        Event::Keyspace(KeyspaceEvent::Settings(vec![Finding::Missing {
            addr: "127.0.0.1:6379".into(),
            replica: false,
            current: String::new(),
            missing: "KA".into(),
            fix: String::new(),
        }])),
        t0(),
    );
    assert!(s.update(key('E'), t0()).is_empty());
    assert!(matches!(
        s.keyspace.modal,
        Some(KeyspaceModal::ConfirmEnable)
    ));
    let effects = s.update(key('y'), t0());
    assert_eq!(effects, vec![Effect::Keyspace(KeyspaceEffect::Enable)]);
    assert!(s.keyspace.modal.is_none());
}

#[test]
fn gaps_are_counted_per_node() {
    let mut pane = KeyspacePane::default();
    let gap = |reason: &str| {
        Delivery::Gap(crate::redis::message::Gap {
            from: t0(),
            to: t0() + TimeDelta::seconds(1),
            reason: reason.into(),
            handover: false,
        })
    };
    pane.on_deliveries(vec![
        gap("node 10.0.0.5:7000: connection reset"),
        gap("node 10.0.0.5:7000: connection reset"),
        gap("node 10.0.0.6:7001: timed out"),
        gap("connection reset"),
    ]);
    assert_eq!(pane.gaps.get("10.0.0.5:7000"), Some(&2));
    assert_eq!(pane.gaps.get("10.0.0.6:7001"), Some(&1));
    assert_eq!(pane.gaps.get(""), Some(&1));
}

fn outage(node: &str, secs: i64) -> crate::redis::message::Gap {
    crate::redis::message::Gap {
        from: t0() + TimeDelta::seconds(secs),
        to: t0() + TimeDelta::seconds(secs + 1),
        reason: format!("node {node}: connection reset"),
        handover: false,
    }
}

/// The list as letters: an event's key, or `|node` for a gap.
fn rows(pane: &KeyspacePane, n: usize) -> Vec<String> {
    pane.visible(n)
        .iter()
        .map(|r| match r {
            Row::Event(e) => String::from_utf8_lossy(&e.key).into_owned(),
            Row::Gap(g) => format!("|{}", g.gap.reason.split(':').next().unwrap_or("")),
        })
        .collect()
}

#[test]
fn gaps_are_rows_where_they_happened_and_no_filter_hides_them() {
    let mut pane = KeyspacePane::with_cap(100, 100);
    pane.on_deliveries(vec![Delivery::Gap(outage("n0", 0))]);
    pane.push(ev(1, "a", "set", "n1", 1));
    pane.push(ev(2, "b", "del", "n1", 2));
    pane.on_deliveries(vec![
        Delivery::Gap(outage("n1", 3)),
        Delivery::Gap(outage("n2", 3)),
    ]);
    pane.push(ev(3, "c", "set", "n1", 4));
    assert_eq!(
        rows(&pane, 10),
        ["c", "|node n2", "|node n1", "b", "a", "|node n0"]
    );
    assert_eq!(rows(&pane, 3), ["c", "|node n2", "|node n1"]);
    // The per-node counts stay as before.
    assert_eq!(pane.gaps.get("n1"), Some(&1));

    pane.set_filter(Some(Filter::parse("ch:a").expect("a filter")));
    assert_eq!(rows(&pane, 10), ["|node n2", "|node n1", "a", "|node n0"]);
}

#[test]
fn a_gap_while_paused_waits_like_an_event_and_scrolling_counts_it() {
    let mut pane = KeyspacePane::with_cap(100, 100);
    pane.push(ev(1, "a", "set", "n", 0));
    pane.push(ev(2, "b", "set", "n", 1));
    pane.toggle_pause();
    pane.on_deliveries(vec![Delivery::Gap(outage("n", 2))]);
    pane.push(ev(3, "c", "set", "n", 3));
    assert_eq!(rows(&pane, 10), ["b", "a"], "the view holds still");
    pane.toggle_pause();
    assert_eq!(rows(&pane, 10), ["c", "|node n", "b", "a"]);
    // Four rows in a two-row window: moving down stops at the last two.
    pane.move_by(10, 2);
    assert_eq!(rows(&pane, 2), ["b", "a"]);
}

#[test]
fn a_gap_goes_when_the_events_after_it_are_evicted_and_rows_are_bounded() {
    let mut pane = KeyspacePane::with_cap(2, 100);
    pane.push(ev(1, "a", "set", "n", 0));
    pane.on_deliveries(vec![Delivery::Gap(outage("n", 1))]);
    pane.push(ev(2, "b", "set", "n", 2));
    pane.push(ev(3, "c", "set", "n", 3));
    assert_eq!(
        rows(&pane, 10),
        ["c", "b", "|node n"],
        "a evicted: the gap is the oldest row"
    );
    pane.push(ev(4, "d", "set", "n", 4));
    assert_eq!(
        rows(&pane, 10),
        ["d", "c"],
        "b evicted: the gap before it went too"
    );
    assert_eq!(pane.gaps.get("n"), Some(&1), "still counted");

    let mut flapping = KeyspacePane::with_cap(10, 100);
    for i in 0..MAX_GAP_ROWS as i64 + 5 {
        flapping.on_deliveries(vec![Delivery::Gap(outage("n", i))]);
    }
    assert_eq!(flapping.visible(usize::MAX).len(), MAX_GAP_ROWS);
    assert_eq!(flapping.gaps.get("n"), Some(&(MAX_GAP_ROWS as u64 + 5)));
}

#[test]
fn a_click_selects_a_keys_table_row() {
    let mut s = AppState::new(Config::default(), Default::default(), t0());
    s.start_keyspace(parse_start("k:*", None).expect("a spec"));
    s.update(key('5'), t0());
    s.update(key('t'), t0());
    let batch = (0..3)
        .map(|i| Delivery::Keyspace(ev(i, &format!("k:{i}"), "set", "n", 0)))
        .collect();
    s.update(Event::Keyspace(KeyspaceEvent::Deliveries(batch)), t0());
    let top = s.areas().body.y + TOP_ROWS;
    let click = |row| {
        Event::Mouse(crossterm::event::MouseEvent {
            kind: crossterm::event::MouseEventKind::Down(crossterm::event::MouseButton::Left),
            column: 5,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    s.update(click(top + 2), t0());
    assert_eq!(s.keyspace.keys.selected, 2);
    s.update(click(top + 9), t0());
    assert_eq!(s.keyspace.keys.selected, 2, "below the last row: unchanged");
}
