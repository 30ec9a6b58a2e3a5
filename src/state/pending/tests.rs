//! The Pending pane through AppState's public door: events in, state and effects out.

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::dialog::{Confirm, PendingModal};
use super::*;
use crate::redis::actions::{AutoclaimPreview, TrimPreview, TrimStrategy};
use crate::redis::pending::PendingRow;
use crate::redis::subscriber::Subscriptions;
use crate::state::tests::notice_text;
use crate::state::{AppState, Config, Effect, Event};

fn t(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default() + TimeDelta::milliseconds(ms)
}

fn id(ms: u64) -> StreamId {
    StreamId { ms, seq: 0 }
}

fn entry(ms: u64, consumer: &str, idle_ms: u64) -> PendingEntry {
    PendingEntry {
        id: id(ms),
        consumer: Bytes::from(consumer.to_string()),
        idle_ms,
        deliveries: 1,
        id_age_ms: 0,
        fields: None,
        preview: Some(format!("n={ms}")),
        deleted: false,
    }
}

fn target() -> PendingTarget {
    PendingTarget {
        stream: Bytes::from_static(b"jobs"),
        group: Bytes::from_static(b"workers"),
    }
}

fn press(s: &mut AppState, code: KeyCode, at: i64) -> Vec<Effect> {
    s.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)), t(at))
}

fn ch(s: &mut AppState, c: char) -> Vec<Effect> {
    press(s, KeyCode::Char(c), 0)
}

/// The pane shown with a target, no page yet.
fn pane(read_only: bool) -> AppState {
    let config = Config {
        read_only: crate::redis::actions::ReadOnly::from_flag(read_only),
        ..Config::default()
    };
    let mut s = AppState::new(config, Subscriptions::default(), t(0));
    let PendingTarget { stream, group } = target();
    s.set_pending_target(stream, group);
    s
}

/// Generations of the fetches among `effects`.
fn fetches(effects: &[Effect]) -> Vec<u64> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Pending(PendingEffect::Fetch { generation, .. }) => Some(*generation),
            _ => None,
        })
        .collect()
}

fn acts(effects: &[Effect]) -> Vec<PendingAction> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Pending(PendingEffect::Act { action, .. }) => Some(action.clone()),
            _ => None,
        })
        .collect()
}

fn page(generation: u64, entries: Vec<PendingEntry>) -> Event {
    Event::Pending(PendingEvent::Page {
        generation,
        result: Ok(PageLoad {
            page: PendingPage {
                entries,
                next: None,
                server_time_ms: 0,
                sorted: None,
            },
            summary: None,
        }),
    })
}

/// Show the pane and answer its first fetch with `entries`; the generation used.
fn shown(s: &mut AppState, entries: Vec<PendingEntry>) -> u64 {
    let effects = ch(s, '4');
    let generation = fetches(&effects)[0];
    s.update(page(generation, entries), t(0));
    generation
}

/// Answer the next periodic refresh (due a second later) with `entries`.
fn refreshed(s: &mut AppState, at: i64, entries: Vec<PendingEntry>) {
    let effects = s.update(Event::Tick, t(at));
    let generation = fetches(&effects)[0];
    s.update(page(generation, entries), t(at));
}

/// Answer the fetch among `effects` (e.g. the one a new sort asks for) with `entries`.
fn answered(s: &mut AppState, effects: &[Effect], at: i64, entries: Vec<PendingEntry>) {
    let generation = fetches(effects)[0];
    s.update(page(generation, entries), t(at));
}

fn selected(s: &AppState) -> Option<StreamId> {
    s.pending.selected
}

#[test]
fn fetches_only_while_visible_and_not_piled_up() {
    let mut s = pane(false);
    assert!(
        fetches(&s.update(Event::Tick, t(0))).is_empty(),
        "tab hidden"
    );
    let g = fetches(&ch(&mut s, '4'));
    assert_eq!(g.len(), 1, "at once when shown");
    assert!(
        fetches(&s.update(Event::Tick, t(2_000))).is_empty(),
        "the first one has not answered"
    );
    s.update(page(g[0], vec![entry(1, "w1", 10)]), t(2_000));
    assert!(
        fetches(&s.update(Event::Tick, t(2_500))).is_empty(),
        "a second after the answer, not after the request"
    );
    assert_eq!(fetches(&s.update(Event::Tick, t(3_000))).len(), 1);
}

#[test]
fn selection_follows_its_id_when_rows_shift() {
    let mut s = pane(false);
    shown(
        &mut s,
        vec![entry(1, "w1", 10), entry(2, "w1", 10), entry(3, "w1", 10)],
    );
    assert_eq!(selected(&s), Some(id(1)));
    press(&mut s, KeyCode::Down, 0);
    assert_eq!(selected(&s), Some(id(2)));
    // 1 was acked elsewhere: 2 moves up a row and stays selected.
    refreshed(&mut s, 1_000, vec![entry(2, "w1", 10), entry(3, "w1", 10)]);
    assert_eq!(selected(&s), Some(id(2)));
    assert_eq!(s.pending.selected_index(), Some(0));
    // Sorted by idle, a newcomer lands above it; still 2.
    let effects = ch(&mut s, 'o');
    answered(
        &mut s,
        &effects,
        2_000,
        vec![entry(2, "w1", 10), entry(3, "w1", 5), entry(4, "w2", 99)],
    );
    assert_eq!(selected(&s), Some(id(2)));
    assert_eq!(s.pending.selected_index(), Some(1));
    // When the selected entry leaves, the selection stays at its height.
    refreshed(&mut s, 3_000, vec![entry(3, "w1", 5), entry(4, "w2", 99)]);
    assert_eq!(selected(&s), Some(id(3)));
}

#[test]
fn marks_and_v_range_act_in_display_order() {
    let mut s = pane(false);
    shown(&mut s, (1..=6).map(|i| entry(i, "w1", 10)).collect());
    ch(&mut s, ' '); // marks 1, moves to 2
    ch(&mut s, 'v'); // anchor at 2
    press(&mut s, KeyCode::Down, 0);
    press(&mut s, KeyCode::Down, 0);
    assert_eq!(s.pending.range_ids(), vec![id(2), id(3), id(4)]);
    ch(&mut s, 'v');
    assert_eq!(s.pending.anchor, None);
    let marked: Vec<StreamId> = s.pending.marked.iter().copied().collect();
    assert_eq!(marked, vec![id(1), id(2), id(3), id(4)]);
    ch(&mut s, 'O'); // reverse: display order is now 6..1
    let effects = ch(&mut s, 'a');
    assert_eq!(
        acts(&effects),
        vec![PendingAction::Ack {
            ids: vec![id(4), id(3), id(2), id(1)]
        }]
    );
    // Marks on rows that left the page are dropped: never act on what is not shown.
    let mut s = pane(false);
    shown(&mut s, vec![entry(1, "w1", 10), entry(2, "w1", 10)]);
    ch(&mut s, ' ');
    ch(&mut s, ' ');
    refreshed(&mut s, 1_000, vec![entry(2, "w1", 10)]);
    let marked: Vec<StreamId> = s.pending.marked.iter().copied().collect();
    assert_eq!(marked, vec![id(2)]);
    press(&mut s, KeyCode::Esc, 1_000);
    assert!(s.pending.marked.is_empty());
}

#[test]
fn ack_carries_the_id_on_screen_not_a_row_index() {
    let mut s = pane(false);
    shown(&mut s, vec![entry(10, "w1", 10), entry(20, "w1", 10)]);
    press(&mut s, KeyCode::Down, 0);
    // An entry arrives above while the list refreshes: row 1 is now a different id.
    let effects = ch(&mut s, 'o');
    answered(
        &mut s,
        &effects,
        1_000,
        vec![
            entry(10, "w1", 10),
            entry(20, "w1", 10),
            entry(30, "w2", 50),
        ],
    );
    assert_eq!(s.pending.entries[1].id, id(10));
    let effects = press(&mut s, KeyCode::Char('a'), 1_000);
    assert_eq!(
        acts(&effects),
        vec![PendingAction::Ack { ids: vec![id(20)] }]
    );
    assert_eq!(s.pending.busy, Some("ack"));
    // A second action waits for the first.
    assert!(acts(&press(&mut s, KeyCode::Char('a'), 1_000)).is_empty());
    let done = s.update(
        Event::Pending(PendingEvent::Done {
            action: "ack",
            result: Ok(ActionReport {
                summary: "acked 1 of 1 entries".into(),
                complete: true,
            }),
        }),
        t(1_100),
    );
    assert_eq!(s.pending.busy, None);
    assert_eq!(
        s.visible_notice().map(|n| n.text.as_str()),
        Some("acked 1 of 1 entries")
    );
    assert_eq!(
        fetches(&done).len(),
        1,
        "the result asks for a refresh at once"
    );
}

#[test]
fn read_only_refuses_every_mutating_key_with_no_effect() {
    let mut s = pane(true);
    shown(&mut s, vec![entry(1, "w1", 10)]);
    for (key, name) in [
        ('a', "ack"),
        ('c', "claim"),
        ('A', "autoclaim"),
        ('d', "dead-letter"),
        ('x', "delete"),
        ('T', "trim"),
    ] {
        // Nothing is sent; the refusal goes to the audit log, naming the target.
        let effects = ch(&mut s, key);
        assert!(
            matches!(effects.as_slice(), [Effect::AuditRefusal { action, stream: Some(_), group: Some(_) }] if action == name),
            "{key}: {effects:?}"
        );
        assert!(s.pending.modal.is_none(), "{key}");
        let notice = notice_text(&s);
        assert!(
            notice.starts_with(&format!("read-only mode: {name} is disabled")),
            "{notice}"
        );
    }
}

#[test]
fn stale_pages_are_ignored() {
    let mut s = pane(false);
    let first = fetches(&ch(&mut s, '4'))[0];
    // The idle filter changes before the first answer arrives.
    ch(&mut s, 'i');
    for c in "60s".chars() {
        ch(&mut s, c);
    }
    let second = fetches(&press(&mut s, KeyCode::Enter, 0));
    assert_eq!(second.len(), 1);
    assert_eq!(s.pending.min_idle_ms, Some(60_000));
    s.update(page(first, vec![entry(1, "old", 1)]), t(0));
    assert!(s.pending.entries.is_empty(), "answer to the old query");
    s.update(page(second[0], vec![entry(2, "new", 70_000)]), t(0));
    assert_eq!(s.pending.entries[0].id, id(2));
    // An older refresh arriving after a newer one never replaces it.
    let a = fetches(&s.update(Event::Tick, t(1_000)))[0];
    s.update(page(a, vec![entry(3, "newer", 1)]), t(1_000));
    s.update(page(a - 1, vec![entry(4, "older", 1)]), t(1_000));
    assert_eq!(s.pending.entries[0].id, id(3));
}

fn confirm(s: &AppState) -> Option<&Confirm> {
    match &s.pending.modal {
        Some(PendingModal::Confirm(c)) => Some(c),
        _ => None,
    }
}

#[test]
fn delete_and_dead_letter_ask_first() {
    let mut s = pane(false);
    shown(&mut s, vec![entry(1, "w1", 10), entry(2, "w1", 10)]);
    assert!(ch(&mut s, 'x').is_empty());
    assert!(confirm(&s).is_some_and(|c| c.lines.iter().any(|l| l.contains("1-0"))));
    assert!(acts(&ch(&mut s, 'n')).is_empty());
    assert!(s.pending.modal.is_none());
    ch(&mut s, 'x');
    assert_eq!(
        acts(&ch(&mut s, 'y')),
        vec![PendingAction::Delete { ids: vec![id(1)] }]
    );
    s.pending.busy = None;
    ch(&mut s, 'd');
    assert!(confirm(&s).is_some_and(|c| c.lines[0].contains("jobs:dlq")));
    assert!(acts(&press(&mut s, KeyCode::Esc, 0)).is_empty());
    ch(&mut s, 'd');
    assert_eq!(
        acts(&ch(&mut s, 'y')),
        vec![PendingAction::DeadLetter {
            dlq: Bytes::from_static(b"jobs:dlq"),
            ids: vec![id(1)]
        }]
    );
}

#[test]
fn claim_picks_a_consumer_and_min_idle() {
    let mut s = pane(false);
    shown(&mut s, vec![entry(1, "w3", 900_000)]);
    let effects = ch(&mut s, 'c');
    assert!(matches!(
        effects.as_slice(),
        [Effect::Pending(PendingEffect::Consumers { .. })]
    ));
    s.update(
        Event::Pending(PendingEvent::Consumers {
            target: target(),
            result: Ok(vec![
                ConsumerRow {
                    name: Bytes::from_static(b"w3"),
                    pending: 1,
                    idle_ms: Some(900_000),
                },
                ConsumerRow {
                    name: Bytes::from_static(b"w2"),
                    pending: 0,
                    idle_ms: Some(20),
                },
            ]),
        }),
        t(0),
    );
    // The most recently active consumer is first; Tab goes to min idle.
    press(&mut s, KeyCode::Up, 0);
    press(&mut s, KeyCode::Tab, 0);
    press(&mut s, KeyCode::Backspace, 0);
    press(&mut s, KeyCode::Enter, 0);
    let c = confirm(&s).cloned();
    assert!(
        c.is_some_and(|c| c.lines[0].contains("w2") && c.lines[0].contains("idle at least 6.0s"))
    );
    assert_eq!(
        acts(&ch(&mut s, 'y')),
        vec![PendingAction::Claim {
            consumer: Bytes::from_static(b"w2"),
            min_idle_ms: 6_000,
            ids: vec![id(1)]
        }]
    );
}

#[test]
fn autoclaim_is_previewed_then_confirmed() {
    let mut s = pane(false);
    shown(&mut s, vec![entry(1, "w3", 900_000)]);
    ch(&mut s, 'A');
    for c in "fresh".chars() {
        ch(&mut s, c);
    }
    let effects = press(&mut s, KeyCode::Enter, 0);
    assert_eq!(
        acts(&effects),
        vec![PendingAction::AutoclaimPreview {
            consumer: Bytes::from_static(b"fresh"),
            min_idle_ms: DEFAULT_MIN_IDLE_MS
        }]
    );
    assert_eq!(s.pending.busy, None, "a preview changes nothing");
    let row = |ms, c: &'static [u8]| PendingRow {
        id: id(ms),
        consumer: Bytes::from_static(c),
        idle_ms: 90_000,
        deliveries: 1,
    };
    s.update(
        Event::Pending(PendingEvent::AutoclaimPreview {
            target: target(),
            consumer: Bytes::from_static(b"fresh"),
            result: Ok(AutoclaimPreview {
                min_idle_ms: DEFAULT_MIN_IDLE_MS,
                entries: vec![row(1, b"w3"), row(2, b"w3"), row(3, b"w1")],
                by_consumer: vec![
                    (Bytes::from_static(b"w3"), 2),
                    (Bytes::from_static(b"w1"), 1),
                ],
                truncated: false,
            }),
        }),
        t(0),
    );
    let c = confirm(&s).cloned();
    assert!(c.is_some_and(|c| c.lines[1] == "w3 loses 2, w1 loses 1"));
    assert_eq!(
        acts(&ch(&mut s, 'y')),
        vec![PendingAction::Autoclaim {
            consumer: Bytes::from_static(b"fresh"),
            min_idle_ms: DEFAULT_MIN_IDLE_MS
        }]
    );
}

#[test]
fn trim_previews_and_a_cancelled_preview_is_dropped() {
    let mut s = pane(false);
    shown(&mut s, vec![entry(1, "w1", 10)]);
    ch(&mut s, 'T');
    for c in "MAXLEN 2".chars() {
        ch(&mut s, c);
    }
    let strategy = TrimStrategy::MaxLen(2);
    assert_eq!(
        acts(&press(&mut s, KeyCode::Enter, 0)),
        vec![PendingAction::TrimPreview { strategy }]
    );
    press(&mut s, KeyCode::Esc, 0);
    let preview = || {
        Event::Pending(PendingEvent::TrimPreview {
            target: target(),
            result: Ok(TrimPreview {
                strategy,
                length: 5,
                would_remove: 3,
                over_limit: false,
            }),
        })
    };
    s.update(preview(), t(0));
    assert!(
        s.pending.modal.is_none(),
        "cancelled: no dialog pops up later"
    );
    ch(&mut s, 'T');
    for c in "MAXLEN 2".chars() {
        ch(&mut s, c);
    }
    press(&mut s, KeyCode::Enter, 0);
    s.update(preview(), t(0));
    assert!(confirm(&s).is_some_and(|c| c.lines[0].contains("3 entries of 5 would be removed")));
    assert_eq!(
        acts(&ch(&mut s, 'y')),
        vec![PendingAction::Trim { strategy }]
    );
}

#[test]
fn target_prompt_sets_the_target_and_fetches() {
    let config = Config::default();
    let mut s = AppState::new(config, Subscriptions::default(), t(0));
    assert!(
        fetches(&ch(&mut s, '4')).is_empty(),
        "no target, nothing to fetch"
    );
    ch(&mut s, 't');
    for c in "orders".chars() {
        ch(&mut s, c);
    }
    press(&mut s, KeyCode::Enter, 0);
    assert!(matches!(&s.pending.modal, Some(PendingModal::Prompt(p)) if p.error.is_some()));
    for c in " billing".chars() {
        ch(&mut s, c);
    }
    let effects = press(&mut s, KeyCode::Enter, 0);
    assert_eq!(
        s.pending.target,
        Some(PendingTarget {
            stream: Bytes::from_static(b"orders"),
            group: Bytes::from_static(b"billing"),
        })
    );
    assert_eq!(fetches(&effects).len(), 1);
}

/// Fetch effects' orders, in the order asked.
fn orders(effects: &[Effect]) -> Vec<Option<PendingOrder>> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Pending(PendingEffect::Fetch { order, query, .. }) => {
                assert!(
                    order.is_none() || query.start.is_none(),
                    "sorted pages use offsets"
                );
                Some(*order)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_sort_asks_for_the_whole_list_sorted_and_pages_through_it() {
    let mut s = pane(false);
    shown(&mut s, vec![entry(1, "w1", 10), entry(2, "w1", 90)]);
    // `o`: idle, oldest first — re-sorted on screen at once, then read over the whole list.
    let effects = ch(&mut s, 'o');
    assert_eq!(s.pending.entries[0].id, id(2));
    let idle = |offset| PendingOrder {
        by: PendingSort::Idle,
        descending: true,
        offset,
        limit: SORT_MAX,
    };
    assert_eq!(orders(&effects), vec![Some(idle(0))]);
    let generation = fetches(&effects)[0];
    let sorted = |rows, bounded| PendingPage {
        entries: vec![entry(7, "w2", 500), entry(2, "w1", 90)],
        next: Some(id(2)),
        server_time_ms: 0,
        sorted: Some(SortedRead { rows, bounded }),
    };
    s.update(
        Event::Pending(PendingEvent::Page {
            generation,
            result: Ok(PageLoad {
                page: sorted(20_000, true),
                summary: None,
            }),
        }),
        t(0),
    );
    assert_eq!(s.pending.entries[0].id, id(7), "the server's order is kept");
    assert_eq!(s.pending.sorted.map(|r| r.bounded), Some(true));
    // The next page is the next slice of the sorted list, not an XPENDING cursor.
    assert_eq!(orders(&ch(&mut s, ']')), vec![Some(idle(PAGE_SIZE))]);
    // Back to ids: XPENDING's own pages again.
    for _ in 0..3 {
        ch(&mut s, 'o');
    }
    assert_eq!(s.pending.sort, PendingSort::Id);
    assert_eq!(s.pending.order(), None);
}

#[test]
fn a_big_sorted_read_refreshes_less_often() {
    let mut s = pane(false);
    shown(&mut s, vec![entry(1, "w1", 10)]);
    assert_eq!(fetches(&s.update(Event::Tick, t(1_000))).len(), 1);
    let mut s = pane(false);
    shown(&mut s, vec![entry(1, "w1", 10)]);
    s.pending.sorted = Some(SortedRead {
        rows: 5_000,
        bounded: false,
    });
    assert!(fetches(&s.update(Event::Tick, t(1_000))).is_empty());
    assert_eq!(fetches(&s.update(Event::Tick, t(5_000))).len(), 1);
}

#[test]
fn last_page_note_goes_on_the_next_page_move() {
    let mut s = pane(false);
    shown(&mut s, vec![entry(1, "w1", 10)]);
    ch(&mut s, ']');
    assert_eq!(
        s.visible_notice().map(|n| n.text.as_str()),
        Some("this is the last page")
    );
    ch(&mut s, '[');
    assert_eq!(s.visible_notice(), None, "superseded by going to page 1");
}

#[test]
fn enter_opens_the_selected_entry_and_esc_closes_it() {
    let mut s = pane(false);
    let mut with_fields = entry(7, "w1", 10);
    with_fields.fields = Some(vec![
        (Bytes::from_static(b"a"), Bytes::from_static(b"1")),
        (Bytes::from_static(b"a"), Bytes::from_static(b"2")),
    ]);
    shown(&mut s, vec![entry(5, "w1", 10), with_fields]);
    press(&mut s, KeyCode::Down, 0);
    press(&mut s, KeyCode::Enter, 0);
    let (pending, opened) = s.pending.opened().expect("the entry is open");
    assert_eq!(pending.id, id(7));
    assert_eq!(opened.fields.len(), 2, "duplicates kept, in order");
    assert_eq!(opened.fields[1].1, Bytes::from_static(b"2"));
    // Keys scroll the entry, not the list; Esc goes back with the selection unchanged.
    press(&mut s, KeyCode::Up, 0);
    assert_eq!(selected(&s), Some(id(7)));
    press(&mut s, KeyCode::Esc, 0);
    assert!(s.pending.open_entry.is_none());
    assert_eq!(selected(&s), Some(id(7)));
}
