//! Pane snapshots: the real `ui::render` into a `TestBackend` of fixed size, with a fixed
//! clock and UTC times, compared as text with insta. Colour is invisible in a text
//! snapshot, so highlight and escape styles are asserted cell by cell.

use crate::common::screen;

use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use crossterm::event::{KeyCode, KeyModifiers};
use ratatui::style::{Color, Modifier};

use redtail::redis::message::{Delivery, Gap, Kind, Message};
use redtail::redis::subscriber::Subscriptions;
use redtail::state::status::{ConnView, StatusUpdate};
use redtail::state::{AppState, Config, Event};
use screen::{draw, rows, text};

const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:05Z")
        .map(|d| d.to_utc())
        .expect("fixed test time")
}

fn at(millis: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .map(|d| d.to_utc())
        .expect("fixed test time")
        + TimeDelta::milliseconds(millis)
}

fn subscriptions() -> Subscriptions {
    let mut subs = Subscriptions::default();
    subs.patterns.insert(Bytes::from_static(b"ai:*"));
    subs.channels.insert(Bytes::from_static(b"orders"));
    subs.shard_channels.insert(Bytes::from_static(b"{user}:42"));
    subs
}

fn connected() -> StatusUpdate {
    StatusUpdate {
        conn: ConnView::Connected { since: at(-60_000) },
        wanted: subscriptions(),
    }
}

fn state() -> AppState {
    let config = Config {
        target: "redis://10.0.0.5:6380".into(),
        export_dir: PathBuf::from("/data/exports"),
        size: (WIDTH, HEIGHT),
        ..Config::default()
    };
    let mut s = AppState::new(config, subscriptions(), now());
    s.update(Event::Status(connected()), now());
    s
}

fn msg(seq: u64, millis: i64, channel: &str, payload: &[u8]) -> Message {
    Message {
        seq,
        received: at(millis),
        kind: Kind::Message,
        pattern: None,
        channel: Bytes::from(channel.to_string()),
        payload: Bytes::copy_from_slice(payload),
    }
}

fn pmsg(seq: u64, millis: i64, pattern: &str, channel: &str, payload: &[u8]) -> Message {
    Message {
        kind: Kind::PMessage,
        pattern: Some(Bytes::from(pattern.to_string())),
        ..msg(seq, millis, channel, payload)
    }
}

fn smsg(seq: u64, millis: i64, channel: &str, payload: &[u8]) -> Message {
    Message {
        kind: Kind::SMessage,
        ..msg(seq, millis, channel, payload)
    }
}

/// A small, varied workload: JSON via a pattern, plain channel text, shard, binary.
fn traffic() -> Vec<Delivery> {
    vec![
        pmsg(
            1,
            12,
            "ai:*",
            "ai:chat",
            br#"{"model":"gpt","tokens":412,"status":"ok"}"#,
        ),
        msg(2, 140, "orders", b"order 1001 created for customer 77"),
        pmsg(
            3,
            480,
            "ai:*",
            "ai:embeddings",
            br#"{"model":"e5","dims":768,"status":"ok"}"#,
        ),
        smsg(4, 1_003, "{user}:42", b"session refreshed"),
        pmsg(
            5,
            1_250,
            "ai:*",
            "ai:chat",
            br#"{"model":"gpt","tokens":9,"status":"error","error":"rate limited"}"#,
        ),
        msg(6, 2_002, "orders", b"order 1002 error: card declined"),
        msg(7, 2_500, "orders", b"\x00\x01\x02binary\xff\xfe"),
        pmsg(
            8,
            3_999,
            "ai:*",
            "ai:chat",
            br#"{"model":"gpt","tokens":77,"status":"ok"}"#,
        ),
    ]
    .into_iter()
    .map(Delivery::Message)
    .collect()
}

fn key(s: &mut AppState, code: KeyCode) {
    screen::press(s, code, KeyModifiers::NONE, now());
}

fn keys(s: &mut AppState, text: &str) {
    screen::type_text(s, text, now());
}

#[test]
fn feed_live() {
    let mut s = state();
    s.update(Event::Deliveries(traffic()), now());
    insta::assert_snapshot!("feed_live", text(&draw(&s)));
}

/// Column where the payload `needle` starts, on whichever row shows it.
fn payload_x(buf: &ratatui::buffer::Buffer, needle: &str) -> u16 {
    let y = rows(buf)
        .iter()
        .position(|r| r.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", text(buf)));
    screen::column_of(buf, y, needle).expect("column")
}

#[test]
fn payload_column_holds_still_while_a_long_name_scrolls_off() {
    let mut s = state();
    let rows = s.feed_rows() as u64;
    let order =
        |seq: u64| Delivery::Message(msg(seq, 6_000, "orders", format!("order {seq}").as_bytes()));
    let mut batch = vec![Delivery::Message(msg(
        1,
        6_000,
        "ai:inference:tenant-42:requests",
        b"long name",
    ))];
    batch.extend((2..=rows).map(order));
    s.update(Event::Deliveries(batch), at(6_000));
    let wide = payload_x(&draw(&s), &format!("order {rows}"));
    assert!(wide > 14 + 30, "room for the long name: {wide}");
    // One more message scrolls the long name off: payloads stay where they were.
    s.update(Event::Deliveries(vec![order(rows + 1)]), at(7_000));
    let buf = draw(&s);
    assert!(!text(&buf).contains("tenant-42"));
    assert_eq!(payload_x(&buf, &format!("order {}", rows + 1)), wide);
    insta::assert_snapshot!("feed_column_held", text(&buf));
    s.update(Event::Tick, at(16_999));
    assert_eq!(payload_x(&draw(&s), "order 3"), wide, "held for 10 s");
    // 10 s after the long name left, the column fits the names on screen.
    s.update(Event::Tick, at(17_000));
    let buf = draw(&s);
    assert_eq!(payload_x(&buf, "order 3"), 14 + "orders".len() as u16 + 1);
    insta::assert_snapshot!("feed_column_shrunk", text(&buf));
}

#[test]
fn feed_paused_counts_new_arrivals() {
    let mut s = state();
    s.update(Event::Deliveries(traffic()), now());
    key(&mut s, KeyCode::Char(' '));
    key(&mut s, KeyCode::Up);
    key(&mut s, KeyCode::Up);
    let more: Vec<Delivery> = (0..1_284)
        .map(|i| {
            Delivery::Message(msg(
                100 + i,
                4_200,
                "orders",
                format!("order {i}").as_bytes(),
            ))
        })
        .collect();
    s.update(Event::Deliveries(more), now());
    let buf = draw(&s);
    insta::assert_snapshot!("feed_paused", text(&buf));
    assert!(text(&buf).contains("paused — 1,284 new"));
}

#[test]
fn feed_filtered_with_highlights() {
    let mut s = state();
    s.update(Event::Deliveries(traffic()), now());
    key(&mut s, KeyCode::Char('/'));
    keys(&mut s, "error");
    key(&mut s, KeyCode::Enter);
    let buf = draw(&s);
    insta::assert_snapshot!("feed_filtered", text(&buf));

    // Every "error" on the feed rows is highlighted, and the text around it is not.
    let body = rows(&buf);
    let mut highlighted = 0;
    for (y, row) in body
        .iter()
        .enumerate()
        .skip(3)
        .take(usize::from(HEIGHT) - 4)
    {
        for (byte, _) in row.match_indices("error") {
            let x = row[..byte].chars().count() as u16;
            for dx in 0..5 {
                let cell = &buf[(x + dx, y as u16)];
                assert_eq!(cell.bg, Color::Yellow, "highlight at ({}, {y})", x + dx);
            }
            if x > 0 {
                assert_ne!(
                    buf[(x - 1, y as u16)].bg,
                    Color::Yellow,
                    "no bleed before ({x}, {y})"
                );
            }
            highlighted += 1;
        }
    }
    assert_eq!(
        highlighted, 3,
        "two payloads (one with the word twice) matched"
    );
}

#[test]
fn filter_prompt_shows_parse_errors() {
    let mut s = state();
    s.update(Event::Deliveries(traffic()), now());
    key(&mut s, KeyCode::Char('/'));
    keys(&mut s, ".tokens >");
    let buf = draw(&s);
    let screen = rows(&buf);
    insta::assert_snapshot!("filter_prompt_error", screen[25..].join("\n"));
}

/// The tester's case: Enter on `ch:ai:* and (error` keeps the prompt, puts a caret under
/// the column of the problem, and the feed still shows everything (no filter was in
/// force), not `ch:ai:* an`.
#[test]
fn filter_prompt_refuses_enter_on_an_error_with_a_caret() {
    let mut s = state();
    s.update(Event::Deliveries(traffic()), now());
    key(&mut s, KeyCode::Char('/'));
    keys(&mut s, "ch:ai:* and (error");
    key(&mut s, KeyCode::Enter);
    let buf = draw(&s);
    let screen = rows(&buf);
    insta::assert_snapshot!("filter_prompt_refused", screen[24..].join("\n"));
    assert!(s.feed.filter().is_none(), "nothing new is applied");
    assert_eq!(s.feed.matching_len(), 8);
    // The caret sits under the column the message names (the '(' at column 13).
    let input = &screen[27];
    let caret_row = &screen[28];
    let column = |row: &str, c: char| row.chars().position(|x| x == c);
    assert!(column(input, '(').is_some());
    assert_eq!(
        column(caret_row, '^'),
        column(input, '('),
        "{input}\n{caret_row}"
    );
    assert!(caret_row.contains("column 13: unclosed '('"), "{caret_row}");
    assert!(caret_row.contains("not applied"), "{caret_row}");
}

/// A filter that keeps nothing says so in the feed, naming the filter.
#[test]
fn filter_matching_nothing_says_so() {
    let mut s = state();
    s.update(Event::Deliveries(traffic()), now());
    key(&mut s, KeyCode::Char('/'));
    keys(&mut s, ".latency_ms > 250");
    key(&mut s, KeyCode::Enter);
    let buf = draw(&s);
    insta::assert_snapshot!("feed_filter_matches_nothing", text(&buf));
    assert!(text(&buf).contains("no retained message matches .latency_ms > 250 (8 retained)"));
}

#[test]
fn feed_with_gap_and_server_error() {
    let mut s = state();
    let mut batch = traffic();
    batch.truncate(3);
    batch.push(Delivery::Gap(Gap {
        from: at(500),
        to: at(3_700),
        reason: "server closed the connection".into(),
        handover: false,
    }));
    batch.push(Delivery::ServerError(
        "NOPERM this user has no permissions to access the 'secret' channel".into(),
    ));
    batch.push(Delivery::Message(msg(
        9,
        3_800,
        "orders",
        b"order 1003 created",
    )));
    s.update(Event::Deliveries(batch), now() + TimeDelta::seconds(30));
    insta::assert_snapshot!("feed_gap", text(&draw(&s)));
}

#[test]
fn hostile_payload_is_escaped_and_marked() {
    let mut s = state();
    let evil =
        b"literal \\x1b \x1b]0;pwned\x07 \x1b]52;c;aGk=\x07 \x1b[2J \xe2\x80\xaeabc\xc2\x9b6n";
    let batch = vec![Delivery::Message(msg(1, 100, "ev\x1b[1m", evil))];
    s.update(Event::Deliveries(batch), now());
    let buf = draw(&s);
    insta::assert_snapshot!("feed_hostile", text(&buf));
    // Our escapes are styled; the payload's own literal "\x1b" text is not.
    let row = &rows(&buf)[3];
    let first = row
        .find("\\x1b]0;")
        .map(|b| row[..b].chars().count() as u16);
    let literal = row
        .find("literal \\x1b")
        .map(|b| row[..b].chars().count() as u16 + 8);
    let (Some(first), Some(literal)) = (first, literal) else {
        panic!("escapes missing: {row}");
    };
    assert!(buf[(first, 3)].modifier.contains(Modifier::ITALIC));
    assert!(!buf[(literal, 3)].modifier.contains(Modifier::ITALIC));
    assert!(row.contains("\\u{202e}abc\\u{9b}6n"), "{row}");
    // The detail view escapes the same way.
    key(&mut s, KeyCode::Enter);
    key(&mut s, KeyCode::Char('h'));
    let screen = rows(&draw(&s));
    insta::assert_snapshot!("detail_hostile", screen[3..7].join("\n"));
}

#[test]
fn detail_json() {
    let mut s = state();
    s.update(Event::Deliveries(traffic()), now());
    key(&mut s, KeyCode::Up);
    key(&mut s, KeyCode::Up);
    key(&mut s, KeyCode::Up);
    key(&mut s, KeyCode::Enter);
    insta::assert_snapshot!("detail_json", text(&draw(&s)));
}

#[test]
fn detail_hex() {
    let mut s = state();
    let payload: Vec<u8> = (0u8..=255).chain(b"\x1b[2J tail".iter().copied()).collect();
    let batch = vec![Delivery::Message(msg(1, 100, "blobs", &payload))];
    s.update(Event::Deliveries(batch), now());
    key(&mut s, KeyCode::Enter);
    insta::assert_snapshot!("detail_hex", text(&draw(&s)));
    // `h` switches to the escaped text form.
    key(&mut s, KeyCode::Char('h'));
    let screen = rows(&draw(&s));
    insta::assert_snapshot!("detail_hex_as_text", screen[3..10].join("\n"));
}

#[test]
fn detail_of_a_stream_entry_shows_its_id_not_the_engine_sequence() {
    let mut s = state();
    let entry = Message {
        kind: Kind::StreamEntry,
        // Stream entries are numbered from 2^48 up, apart from Pub/Sub messages.
        ..msg(
            (1 << 48) + 18,
            100,
            "orders",
            br#"{"id":"1700000000000-3","fields":[["k","v"]]}"#,
        )
    };
    s.update(Event::Deliveries(vec![Delivery::Message(entry)]), now());
    key(&mut s, KeyCode::Enter);
    let screen = text(&draw(&s));
    assert!(screen.contains("id 1700000000000-3"), "{screen}");
    assert!(!screen.contains("seq"), "{screen}");
    assert!(!screen.contains("281474976710674"), "{screen}");
}

#[test]
fn detail_long_scrolled() {
    let mut s = state();
    let mut payload = String::new();
    for i in 1..=120 {
        payload.push_str(&format!("line {i:03} "));
        if i % 40 == 0 {
            // One very long line: wrapped, never cut.
            payload.push_str(&"0123456789".repeat(25));
        }
        payload.push('\n');
    }
    payload.push_str("the end");
    let batch = vec![Delivery::Message(msg(1, 100, "logs", payload.as_bytes()))];
    s.update(Event::Deliveries(batch), now());
    key(&mut s, KeyCode::Enter);
    key(&mut s, KeyCode::PageDown);
    key(&mut s, KeyCode::Char('j'));
    key(&mut s, KeyCode::Char('j'));
    insta::assert_snapshot!("detail_long_scrolled", text(&draw(&s)));
    key(&mut s, KeyCode::Char('G'));
    let screen = text(&draw(&s));
    assert!(
        screen.contains("the end"),
        "G reaches the last line:\n{screen}"
    );
}

#[test]
fn help_overlay() {
    let mut s = state();
    s.update(Event::Deliveries(traffic()), now());
    keys(&mut s, "?");
    insta::assert_snapshot!("help", text(&draw(&s)));
}

fn header(s: &AppState) -> String {
    rows(&draw(s))[..3].join("\n")
}

#[test]
fn header_states() {
    let mut s = state();
    s.update(Event::Deliveries(traffic()), now());
    let connected = header(&s);

    let down = ConnView::Disconnected {
        since: at(0),
        error: "server closed the connection".into(),
        retry_at: now() + TimeDelta::milliseconds(2_100),
        attempt: 2,
        fatal: false,
        ever_connected: true,
    };
    s.update(
        Event::Status(StatusUpdate {
            conn: down,
            wanted: subscriptions(),
        }),
        now(),
    );
    s.update(
        Event::EngineCounters(redtail::redis::inbox::Counters {
            received: 100,
            evicted: 40,
            evicted_bytes: 4000,
        }),
        now(),
    );
    let reconnecting = header(&s);

    s.update(
        Event::Status(StatusUpdate {
            conn: ConnView::Connecting,
            wanted: subscriptions(),
        }),
        now(),
    );
    let connecting = header(&s);

    let fatal = ConnView::Disconnected {
        since: at(0),
        error: "authentication to redis://10.0.0.5:6380 failed: WRONGPASS invalid username-password pair\x1b[2J".into(),
        retry_at: now() + TimeDelta::seconds(4),
        attempt: 0,
        fatal: true,
        ever_connected: false,
    };
    let mut fresh = state();
    fresh.update(
        Event::Status(StatusUpdate {
            conn: fatal,
            wanted: Subscriptions::default(),
        }),
        now(),
    );
    let wrong_password = header(&fresh);
    // The empty feed repeats the whole error, wrapped, since the header cuts it.
    insta::assert_snapshot!("feed_cannot_connect", text(&draw(&fresh)));

    let all = [
        ("connected", connected),
        ("reconnecting", reconnecting),
        ("connecting after an error", connecting),
        ("wrong password, nothing subscribed", wrong_password),
    ]
    .iter()
    .map(|(name, screen)| format!("--- {name}\n{screen}"))
    .collect::<Vec<_>>()
    .join("\n");
    insta::assert_snapshot!("header_states", all);
}

#[test]
fn prompts() {
    let mut s = state();
    s.update(Event::Deliveries(traffic()), now());
    key(&mut s, KeyCode::Char('s'));
    keys(&mut s, "ai:img:*");
    let subscribe = rows(&draw(&s))[27..].join("\n");
    key(&mut s, KeyCode::Esc);
    key(&mut s, KeyCode::Char('u'));
    key(&mut s, KeyCode::Down);
    let picker = rows(&draw(&s))[3..9].join("\n");
    insta::assert_snapshot!("subscribe_prompt", subscribe);
    insta::assert_snapshot!("unsubscribe_picker", picker);
}

/// Traffic with similar and hostile channel names (and a hostile payload), for the
/// sweep.
fn crowded_traffic() -> Vec<Delivery> {
    let mut out = traffic();
    let extra = [
        msg(9, 4_100, screen::SIMILAR[0], br#"{"token":"Hel","i":1}"#),
        msg(10, 4_200, screen::SIMILAR[1], br#"{"token":"lo","i":2}"#),
        pmsg(
            11,
            4_300,
            "ai:*",
            screen::SIMILAR[0],
            br#"{"token":"!","i":3}"#,
        ),
        msg(
            12,
            4_400,
            screen::HOSTILE,
            b"\x1b]52;c;AAAA\x07 \xe2\x80\xae gpj.exe",
        ),
        msg(13, 4_500, "orders", b"order 1003 created"),
    ];
    out.extend(extra.into_iter().map(Delivery::Message));
    out
}

/// Feed views at 60×15, 100×30 and 250×70 with similar and hostile names: live, paused,
/// detail, filter prompt and help. Each fits (no row too wide, no raw control
/// character, boxes intact, cut names marked with …).
#[test]
fn feed_views_fit_at_every_size() {
    let names = [screen::SIMILAR[0], screen::SIMILAR[1], "evil\\x1b[2J"];
    let expect = screen::Expect {
        names: &names,
        ..screen::Expect::default()
    };
    let mut views: Vec<(&str, AppState)> = Vec::new();
    let crowded = || {
        let mut s = state();
        s.update(Event::Deliveries(crowded_traffic()), now());
        s
    };
    views.push(("live", crowded()));
    let mut paused = crowded();
    key(&mut paused, KeyCode::Char(' '));
    key(&mut paused, KeyCode::Up);
    views.push(("paused", paused));
    let mut detail = crowded();
    key(&mut detail, KeyCode::Up);
    key(&mut detail, KeyCode::Enter);
    views.push(("detail", detail));
    let mut prompt = crowded();
    key(&mut prompt, KeyCode::Char('/'));
    keys(&mut prompt, "ch:orders and (error");
    key(&mut prompt, KeyCode::Enter);
    views.push(("filter", prompt));
    let mut help = crowded();
    key(&mut help, KeyCode::Char('?'));
    views.push(("help", help));
    let mut subscribe = crowded();
    key(&mut subscribe, KeyCode::Char('s'));
    keys(&mut subscribe, "ai:stream:sess-1a2b:tokens:*");
    views.push(("subscribe", subscribe));
    let mut unsubscribe = crowded();
    key(&mut unsubscribe, KeyCode::Char('u'));
    views.push(("unsubscribe", unsubscribe));
    for (view, mut s) in views {
        for size in screen::SIZES {
            let buf = screen::draw_at(&mut s, size, now());
            insta::assert_snapshot!(format!("sweep_{view}_{}x{}", size.0, size.1), text(&buf));
            screen::check_screen(&buf, &expect);
            // The counters line ends in … when it left something out, never mid-word.
            let counters = &rows(&buf)[2];
            assert!(
                counters.ends_with("gaps") || counters.ends_with('…') || counters.contains(')'),
                "{counters}"
            );
        }
    }
}

/// A payload (or channel name) that opens with thousands of UTF-8 continuation bytes
/// (`\x91`): the row shows them escaped. The preview's cut moved back over all of them
/// looking for a character's start, and the row showed nothing — a payload hidden.
#[test]
fn a_payload_of_stray_continuation_bytes_is_shown_not_hidden() {
    let mut s = state();
    let hidden = [b"a".as_slice(), &[0x91; 3000], b"SECRET"].concat();
    let channel = String::from_utf8_lossy(&[b'c'; 1]).into_owned();
    let batch = vec![Delivery::Message(msg(1, 100, &channel, &hidden))];
    s.update(Event::Deliveries(batch), now());
    let rows = rows(&draw(&s));
    let row = (rows.iter())
        .find(|r| r.contains(" c "))
        .unwrap_or_else(|| panic!("the message's row:\n{}", rows.join("\n")));
    assert!(row.contains("a\\x91\\x91"), "{row}");
}
