//! The Problems list and the header's problems count, drawn by the real `ui::render`
//! from findings computed on a REAL server (poison via XCLAIM redeliveries, a dangling
//! id via XDEL, a zombie, a consumerless group, a dead-letter stream) with similar and
//! hostile names, at the three sweep sizes. The server's clock-dependent figures (idle
//! times, server time) are pinned after the read so the snapshots are stable; names,
//! ids, counts and kinds are the server's.

use crate::common;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyModifiers};
use redis::Value;

use common::screen::{self, check_screen, draw_at, text, Expect, HOSTILE, SIMILAR, SIZES};
use common::Server;
use redtail::redis::conn::Target;
use redtail::redis::doctor::{groups_with_pending, read_pending_details, DoctorConfig, Kind};
use redtail::redis::streams::{poll_streams, Discovery, DiscoveryConfig, StreamsSnapshot};
use redtail::redis::subscriber::Subscriptions;
use redtail::state::problems::{build, Problem, ProblemsUpdate};
use redtail::state::status::{ConnView, StatusUpdate};
use redtail::state::{AppState, Config, Event};

/// Entry ids are `BASE + n` ms: fixed, so the snapshots show the same ids every run.
const BASE: u64 = 1_800_000_000_000;
/// A hostile group name: an OSC title sequence and a bidi override.
const HOSTILE_GROUP: &[u8] = b"g\x1b]0;pwn\x07\xe2\x80\xaeevil";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis((BASE + 120_000) as i64).unwrap_or_default()
}

fn cmd(c: &mut redis::Connection, args: &[&[u8]]) -> Value {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("command name"));
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(args[0])))
}

fn id(n: u64) -> String {
    format!("{}-1", BASE + n)
}

fn add(c: &mut redis::Connection, key: &[u8], n: u64) {
    for i in 1..=n {
        cmd(
            c,
            &[
                b"XADD",
                key,
                id(i).as_bytes(),
                b"n",
                i.to_string().as_bytes(),
            ],
        );
    }
}

fn read(c: &mut redis::Connection, key: &[u8], group: &[u8], consumer: &[u8], count: u64) {
    let count = count.to_string();
    cmd(
        c,
        &[
            b"XREADGROUP",
            b"GROUP",
            group,
            consumer,
            b"COUNT",
            count.as_bytes(),
            b"STREAMS",
            key,
            b">",
        ],
    );
}

fn redeliver(c: &mut redis::Connection, key: &[u8], group: &[u8], consumer: &[u8], n: u64) {
    for _ in 0..5 {
        cmd(
            c,
            &[b"XCLAIM", key, group, consumer, b"0", id(n).as_bytes()],
        );
    }
}

/// Every kind of finding redtail repairs or explains, on similar and hostile names.
pub fn stuck_work(server: &Server) {
    let mut c = server.conn();
    let (a, b) = (SIMILAR[0].as_bytes(), SIMILAR[1].as_bytes());
    add(&mut c, a, 10);
    cmd(&mut c, &[b"XGROUP", b"CREATE", a, b"workers", b"0"]);
    read(&mut c, a, b"workers", b"busy", 3);
    redeliver(&mut c, a, b"workers", b"busy", 1);
    cmd(&mut c, &[b"XDEL", a, id(2).as_bytes()]);
    read(&mut c, a, b"workers", b"fresh", 1);
    add(&mut c, b, 4);
    cmd(&mut c, &[b"XGROUP", b"CREATE", b, b"nobody", b"0"]);
    let h = HOSTILE.as_bytes();
    add(&mut c, h, 3);
    cmd(&mut c, &[b"XGROUP", b"CREATE", h, HOSTILE_GROUP, b"0"]);
    read(&mut c, h, HOSTILE_GROUP, h, 2);
    redeliver(&mut c, h, HOSTILE_GROUP, h, 2);
    let dlq = format!("{}:dlq", SIMILAR[0]);
    add(&mut c, dlq.as_bytes(), 1);
}

/// One poll and the doctor's pending reads, as the TUI's problems task does them.
async fn real_findings(server: &Server) -> (StreamsSnapshot, Vec<Problem>) {
    let target = Target::parse_url(&server.url()).expect("url");
    let mut conn = redtail::redis::streams::StreamsConn::open(&target)
        .await
        .expect("connect");
    let mut discovery = Discovery::new(Vec::new(), Vec::new(), DiscoveryConfig::default());
    let mut snapshot = poll_streams(&mut conn, &mut discovery)
        .await
        .expect("poll streams");
    let groups = groups_with_pending(&snapshot);
    let mut details = read_pending_details(&conn.cmd, &groups)
        .await
        .expect("pending details");
    // Pin the clock: "busy" and the hostile consumer stopped 10 minutes ago, "fresh"
    // read a second ago.
    snapshot.server_time_ms = (BASE + 120_000) as i64;
    snapshot.taken_at = now();
    let idle = |name: &[u8]| if name == b"fresh" { 1_000 } else { 600_000 };
    for stream in &mut snapshot.streams {
        for group in &mut stream.groups {
            for consumer in &mut group.consumer_list {
                consumer.idle_ms = idle(&consumer.name);
                consumer.inactive_ms = consumer.inactive_ms.map(|_| idle(&consumer.name) as i64);
            }
        }
    }
    for pending in details.values_mut().flatten() {
        for row in &mut pending.rows {
            row.idle_ms = idle(&row.consumer);
        }
    }
    let config = DoctorConfig {
        poison_deliveries: 5,
        zombie_after_ms: 60_000,
    };
    let problems = build(&snapshot, &details, &config, "redtail");
    (snapshot, problems)
}

fn state(problems: Vec<Problem>) -> AppState {
    let config = Config {
        target: "redis://10.0.0.5:6380".into(),
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
    s.update(
        Event::Problems(ProblemsUpdate {
            generation: 1,
            problems,
            notes: Vec::new(),
            taken_at: Some(now()),
        }),
        now(),
    );
    s
}

fn press(s: &mut AppState, c: char) {
    screen::press(s, KeyCode::Char(c), KeyModifiers::NONE, now());
}

fn expect() -> Expect<'static> {
    Expect {
        names: &[SIMILAR[0], SIMILAR[1], HOSTILE],
        ..Expect::default()
    }
}

#[tokio::test]
async fn problems_view_and_header_count_from_real_findings() {
    let server = Server::start();
    stuck_work(&server);
    let (_, problems) = real_findings(&server).await;
    let kinds: Vec<Kind> = problems.iter().map(|p| p.finding.kind).collect();
    for kind in [
        Kind::Poison,
        Kind::Dangling,
        Kind::Zombie,
        Kind::NoConsumers,
        Kind::DlqGrowing,
    ] {
        assert!(kinds.contains(&kind), "no {kind:?} in {kinds:?}");
    }
    let mut s = state(problems);
    let warnings = s.problems.count();
    assert!(warnings >= 5, "{warnings}");

    // The header says how many problems there are, on every pane, at every size.
    for size in SIZES {
        let buf = draw_at(&mut s, size, now());
        check_screen(&buf, &expect());
        let header = screen::rows(&buf)[2].clone();
        assert!(
            header.contains(&format!("⚠ {warnings} problems")),
            "{size:?}: {header}"
        );
    }

    press(&mut s, '!');
    for (w, h) in SIZES {
        let buf = draw_at(&mut s, (w, h), now());
        check_screen(
            &buf,
            &Expect {
                distinct: if w >= 100 { &["1a2b", "1c4d"] } else { &[] },
                ..expect()
            },
        );
        insta::assert_snapshot!(format!("problems_{w}x{h}"), text(&buf));
    }

    // The fix preview of the hostile poison entry: every name escaped, the ids exact.
    let _ = draw_at(&mut s, (100, 30), now());
    press(&mut s, 'g');
    while s
        .problems
        .selected_problem()
        .is_some_and(|p| p.finding.stream.as_ref() != HOSTILE.as_bytes())
    {
        let before = s.problems.selected;
        press(&mut s, 'j');
        assert_ne!(before, s.problems.selected, "no hostile finding");
    }
    press(&mut s, 'x');
    let buf = draw_at(&mut s, (100, 30), now());
    check_screen(&buf, &expect());
    let screen = text(&buf);
    assert!(screen.contains(&id(2)), "{screen}");
    assert!(screen.contains("\\x1b]0;pwn\\x07"), "{screen}");
    insta::assert_snapshot!("problems_fix_preview", screen);

    // The filter narrows the list to one kind.
    press(&mut s, 'n');
    press(&mut s, '/');
    for c in "dangling".chars() {
        press(&mut s, c);
    }
    screen::press(&mut s, KeyCode::Enter, KeyModifiers::NONE, now());
    assert_eq!(s.problems.rows.len(), 1);
    let buf = draw_at(&mut s, (100, 30), now());
    let text = text(&buf);
    assert!(text.contains("filter dangling (1 shown)"), "{text}");
}
