//! AppState behaviour through its public door: events in, state and effects out.

use super::*;
use crate::redis::message::{Gap, Kind};
use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEventKind};

/// The notice on screen now, or "" (for assertions on its text).
pub(super) fn notice_text(s: &AppState) -> String {
    s.visible_notice()
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
}

fn key(code: KeyCode) -> Event {
    key_mod(code, KeyModifiers::NONE)
}

fn key_mod(code: KeyCode, modifiers: KeyModifiers) -> Event {
    Event::Key(KeyEvent::new(code, modifiers))
}

fn ch(c: char) -> Event {
    key(KeyCode::Char(c))
}

fn message(channel: &str, payload: &str) -> Delivery {
    Delivery::Message(Message {
        seq: 1,
        received: t(0),
        kind: Kind::Message,
        pattern: None,
        channel: Bytes::from(channel.to_string()),
        payload: Bytes::from(payload.to_string()),
    })
}

fn state() -> AppState {
    let config = Config {
        export_dir: PathBuf::from("/exports"),
        ..Config::default()
    };
    let mut subs = Subscriptions::default();
    subs.patterns.insert(Bytes::from_static(b"ai:*"));
    subs.channels.insert(Bytes::from_static(b"orders"));
    AppState::new(config, subs, t(0))
}

fn with_messages(payloads: &[&str]) -> AppState {
    let mut s = state();
    let batch = payloads.iter().map(|p| message("ai:chat", p)).collect();
    s.update(Event::Deliveries(batch), t(1));
    s
}

fn type_text(s: &mut AppState, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| s.update(ch(c), t(2))).collect()
}

#[test]
fn filter_narrows_while_typing_and_cancel_restores() {
    let mut s = with_messages(&["error one", "ok", "error two", "fine"]);
    s.update(ch('/'), t(2));
    assert_eq!(s.focus(), Focus::Filter);
    let effects = type_text(&mut s, "error");
    assert!(
        effects.is_empty(),
        "typing q or e in the prompt must not act"
    );
    assert_eq!(s.feed.matching_len(), 2);
    s.update(key(KeyCode::Enter), t(2));
    assert_eq!(s.focus(), Focus::Feed);
    assert_eq!(s.feed.filter().map(|f| f.source()), Some("error"));

    // Editing again then cancelling brings the previous filter back.
    s.update(ch('/'), t(3));
    type_text(&mut s, " two");
    assert_eq!(s.feed.matching_len(), 1);
    s.update(key(KeyCode::Esc), t(3));
    assert_eq!(s.feed.matching_len(), 2);

    // Esc in the feed clears it: everything retained is back.
    s.update(key(KeyCode::Esc), t(4));
    assert!(s.feed.filter().is_none());
    assert_eq!(s.feed.matching_len(), 4);
}

/// Run the TUI's idle work (`Event::Work`) until there is none; it must end.
fn idle_until_done(s: &mut AppState, now: DateTime<Utc>) {
    let mut steps = 0;
    while s.has_work() {
        s.update(Event::Work, now);
        steps += 1;
        assert!(steps < 1_000, "idle work never ends");
    }
}

#[test]
fn a_field_name_typed_at_the_prompt_is_read_ahead_in_idle_work_that_ends() {
    let payloads: Vec<String> = (0..3_000)
        .map(|i| format!("{{\"seq\":{i},\"latency_ms\":{}}}", i % 500))
        .collect();
    let refs: Vec<&str> = payloads.iter().map(String::as_str).collect();
    let mut s = with_messages(&refs);
    // The arrivals' JSON check first (see the next test).
    idle_until_done(&mut s, t(2));
    s.update(ch('/'), t(2));
    type_text(&mut s, ".lat");
    assert_eq!(s.feed.matching_len(), 0);
    assert!(!s.feed.counting(), "3,000 messages are counted at once");
    assert!(s.has_work(), "`latency_ms` is to be read ahead");
    // Idle work: reading `latency_ms` ahead; it ends.
    idle_until_done(&mut s, t(2));
    type_text(&mut s, "ency_ms > 250");
    idle_until_done(&mut s, t(2));
    let want = (0..3_000).filter(|i| i % 500 > 250).count();
    assert_eq!(s.feed.matching_len(), want);
    // Leaving the prompt with Esc: no filter, no idle work left.
    s.update(key(KeyCode::Esc), t(3));
    assert!(!s.has_work());
}

#[test]
fn payloads_are_checked_for_json_in_idle_work_as_they_arrive_and_the_work_ends() {
    let shapes = [
        "{\"seq\":I,\"latency_ms\":L}",
        "{\"user\":{\"latency_ms\":999},\"latency_ms\":L,\"t\":\"{[ \\\"latency_ms\\\": 1\"}",
        "{\"latency_ms\":L,\"latency_ms\":300}",
        "[{\"latency_ms\":L}]",
        "{\"text\":\"{[latency_ms\", \"latency_ms\" : L }",
        "{\"latency_ms\":L",
        "latency_ms L",
    ];
    let payloads: Vec<String> = (0..3_500)
        .map(|i| {
            let shape = shapes[i % shapes.len()];
            shape
                .replace('I', &i.to_string())
                .replace('L', &(i % 500).to_string())
        })
        .collect();
    let refs: Vec<&str> = payloads.iter().map(String::as_str).collect();
    let (early, late) = refs.split_at(2_000);
    let mut s = with_messages(early);
    assert_eq!(s.feed.json_checked(), 0);
    assert!(s.has_work(), "the arrivals are to be checked");
    idle_until_done(&mut s, t(2));
    assert_eq!(s.feed.json_checked(), early.len());
    // More arrive while a round is under way (more than one step's worth): the round
    // ends and the next takes them.
    let arrive = |s: &mut AppState, payloads: &[&str]| {
        let batch = payloads.iter().map(|p| message("ai:chat", p)).collect();
        s.update(Event::Deliveries(batch), t(2));
    };
    let filler: Vec<String> = (0..60_000).map(|i| format!("{{\"n\":{i}}}")).collect();
    arrive(
        &mut s,
        &filler.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    s.update(Event::Work, t(2));
    assert!(s.feed.checking_json(), "60,000 take more than one step");
    arrive(&mut s, late);
    idle_until_done(&mut s, t(2));
    assert_eq!(
        s.feed.json_checked(),
        early.len() + filler.len() + late.len()
    );
    // Checked payloads answer a field filter as the parser does.
    s.update(ch('/'), t(2));
    type_text(&mut s, ".latency_ms > 250");
    idle_until_done(&mut s, t(2));
    let filter = crate::filter::Filter::parse(".latency_ms > 250").expect("parses");
    let want = payloads
        .iter()
        .filter(|p| filter.matches(b"c", p.as_bytes()))
        .count();
    assert!(want > 500, "{want}");
    assert_eq!(s.feed.matching_len(), want);
    // Nothing new, nothing to do; what is evicted is not waited for.
    s.update(key(KeyCode::Esc), t(3));
    assert!(!s.has_work());
    let flood: Vec<String> = (0..120_000).map(|i| format!("[{i}]")).collect();
    arrive(
        &mut s,
        &flood.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    idle_until_done(&mut s, t(3));
    assert_eq!(
        s.feed.json_checked(),
        100_000,
        "every retained payload checked"
    );
}

#[test]
fn idle_work_asks_for_a_frame_only_while_a_count_runs() {
    // 90,000 arrivals: more than a filter counts at once.
    let payloads: Vec<String> = (0..90_000).map(|i| format!("{{\"n\":{i}}}")).collect();
    let mut s = with_messages(&payloads.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        s.has_work() && !s.work_shows(),
        "the JSON check changes nothing shown"
    );
    idle_until_done(&mut s, t(2));
    s.update(ch('/'), t(2));
    type_text(&mut s, "7");
    assert!(s.feed.counting());
    assert!(s.work_shows(), "the count's progress is shown");
    idle_until_done(&mut s, t(2));
    assert!(!s.work_shows());
}

/// A channel whose `[decode]` rule names a Protobuf type is filtered by that type's
/// field names (what its rows show), not by the schemaless field numbers.
#[test]
fn json_field_filters_read_a_channel_by_its_configured_protobuf_type() {
    let mut schema = crate::decode::schema::Schema::default();
    schema
        .add_set(include_bytes!("../decode/schema_tests.pb"))
        .expect("the shop test set");
    let order = |customer: &str| {
        let value = serde_json::json!({"id": "1", "customer": customer});
        Bytes::from(crate::decode::to_protobuf(&value, &schema, "shop.Order").expect("encodes"))
    };
    let payloads = [order("ann"), order("bob"), order("ann")];
    crate::decode::schema::install(schema);
    let section: crate::config::DecodeSection =
        toml::from_str("\"orders:*\" = \"protobuf:shop.Order\"").expect("a [decode] table");
    let mut s = state();
    s.config.decode = crate::config::DecodeRules::new(&section);
    let batch = payloads
        .iter()
        .map(|p| {
            Delivery::Message(Message {
                seq: 1,
                received: t(0),
                kind: Kind::Message,
                pattern: None,
                channel: Bytes::from_static(b"orders:eu"),
                payload: p.clone(),
            })
        })
        .collect();
    s.update(Event::Deliveries(batch), t(1));
    s.update(ch('/'), t(2));
    type_text(&mut s, ".customer == \"ann\"");
    s.update(key(KeyCode::Enter), t(2));
    assert_eq!(s.feed.matching_len(), 2);
}

#[test]
fn a_filter_that_does_not_parse_shows_the_accepted_one_and_enter_is_refused() {
    let mut s = with_messages(&[
        r#"{"ch":"cache","user":1} an"#,
        "cache miss user 7",
        "other",
    ]);
    // Accept `other` first: it is the filter in force while the next edit is broken.
    s.update(ch('/'), t(2));
    type_text(&mut s, "other");
    s.update(key(KeyCode::Enter), t(2));
    assert_eq!(s.feed.matching_len(), 1);

    s.update(ch('/'), t(3));
    for _ in 0..5 {
        s.update(key(KeyCode::Backspace), t(3));
    }
    // `cache an` parses (a live preview of what is typed so far) …
    type_text(&mut s, "cache an");
    assert_eq!(s.feed.filter().map(|f| f.source()), Some("cache an"));
    // … `cache and (user` does not: the feed goes back to the accepted `other`, never
    // keeping a prefix that happened to parse.
    type_text(&mut s, "d (user");
    let Some(Overlay::Filter(edit)) = &s.overlay else {
        panic!("filter prompt expected");
    };
    assert_eq!(edit.error.as_ref().map(|e| e.1), Some(10), "{edit:?}");
    assert_eq!(s.feed.filter().map(|f| f.source()), Some("other"));

    // Enter on the error keeps the prompt open, says it was refused, applies nothing.
    let effects = s.update(key(KeyCode::Enter), t(4));
    assert!(effects.is_empty());
    assert_eq!(s.focus(), Focus::Filter);
    let Some(Overlay::Filter(edit)) = &s.overlay else {
        panic!("the prompt stays open on a refused Enter");
    };
    assert!(edit.refused);
    assert_eq!(s.feed.filter().map(|f| f.source()), Some("other"));

    // Fixing it and pressing Enter applies what was typed.
    type_text(&mut s, ")");
    assert!(matches!(&s.overlay, Some(Overlay::Filter(e)) if !e.refused && e.error.is_none()));
    s.update(key(KeyCode::Enter), t(5));
    assert_eq!(s.focus(), Focus::Feed);
    assert_eq!(
        s.feed.filter().map(|f| f.source()),
        Some("cache and (user)")
    );
    assert_eq!(s.feed.matching_len(), 2);

    // Esc on a broken edit restores the accepted filter too.
    s.update(ch('/'), t(6));
    type_text(&mut s, " (");
    s.update(key(KeyCode::Esc), t(6));
    assert_eq!(s.focus(), Focus::Feed);
    assert_eq!(
        s.feed.filter().map(|f| f.source()),
        Some("cache and (user)")
    );
    // Deleting everything and Enter clears the filter.
    s.update(ch('/'), t(7));
    for _ in 0.."cache and (user)".len() {
        s.update(key(KeyCode::Backspace), t(7));
    }
    s.update(key(KeyCode::Enter), t(7));
    assert!(s.feed.filter().is_none());
    assert_eq!(s.feed.matching_len(), 3);
}

#[test]
fn subscribe_prompt_guesses_kind_and_tab_cycles() {
    let mut s = state();
    s.update(ch('s'), t(1));
    type_text(&mut s, "news:*");
    let effects = s.update(key(KeyCode::Enter), t(1));
    assert_eq!(
        effects,
        [Effect::Subscribe {
            kind: SubKind::Pattern,
            name: Bytes::from_static(b"news:*")
        }]
    );
    s.update(ch('s'), t(1));
    type_text(&mut s, "{u}:1");
    s.update(key(KeyCode::Tab), t(1));
    s.update(key(KeyCode::Tab), t(1));
    let effects = s.update(key(KeyCode::Enter), t(1));
    assert_eq!(
        effects,
        [Effect::Subscribe {
            kind: SubKind::Shard,
            name: Bytes::from_static(b"{u}:1")
        }]
    );
    s.update(ch('s'), t(1));
    assert!(
        s.update(key(KeyCode::Enter), t(1)).is_empty(),
        "empty name does nothing"
    );
}

#[test]
fn unsubscribe_picker_drops_the_chosen_one() {
    let mut s = state();
    s.update(ch('u'), t(1));
    let Some(Overlay::Unsubscribe(picker)) = &s.overlay else {
        panic!("picker expected");
    };
    assert_eq!(picker.items.len(), 2);
    s.update(ch('j'), t(1));
    let effects = s.update(key(KeyCode::Enter), t(1));
    assert_eq!(
        effects,
        [Effect::Unsubscribe {
            kind: SubKind::Pattern,
            name: Bytes::from_static(b"ai:*")
        }]
    );
    assert_eq!(s.subscriptions.len(), 1);
    assert!(s.overlay.is_none());
    s.update(ch('u'), t(1));
    assert!(s.update(key(KeyCode::Esc), t(1)).is_empty());
    assert!(s.overlay.is_none());
}

#[test]
fn export_carries_the_filtered_messages_and_a_timestamped_path() {
    let mut s = with_messages(&["keep 1", "drop", "keep 2"]);
    s.update(ch('/'), t(2));
    type_text(&mut s, "keep");
    s.update(key(KeyCode::Enter), t(2));
    let effects = s.update(ch('e'), t(3));
    let [Effect::Export { path, messages }] = effects.as_slice() else {
        panic!("one export effect expected: {effects:?}");
    };
    assert_eq!(
        path,
        &PathBuf::from("/exports/redtail-20270115-080003.000.jsonl")
    );
    let payloads: Vec<&[u8]> = messages.iter().map(|m| m.payload.as_ref()).collect();
    assert_eq!(payloads, [b"keep 1".as_slice(), b"keep 2"]);
    s.update(
        Event::Exported(Ok(ExportDone {
            path: path.clone(),
            count: 2,
        })),
        t(4),
    );
    let notice = s.visible_notice().map(|n| n.text.clone());
    assert_eq!(
        notice.as_deref(),
        Some("exported 2 messages to /exports/redtail-20270115-080003.000.jsonl")
    );
}

#[test]
fn enter_opens_the_selected_message_and_esc_returns() {
    let mut s = with_messages(&["one", r#"{"two":2}"#]);
    s.update(key(KeyCode::Enter), t(2));
    assert_eq!(s.focus(), Focus::Detail);
    assert_eq!(
        s.detail.as_ref().map(|d| d.format),
        Some(detail::BodyFormat::Json)
    );
    s.update(key(KeyCode::Esc), t(2));
    assert_eq!(s.focus(), Focus::Feed);
    s.update(ch('k'), t(2));
    assert!(s.feed.is_paused(), "moving up holds the list still");
    s.update(key(KeyCode::Enter), t(2));
    let payload = s.detail.as_ref().map(|d| d.message.payload.clone());
    assert_eq!(payload, Some(Bytes::from_static(b"one")));
}

#[test]
fn quit_keys_and_typing_q() {
    let mut s = state();
    assert_eq!(s.update(ch('q'), t(1)), [Effect::Quit]);
    s.update(ch('/'), t(1));
    assert!(s.update(ch('q'), t(1)).is_empty(), "q is text in a prompt");
    let ctrl_c = key_mod(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(
        s.update(ctrl_c, t(1)),
        [Effect::Quit],
        "Ctrl-C quits even while typing"
    );
}

#[test]
fn tabs_switch_and_other_panes_ignore_feed_keys() {
    let mut s = with_messages(&["x"]);
    s.update(key(KeyCode::Tab), t(1));
    assert_eq!(s.tab, Tab::Channels);
    assert_eq!(s.focus(), Focus::Channels);
    assert!(s.update(ch(' '), t(1)).is_empty());
    assert!(!s.feed.is_paused());
    s.update(ch('4'), t(1));
    assert_eq!(s.tab, Tab::Pending);
    s.update(key(KeyCode::Tab), t(1));
    assert_eq!(s.tab, Tab::Keyspace);
    s.update(key(KeyCode::Tab), t(1));
    assert_eq!(s.tab, Tab::Feed);
    s.update(key(KeyCode::BackTab), t(1));
    assert_eq!(s.tab, Tab::Keyspace);
}

#[test]
fn mouse_wheel_scrolls_and_clicking_a_tab_switches() {
    let mut s = with_messages(&["a", "b", "c", "d"]);
    let mouse = |kind, column, row| {
        Event::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    s.update(mouse(MouseEventKind::ScrollUp, 10, 10), t(1));
    assert!(s.feed.is_paused());
    assert_eq!(s.feed.window(s.feed_rows()).1, Some(0));
    let (_, x, _) = layout::tab_columns()[2];
    s.update(
        mouse(MouseEventKind::Down(MouseButton::Left), x + 2, 0),
        t(1),
    );
    assert_eq!(s.tab, Tab::Streams);
}

#[test]
fn clicking_a_feed_row_selects_that_message() {
    let mut s = with_messages(&["a", "b", "c", "d"]);
    let click = |row| {
        Event::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 20,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let body = s.areas().body;
    // Four messages fill the first four body rows; click the second.
    s.update(click(body.y + 1), t(1));
    assert!(s.feed.is_paused(), "selecting pauses the feed");
    let rows = s.feed_rows();
    let (start, selected) = s.feed.window(rows);
    assert_eq!(selected, Some(start + 1));
    // A click below the last message changes nothing.
    s.update(click(body.y + 10), t(1));
    assert_eq!(s.feed.window(rows).1, Some(start + 1));
}

#[test]
fn connection_status_keeps_the_last_error_while_connecting() {
    let mut s = state();
    let down = ConnView::Disconnected {
        since: t(0),
        error: "connection refused".into(),
        retry_at: t(2),
        attempt: 1,
        fatal: false,
        ever_connected: false,
    };
    let wanted = s.subscriptions.clone();
    s.update(
        Event::Status(StatusUpdate {
            conn: down,
            wanted: wanted.clone(),
        }),
        t(1),
    );
    s.update(
        Event::Status(StatusUpdate {
            conn: ConnView::Connecting,
            wanted: wanted.clone(),
        }),
        t(2),
    );
    assert_eq!(s.last_error.as_deref(), Some("connection refused"));
    s.update(
        Event::Status(StatusUpdate {
            conn: ConnView::Connected { since: t(3) },
            wanted,
        }),
        t(3),
    );
    assert_eq!(s.last_error, None);
}

#[test]
fn an_outage_drops_the_rate_to_zero_at_once_and_counts_the_open_gap() {
    let mut s = state();
    let wanted = s.subscriptions.clone();
    let status = |conn: ConnView| {
        Event::Status(StatusUpdate {
            conn,
            wanted: wanted.clone(),
        })
    };
    s.update(status(ConnView::Connected { since: t(0) }), t(0));
    let at = |secs: i64, millis: i64| t(secs) + chrono::TimeDelta::milliseconds(millis);
    for second in 1..10 {
        let batch = (0..10)
            .map(|i| {
                let Delivery::Message(mut m) = message("orders", "x") else {
                    unreachable!()
                };
                m.received = at(second, i * 100);
                Delivery::Message(m)
            })
            .collect();
        s.update(Event::Deliveries(batch), at(second, 950));
    }
    s.update(Event::Tick, at(10, 100));
    assert_eq!(s.rate_per_second(), 10.0);
    assert_eq!(s.gap_count(), 0);
    // The connection is lost at 10.2: the rate is 0 in the same instant, not 5 s later,
    // and the gap is open and counted before the engine reports it.
    let down = ConnView::Disconnected {
        since: at(10, 200),
        error: "server closed the connection".into(),
        retry_at: t(11),
        attempt: 0,
        fatal: false,
        ever_connected: true,
    };
    s.update(status(down.clone()), at(10, 200));
    assert_eq!(s.rate_per_second(), 0.0);
    assert_eq!(
        (s.gap_count(), s.outage.open_since()),
        (1, Some(at(10, 200)))
    );
    s.update(status(ConnView::Connecting), t(11));
    s.update(status(down), at(13, 400));
    assert_eq!(s.rate_per_second(), 0.0);
    assert_eq!(s.gap_count(), 1);
    // Back at 14: the gap row arrives (before or after the status) and is counted once.
    s.update(status(ConnView::Connected { since: t(14) }), t(14));
    assert_eq!((s.gap_count(), s.outage.open_since()), (1, None));
    let gap = Delivery::Gap(Gap {
        from: at(10, 200),
        to: t(14),
        reason: "server closed the connection".into(),
        handover: false,
    });
    s.update(Event::Deliveries(vec![gap]), t(14));
    assert_eq!((s.feed.gaps, s.gap_count()), (1, 1));
    // The seconds before the reconnect do not count towards the new rate.
    s.update(Event::Tick, at(14, 500));
    assert_eq!(s.rate_per_second(), 0.0);
}

/// Hiding an outage would fake continuity: a filter that matches no message still
/// shows the gap between them.
#[test]
fn a_filter_never_hides_a_gap_in_the_feed() {
    let mut s = with_messages(&["before"]);
    let gap = Delivery::Gap(Gap {
        from: t(1),
        to: t(2),
        reason: "server closed the connection".into(),
        handover: false,
    });
    s.update(
        Event::Deliveries(vec![gap, message("ai:chat", "after")]),
        t(2),
    );
    s.update(ch('/'), t(3));
    type_text(&mut s, "matches-nothing");
    s.update(key(KeyCode::Enter), t(3));
    assert_eq!(s.feed.matching_len(), 1, "the gap alone");
    s.update(ch('/'), t(4));
    s.update(key(KeyCode::Backspace), t(4));
    for _ in 0.."matches-nothing".len() {
        s.update(key(KeyCode::Backspace), t(4));
    }
    type_text(&mut s, "after");
    s.update(key(KeyCode::Enter), t(4));
    assert_eq!(s.feed.matching_len(), 2, "the message and the gap");
}

#[test]
fn gaps_errors_and_confirmations_reach_the_screen() {
    let mut s = state();
    let gap = Delivery::Gap(Gap {
        from: t(0),
        to: t(3),
        reason: "server closed the connection".into(),
        handover: false,
    });
    let refused = Delivery::ServerError(
        "NOPERM this user has no permissions to access the 'x' channel".into(),
    );
    s.update(Event::Deliveries(vec![gap, refused]), t(3));
    assert_eq!(s.feed.gaps, 1);
    assert_eq!(s.feed.len(), 2);
    let notice = s
        .visible_notice()
        .map(|n| (n.level, n.text.contains("ACL user")));
    assert_eq!(notice, Some((NoticeLevel::Error, true)));
    let confirm = Delivery::Subscription {
        kind: SubKind::Pattern,
        name: Bytes::from_static(b"ai:\x1b*"),
        subscribed: true,
        count: 1,
    };
    s.update(Event::Deliveries(vec![confirm]), t(4));
    let text = s.visible_notice().map(|n| n.text.clone());
    assert_eq!(text.as_deref(), Some("subscribed to pattern ai:\\x1b*"));
    assert!(s.update(Event::Tick, t(60)).is_empty());
    assert!(s.visible_notice().is_none(), "notices fade");
}

#[test]
fn resize_rewraps_the_detail_view() {
    let mut s = with_messages(&[&"x".repeat(300)]);
    s.update(key(KeyCode::Enter), t(1));
    assert_eq!(s.detail.as_ref().map(|d| d.row_count()), Some(3));
    s.update(Event::Resize(50, 30), t(1));
    assert_eq!(s.detail.as_ref().map(|d| d.row_count()), Some(6));
}

#[test]
fn thousands_separators() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1_284), "1,284");
    assert_eq!(thousands(12_345_678), "12,345,678");
}

#[test]
fn notices_expire_by_level_and_go_when_superseded() {
    use super::status::{NoticeTopic, ERROR_TTL, INFO_TTL};
    use chrono::TimeDelta;
    let mut s = with_messages(&["x"]);
    let text = |s: &AppState| s.visible_notice().map(|n| n.text.clone());
    // "filter cleared" is an info: gone after INFO_TTL (6 s), on the next tick.
    s.update(ch('/'), t(2));
    type_text(&mut s, "x");
    s.update(key(KeyCode::Enter), t(2));
    s.update(key(KeyCode::Esc), t(10));
    assert_eq!(text(&s).as_deref(), Some("filter cleared"));
    s.update(Event::Tick, t(10) + INFO_TTL - TimeDelta::milliseconds(1));
    assert!(text(&s).is_some());
    s.update(Event::Tick, t(10) + INFO_TTL);
    assert_eq!(text(&s), None, "an info notice fades");
    // Opening the filter again takes a fresh "filter cleared" down at once.
    s.update(ch('/'), t(20));
    s.update(key(KeyCode::Esc), t(20));
    s.info_about(NoticeTopic::Filter, "filter cleared".into());
    s.update(ch('/'), t(21));
    assert_eq!(text(&s), None, "superseded by editing the filter");
    s.update(key(KeyCode::Esc), t(21));
    // Errors stay longer.
    s.error("export failed: disk full".into());
    s.update(Event::Tick, t(21) + INFO_TTL + TimeDelta::seconds(1));
    assert!(text(&s).is_some(), "an error outlives an info");
    s.update(Event::Tick, t(21) + ERROR_TTL);
    assert_eq!(text(&s), None);
    // Progress stays until its topic is cleared; clearing another topic leaves it.
    s.progress(NoticeTopic::Scan, "scanning…".into());
    s.update(Event::Tick, t(60));
    assert_eq!(text(&s).as_deref(), Some("scanning…"));
    s.clear_notice(NoticeTopic::Paging);
    assert_eq!(text(&s).as_deref(), Some("scanning…"));
    s.clear_notice(NoticeTopic::Scan);
    assert_eq!(text(&s), None);
}
