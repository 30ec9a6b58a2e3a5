//! Decoded payloads on screen: feed rows with a `[format]` tag and the compact value,
//! the detail view's pretty decoded value and its decoder cycle, a JSON-field filter on
//! a MessagePack field, and a zip bomb shown raw with the reason. Payloads come from
//! Python's real encoders (`decode::python_payloads`).

use crate::common::screen;
use crate::decode::python_payloads;

use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use crossterm::event::{KeyCode, KeyModifiers};

use redtail::redis::message::{Delivery, Kind, Message};
use redtail::redis::subscriber::Subscriptions;
use redtail::state::status::{ConnView, StatusUpdate};
use redtail::state::{AppState, Config, Event};
use screen::{draw, rows, text};

fn at(millis: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .map(|d| d.to_utc())
        .expect("fixed test time")
        + TimeDelta::milliseconds(millis)
}

fn now() -> DateTime<Utc> {
    at(5_000)
}

fn state() -> AppState {
    let mut subs = Subscriptions::default();
    subs.patterns.insert(Bytes::from_static(b"*"));
    let config = Config {
        target: "redis://10.0.0.5:6380".into(),
        export_dir: PathBuf::from("/data/exports"),
        size: (100, 30),
        ..Config::default()
    };
    let mut s = AppState::new(config, subs.clone(), now());
    let status = StatusUpdate {
        conn: ConnView::Connected { since: at(-60_000) },
        wanted: subs,
    };
    s.update(Event::Status(status), now());
    s
}

fn msg(seq: u64, channel: &str, payload: &[u8]) -> Delivery {
    Delivery::Message(Message {
        seq,
        received: at(seq as i64 * 100),
        kind: Kind::PMessage,
        pattern: Some(Bytes::from_static(b"*")),
        channel: Bytes::from(channel.to_string()),
        payload: Bytes::copy_from_slice(payload),
    })
}

fn key(s: &mut AppState, code: KeyCode) {
    screen::press(s, code, KeyModifiers::NONE, now());
}

/// Socket.IO-style MessagePack, gzip JSON, CBOR, a hostile MessagePack string, a zip
/// bomb and plain text, all from real encoders.
const PRODUCERS: &str = r#"
import msgpack, cbor2
out(msgpack.packb([2, {"type": 2, "data": ["chat", {"user": {"id": 42}, "text": "hi"}], "nsp": "/"}]))
out(gzip.compress(json.dumps({"cpu": 0.93, "host": "web-1"}).encode(), mtime=0))
out(cbor2.dumps({"order": 1001, "items": ["a", "b"]}))
out(msgpack.packb({"user": {"id": 41}, "note": "\x1b]0;pwned\x07 \u202egpj.exe"}))
out(gzip.compress(b"a" * (17 << 20), mtime=0))
out(b"plain words stay as they are")
"#;

fn decoded_state() -> AppState {
    let payloads = python_payloads(PRODUCERS);
    let channels = [
        "socket.io#/#",
        "metrics.gz",
        "orders.cbor",
        screen::HOSTILE,
        "bomb",
        "text",
    ];
    let mut s = state();
    let batch = payloads
        .iter()
        .zip(channels)
        .enumerate()
        .map(|(i, (p, c))| msg(i as u64 + 1, c, p))
        .collect();
    s.update(Event::Deliveries(batch), now());
    s
}

#[test]
fn decoded_feed_rows_and_detail_fit_at_every_size() {
    let names = ["evil\\x1b[2J"];
    let expect = screen::Expect {
        names: &names,
        ..screen::Expect::default()
    };
    let mut feed = decoded_state();
    let mut detail = decoded_state();
    for _ in 0..5 {
        key(&mut detail, KeyCode::Up);
    }
    key(&mut detail, KeyCode::Enter);
    for (view, s) in [("feed", &mut feed), ("detail", &mut detail)] {
        for size in screen::SIZES {
            let buf = screen::draw_at(s, size, now());
            insta::assert_snapshot!(format!("decoded_{view}_{}x{}", size.0, size.1), text(&buf));
            screen::check_screen(&buf, &expect);
        }
    }
    let screen = text(&screen::draw_at(&mut feed, (250, 70), now()));
    for row in [
        r#"[msgpack] [2,{"data":["chat",{"text":"hi","user":{"id":42}}],"nsp":"/","type":2}]"#,
        r#"[gzip+json] {"cpu":0.93,"host":"web-1"}"#,
        r#"[cbor] {"items":["a","b"],"order":1001}"#,
        r#"[msgpack] {"note":"\u001b]0;pwned\u0007 \u202egpj.exe","user":{"id":41}}"#,
        "plain words stay as they are",
    ] {
        assert!(screen.contains(row), "{row} missing:\n{screen}");
    }
}

#[test]
fn detail_cycles_decoders_and_shows_why_a_bomb_was_not_decoded() {
    let mut s = decoded_state();
    // The first Up pauses on the row above the newest.
    for _ in 0..4 {
        key(&mut s, KeyCode::Up);
    }
    key(&mut s, KeyCode::Enter);
    let screen = rows(&draw(&s));
    assert!(
        screen[5].starts_with("── gzip → json · rows 1–4 of 4 · d decoder"),
        "{}",
        screen[5]
    );
    assert_eq!(screen[7], r#"  "cpu": 0.93,"#);
    key(&mut s, KeyCode::Char('d'));
    assert!(rows(&draw(&s))[5].starts_with("── text ·"));
    key(&mut s, KeyCode::Char('d'));
    let hex = rows(&draw(&s));
    assert!(hex[5].starts_with("── hex ·"), "{}", hex[5]);
    assert!(hex[6].starts_with("00000000  1f 8b 08"), "{}", hex[6]);
    key(&mut s, KeyCode::Char('d'));
    assert!(rows(&draw(&s))[5].starts_with("── gzip → json ·"));

    // The zip bomb: raw (hex) with the reason in the rule.
    key(&mut s, KeyCode::Esc);
    key(&mut s, KeyCode::Down);
    key(&mut s, KeyCode::Down);
    key(&mut s, KeyCode::Down);
    key(&mut s, KeyCode::Enter);
    let buf = draw(&s);
    insta::assert_snapshot!("decoded_detail_zip_bomb", rows(&buf)[3..8].join("\n"));
    assert!(
        rows(&buf)[5].contains("(not decoded: gzip: output larger than 16 MiB)"),
        "{}",
        rows(&buf)[5]
    );
}

#[test]
fn json_field_filter_applies_to_decoded_msgpack() {
    let mut s = decoded_state();
    key(&mut s, KeyCode::Char('/'));
    screen::type_text(&mut s, ".user.id == 41", now());
    key(&mut s, KeyCode::Enter);
    let screen = text(&draw(&s));
    assert!(screen.contains(r#"[msgpack] {"note":"#), "{screen}");
    assert!(!screen.contains("socket.io#/#"), "{screen}");
    assert!(!screen.contains("plain words"), "{screen}");
}
