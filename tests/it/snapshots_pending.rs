//! Pending pane snapshots: the real `ui::render` into a `TestBackend` of fixed size with a
//! fixed clock; pages, consumers and previews are fed in as the events app.rs would send.

use crate::common::screen;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyModifiers};
use ratatui::buffer::Buffer;

use redtail::redis::actions::{AutoclaimPreview, TrimPreview, TrimStrategy};
use redtail::redis::pending::{
    preview_fields, PendingEntry, PendingPage, PendingRow, PendingSummary, SortedRead, StreamId,
};
use redtail::redis::subscriber::Subscriptions;
use redtail::state::pending::{ConsumerRow, PageLoad, PendingEffect, PendingEvent, PendingTarget};
use redtail::state::status::{ConnView, StatusUpdate};
use redtail::state::{AppState, Config, Effect, Event};
use screen::draw;

const WIDTH: u16 = 110;
const HEIGHT: u16 = 26;
/// The server's clock when the page was read: ids below are this minus their age.
const SERVER_MS: u64 = 1_795_000_000_000;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:05Z")
        .map(|d| d.to_utc())
        .expect("fixed test time")
}

fn state(read_only: bool) -> AppState {
    let config = Config {
        target: "redis://10.0.0.5:6380".into(),
        size: (WIDTH, HEIGHT),
        read_only: redtail::redis::actions::ReadOnly::from_flag(read_only),
        ..Config::default()
    };
    let mut s = AppState::new(config, Subscriptions::default(), now());
    s.update(
        Event::Status(StatusUpdate {
            conn: ConnView::Connected { since: now() },
            wanted: Subscriptions::default(),
        }),
        now(),
    );
    s
}

fn key(s: &mut AppState, code: KeyCode) -> Vec<Effect> {
    screen::press(s, code, KeyModifiers::NONE, now())
}

fn keys(s: &mut AppState, text: &str) {
    screen::type_text(s, text, now());
}

fn id(age_ms: u64, seq: u64) -> StreamId {
    StreamId {
        ms: SERVER_MS - age_ms,
        seq,
    }
}

fn entry(
    id: StreamId,
    consumer: &[u8],
    idle_ms: u64,
    deliveries: u64,
    fields: Option<Vec<(&[u8], &[u8])>>,
) -> PendingEntry {
    let fields: Option<Vec<(Bytes, Bytes)>> = fields.map(|f| {
        f.into_iter()
            .map(|(k, v)| (Bytes::copy_from_slice(k), Bytes::copy_from_slice(v)))
            .collect()
    });
    PendingEntry {
        id,
        consumer: Bytes::copy_from_slice(consumer),
        idle_ms,
        deliveries,
        id_age_ms: SERVER_MS - id.ms,
        preview: fields.as_deref().map(preview_fields),
        deleted: fields.is_none(),
        fields,
    }
}

/// A crashed worker-3 holding most entries, worker-1 a few, one entry deleted from the
/// stream, one poison message, and a hostile preview and consumer name.
fn entries() -> Vec<PendingEntry> {
    vec![
        entry(
            id(912_000, 0),
            b"worker-3",
            905_000,
            1,
            Some(vec![
                (b"prompt", b"summarise the Q3 report"),
                (b"model", b"gpt-4o"),
            ]),
        ),
        entry(
            id(911_500, 0),
            b"worker-3",
            904_800,
            5,
            Some(vec![
                (b"prompt", b"translate to French: bonjour"),
                (b"retry", b"4"),
            ]),
        ),
        entry(id(910_000, 1), b"worker-3", 903_900, 2, None),
        entry(
            id(400_000, 0),
            b"worker-1",
            12_300,
            1,
            Some(vec![(b"prompt", b"\x1b]0;pwned\x07\x1b[2J hi\nthere")]),
        ),
        entry(
            id(65_000, 0),
            b"w\x1b[31mevil",
            64_000,
            1,
            Some(vec![(b"prompt", b"classify this ticket")]),
        ),
    ]
}

fn summary() -> PendingSummary {
    PendingSummary {
        count: 40,
        min_id: Some(id(912_000, 0)),
        max_id: Some(id(65_000, 0)),
        consumers: vec![
            (Bytes::from_static(b"worker-3"), 37),
            (Bytes::from_static(b"worker-1"), 2),
            (Bytes::from_static(b"w\x1b[31mevil"), 1),
        ],
    }
}

/// The Pending pane on `jobs` / `inference`, showing the page.
fn loaded(read_only: bool) -> AppState {
    let mut s = state(read_only);
    s.set_pending_target(
        Bytes::from_static(b"jobs"),
        Bytes::from_static(b"inference"),
    );
    let effects = key(&mut s, KeyCode::Char('4'));
    let generation = effects
        .iter()
        .find_map(|e| match e {
            Effect::Pending(PendingEffect::Fetch { generation, .. }) => Some(*generation),
            _ => None,
        })
        .expect("showing the pane fetches a page");
    s.update(
        Event::Pending(PendingEvent::Page {
            generation,
            result: Ok(PageLoad {
                page: PendingPage {
                    entries: entries(),
                    next: None,
                    server_time_ms: SERVER_MS,
                    sorted: None,
                },
                summary: Some(summary()),
            }),
        }),
        now(),
    );
    s
}

fn target() -> PendingTarget {
    PendingTarget {
        stream: Bytes::from_static(b"jobs"),
        group: Bytes::from_static(b"inference"),
    }
}

fn text(buf: &Buffer) -> String {
    let text = screen::text(buf);
    // Whatever the server sent, no control character reaches the terminal.
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "raw control character on screen:\n{text}"
    );
    text
}

#[test]
fn pending_list() {
    let mut s = loaded(false);
    // Mark the second row, then the fourth and fifth as a range; the cursor stays on 5.
    key(&mut s, KeyCode::Down);
    keys(&mut s, " ");
    key(&mut s, KeyCode::Down);
    keys(&mut s, "v");
    key(&mut s, KeyCode::Down);
    keys(&mut s, "v");
    let screen = text(&draw(&s));
    insta::assert_snapshot!("pending_list", screen);
    assert!(screen.contains("(deleted from the stream)"));
    assert!(screen.contains("\\x1b]0;pwned\\x07"), "{screen}");
    assert!(screen.contains("w\\x1b[31mevil"), "{screen}");
}

#[test]
fn pending_sorted_by_idle_with_a_range_started() {
    let mut s = loaded(false);
    keys(&mut s, "o");
    keys(&mut s, "v");
    key(&mut s, KeyCode::Down);
    insta::assert_snapshot!("pending_sorted_range", text(&draw(&s)));
}

#[test]
fn pending_no_target_hint() {
    let mut s = state(false);
    key(&mut s, KeyCode::Char('4'));
    let screen = text(&draw(&s));
    assert!(screen.contains("press t to choose a stream and group"));
    insta::assert_snapshot!("pending_no_target", screen);
}

#[test]
fn pending_target_prompt() {
    let mut s = state(false);
    key(&mut s, KeyCode::Char('4'));
    keys(&mut s, "tjobs");
    key(&mut s, KeyCode::Enter);
    insta::assert_snapshot!("pending_target_prompt", text(&draw(&s)));
}

#[test]
fn pending_claim_picker() {
    let mut s = loaded(false);
    keys(&mut s, " ");
    keys(&mut s, " ");
    keys(&mut s, "c");
    s.update(
        Event::Pending(PendingEvent::Consumers {
            target: target(),
            result: Ok(vec![
                ConsumerRow {
                    name: Bytes::from_static(b"worker-3"),
                    pending: 37,
                    idle_ms: Some(905_000),
                },
                ConsumerRow {
                    name: Bytes::from_static(b"worker-1"),
                    pending: 2,
                    idle_ms: Some(1_200),
                },
                ConsumerRow {
                    name: Bytes::from_static(b"worker-2"),
                    pending: 0,
                    idle_ms: Some(300),
                },
            ]),
        }),
        now(),
    );
    insta::assert_snapshot!("pending_claim_picker", text(&draw(&s)));
    key(&mut s, KeyCode::Enter);
    insta::assert_snapshot!("pending_claim_confirm", text(&draw(&s)));
}

#[test]
fn pending_autoclaim_preview() {
    let mut s = loaded(false);
    keys(&mut s, "Aworker-2");
    key(&mut s, KeyCode::Enter);
    let row = |age, consumer: &'static [u8]| PendingRow {
        id: id(age, 0),
        consumer: Bytes::from_static(consumer),
        idle_ms: 900_000,
        deliveries: 1,
    };
    let mut rows: Vec<PendingRow> = (0..38).map(|i| row(900_000 + i, b"worker-3")).collect();
    rows.push(row(100, b"worker-1"));
    rows.push(row(101, b"worker-1"));
    s.update(
        Event::Pending(PendingEvent::AutoclaimPreview {
            target: target(),
            consumer: Bytes::from_static(b"worker-2"),
            result: Ok(AutoclaimPreview {
                min_idle_ms: 60_000,
                entries: rows,
                by_consumer: vec![
                    (Bytes::from_static(b"worker-3"), 38),
                    (Bytes::from_static(b"worker-1"), 2),
                ],
                truncated: false,
            }),
        }),
        now(),
    );
    let screen = text(&draw(&s));
    assert!(screen.contains("worker-3 loses 38, worker-1 loses 2"));
    insta::assert_snapshot!("pending_autoclaim_confirm", screen);
}

#[test]
fn pending_dead_letter_delete_and_trim_confirmations() {
    let mut s = loaded(false);
    key(&mut s, KeyCode::Down);
    keys(&mut s, " ");
    keys(&mut s, " ");
    keys(&mut s, "d");
    insta::assert_snapshot!("pending_dead_letter_confirm", text(&draw(&s)));
    keys(&mut s, "n");
    keys(&mut s, "x");
    insta::assert_snapshot!("pending_delete_confirm", text(&draw(&s)));
    keys(&mut s, "n");
    keys(&mut s, "TMAXLEN 1000");
    key(&mut s, KeyCode::Enter);
    s.update(
        Event::Pending(PendingEvent::TrimPreview {
            target: target(),
            result: Ok(TrimPreview {
                strategy: TrimStrategy::MaxLen(1000),
                length: 1_037,
                would_remove: 37,
                over_limit: false,
            }),
        }),
        now(),
    );
    insta::assert_snapshot!("pending_trim_confirm", text(&draw(&s)));
}

#[test]
fn pending_read_only_footer_and_refusal() {
    let mut s = loaded(true);
    // Nothing is sent: the one effect is the refusal's audit line.
    let effects = key(&mut s, KeyCode::Char('a'));
    assert!(
        matches!(effects.as_slice(), [Effect::AuditRefusal { action, .. }] if action == "ack"),
        "{effects:?}"
    );
    let screen = text(&draw(&s));
    let footer = screen.lines().last().unwrap_or_default().to_string();
    assert!(footer.starts_with(" READ-ONLY "), "{footer}");
    assert!(
        footer.contains("read-only mode: ack is disabled"),
        "{footer}"
    );
    insta::assert_snapshot!("pending_read_only", screen);
}

#[test]
fn pending_action_result_and_error() {
    let mut s = loaded(false);
    keys(&mut s, "a");
    s.update(
        Event::Pending(PendingEvent::Done {
            action: "ack",
            result: Err(
                "XACK refused: NOPERM User bob has no permissions to run the 'xack' \
                         command — grant +xack or use an account that can"
                    .into(),
            ),
        }),
        now(),
    );
    insta::assert_snapshot!("pending_action_error", text(&draw(&s)));
}

/// Enter opens the selected entry: fields in their real order, a duplicate name kept,
/// JSON pretty-printed (the Streams entries browser's entry view); Esc goes back.
#[test]
fn pending_entry_open() {
    let mut s = loaded(false);
    s.pending.entries[0].fields = Some(vec![
        (Bytes::from_static(b"tag"), Bytes::from_static(b"urgent")),
        (
            Bytes::from_static(b"doc"),
            Bytes::from_static(br#"{"q":"Q3 report","pages":[1,2]}"#),
        ),
        (Bytes::from_static(b"tag"), Bytes::from_static(b"finance")),
    ]);
    key(&mut s, KeyCode::Home);
    key(&mut s, KeyCode::Enter);
    let screen = text(&draw(&s));
    insta::assert_snapshot!("pending_entry_open", screen);
    let tag_rows: Vec<&str> = screen.lines().filter(|l| l.contains("tag")).collect();
    assert_eq!(tag_rows.len(), 2, "{screen}");
    assert!(tag_rows[0].contains("urgent") && tag_rows[1].contains("finance"));
    assert!(screen.contains("\"pages\": ["), "{screen}");
    key(&mut s, KeyCode::Esc);
    assert!(s.pending.open_entry.is_none());
}

/// The pending list and the claim dialog at the three sizes, with similar and hostile
/// consumer names and a 699 ms idle time: the dialog's hint and rows stay inside its
/// border, the names stay apart, and the idle reads `699ms`, never `699m`.
#[test]
fn pending_views_fit_at_every_size() {
    let mut list = loaded(false);
    let effects = key(&mut list, KeyCode::Char('o'));
    answer_sorted(&mut list, &effects);
    let mut claim = loaded(false);
    keys(&mut claim, " ");
    keys(&mut claim, "c");
    let consumer = |name: &str, pending, idle_ms| ConsumerRow {
        name: Bytes::copy_from_slice(name.as_bytes()),
        pending,
        idle_ms: Some(idle_ms),
    };
    claim.update(
        Event::Pending(PendingEvent::Consumers {
            target: target(),
            result: Ok(vec![
                consumer("ai:stream:sess-worker-1a2b", 37, 699),
                consumer("ai:stream:sess-worker-1c4d", 2, 905_000),
                consumer(screen::HOSTILE, 1, 12),
            ]),
        }),
        now(),
    );
    let names = ["ai:stream:sess-worker-1a2b", "ai:stream:sess-worker-1c4d"];
    for (view, mut s, expect) in [
        (
            "list",
            list,
            // The title line drops who-holds-what and the page before the sort.
            screen::Expect {
                sort_arrow: true,
                ..Default::default()
            },
        ),
        (
            "claim",
            claim,
            screen::Expect {
                distinct: &["1a2b", "1c4d", "699ms"],
                names: &names,
                ..Default::default()
            },
        ),
    ] {
        for size in screen::SIZES {
            let buf = screen::draw_at(&mut s, size, now());
            insta::assert_snapshot!(format!("sweep_{view}_{}x{}", size.0, size.1), text(&buf));
            screen::check_screen(&buf, &expect);
            assert!(
                !text(&buf).contains("699m "),
                "699 ms must not read as minutes"
            );
            if view == "list" {
                assert!(text(&buf).contains("sort idle ↓ over the first 10,000"));
            }
        }
    }
}

/// Answer the fetch a new sort asks for with the page, as sorted over the first 10,000
/// of a bigger pending list.
fn answer_sorted(s: &mut AppState, effects: &[Effect]) {
    let generation = effects
        .iter()
        .find_map(|e| match e {
            Effect::Pending(PendingEffect::Fetch {
                generation,
                order: Some(_),
                ..
            }) => Some(*generation),
            _ => None,
        })
        .expect("a sort reads the sorted list");
    let mut entries = entries();
    entries.sort_by_key(|e| std::cmp::Reverse(e.idle_ms));
    s.update(
        Event::Pending(PendingEvent::Page {
            generation,
            result: Ok(PageLoad {
                page: PendingPage {
                    entries,
                    next: None,
                    server_time_ms: SERVER_MS,
                    sorted: Some(SortedRead {
                        rows: 10_000,
                        bounded: true,
                    }),
                },
                summary: Some(summary()),
            }),
        }),
        now(),
    );
}

/// The autoclaim preview with similar and hostile losers.
fn autoclaim_dialog() -> AppState {
    let mut s = loaded(false);
    keys(&mut s, "Aai:stream:sess-worker-1a2b");
    key(&mut s, KeyCode::Enter);
    let row = |age, consumer: &str| PendingRow {
        id: id(age, 0),
        consumer: Bytes::copy_from_slice(consumer.as_bytes()),
        idle_ms: 900_000,
        deliveries: 1,
    };
    let loser = "ai:stream:sess-worker-1c4d";
    let mut rows: Vec<PendingRow> = (0..38).map(|i| row(900_000 + i, loser)).collect();
    rows.push(row(100, screen::HOSTILE));
    s.update(
        Event::Pending(PendingEvent::AutoclaimPreview {
            target: target(),
            consumer: Bytes::from_static(b"ai:stream:sess-worker-1a2b"),
            result: Ok(AutoclaimPreview {
                min_idle_ms: 60_000,
                entries: rows,
                by_consumer: vec![
                    (Bytes::copy_from_slice(loser.as_bytes()), 38),
                    (Bytes::copy_from_slice(screen::HOSTILE.as_bytes()), 1),
                ],
                truncated: false,
            }),
        }),
        now(),
    );
    s
}

/// Pending dialogs at 60×15, 100×30 and 250×70: dead-letter, delete, trim and autoclaim
/// confirmations fit inside their borders, with cuts marked.
#[test]
fn pending_dialogs_fit_at_every_size() {
    let marked_two = |action: &str| {
        let mut s = loaded(false);
        key(&mut s, KeyCode::Down);
        keys(&mut s, "  ");
        keys(&mut s, action);
        s
    };
    let mut trim = loaded(false);
    keys(&mut trim, "TMAXLEN 1000");
    key(&mut trim, KeyCode::Enter);
    trim.update(
        Event::Pending(PendingEvent::TrimPreview {
            target: target(),
            result: Ok(TrimPreview {
                strategy: TrimStrategy::MaxLen(1000),
                length: 1_037,
                would_remove: 37,
                over_limit: false,
            }),
        }),
        now(),
    );
    let names = ["ai:stream:sess-worker-1a2b", "ai:stream:sess-worker-1c4d"];
    let views = [
        ("dead_letter", marked_two("d")),
        ("delete", marked_two("x")),
        ("trim", trim),
        ("autoclaim", autoclaim_dialog()),
    ];
    for (view, mut s) in views {
        let expect = screen::Expect {
            names: &names,
            ..Default::default()
        };
        for size in screen::SIZES {
            let buf = screen::draw_at(&mut s, size, now());
            insta::assert_snapshot!(format!("sweep_{view}_{}x{}", size.0, size.1), text(&buf));
            screen::check_screen(&buf, &expect);
            assert!(
                text(&buf).contains('┌'),
                "{view} at {size:?}: the dialog is on screen"
            );
        }
    }
}
