//! The Keyspace pane (tab 5): snapshots of the events view, the keys table and the
//! setting-missing note at every size with similar and hostile keys; and the real
//! binary in a pseudo-terminal against real servers (events, keys-table counts checked
//! against what the test did with redis-cli, enabling with confirmation and restoring on
//! quit, the read-only refusal, every shard of a Cluster).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};

use common::pty::Tui;
use common::python::audit_records;
use common::screen::{self, check_screen, text, Expect};
use common::Server;
use crossterm::event::{KeyCode, KeyModifiers};
use redtail::redis::keyspace::check::Finding;
use redtail::redis::message::{Delivery, KeyEvent};
use redtail::state::keyspace::{parse_start, KeyspaceEvent};
use redtail::state::status::{ConnView, StatusUpdate};
use redtail::state::{AppState, Config, Event, Tab};

const T: Duration = Duration::from_secs(15);

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:05Z")
        .map(|d| d.to_utc())
        .expect("fixed test time")
}

fn event(seq: u64, key: &[u8], name: &str, node: &str, ms_ago: i64) -> Delivery {
    Delivery::Keyspace(KeyEvent {
        seq,
        received: now() - TimeDelta::milliseconds(ms_ago),
        node: Arc::from(node),
        db: 0,
        key: Bytes::copy_from_slice(key),
        event: Bytes::copy_from_slice(name.as_bytes()),
    })
}

/// A pane following `ai:*` with churn on similar keys and a hostile one, from two nodes.
fn state(read_only: bool) -> AppState {
    let config = Config {
        target: "redis://10.0.0.5:6380".into(),
        read_only: redtail::redis::actions::ReadOnly::from_flag(read_only),
        ..Config::default()
    };
    let mut s = AppState::new(config, Default::default(), now());
    s.update(
        Event::Status(StatusUpdate {
            conn: ConnView::Connected {
                since: now() - TimeDelta::seconds(60),
            },
            wanted: Default::default(),
        }),
        now(),
    );
    s.start_keyspace(parse_start("ai:* set,del,expired,hset", None).expect("spec"));
    s.tab = Tab::Keyspace;
    let keys: [&[u8]; 3] = [
        screen::SIMILAR[0].as_bytes(),
        screen::SIMILAR[1].as_bytes(),
        screen::HOSTILE.as_bytes(),
    ];
    let mut batch = Vec::new();
    for i in 0..24u64 {
        let key = keys[(i % 3) as usize];
        let name = ["set", "hset", "set", "del", "expired"][(i % 5) as usize];
        let node = if i % 2 == 0 {
            "10.0.0.5:7000"
        } else {
            "10.0.0.6:7001"
        };
        batch.push(event(i, key, name, node, 4_000 - i as i64 * 100));
    }
    s.update(Event::Keyspace(KeyspaceEvent::Deliveries(batch)), now());
    s.update(
        Event::Keyspace(KeyspaceEvent::Settings(vec![
            Finding::Ready {
                addr: "10.0.0.5:7000".into(),
            },
            Finding::Ready {
                addr: "10.0.0.6:7001".into(),
            },
        ])),
        now(),
    );
    s.update(
        Event::Keyspace(KeyspaceEvent::Sources("2 primaries".into())),
        now(),
    );
    s
}

/// The pane at 100×30, snapshot as `name` and checked for overflow; its text.
fn snapshot_100x30(s: &mut AppState, name: &str) -> String {
    let buf = screen::draw_at(s, (100, 30), now());
    let screen_text = text(&buf);
    insta::assert_snapshot!(name, screen_text.clone());
    check_screen(&buf, &Expect::default());
    screen_text
}

/// Until the server counts at least `n` pattern subscriptions (PUBSUB NUMPAT).
fn wait_numpat(server: &Server, n: usize) {
    common::wait_for("the keyspace subscription", T, || {
        let numpat: usize = server
            .cli(&["PUBSUB", "NUMPAT"])
            .trim()
            .parse()
            .unwrap_or(0);
        (numpat >= n).then_some(())
    });
}

fn expect() -> Expect<'static> {
    Expect {
        distinct: &["1a2b", "1c4d"],
        names: &[screen::SIMILAR[0], screen::SIMILAR[1]],
        ..Expect::default()
    }
}

#[test]
fn keyspace_pane_shows_events_newest_first_at_every_size() {
    let mut s = state(false);
    for size in screen::SIZES {
        let buf = screen::draw_at(&mut s, size, now());
        let screen_text = text(&buf);
        insta::assert_snapshot!(format!("events_{}x{}", size.0, size.1), screen_text);
        check_screen(&buf, &expect());
        assert!(screen_text.contains("expired"), "{screen_text}");
        // Newest first: the last event (seq 23, a hostile key's `del`) is the top row.
        let rows = screen::rows(&buf);
        let first = rows
            .iter()
            .position(|r| r.contains("10:00:0"))
            .expect("an event row");
        assert!(rows[first].contains("10:00:03.300"), "{screen_text}");
    }
}

#[test]
fn keyspace_gap_is_a_row_where_it_happened_at_every_size() {
    let mut s = state(false);
    // A node's subscription was down for 0.5 s between the 24 events and two more.
    let gap = redtail::redis::message::Gap {
        from: now() - TimeDelta::milliseconds(1_500),
        to: now() - TimeDelta::milliseconds(1_000),
        reason: format!("node 10.0.0.6:7001: {}", screen::HOSTILE),
        handover: false,
    };
    s.update(
        Event::Keyspace(KeyspaceEvent::Deliveries(vec![
            Delivery::Gap(gap),
            event(24, b"ai:after", "set", "10.0.0.5:7000", 500),
            event(25, b"ai:after", "del", "10.0.0.5:7000", 400),
        ])),
        now(),
    );
    for size in screen::SIZES {
        let buf = screen::draw_at(&mut s, size, now());
        let screen_text = text(&buf);
        insta::assert_snapshot!(format!("gap_row_{}x{}", size.0, size.1), screen_text);
        check_screen(&buf, &expect());
        let rows = screen::rows(&buf);
        let at = |needle: &str| rows.iter().position(|r| r.contains(needle));
        let gap_row = at("── disconnected 0.5 s").expect("a gap row");
        assert!(rows[gap_row].contains("10:00:04.000"), "{screen_text}");
        // Between the events after it (newer, above) and the 24 before it (below).
        assert!(at("ai:after").is_some_and(|r| r < gap_row), "{screen_text}");
        assert!(
            at("10:00:03.300").is_some_and(|r| r > gap_row),
            "{screen_text}"
        );
    }
}

#[test]
fn keyspace_keys_table_counts_per_key_at_every_size() {
    let mut s = state(false);
    screen::press(&mut s, KeyCode::Char('t'), KeyModifiers::NONE, now());
    for size in screen::SIZES {
        let buf = screen::draw_at(&mut s, size, now());
        let screen_text = text(&buf);
        insta::assert_snapshot!(format!("keys_{}x{}", size.0, size.1), screen_text);
        check_screen(
            &buf,
            &Expect {
                sort_arrow: true,
                ..expect()
            },
        );
        // 24 events over 3 keys: 8 each.
        assert!(screen_text.contains(" 8 "), "{screen_text}");
    }
}

#[test]
fn keyspace_pane_says_which_node_lacks_which_flags() {
    let mut s = state(false);
    s.update(
        Event::Keyspace(KeyspaceEvent::Settings(vec![
            Finding::Missing {
                addr: "10.0.0.5:7000".into(),
                replica: false,
                current: String::new(),
                missing: "Kgx$h".into(),
                fix: String::new(),
            },
            Finding::Unreadable {
                addr: "10.0.0.6:7001".into(),
                error: "NOPERM this user has no permissions to run the 'config|get' command".into(),
            },
        ])),
        now(),
    );
    for size in screen::SIZES {
        let buf = screen::draw_at(&mut s, size, now());
        let screen_text = text(&buf);
        insta::assert_snapshot!(format!("missing_{}x{}", size.0, size.1), screen_text);
        check_screen(&buf, &Expect::default());
        assert!(screen_text.contains("10.0.0.5:7000"), "{screen_text}");
    }
    // The enable key opens the confirmation naming node, old and new value.
    screen::press(&mut s, KeyCode::Char('E'), KeyModifiers::NONE, now());
    let screen_text = snapshot_100x30(&mut s, "confirm_100x30");
    assert!(
        screen_text.contains("10.0.0.5:7000: \"\" → \"Kgx$h\""),
        "{screen_text}"
    );
    assert!(screen_text.contains("put back when redtail quits"));
}

// ---- the real binary in a pseudo-terminal ----

fn config_get(server: &Server) -> String {
    server
        .cli(&["CONFIG", "GET", "notify-keyspace-events"])
        .lines()
        .nth(1)
        .unwrap_or("")
        .to_string()
}

/// The row of the keys table naming `key`.
fn key_row(screen: &str, key: &str) -> Option<String> {
    screen
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == key))
        .map(str::to_string)
}

#[test]
fn keyspace_tui_shows_events_and_counts_what_redis_cli_did() {
    let server = Server::start_with(&["--notify-keyspace-events", "KEA"]);
    let (mut tui, _audit) =
        common::tui_audited_sized(&[&server.url(), "--keyspace", "k:*"], false, (140, 30));
    tui.wait_for("keyspace k:*", T);
    wait_numpat(&server, 2);
    server.cli(&["SET", "k:a", "1"]);
    server.cli(&["SET", "k:a", "2"]);
    server.cli(&["EXPIRE", "k:a", "100"]);
    server.cli(&["SET", "k:b", "1"]);
    server.cli(&["DEL", "k:b"]);
    server.cli(&["SET", "other", "1"]); // not under the glob
    let screen = tui.wait_until("five events", T, |s| s.contains("5 events"));
    for name in ["set", "expire", "del"] {
        assert!(screen.contains(name), "{name} missing:\n{screen}");
    }
    assert!(!screen.contains("other"), "{screen}");
    tui.send(b"t");
    let screen = tui.wait_until("the keys table", T, |s| {
        key_row(s, "k:a").is_some_and(|r| r.contains("set×2"))
    });
    let a = key_row(&screen, "k:a").expect("k:a row");
    assert!(a.contains(" 3 ") && a.contains("expire×1"), "{a}");
    let b = key_row(&screen, "k:b").expect("k:b row");
    assert!(
        b.contains(" 2 ") && b.contains("set×1") && b.contains("del×1"),
        "{b}"
    );
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn keyspace_tui_enables_with_confirmation_and_restores_on_quit() {
    let server = Server::start_with(&["--notify-keyspace-events", ""]);
    let (mut tui, audit) =
        common::tui_audited_sized(&[&server.url(), "--keyspace", "k:*"], false, (140, 30));
    let audit_path = audit.path.clone();
    tui.wait_for("lacks flags", T);
    tui.send(b"E");
    tui.wait_for("Enable keyspace notifications?", T);
    assert_eq!(
        config_get(&server),
        "",
        "nothing set before the confirmation"
    );
    tui.send(b"y");
    common::wait_for("the flags set", T, || {
        let v = config_get(&server);
        (v.contains('K') && v.contains('A')).then_some(v)
    });
    server.cli(&["SET", "k:x", "1"]);
    tui.wait_for("1 events", T);
    tui.send(b"q");
    tui.wait_exit(T);
    assert_eq!(config_get(&server), "", "restored on quit");
    let records = audit_records(&audit_path);
    let actions: Vec<&str> = records
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(actions, ["notify-enable", "notify-restore"], "{records:?}");
}

#[test]
fn keyspace_tui_enable_is_refused_in_read_only_and_audited() {
    let server = Server::start_with(&["--notify-keyspace-events", ""]);
    let (mut tui, audit) =
        common::tui_audited_sized(&[&server.url(), "--keyspace", "k:*"], true, (140, 30));
    let audit_path = audit.path.clone();
    tui.wait_for("lacks flags", T);
    tui.send(b"E");
    tui.wait_for("notify-enable is disabled", T);
    let records = common::wait_for("an audited refusal", T, || {
        let r = audit_records(&audit_path);
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(records[0]["action"], "notify-enable", "{}", records[0]);
    assert_eq!(records[0]["result"]["status"], "refused", "{}", records[0]);
    assert_eq!(config_get(&server), "", "nothing was set");
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn keyspace_tui_on_a_cluster_shows_keys_of_every_shard_with_their_node() {
    let cluster = common::cluster::Cluster::start();
    for &port in cluster.ports() {
        cluster.cli(port, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    }
    let primaries: Vec<u16> = cluster.primaries().iter().map(|n| n.port).collect();
    assert_eq!(primaries.len(), 3);
    // One key on each shard.
    let keys: Vec<(String, u16)> = primaries
        .iter()
        .map(|&p| {
            let key = (0..10_000)
                .map(|i| format!("k:{i}"))
                .find(|k| cluster.port_for_key(k) == p)
                .expect("a key on every shard");
            (key, p)
        })
        .collect();
    let mut tui = Tui::spawn(&[&cluster.seed_url(), "--keyspace", "k:*"], 160, 30);
    tui.wait_for("from 3 primaries", T);
    common::wait_for("a keyspace pattern on every primary", T, || {
        primaries
            .iter()
            .all(|&p| {
                cluster
                    .cli(p, &["PUBSUB", "NUMPAT"])
                    .trim()
                    .parse::<usize>()
                    .unwrap_or(0)
                    >= 1
            })
            .then_some(())
    });
    for (key, port) in &keys {
        cluster.cli(*port, &["SET", key, "v"]);
    }
    tui.send(b"t");
    let screen = tui.wait_until("a row per shard's key", T, |s| {
        keys.iter().all(|(k, _)| key_row(s, k).is_some())
    });
    for (key, port) in &keys {
        let row = key_row(&screen, key).expect("row");
        assert!(
            row.contains(&format!(":{port}")) && row.contains("set×1"),
            "{key} should name node :{port}: {row}\n{screen}"
        );
    }
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn keyspace_tui_s_starts_a_subscription_with_only_the_events_asked_for() {
    let server = Server::start_with(&["--notify-keyspace-events", "KEA"]);
    let mut tui = Tui::spawn(&[&server.url(), "-c", "unused"], 140, 30);
    tui.wait_for("connected", T);
    tui.send(b"5");
    tui.wait_for("No keyspace subscription", T);
    tui.send(b"s");
    tui.wait_for("Follow keyspace events", T);
    tui.send(b"k:* del\r");
    tui.wait_for("keyspace k:* · del", T);
    wait_numpat(&server, 1);
    server.cli(&["SET", "k:1", "v"]);
    server.cli(&["DEL", "k:1"]);
    server.cli(&["SET", "k:2", "v"]);
    server.cli(&["DEL", "k:2"]);
    let screen = tui.wait_until("two del events", T, |s| s.contains("2 events"));
    assert!(
        !screen.contains(" set "),
        "only del was asked for:\n{screen}"
    );
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn keyspace_tui_enable_notifications_flag_enables_at_launch_and_restores_on_quit() {
    let server = Server::start_with(&["--notify-keyspace-events", "Ex"]);
    let (mut tui, _audit) = common::tui_audited_sized(
        &[
            &server.url(),
            "--keyspace",
            "k:*",
            "--events",
            "set",
            "--enable-notifications",
        ],
        false,
        (140, 30),
    );
    let set = common::wait_for("the flags added", T, || {
        let v = config_get(&server);
        (v.contains('K') && v.contains('$')).then_some(v)
    });
    assert!(
        set.contains('x') && set.contains('E'),
        "kept the old flags: {set}"
    );
    server.cli(&["SET", "k:1", "v"]);
    tui.wait_for("1 events", T);
    tui.send(b"q");
    tui.wait_exit(T);
    let restored = config_get(&server);
    assert!(
        !restored.contains('K') && !restored.contains('$'),
        "put back to Ex on quit: {restored}"
    );
}

#[test]
fn keyspace_tui_through_sentinel_follows_the_primary_it_names() {
    let setup = common::sentinel::SentinelSetup::start();
    for port in setup.data_ports() {
        common::query(port, &["CONFIG", "SET", "notify-keyspace-events", "KA"])
            .expect("CONFIG SET");
    }
    let sentinels = setup.sentinel_addrs().join(",");
    let url = format!("redis+sentinel://{sentinels}/{}", setup.master_name());
    let primary = setup.primary_port();
    let mut tui = Tui::spawn(&[&url, "--keyspace", "s:*"], 160, 30);
    tui.wait_for(
        &format!("from the Sentinels' primary 127.0.0.1:{primary}"),
        T,
    );
    common::wait_for("the keyspace subscription on the primary", T, || {
        common::query_text(primary, &["PUBSUB", "NUMPAT"])
            .and_then(|n| n.trim().parse::<usize>().ok())
            .filter(|&n| n >= 1)
    });
    common::query(primary, &["SET", "s:1", "v"]).expect("SET");
    let screen = tui.wait_until("the event with its node", T, |s| {
        s.lines()
            .any(|l| l.contains("s:1") && l.contains(&format!("127.0.0.1:{primary}")))
    });
    assert!(screen.contains("set"), "{screen}");
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn keyspace_help_lists_the_pane_keys_and_how_filters_map() {
    let mut s = state(false);
    screen::press(&mut s, KeyCode::Char('?'), KeyModifiers::NONE, now());
    let screen_text = snapshot_100x30(&mut s, "help_100x30");
    for needed in [
        "events / keys table",
        "How Keyspace filters",
        "keyspace pane",
    ] {
        assert!(screen_text.contains(needed), "{needed}:\n{screen_text}");
    }
}

#[test]
fn keyspace_tui_two_enables_are_both_undone_on_quit() {
    let server = Server::start_with(&["--notify-keyspace-events", ""]);
    let (mut tui, _audit) = common::tui_audited_sized(
        &[&server.url(), "--keyspace", "k:*", "--events", "set"],
        false,
        (140, 30),
    );
    tui.wait_for("lacks flags", T);
    tui.send(b"E");
    tui.wait_for("Enable keyspace notifications?", T);
    tui.send(b"y");
    common::wait_for("K$ set", T, || {
        let v = config_get(&server);
        (v.contains('K') && v.contains('$')).then_some(v)
    });
    // A second subscription needs one more flag: enabled on top of the first change.
    tui.send(b"s");
    tui.wait_for("Follow keyspace events", T);
    tui.send(b"\x15k:* expired\r");
    tui.wait_for("lacks flags \"x\"", T);
    tui.send(b"E");
    tui.wait_for("Enable keyspace notifications?", T);
    tui.send(b"y");
    common::wait_for("x added", T, || {
        config_get(&server).contains('x').then_some(())
    });
    tui.send(b"q");
    tui.wait_exit(T);
    assert_eq!(
        config_get(&server),
        "",
        "back to the value before the first change"
    );
}

#[test]
fn keyspace_tui_quit_leaves_a_setting_someone_changed_since() {
    let server = Server::start_with(&["--notify-keyspace-events", ""]);
    let (mut tui, audit) = common::tui_audited_sized(
        &[&server.url(), "--keyspace", "k:*", "--enable-notifications"],
        false,
        (140, 30),
    );
    common::wait_for("the flags set", T, || {
        config_get(&server).contains('K').then_some(())
    });
    // Another operator sets their own value while the TUI runs: theirs stays on quit.
    server.cli(&["CONFIG", "SET", "notify-keyspace-events", "Ex"]);
    tui.send(b"q");
    tui.wait_exit(T);
    assert_eq!(config_get(&server), "xE", "the later change is kept");
    let records = audit_records(&audit.path);
    let restore = (records.iter())
        .find(|r| r["action"] == "notify-restore")
        .unwrap_or_else(|| panic!("a restore audited: {records:?}"));
    assert!(
        restore.to_string().contains("changed_since"),
        "the record says why nothing was sent: {restore}"
    );
}

#[test]
fn keyspace_tui_puts_the_setting_back_on_sigterm_and_sighup() {
    for signal in ["-TERM", "-HUP"] {
        let server = Server::start_with(&["--notify-keyspace-events", "Ex"]);
        let (mut tui, _audit) = common::tui_audited_sized(
            &[&server.url(), "--keyspace", "k:*", "--enable-notifications"],
            false,
            (140, 30),
        );
        common::wait_for("the flags set", T, || {
            config_get(&server).contains('K').then_some(())
        });
        let pid = tui.pid().to_string();
        let sent = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        tui.wait_exit(T)
            .unwrap_or_else(|| panic!("exits on {signal}"));
        assert_eq!(config_get(&server), "xE", "put back on {signal}");
        assert!(
            !tui.alternate_screen(),
            "the terminal is put back on {signal}"
        );
    }
}
