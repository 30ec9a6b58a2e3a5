//! Channels pane snapshots: the channels table, the clients table and the publish
//! composer, rendered by the real `ui::render` at a fixed size and clock. Colours are
//! invisible in text snapshots, so the ones that carry meaning are asserted per cell.

use crate::common::screen;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use crossterm::event::{KeyCode, KeyModifiers};
use ratatui::style::{Color, Modifier};

use redtail::redis::clients::{OutputLimit, PubSubClient};
use redtail::redis::cluster::Role;
use redtail::redis::message::{Delivery, Kind, Message};
use redtail::redis::poller::{ChannelKind, ChannelStat, NodePubSub, PollState, PubSubSnapshot};
use redtail::redis::subscriber::Subscriptions;
use redtail::state::composer::PublishDone;
use redtail::state::status::{ConnView, StatusUpdate};
use redtail::state::{AppState, Config, Event};
use screen::{check_screen, column_of, draw, rows, text, Expect};

const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:05Z")
        .map(|d| d.to_utc())
        .expect("fixed test time")
}

/// `millis` milliseconds before `now()`.
fn ago(millis: i64) -> DateTime<Utc> {
    now() - TimeDelta::milliseconds(millis)
}

fn subscriptions() -> Subscriptions {
    let mut subs = Subscriptions::default();
    subs.patterns.insert(Bytes::from_static(b"ai:*"));
    subs
}

fn state(read_only: bool) -> AppState {
    let config = Config {
        target: "redis://10.0.0.5:6380".into(),
        size: (WIDTH, HEIGHT),
        read_only: redtail::redis::actions::ReadOnly::from_flag(read_only),
        ..Config::default()
    };
    let mut s = AppState::new(config, subscriptions(), now());
    s.update(
        Event::Status(StatusUpdate {
            conn: ConnView::Connected { since: ago(60_000) },
            wanted: subscriptions(),
        }),
        now(),
    );
    s
}

fn stat(kind: ChannelKind, name: &[u8], subscribers: i64) -> ChannelStat {
    ChannelStat {
        name: Bytes::copy_from_slice(name),
        kind,
        subscribers,
    }
}

fn snapshot(taken_ms_ago: i64) -> PubSubSnapshot {
    let mut channels = vec![
        stat(ChannelKind::Channel, b"cache:invalidate", 4),
        stat(ChannelKind::Channel, b"ai:models:updated", 2),
        stat(ChannelKind::Channel, b"orders", 12),
        stat(ChannelKind::Channel, b"ev\x1b[1m:bold", 1),
        stat(ChannelKind::Shard, b"{user}:42", 3),
    ];
    channels.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    PubSubSnapshot {
        channels,
        numpat: 3,
        shard_supported: true,
        taken_at: ago(taken_ms_ago),
        took: Duration::from_millis(2),
        commands_sent: 5,
        round_trips: 2,
        nodes: Default::default(),
        channel_nodes: Default::default(),
    }
}

fn poll(generation: u64, snapshot: PubSubSnapshot) -> PollState {
    PollState {
        generation,
        last_ok: Some(Arc::new(snapshot)),
        ..PollState::default()
    }
}

fn message(millis_ago: i64, kind: Kind, channel: &[u8]) -> Delivery {
    Delivery::Message(Message {
        seq: 0,
        received: ago(millis_ago),
        kind,
        pattern: (kind == Kind::PMessage).then(|| Bytes::from_static(b"ai:*")),
        channel: Bytes::copy_from_slice(channel),
        payload: Bytes::from_static(b"{}"),
    })
}

/// Traffic over the last minute: a busy channel, a quiet one, a shard channel and
/// `ai:conversations:9`, which arrives through the pattern only (no exact subscriber).
fn traffic() -> Vec<Delivery> {
    let mut batch = Vec::new();
    for i in 0..120 {
        batch.push(message(
            59_000 - i * 490,
            Kind::PMessage,
            b"ai:models:updated",
        ));
    }
    for i in 0..30 {
        batch.push(message(
            20_000 - i * 300,
            Kind::PMessage,
            b"ai:conversations:9",
        ));
    }
    batch.push(message(42_000, Kind::Message, b"orders"));
    for i in 0..6 {
        batch.push(message(4_000 - i * 500, Kind::SMessage, b"{user}:42"));
    }
    batch
}

fn press(s: &mut AppState, code: KeyCode, modifiers: KeyModifiers) {
    screen::press(s, code, modifiers, now());
}

fn keys(s: &mut AppState, text: &str) {
    screen::type_text(s, text, now());
}

fn channels_pane() -> AppState {
    let mut s = state(false);
    s.update(Event::Deliveries(traffic()), now());
    s.update(Event::PubSubPoll(poll(1, snapshot(400))), now());
    keys(&mut s, "2");
    s
}

#[test]
fn channels_table_sorted_by_subscribers() {
    let s = channels_pane();
    let buf = draw(&s);
    insta::assert_snapshot!("channels_table", text(&buf));
    let screen = rows(&buf);
    assert!(screen[3].contains("numpat 3 · 4 channels · 1 shard channel"));
    assert!(screen[3].contains("1 only via patterns"));
    // The control byte in a name is escaped and styled as our escape.
    let y = screen
        .iter()
        .position(|r| r.contains("ev\\x1b[1m:bold"))
        .expect("escaped name shown");
    let x = column_of(&buf, y, "\\x1b").expect("escape");
    assert!(buf[(x, y as u16)].modifier.contains(Modifier::ITALIC));
    assert!(!text(&buf).contains('\x1b'));
}

#[test]
fn channels_table_sorted_by_rate_then_reversed() {
    let mut s = channels_pane();
    keys(&mut s, "oo");
    let by_rate = rows(&draw(&s))[4..12].join("\n");
    keys(&mut s, "O");
    let reversed = rows(&draw(&s))[4..12].join("\n");
    insta::assert_snapshot!(
        "channels_by_rate",
        format!("--- msg/s ▼\n{by_rate}\n--- msg/s ▲\n{reversed}")
    );
}

#[test]
fn channels_header_when_stats_are_stale() {
    let mut s = channels_pane();
    let mut failed = poll(2, snapshot(12_300));
    failed.last_error = Some((
        ago(300),
        "PUBSUB CHANNELS refused: NOPERM this user has no permissions to run the \
         'pubsub|channels' command — grant +pubsub|channels or use an account that can\x1b[2J"
            .into(),
    ));
    s.update(Event::PubSubPoll(failed), now());
    let buf = draw(&s);
    insta::assert_snapshot!("channels_stale", rows(&buf)[3..10].join("\n"));
    let x = column_of(&buf, 3, "stats 12s old").expect("age shown");
    assert_eq!(buf[(x, 3)].fg, Color::Yellow, "stale stats are a warning");
}

fn client(id: u64, name: &str, sub: u64, psub: u64, omem: u64) -> PubSubClient {
    PubSubClient {
        id,
        addr: format!("10.0.0.{id}:5{id:04}"),
        name: name.into(),
        sub,
        psub,
        ssub: 0,
        omem,
        age: Duration::from_secs(3_600),
        idle: Duration::from_secs(id),
    }
}

fn clients_pane(clients: Result<Vec<PubSubClient>, String>) -> AppState {
    let mut s = channels_pane();
    keys(&mut s, "c");
    let mut p = poll(2, snapshot(400));
    p.clients = Some(clients);
    p.output_limit = Some(OutputLimit {
        hard_bytes: 32 << 20,
        soft_bytes: 8 << 20,
        soft_seconds: 60,
    });
    s.update(Event::PubSubPoll(p), now());
    s
}

#[test]
fn clients_table_colours_omem_near_the_limit() {
    let s = clients_pane(Ok(vec![
        client(7, "api-1", 3, 0, 0),
        client(8, "api-2\x1b]0;x\x07", 3, 1, 5 << 20),
        client(9, "slow-consumer", 1, 0, 7 << 20),
        client(12, "", 0, 2, 1 << 20),
    ]));
    let buf = draw(&s);
    insta::assert_snapshot!("clients_table", text(&buf));
    let screen = rows(&buf);
    let omem = |name: &str| {
        let y = screen
            .iter()
            .position(|r| r.contains(name))
            .expect("client row");
        let row = &screen[y];
        let b = row.find(" MiB").or_else(|| row.find(" B")).expect("omem");
        // The last character of the number before the unit.
        let x = row[..b].chars().count() as u16 - 1;
        buf[(x, y as u16)].fg
    };
    assert_eq!(
        omem("slow-consumer"),
        Color::Red,
        "7 of 8 MiB soft limit: 88 %"
    );
    assert_eq!(omem("api-2"), Color::Yellow, "62 %");
    assert_eq!(omem("10.0.0.12"), Color::Reset, "12 %: no colour");
    assert!(!text(&buf).contains('\x1b'));
}

#[test]
fn clients_permission_denied() {
    let s = clients_pane(Err(
        "CLIENT LIST refused: NOPERM this user has no permissions to run the 'client|list' \
         command — grant +client|list or use an account that can"
            .into(),
    ));
    insta::assert_snapshot!("clients_denied", text(&draw(&s)));
}

fn composer_rows(s: &AppState) -> String {
    rows(&draw(s))[3..].join("\n")
}

#[test]
fn composer_states() {
    let mut s = channels_pane();
    keys(&mut s, "j");
    keys(&mut s, "p");
    let prefilled = composer_rows(&s);

    press(&mut s, KeyCode::Char('o'), KeyModifiers::CONTROL);
    keys(&mut s, "{\"key\": ");
    press(&mut s, KeyCode::Enter, KeyModifiers::NONE);
    keys(&mut s, "  \"user:42\"");
    let json_error = composer_rows(&s);

    keys(&mut s, "}");
    press(&mut s, KeyCode::Char('s'), KeyModifiers::CONTROL);
    s.update(
        Event::Published(Ok(PublishDone {
            channel: Bytes::from_static(b"cache:invalidate"),
            shard: false,
            receivers: 0,
        })),
        now(),
    );
    let nobody = composer_rows(&s);
    insta::assert_snapshot!("composer_prefilled", prefilled);
    insta::assert_snapshot!("composer_json_error", json_error);
    insta::assert_snapshot!("composer_nobody_listening", nobody);
}

#[test]
fn composer_empty_and_read_only() {
    let mut s = state(false);
    keys(&mut s, "2p");
    insta::assert_snapshot!("composer_empty", composer_rows(&s));

    let mut s = state(true);
    keys(&mut s, "2p");
    let screen = rows(&draw(&s));
    insta::assert_snapshot!("composer_read_only", screen[HEIGHT as usize - 1].clone());
    assert!(screen[HEIGHT as usize - 1].contains("read-only mode: publish is disabled"));
}

fn node(addr: &str, role: Role, slots: usize, health: &str, subs: i64) -> NodePubSub {
    NodePubSub {
        addr: addr.into(),
        id: format!("id-{addr}"),
        role,
        health: health.into(),
        slots,
        channels: usize::from(subs > 0),
        subscribers: subs,
        shard_channels: 0,
        shard_subscribers: 0,
        numpat: 0,
        error: None,
    }
}

#[test]
fn nodes_view_shows_topology_and_per_node_figures() {
    let mut s = channels_pane();
    keys(&mut s, "n");
    let mut snap = snapshot(400);
    snap.nodes = vec![
        node("10.0.0.5:7000", Role::Primary, 5461, "online", 4),
        node("10.0.0.6:7003", Role::Replica, 0, "online", 1),
        node("10.0.0.5:7001", Role::Primary, 5462, "failed", 0),
        NodePubSub {
            error: Some("cannot connect to redis://10.0.0.5:7001: Connection refused".into()),
            ..node("10.0.0.6:7004", Role::Primary, 5461, "online", 0)
        },
    ];
    // Each channel's subscribers: all on the first node, one more on the replica.
    snap.channel_nodes = snap
        .channels
        .iter()
        .map(|c| vec![(0, c.subscribers - 1), (1, 1)])
        .collect();
    let mut p = poll(2, snap);
    p.deployment = Some("cluster · 3 primaries · 1 replica · 1 not online".into());
    s.update(Event::PubSubPoll(p), now());
    let buf = draw(&s);
    insta::assert_snapshot!("nodes_view", text(&buf));
    let screen = rows(&buf);
    // The header says what is being watched, on every pane.
    assert!(
        screen[1].contains("redis://10.0.0.5:6380 · cluster · 3 primaries"),
        "{}",
        screen[1]
    );
    let y = screen.iter().position(|r| r.contains("failed")).unwrap();
    let x = column_of(&buf, y, "failed").unwrap();
    assert!(
        buf[(x, y as u16)].modifier.contains(Modifier::BOLD),
        "a failed node stands out"
    );
    assert!(
        text(&buf).contains("cannot connect to"),
        "why a node has no figures"
    );
    // `n` again: back to the channels table, which now says where subscribers are.
    keys(&mut s, "n");
    let t = text(&draw(&s));
    assert!(t.contains("subscribers") && t.contains("on nodes"), "{t}");
    assert!(t.contains(":7000×") && t.contains(":7003×1"), "{t}");
}

#[test]
fn nodes_view_on_a_single_server_says_so() {
    let mut s = channels_pane();
    keys(&mut s, "n");
    let t = text(&draw(&s));
    assert!(t.contains("Not a cluster"), "{t}");
}

/// The channels pane with long, similar and hostile names: the similar ones busiest so
/// they sort to the top even at 60×15.
fn crowded_pane() -> AppState {
    let mut s = state(false);
    s.update(Event::Deliveries(traffic()), now());
    let mut snap = snapshot(400);
    snap.channels.push(stat(
        ChannelKind::Channel,
        screen::SIMILAR[0].as_bytes(),
        1_204,
    ));
    snap.channels.push(stat(
        ChannelKind::Channel,
        screen::SIMILAR[1].as_bytes(),
        1_203,
    ));
    snap.channels.push(stat(
        ChannelKind::Channel,
        screen::HOSTILE.as_bytes(),
        1_202,
    ));
    s.update(Event::PubSubPoll(poll(1, snap)), now());
    keys(&mut s, "2");
    s
}

/// Every view of the Channels pane at the three sizes: snapshots plus the shared checks
/// (fits, borders intact, similar names apart, sort arrow shown, cuts marked).
#[test]
fn channels_views_fit_at_every_size() {
    let names = [screen::SIMILAR[0], screen::SIMILAR[1], "evil\\x1b[2J"];
    let similar = Expect {
        distinct: &["1a2b", "1c4d"],
        sort_arrow: true,
        names: &names,
    };
    let mut views: Vec<(&str, AppState, Expect)> = Vec::new();
    let mut table = crowded_pane();
    // Sorted by the last column: its arrow must still show.
    for _ in 0..6 {
        if table.channels.sort == redtail::state::channels::SortColumn::LastMessage {
            break;
        }
        keys(&mut table, "o");
    }
    assert_eq!(
        table.channels.sort,
        redtail::state::channels::SortColumn::LastMessage
    );
    views.push(("table", table, similar));
    let mut clients = crowded_pane();
    keys(&mut clients, "c");
    let mut p = poll(2, snapshot(400));
    p.clients = Some(Ok(vec![
        client(7, "demo-billing-events-consumer-1a2b", 3, 0, 0),
        client(8, "demo-billing-events-consumer-1c4d", 3, 1, 5 << 20),
        client(9, screen::HOSTILE, 1, 0, 7 << 20),
    ]));
    s_update(&mut clients, p);
    views.push((
        "clients",
        clients,
        Expect {
            distinct: &["1a2b", "1c4d"],
            ..Expect::default()
        },
    ));
    let mut nodes = crowded_pane();
    keys(&mut nodes, "n");
    views.push(("nodes", nodes, Expect::default()));
    let mut composer = crowded_pane();
    keys(&mut composer, "p");
    s_update_published(&mut composer);
    views.push(("composer", composer, Expect::default()));
    let mut help = crowded_pane();
    keys(&mut help, "?");
    views.push(("help", help, Expect::default()));
    for (view, mut s, expect) in views {
        for size in screen::SIZES {
            let buf = screen::draw_at(&mut s, size, now());
            insta::assert_snapshot!(format!("sweep_{view}_{}x{}", size.0, size.1), text(&buf));
            check_screen(&buf, &expect);
            if view == "help" && size.0 >= 100 {
                assert!(text(&buf).contains("counts once, however many of our"));
            }
        }
    }
}

fn s_update(s: &mut AppState, mut p: PollState) {
    p.output_limit = Some(OutputLimit {
        hard_bytes: 32 << 20,
        soft_bytes: 8 << 20,
        soft_seconds: 60,
    });
    s.update(Event::PubSubPoll(p), now());
}

/// A publish refused with a long error: it must wrap or end in `…` inside the box.
fn s_update_published(s: &mut AppState) {
    s.update(
        Event::Published(Err(
            "NOPERM this user has no permissions to run the 'publish' command or its \
             subcommand on channel ai:stream:sess-1a2b — grant +publish and &ai:* or use \
             an account that can"
                .into(),
        )),
        now(),
    );
}
