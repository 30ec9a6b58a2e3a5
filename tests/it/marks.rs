//! Marks in the feed (`m`, `M`) and `r` with marks: a confirmation, then the marked
//! messages sent again as one batch, byte-exact and in the order received, against a
//! real server with independent clients (redis-cli and Python) on both ends.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyModifiers};

use common::python::{self, audit_records, numsub, publish_calls};
use common::screen;
use common::{wait_for, wait_subscribed, Server};
use redtail::redis::message::{Delivery, Kind, Message};
use redtail::state::{AppState, Config, Event};

const T: Duration = Duration::from_secs(15);

const BINARY: &[u8] = b"\x00\xffthree\x1b[2J\xe2\x80\xae end";

#[test]
fn marked_messages_are_sent_again_byte_exact_in_the_order_received() {
    let server = Server::start();
    let url = server.url();
    let (mut tui, audit) = common::tui_audited(&[&url, "-c", "mk"], false);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 1);
    server.cli(&["PUBLISH", "mk", "one"]);
    server.cli(&["PUBLISH", "mk", "two"]);
    python::run(
        server.port,
        r"r.publish('mk', b'\x00\xffthree\x1b[2J\xe2\x80\xae end')",
    );
    server.cli(&["PUBLISH", "mk", "four"]);
    server.cli(&["PUBLISH", "mk", "five"]);
    tui.wait_for("five", T);
    let listener = python::subscriber(server.port, "mk", 3);
    wait_for("the Python subscriber", T, || {
        (numsub(&server, "mk") == 2).then_some(())
    });
    // Marked out of order (four, three, one): they go out in the order received.
    tui.send(b"k");
    tui.send(b"m");
    tui.send(b"k");
    tui.send(b"m");
    tui.send(b"k");
    tui.send(b"k");
    tui.send(b"m");
    let screen = tui.wait_for("3 marked", T);
    assert_eq!(
        screen.matches('✓').count(),
        3,
        "three rows carry the mark:\n{screen}"
    );
    tui.send(b"r");
    let screen = tui.wait_for("send 3 marked messages again?", T);
    assert!(
        screen.contains("3 messages, 25 B of payload, to 1 channel:"),
        "{screen}"
    );
    assert!(screen.contains("each by PUBLISH"), "{screen}");
    let before = publish_calls(&server);
    tui.send(b"y");
    tui.wait_for("sent 3 marked messages again: 6 receivers", T);
    let got = python::received(listener, T);
    assert_eq!(
        got,
        vec![b"one".to_vec(), BINARY.to_vec(), b"four".to_vec()]
    );
    assert_eq!(
        publish_calls(&server) - before,
        3,
        "exactly the marked three"
    );
    let screen = tui.wait_until("the marks to be cleared", T, |s| !s.contains('✓'));
    let counters = screen.lines().nth(2).unwrap_or_default();
    assert!(!counters.contains("marked"), "{screen}");
    let records = audit_records(&audit.path);
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            "publish-marked-message",
            "publish-marked-message",
            "publish-marked-message",
            "publish-marked"
        ],
        "{records:?}"
    );
    assert_eq!(records[1]["ids"][0], "mark 2");
    assert_eq!(records[3]["result"]["status"], "ok");
    assert_eq!(records[3]["result"]["details"]["sent"], 3);
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn r_with_marks_in_read_only_mode_is_refused_audited_and_sends_nothing() {
    let server = Server::start();
    let url = server.url();
    let (mut tui, audit) = common::tui_audited(&[&url, "-c", "ro"], true);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 1);
    server.cli(&["PUBLISH", "ro", "once"]);
    tui.wait_for("once", T);
    tui.send(b"m");
    tui.wait_for("1 marked", T);
    let before = publish_calls(&server);
    tui.send(b"r");
    let screen = tui.wait_for("read-only mode: publish-marked is disabled", T);
    assert!(
        !screen.contains("marked message again?"),
        "no dialog: {screen}"
    );
    let records = wait_for("the refusal in the audit log", T, || {
        let records = audit_records(&audit.path);
        (records.len() == 1).then_some(records)
    });
    assert_eq!(records[0]["action"], "publish-marked", "{records:?}");
    assert_eq!(records[0]["result"]["status"], "refused", "{records:?}");
    assert_eq!(publish_calls(&server), before, "nothing was published");
    tui.send(b"q");
    tui.wait_exit(T);
}

// ---------------------------------------------------------------- snapshots

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

/// A feed of similar, hostile and shard channels; the messages at `marked` (0-based,
/// oldest first) are marked with `m`.
fn marked_state(marked: &[usize]) -> AppState {
    let mut s = AppState::new(
        Config {
            export_dir: PathBuf::from("/exports"),
            ..Config::default()
        },
        redtail::redis::subscriber::Subscriptions::default(),
        now(),
    );
    let channels: [(&str, Kind); 6] = [
        (screen::SIMILAR[0], Kind::Message),
        (screen::HOSTILE, Kind::Message),
        ("orders:{eu}", Kind::SMessage),
        (screen::SIMILAR[1], Kind::Message),
        ("ping", Kind::Message),
        ("pong", Kind::Message),
    ];
    let batch = channels
        .iter()
        .enumerate()
        .map(|(i, (channel, kind))| {
            Delivery::Message(Message {
                seq: i as u64 + 1,
                received: now(),
                kind: *kind,
                pattern: None,
                channel: Bytes::copy_from_slice(channel.as_bytes()),
                payload: Bytes::from(format!("{{\"n\": {i}}} \x1b[31m\u{202e}")),
            })
        })
        .collect();
    s.update(Event::Deliveries(batch), now());
    let last = channels.len() - 1;
    // Walk up from the newest row, marking on the way.
    for i in (0..=last).rev() {
        if marked.contains(&i) {
            screen::press(&mut s, KeyCode::Char('m'), KeyModifiers::NONE, now());
        }
        if i > 0 {
            screen::press(&mut s, KeyCode::Char('k'), KeyModifiers::NONE, now());
        }
    }
    s
}

const NAMES: &[&str] = &[
    screen::SIMILAR[0],
    screen::SIMILAR[1],
    screen::HOSTILE,
    "orders:{eu}",
];

#[test]
fn marked_rows_show_a_mark_and_the_header_counts_them_at_every_size() {
    let mut s = marked_state(&[1, 2, 4]);
    assert_eq!(s.marks.len(), 3);
    let expect = screen::Expect {
        names: NAMES,
        ..screen::Expect::default()
    };
    for size in screen::SIZES {
        let buf = screen::draw_at(&mut s, size, now());
        let text = screen::text(&buf);
        insta::assert_snapshot!(format!("marks_feed_{}x{}", size.0, size.1), text);
        screen::check_screen(&buf, &expect);
        assert_eq!(text.matches('✓').count(), 3, "{text}");
        assert!(text.contains("3 marked"), "{text}");
    }
}

#[test]
fn send_marked_confirmation_names_channels_bytes_and_commands_at_every_size() {
    let mut s = marked_state(&[0, 1, 2, 3, 4, 5]);
    screen::press(&mut s, KeyCode::Char('r'), KeyModifiers::NONE, now());
    let expect = screen::Expect {
        names: NAMES,
        ..screen::Expect::default()
    };
    for size in screen::SIZES {
        let buf = screen::draw_at(&mut s, size, now());
        let text = screen::text(&buf);
        insta::assert_snapshot!(format!("marks_confirm_{}x{}", size.0, size.1), text);
        screen::check_screen(&buf, &expect);
        assert!(text.contains("send 6 marked messages again?"), "{text}");
    }
    let wide = screen::text(&screen::draw_at(&mut s, (250, 70), now()));
    assert!(wide.contains("6 messages"), "{wide}");
    assert!(
        wide.contains("… +2 more"),
        "four channels named at most: {wide}"
    );
    assert!(wide.contains("5 by PUBLISH and 1 by"), "{wide}");
    assert!(wide.contains("orders:{eu} (shard)"), "{wide}");
}
