//! The streams engine and `stats --json` streams section against real servers: the
//! work-queue scenario (producer, a group, three workers, one never acks) compared with
//! what XINFO says via redis-cli, nil lag after XDEL with its estimate, Valkey 8's
//! `inactive`, keys that change type or vanish, binary entries, ACL denials, 1,000
//! streams × 3 groups × 10 consumers in two round trips, and a bounded lag count.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Proc, Server};
use redis::aio::MultiplexedConnection;
use redis::Value;
use redtail::redis::conn::Target;
use redtail::redis::poller::PollErrorKind;
use redtail::redis::streams::{
    entries_newer, entries_page, jump_to_id, jump_to_time, poll_streams, read_page, Discovery,
    DiscoveryConfig, HealthTracker, LagMethod, Outlook, ProblemKind, ReportedLag, Status, StreamId,
    StreamsConfig, StreamsConn, StreamsPoller, StreamsSnapshot, LAG_COUNT_LIMIT,
};

const T: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- helpers

/// The streams poller's connections (redis-rs for discovery, the raw poll socket).
async fn aconn(server: &Server) -> StreamsConn {
    aconn_url(&server.url()).await
}

async fn aconn_url(url: &str) -> StreamsConn {
    let target = Target::parse_url(url).expect("url");
    StreamsConn::open(&target).await.expect("connect")
}

fn discovery(globs: &[&str], keys: &[&str]) -> Discovery {
    Discovery::new(
        globs.iter().map(|g| g.to_string()).collect(),
        keys.iter().map(|k| Bytes::from(k.to_string())).collect(),
        DiscoveryConfig::default(),
    )
}

async fn poll(conn: &mut StreamsConn, d: &mut Discovery) -> StreamsSnapshot {
    poll_streams(conn, d).await.expect("poll streams")
}

fn xadd(c: &mut redis::Connection, key: &str, fields: &[(&str, &str)]) -> String {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg("*");
    for (f, v) in fields {
        cmd.arg(*f).arg(*v);
    }
    cmd.query(c).expect("XADD")
}

fn xadd_n(c: &mut redis::Connection, key: &str, n: usize) -> Vec<String> {
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("XADD").arg(key).arg("*").arg("n").arg(i);
    }
    pipe.query(c).expect("XADD pipeline")
}

/// XREADGROUP … COUNT n STREAMS key > → the ids read.
fn read_group(
    c: &mut redis::Connection,
    key: &str,
    group: &str,
    consumer: &str,
    n: usize,
) -> Vec<String> {
    let v: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(n)
        .arg("STREAMS")
        .arg(key)
        .arg(">")
        .query(c)
        .expect("XREADGROUP");
    let mut ids = Vec::new();
    if let Value::Array(streams) = v {
        for s in streams {
            let Value::Array(parts) = s else { continue };
            let Some(Value::Array(entries)) = parts.get(1) else {
                continue;
            };
            for e in entries {
                if let Value::Array(ep) = e {
                    if let Some(Value::BulkString(id)) = ep.first() {
                        ids.push(String::from_utf8_lossy(id).into_owned());
                    }
                }
            }
        }
    }
    ids
}

fn ack(c: &mut redis::Connection, key: &str, group: &str, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let n: i64 = redis::cmd("XACK")
        .arg(key)
        .arg(group)
        .arg(ids)
        .query(c)
        .expect("XACK");
    assert_eq!(n as usize, ids.len());
}

/// redis-cli's raw output of XINFO GROUPS / CONSUMERS: one `field\nvalue` run per item,
/// each item starting at `name`. A nil prints as an empty line.
fn cli_items(text: &str) -> Vec<HashMap<String, String>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut items: Vec<HashMap<String, String>> = Vec::new();
    for pair in lines.chunks(2) {
        let (k, v) = (pair[0].to_string(), pair.get(1).unwrap_or(&"").to_string());
        if k == "name" || items.is_empty() {
            items.push(HashMap::new());
        }
        items.last_mut().expect("item").insert(k, v);
    }
    items
}

fn stats_json(args: &[&str]) -> (serde_json::Value, String) {
    let mut full = vec!["stats"];
    full.extend_from_slice(args);
    full.push("--json");
    let mut p = Proc::spawn(&full);
    let line = p
        .line(T)
        .unwrap_or_else(|| panic!("no output; stderr: {}", p.stderr()));
    assert_eq!(p.wait_exit(T), Some(0), "stderr: {}", p.stderr());
    let stderr = p.stderr();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad json {line:?}: {e}")),
        stderr,
    )
}

fn n(v: &str) -> u64 {
    v.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {v:?}"))
}

// ---------------------------------------------------------------- work queue

#[tokio::test(flavor = "multi_thread")]
async fn work_queue_lag_pending_and_status_match_the_server() {
    let server = Server::start();
    let mut producer = server.conn();
    let mut workers: Vec<redis::Connection> = (0..3).map(|_| server.conn()).collect();
    xadd_n(&mut producer, "jobs", 30);
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "jobs", "workers", "0"][..])
        .query(&mut producer)
        .expect("XGROUP CREATE");
    // w1 and w2 ack what they read; w3 reads and never acks.
    for (i, w) in workers.iter_mut().enumerate() {
        let name = format!("w{}", i + 1);
        let ids = read_group(w, "jobs", "workers", &name, 10);
        assert_eq!(ids.len(), 10);
        if i < 2 {
            ack(w, "jobs", "workers", &ids);
        }
    }
    let more = xadd_n(&mut producer, "jobs", 15);

    let mut conn = aconn(&server).await;
    let mut d = discovery(&[], &[]);
    let snap = poll(&mut conn, &mut d).await;
    let stream = snap.stream(b"jobs").expect("jobs discovered");
    assert_eq!(stream.length, 45);
    assert_eq!(stream.entries_added, Some(45));
    assert_eq!(stream.groups_count, 1);
    let group = stream.group(b"workers").expect("group");

    let cli = cli_items(&server.cli(&["XINFO", "GROUPS", "jobs"]));
    assert_eq!(cli.len(), 1);
    let g = &cli[0];
    assert_eq!(group.reported_lag, ReportedLag::Known(n(&g["lag"])));
    assert_eq!(group.lag(), Some(15));
    assert_eq!(group.pending, n(&g["pending"]));
    assert_eq!(group.pending, 10);
    assert_eq!(group.entries_read, Some(n(&g["entries-read"])));
    assert_eq!(group.entries_read, Some(30));
    assert_eq!(group.last_delivered_id.to_string(), g["last-delivered-id"]);
    assert_eq!(group.consumers, 3);
    assert!(
        group.lag_estimate.is_none(),
        "no estimate when the server gives lag"
    );
    // Time lag comes from the first undelivered entry: the first of the 15 added last.
    assert_eq!(
        group.oldest_undelivered_id.map(|i| i.to_string()),
        Some(more[0].clone())
    );
    assert!(group.time_lag_ms.is_some());

    let cli = cli_items(&server.cli(&["XINFO", "CONSUMERS", "jobs", "workers"]));
    let cli_pending: HashMap<String, u64> = cli
        .iter()
        .map(|c| (c["name"].clone(), n(&c["pending"])))
        .collect();
    let ours: HashMap<String, u64> = group
        .consumer_list
        .iter()
        .map(|c| (String::from_utf8_lossy(&c.name).into_owned(), c.pending))
        .collect();
    assert_eq!(ours, cli_pending);
    assert_eq!(ours["w3"], 10);
    assert_eq!(ours["w1"], 0);
    // Redis 7.0 has no `inactive`.
    assert!(group.consumer_list.iter().all(|c| c.inactive_ms.is_none()));
    assert!(group.consumer_list.iter().all(|c| !c.flagged));

    // Status from the window, with explicit sample times instead of sleeping.
    let mut tracker = HealthTracker::default();
    let t0 = 1_000_000_i64;
    let status_at = |snap: &StreamsSnapshot| {
        let g = snap
            .stream(b"jobs")
            .and_then(|s| s.group(b"workers"))
            .expect("group");
        (g.health.status, g.health.reason.clone(), g.health.outlook)
    };
    let mut snap = poll(&mut conn, &mut d).await;
    tracker.observe(&mut snap, t0);
    // One sample: consumers were active just now, so not stalled (trend unknown yet).
    assert_eq!(
        status_at(&snap).0,
        Status::CatchingUp,
        "{:?}",
        status_at(&snap)
    );

    // Nobody reads for 40 s while lag stays: STALLED.
    let mut snap = poll(&mut conn, &mut d).await;
    tracker.observe(&mut snap, t0 + 40_000);
    let (status, reason, outlook) = status_at(&snap);
    assert_eq!(status, Status::Stalled, "{reason}");
    assert!(
        reason.contains("has not moved for at least 40s"),
        "{reason}"
    );
    // Nothing appended meanwhile: lag stands still ("falling behind" said otherwise).
    assert_eq!(outlook, Outlook::NoProgress);

    // Workers read 5, producers add 20 in one poll: lag 15 → 30 is within the noise band
    // (twice a poll's appends), so no trend yet: catching up, no longer stalled.
    let ids = read_group(&mut workers[0], "jobs", "workers", "w1", 5);
    ack(&mut workers[0], "jobs", "workers", &ids);
    xadd_n(&mut producer, "jobs", 20);
    let mut snap = poll(&mut conn, &mut d).await;
    tracker.observe(&mut snap, t0 + 50_000);
    let (status, reason, _) = status_at(&snap);
    assert_eq!(status, Status::CatchingUp, "{reason}");
    let g = snap
        .stream(b"jobs")
        .and_then(|s| s.group(b"workers"))
        .expect("group");
    assert_eq!(g.lag(), Some(30));
    assert_eq!(g.health.lag_series, vec![15, 15, 30]);
    assert_eq!(g.health.pending_series, vec![10, 10, 10]);
    // 5 read in 10 s (entries-read 30 → 35 between the last two samples, 0.1/s overall).
    let rate = g.health.consume_rate.expect("consume rate");
    assert!((rate - 5.0 / 50.0).abs() < 1e-9, "{rate}");
    let append = snap
        .stream(b"jobs")
        .and_then(|s| s.append_rate)
        .expect("append rate");
    assert!((append - 20.0 / 50.0).abs() < 1e-9, "{append}");

    // Everyone catches up and acks: OK, then IDLE once nothing arrives for a while.
    for (i, w) in workers.iter_mut().take(2).enumerate() {
        let ids = read_group(w, "jobs", "workers", &format!("w{}", i + 1), 100);
        ack(w, "jobs", "workers", &ids);
    }
    let mut snap = poll(&mut conn, &mut d).await;
    tracker.observe(&mut snap, t0 + 60_000);
    assert_eq!(
        status_at(&snap).0,
        Status::CaughtUp,
        "{:?}",
        status_at(&snap)
    );
    assert_eq!(status_at(&snap).2, Outlook::CaughtUp);
    for at in [100_000, 115_000] {
        let mut snap = poll(&mut conn, &mut d).await;
        tracker.observe(&mut snap, t0 + at);
        if at == 115_000 {
            let (status, reason, _) = status_at(&snap);
            assert_eq!(status, Status::CaughtUp, "{reason}");
        }
    }

    // The same figures through the real binary.
    let (doc, _) = stats_json(&[&server.url()]);
    let s = &doc["streams"][0];
    assert_eq!(s["key"], "jobs");
    assert_eq!(s["length"], 65);
    let g = &s["groups"][0];
    let cli = cli_items(&server.cli(&["XINFO", "GROUPS", "jobs"]));
    assert_eq!(g["name"], "workers");
    assert_eq!(g["lag"].as_u64(), Some(n(&cli[0]["lag"])));
    assert_eq!(g["pending"].as_u64(), Some(n(&cli[0]["pending"])));
    assert_eq!(g["entries_read"].as_u64(), Some(n(&cli[0]["entries-read"])));
    assert_eq!(g["last_delivered_id"], cli[0]["last-delivered-id"].as_str());
    assert_eq!(g["consumers"], 3);
    assert!(g.get("lag_estimate").is_none());
    assert_eq!(g["status"], "caught_up");
    assert!(s["last_generated_id"].is_string());
    let w3 = g["consumer_list"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == "w3"))
        .expect("w3");
    assert_eq!(w3["pending"], 10);
    assert!(w3.get("inactive_ms").is_none(), "Redis 7.0 has no inactive");
}

// ---------------------------------------------------------------- nil lag

#[tokio::test(flavor = "multi_thread")]
async fn nil_lag_after_xdel_is_estimated_exactly_and_marked() {
    let server = Server::start();
    let mut c = server.conn();
    let ids = xadd_n(&mut c, "q", 10);
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "q", "g", "0"][..])
        .query(&mut c)
        .expect("XGROUP CREATE");
    let read = read_group(&mut c, "q", "g", "c1", 3);
    ack(&mut c, "q", "g", &read);
    // Delete an entry the group has not read: the server can no longer compute lag.
    let _: i64 = redis::cmd("XDEL")
        .arg("q")
        .arg(&ids[5])
        .query(&mut c)
        .expect("XDEL");
    let cli = cli_items(&server.cli(&["XINFO", "GROUPS", "q"]));
    assert_eq!(cli[0]["lag"], "", "the server reports nil lag");

    let mut conn = aconn(&server).await;
    let mut d = discovery(&[], &["q"]);
    let snap = poll(&mut conn, &mut d).await;
    let g = snap
        .stream(b"q")
        .and_then(|s| s.group(b"g"))
        .expect("group");
    assert_eq!(g.reported_lag, ReportedLag::Nil);
    assert_eq!(g.lag(), None);
    let e = g.lag_estimate.expect("an estimate when lag is nil");
    // 10 entries, 3 delivered, 1 deleted: 6 undelivered.
    assert_eq!(
        (e.value, e.exact, e.method),
        (6, true, LagMethod::XrangeCount)
    );
    assert_eq!(g.effective_lag(), Some(6));
    assert_eq!(
        g.oldest_undelivered_id.map(|i| i.to_string()),
        Some(ids[3].clone())
    );

    // SETID also leaves the server without a lag (and without entries-read).
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "q", "moved", "0"][..])
        .query(&mut c)
        .expect("XGROUP CREATE");
    let _: () = redis::cmd("XGROUP")
        .arg(&["SETID", "q", "moved", &ids[7]][..])
        .query(&mut c)
        .expect("XGROUP SETID");
    let snap = poll(&mut conn, &mut d).await;
    let g = snap
        .stream(b"q")
        .and_then(|s| s.group(b"moved"))
        .expect("group");
    assert_eq!((g.reported_lag, g.entries_read), (ReportedLag::Nil, None));
    let e = g.lag_estimate.expect("an estimate after SETID");
    assert_eq!((e.value, e.exact), (2, true), "{e:?}");
    assert_eq!(
        g.oldest_undelivered_id.map(|i| i.to_string()),
        Some(ids[8].clone())
    );

    let (doc, _) = stats_json(&[&server.url()]);
    let g = &doc["streams"][0]["groups"][0];
    assert_eq!(g["name"], "g");
    assert!(g["lag"].is_null(), "{g}");
    assert_eq!(g["lag_estimate"], 6);
    assert_eq!(g["lag_estimate_exact"], true);
    assert_eq!(g["lag_estimate_method"], "xrange-count");
    assert_ne!(g["status"], "IDLE");

    // The table marks nothing as 0 and shows the count.
    let mut p = Proc::spawn(&["stats", &server.url()]);
    let mut text = String::new();
    while let Some(line) = p.line(T) {
        text.push_str(&line);
        text.push('\n');
    }
    assert_eq!(p.wait_exit(T), Some(0));
    let row = text
        .lines()
        .find(|l| l.ends_with("  g"))
        .unwrap_or_else(|| panic!("{text}"));
    // From the right: group, time lag, consumers, pending, lag (the status has spaces).
    assert!(row.split_whitespace().rev().nth(4) == Some("6"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lag_count_is_bounded_on_a_long_stream() {
    let server = Server::start();
    let mut c = server.conn();
    // 5,000 entries of ~100 bytes; the group has read 2,000; one unread entry deleted.
    let mut pipe = redis::pipe();
    let payload = "x".repeat(100);
    for i in 0..5000 {
        pipe.cmd("XADD")
            .arg("big")
            .arg("*")
            .arg("n")
            .arg(i)
            .arg("p")
            .arg(&payload);
    }
    let ids: Vec<String> = pipe.query(&mut c).expect("XADD");
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "big", "g", "0"][..])
        .query(&mut c)
        .expect("XGROUP");
    assert_eq!(read_group(&mut c, "big", "g", "c", 2000).len(), 2000);
    let _: i64 = redis::cmd("XDEL")
        .arg("big")
        .arg(&ids[3000])
        .query(&mut c)
        .expect("XDEL");

    let mut conn = aconn(&server).await;
    let mut d = discovery(&[], &["big"]);
    poll(&mut conn, &mut d).await; // warm up: connection setup is not the poll's cost
    let out_before = net_output_bytes(&server);
    let snap = poll(&mut conn, &mut d).await;
    let out = net_output_bytes(&server) - out_before;
    let g = snap
        .stream(b"big")
        .and_then(|s| s.group(b"g"))
        .expect("group");
    assert_eq!(g.lag(), None);
    let e = g.lag_estimate.expect("estimate");
    assert!(!e.exact, "{e:?}");
    assert_eq!(e.method, LagMethod::EntriesAddedMinusEntriesRead);
    // True undelivered: 5000 − 2000 − 1 = 2999; entries-added − entries-read = 3000.
    assert_eq!(e.value, 3000);
    assert!(e.value > LAG_COUNT_LIMIT as u64);
    // The poll read at most LAG_COUNT_LIMIT + 1 entries, not the 3,000 after the
    // group's position (each ~130 bytes on the wire): far below the stream's size.
    assert!(out < 200_000, "poll sent {out} bytes");
    assert!(
        out > 100_000,
        "the bounded count itself was read ({out} bytes)"
    );
}

fn net_output_bytes(server: &Server) -> i64 {
    server
        .cli(&["INFO", "stats"])
        .lines()
        .find_map(|l| l.strip_prefix("total_net_output_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("total_net_output_bytes")
}

// ---------------------------------------------------------------- valkey

#[tokio::test(flavor = "multi_thread")]
async fn valkey_8_consumers_have_inactive() {
    let Some(server) = Server::start_valkey() else {
        eprintln!("SKIP: valkey-server not found");
        return;
    };
    let mut c = server.conn();
    xadd_n(&mut c, "vq", 5);
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "vq", "g", "0"][..])
        .query(&mut c)
        .expect("XGROUP");
    let _: i64 = redis::cmd("XGROUP")
        .arg(&["CREATECONSUMER", "vq", "g", "never"][..])
        .query(&mut c)
        .expect("CREATECONSUMER");
    assert_eq!(read_group(&mut c, "vq", "g", "reader", 2).len(), 2);

    let mut conn = aconn(&server).await;
    let mut d = discovery(&[], &[]);
    let snap = poll(&mut conn, &mut d).await;
    let g = snap
        .stream(b"vq")
        .and_then(|s| s.group(b"g"))
        .expect("group");
    assert_eq!(g.lag(), Some(3));
    let by_name: HashMap<&[u8], _> = g
        .consumer_list
        .iter()
        .map(|c| (c.name.as_ref(), c))
        .collect();
    let reader = by_name[&b"reader"[..]];
    assert_eq!(reader.pending, 2);
    assert!(reader.inactive_ms.is_some_and(|ms| ms >= 0), "{reader:?}");
    // A consumer that never read anything: inactive is -1 on Valkey 8.
    assert_eq!(by_name[&b"never"[..]].inactive_ms, Some(-1));

    let (doc, _) = stats_json(&[&server.url()]);
    let list = doc["streams"][0]["groups"][0]["consumer_list"]
        .as_array()
        .expect("consumer list")
        .clone();
    assert!(
        list.iter().all(|c| c.get("inactive_ms").is_some()),
        "{list:?}"
    );
}

// ---------------------------------------------------------------- bad input

#[tokio::test(flavor = "multi_thread")]
async fn key_turning_into_another_type_or_vanishing_is_dropped_not_fatal() {
    let server = Server::start();
    let mut c = server.conn();
    for k in ["a", "b", "named"] {
        xadd(&mut c, k, &[("f", "v")]);
    }
    let mut conn = aconn(&server).await;
    let mut d = discovery(&[], &["named"]);
    let snap = poll(&mut conn, &mut d).await;
    assert_eq!(snap.streams.len(), 3);

    let _: () = redis::cmd("DEL").arg("a").query(&mut c).expect("DEL");
    let _: () = redis::cmd("SET")
        .arg("a")
        .arg("now a string")
        .query(&mut c)
        .expect("SET");
    let _: () = redis::cmd("DEL").arg("b").query(&mut c).expect("DEL");
    let _: () = redis::cmd("DEL").arg("named").query(&mut c).expect("DEL");
    let _: () = redis::cmd("SET")
        .arg("named")
        .arg("x")
        .query(&mut c)
        .expect("SET");
    let snap = poll(&mut conn, &mut d).await;
    assert!(snap.streams.is_empty(), "{:?}", snap.streams);
    let kinds: HashMap<&[u8], ProblemKind> = snap
        .problems
        .iter()
        .map(|p| (p.key.as_ref(), p.kind))
        .collect();
    assert_eq!(kinds[&b"a"[..]], ProblemKind::WrongType);
    assert_eq!(kinds[&b"b"[..]], ProblemKind::Missing);
    assert_eq!(kinds[&b"named"[..]], ProblemKind::WrongType);
    assert!(
        snap.problems[0].message.contains("no longer a stream"),
        "{:?}",
        snap.problems
    );

    // Discovered keys are forgotten; the named one stays visible as a problem.
    let snap = poll(&mut conn, &mut d).await;
    let keys: Vec<&[u8]> = snap.problems.iter().map(|p| p.key.as_ref()).collect();
    assert_eq!(keys, vec![&b"named"[..]]);

    // The headless command reports the same without failing.
    let (doc, stderr) = stats_json(&[&server.url(), "--stream", "named", "--stream", "gone"]);
    assert_eq!(doc["streams"].as_array().map(Vec::len), Some(0));
    let problems = doc["streams_problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(!stderr.contains("panicked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_deleted_and_recreated_during_polls_never_fail_a_poll() {
    let server = Server::start();
    let mut c = server.conn();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let mut c2 = server.conn();
        std::thread::spawn(move || {
            // Recreate and delete streams with groups as fast as possible, so polls
            // meet keys that vanish between (and within) their rounds.
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                for i in 0..20u64 {
                    let k = format!("churn:{i}");
                    let mut pipe = redis::pipe();
                    pipe.cmd("DEL").arg(&k).ignore();
                    if (i + round).is_multiple_of(3) {
                        pipe.cmd("SET").arg(&k).arg("s").ignore();
                    } else {
                        pipe.cmd("XADD").arg(&k).arg("*").arg("f").arg("v").ignore();
                        pipe.cmd("XGROUP")
                            .arg("CREATE")
                            .arg(&k)
                            .arg("g")
                            .arg("0")
                            .ignore();
                    }
                    let _: redis::RedisResult<()> = pipe.query(&mut c2);
                }
            }
        })
    };
    xadd(&mut c, "steady", &[("f", "v")]);
    let mut conn = aconn(&server).await;
    let mut d = Discovery::new(
        vec![],
        vec![],
        DiscoveryConfig {
            rediscover_every: Duration::ZERO,
            scan_count: 10,
            ..DiscoveryConfig::default()
        },
    );
    let mut problems = 0;
    let mut mid_poll = 0;
    let mut polls = 0;
    let started = std::time::Instant::now();
    while polls < 30 || (problems < 10 && started.elapsed() < Duration::from_secs(3)) {
        polls += 1;
        let snap = poll_streams(&mut conn, &mut d)
            .await
            .unwrap_or_else(|e| panic!("a poll failed: {e}"));
        assert!(snap.stream(b"steady").is_some() || !snap.scan.complete);
        problems += snap.problems.len();
        mid_poll += snap
            .problems
            .iter()
            .filter(|p| p.message.ends_with("(during the poll)"))
            .count();
        for s in &snap.streams {
            for g in &s.groups {
                assert!(
                    g.effective_lag().is_some() || g.consumers_error.is_some(),
                    "{g:?}"
                );
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = churn.join();
    eprintln!("{problems} per-key problems ({mid_poll} between rounds) over {polls} polls");
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_pages_keep_binary_fields_order_and_duplicates() {
    let server = Server::start();
    let mut c = server.conn();
    let _: String = redis::cmd("XADD")
        .arg("bin")
        .arg("5-1")
        .arg(&b"\xff\x00name"[..])
        .arg(&b"\x1b[2J\x9b"[..])
        .arg("f")
        .arg("1")
        .arg("f")
        .arg("2")
        .arg("")
        .arg("")
        .query(&mut c)
        .expect("XADD");
    let mut conn = aconn(&server).await;
    let page = entries_page(&mut conn.cmd, b"bin", None, 10)
        .await
        .expect("page");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, StreamId::new(5, 1));
    let fields: Vec<(&[u8], &[u8])> = page[0]
        .fields
        .iter()
        .map(|(f, v)| (f.as_ref(), v.as_ref()))
        .collect();
    assert_eq!(
        fields,
        vec![
            (&b"\xff\x00name"[..], &b"\x1b[2J\x9b"[..]),
            (b"f", b"1"),
            (b"f", b"2"),
            (b"", b""),
        ]
    );

    // Paging newest first, then older pages until the start.
    for i in 1..=25u64 {
        let _: String = redis::cmd("XADD")
            .arg("p")
            .arg(format!("{}-0", i * 1000))
            .arg("i")
            .arg(i)
            .query(&mut c)
            .expect("XADD");
    }
    let ms = |page: &[redtail::redis::streams::StreamEntry]| -> Vec<u64> {
        page.iter().map(|e| e.id.ms / 1000).collect()
    };
    let first = entries_page(&mut conn.cmd, b"p", None, 10)
        .await
        .expect("page 1");
    assert_eq!(ms(&first), (16..=25).rev().collect::<Vec<_>>());
    let second = entries_page(&mut conn.cmd, b"p", first.last().map(|e| e.id), 10)
        .await
        .expect("page 2");
    assert_eq!(ms(&second), (6..=15).rev().collect::<Vec<_>>());
    let third = entries_page(&mut conn.cmd, b"p", second.last().map(|e| e.id), 10)
        .await
        .expect("page 3");
    assert_eq!(ms(&third), (1..=5).rev().collect::<Vec<_>>());
    let end = entries_page(&mut conn.cmd, b"p", third.last().map(|e| e.id), 10)
        .await
        .expect("end");
    assert!(end.is_empty());
    // Back toward newer entries from the top of page 2.
    let newer = entries_newer(&mut conn.cmd, b"p", StreamId::new(15_000, 0), 3)
        .await
        .expect("newer");
    assert_eq!(ms(&newer), vec![18, 17, 16]);
    // Jumps.
    let at = jump_to_time(&mut conn.cmd, b"p", 12_500, 2)
        .await
        .expect("time");
    assert_eq!(ms(&at), vec![12, 11]);
    let at = jump_to_id(&mut conn.cmd, b"p", "7000-0".parse().expect("id"), 2)
        .await
        .expect("id");
    assert_eq!(ms(&at), vec![7, 6]);
    // Missing key: empty, not an error; another type: a clear error.
    assert!(entries_page(&mut conn.cmd, b"nope", None, 5)
        .await
        .expect("empty")
        .is_empty());
    let _: () = redis::cmd("SET")
        .arg("str")
        .arg("x")
        .query(&mut c)
        .expect("SET");
    let e = entries_page(&mut conn.cmd, b"str", None, 5)
        .await
        .unwrap_err();
    assert!(e.message.contains("not a stream"), "{e}");
}

/// The entries browser against 250 entries (ids 1000-0 … 250000-0): every page is a full
/// 100 however it was reached — `[` back up to the newest page after a jump, `]` at the
/// start — and the selection lands next to where the user came from, or on the newest
/// entry at or before a jump's point.
#[tokio::test(flavor = "multi_thread")]
async fn entries_browser_pages_are_full_both_ways_and_after_jumps() {
    use redtail::state::streams::entries::{EntriesBrowser, EntriesRequest, PAGE_SIZE};
    let server = Server::start();
    let mut c = server.conn();
    let mut pipe = redis::pipe();
    for i in 1..=250u64 {
        pipe.cmd("XADD")
            .arg("p")
            .arg(format!("{}-0", i * 1000))
            .arg("i")
            .arg(i)
            .ignore();
    }
    let () = pipe.query(&mut c).expect("XADD ×250");
    let mut conn = aconn(&server).await;
    let mut b = EntriesBrowser::new(Bytes::from_static(b"p"));
    async fn go(b: &mut EntriesBrowser, conn: &mut MultiplexedConnection, r: EntriesRequest) {
        let (generation, request) = b.request(r);
        let page = read_page(conn, b"p", request, PAGE_SIZE)
            .await
            .map_err(|e| e.message);
        assert_eq!(b.apply(generation, request, page), Some(Ok(())));
    }
    // (first, last, selected) of the page on screen, in entry numbers.
    let shown = |b: &EntriesBrowser| {
        let n = |e: Option<&redtail::redis::streams::StreamEntry>| e.map_or(0, |e| e.id.ms / 1000);
        assert_eq!(b.entries.len(), PAGE_SIZE, "every page is full");
        (n(b.entries.first()), n(b.entries.last()), n(b.selected()))
    };
    go(&mut b, &mut conn.cmd, EntriesRequest::Newest).await;
    assert_eq!(shown(&b), (250, 151, 250));
    assert!(b.at_newest);
    let r = b.older().expect("older");
    go(&mut b, &mut conn.cmd, r).await;
    assert_eq!(shown(&b), (150, 51, 150));
    // Only 50 are older: the page is the oldest 100, on the entry after the one left.
    let r = b.older().expect("older");
    go(&mut b, &mut conn.cmd, r).await;
    assert_eq!(shown(&b), (100, 1, 50));
    let r = b.newer();
    go(&mut b, &mut conn.cmd, r).await;
    assert_eq!(shown(&b), (200, 101, 101));
    // Jump to a time: entries at or before it, newest first.
    go(&mut b, &mut conn.cmd, EntriesRequest::AtTime(114_500)).await;
    assert_eq!(shown(&b), (114, 15, 114));
    assert!(!b.at_newest);
    let r = b.newer();
    go(&mut b, &mut conn.cmd, r).await;
    assert_eq!(shown(&b), (214, 115, 115));
    assert!(!b.at_newest);
    // The tester's case: `[` to the newest page showed the 36 newer than 214; now the
    // newest 100, with 215 (next to where the user was) selected.
    let r = b.newer();
    go(&mut b, &mut conn.cmd, r).await;
    assert_eq!(shown(&b), (250, 151, 215));
    assert!(b.at_newest);
    // A jump near the start is topped up with newer entries; the selection stays on the
    // newest at or before the point.
    go(
        &mut b,
        &mut conn.cmd,
        EntriesRequest::AtId("7000-0".parse().expect("id")),
    )
    .await;
    assert_eq!(shown(&b), (100, 1, 7));
}

// ---------------------------------------------------------------- ACL

#[tokio::test(flavor = "multi_thread")]
async fn acl_users_without_xinfo_or_scan_get_clear_errors() {
    let server = Server::start();
    let mut c = server.conn();
    xadd(&mut c, "orders", &[("f", "v")]);
    xadd(&mut c, "secret", &[("f", "v")]);
    let _ = server.cli(&[
        "ACL", "SETUSER", "nox", "on", ">pw", "~*", "+@all", "-xinfo",
    ]);
    let _ = server.cli(&[
        "ACL", "SETUSER", "noscan", "on", ">pw", "~*", "+@all", "-scan",
    ]);
    let _ = server.cli(&["ACL", "SETUSER", "some", "on", ">pw", "~orders", "+@all"]);
    let url = |u: &str| format!("redis://{u}:pw@127.0.0.1:{}", server.port);

    // No +xinfo: the poll fails with what to grant.
    let mut conn = aconn_url(&url("nox")).await;
    let e = poll_streams(&mut conn, &mut discovery(&[], &[]))
        .await
        .expect_err("XINFO is denied");
    assert_eq!(e.kind, PollErrorKind::Denied);
    assert!(e.message.contains("XINFO STREAM refused: NOPERM"), "{e}");
    assert!(e.message.contains("grant +xinfo"), "{e}");
    // The headless command still prints Pub/Sub figures and says why streams are missing.
    let (doc, stderr) = stats_json(&[&url("nox")]);
    assert_eq!(doc["channels"].as_array().map(Vec::len), Some(0));
    assert_eq!(doc["streams"].as_array().map(Vec::len), Some(0));
    let err = doc["streams_error"].as_str().expect("streams_error");
    assert!(err.contains("grant +xinfo"), "{err}");
    assert!(stderr.contains("grant +xinfo"), "{stderr}");
    assert!(!stderr.contains(":pw@"), "{stderr}");

    // No +scan: named streams still work, with a warning about discovery.
    let mut conn = aconn_url(&url("noscan")).await;
    let snap = poll_streams(&mut conn, &mut discovery(&[], &["orders"]))
        .await
        .expect("named streams without SCAN");
    assert!(snap.stream(b"orders").is_some());
    assert!(
        snap.warnings.iter().any(|w| w.contains("grant +scan")),
        "{:?}",
        snap.warnings
    );
    let e = poll_streams(&mut conn, &mut discovery(&[], &[]))
        .await
        .expect_err("nothing to poll without SCAN");
    assert!(e.message.contains("--stream KEY"), "{e}");

    // Key permissions: a named key the user may not read is a per-key problem.
    let mut conn = aconn_url(&url("some")).await;
    let snap = poll_streams(&mut conn, &mut discovery(&["orders"], &["secret"]))
        .await
        .expect("poll with one denied key");
    assert!(snap.stream(b"orders").is_some());
    let p = snap
        .problems
        .iter()
        .find(|p| p.key.as_ref() == b"secret")
        .expect("secret");
    assert_eq!(p.kind, ProblemKind::Denied);
    assert!(p.message.contains("~<pattern>"), "{}", p.message);
}

// ---------------------------------------------------------------- scale

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_streams_with_groups_and_consumers_cost_two_round_trips() {
    let server = Server::start();
    let mut c = server.conn();
    let script = r"
        for i = 1, tonumber(ARGV[1]) do
            local k = 's:' .. i
            redis.call('XADD', k, '*', 'f', 'v')
            for g = 1, 3 do
                redis.call('XGROUP', 'CREATE', k, 'g' .. g, '0')
                for c = 1, 10 do
                    redis.call('XGROUP', 'CREATECONSUMER', k, 'g' .. g, 'c' .. c)
                end
            end
        end
        redis.call('SET', 'not-a-stream', 'x')
        return 1";
    let _: i64 = redis::cmd("EVAL")
        .arg(script)
        .arg(0)
        .arg(1000)
        .query(&mut c)
        .expect("build keyspace");

    let mut conn = aconn(&server).await;
    let mut d = discovery(&["s:*"], &[]);
    let first = poll(&mut conn, &mut d).await;
    assert!(first.scan.complete, "{:?}", first.scan);
    assert_eq!(first.scan.streams_found, 1000);
    let snap = poll(&mut conn, &mut d).await;
    eprintln!(
        "1000 streams: {:?}, {} commands, {} round trips",
        snap.took, snap.commands_sent, snap.round_trips
    );
    assert_eq!(snap.streams.len(), 1000);
    assert!(snap.problems.is_empty());
    // TIME + 2 × XINFO per stream, then XINFO CONSUMERS per group; the oldest
    // undelivered entry is each stream's first, so no XRANGE is needed.
    assert_eq!(snap.round_trips, 2);
    assert_eq!(snap.commands_sent, 1 + 2 * 1000 + 3 * 1000);
    for s in &snap.streams {
        assert_eq!(s.groups.len(), 3);
        for g in &s.groups {
            assert_eq!(g.consumer_list.len(), 10);
            assert_eq!(g.lag(), Some(1));
            assert!(g.time_lag_ms.is_some());
        }
    }
    assert!(snap.took < Duration::from_secs(5), "{:?}", snap.took);
}

// ---------------------------------------------------------------- background poller

#[tokio::test(flavor = "multi_thread")]
async fn background_poller_publishes_snapshots_with_health_and_errors() {
    let server = Server::start();
    let mut c = server.conn();
    xadd_n(&mut c, "bg", 3);
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "bg", "g", "0"][..])
        .query(&mut c)
        .expect("XGROUP");
    let target = Target::parse_url(&server.url()).expect("url");
    let poller = StreamsPoller::spawn(
        target,
        StreamsConfig {
            interval: Duration::from_millis(100),
            ..StreamsConfig::default()
        },
    );
    let mut rx = poller.state();
    let deadline = tokio::time::Instant::now() + T;
    let mut generations = Vec::new();
    loop {
        {
            let s = rx.borrow_and_update();
            generations.push(s.generation);
            let done = s.last_ok.as_ref().is_some_and(|snap| {
                snap.stream(b"bg")
                    .and_then(|st| st.group(b"g"))
                    .is_some_and(|g| g.health.lag_series.len() >= 2)
            });
            if done {
                assert!(s.last_error.is_none(), "{:?}", s.last_error);
                assert!(s.scan.complete);
                let snap = s.last_ok.as_ref().expect("snapshot");
                let g = snap.stream(b"bg").and_then(|st| st.group(b"g")).expect("g");
                assert_eq!(g.lag(), Some(3));
                // No consumers: said so from the start.
                assert_eq!(g.health.status, Status::NoConsumers, "{}", g.health.reason);
                break;
            }
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out; last state {:?}", *rx.borrow()),
        }
    }
    assert!(generations.windows(2).all(|w| w[0] <= w[1]));

    // Denied XINFO: last_error says so, the task keeps running.
    let _ = server.cli(&[
        "ACL", "SETUSER", "nox", "on", ">pw", "~*", "+@all", "-xinfo",
    ]);
    let target =
        Target::parse_url(&format!("redis://nox:pw@127.0.0.1:{}", server.port)).expect("url");
    let denied = StreamsPoller::spawn(target, StreamsConfig::default());
    let mut rx = denied.state();
    let err = tokio::time::timeout(T, async {
        loop {
            if let Some((_, e)) = rx.borrow_and_update().last_error.clone() {
                return e;
            }
            if rx.changed().await.is_err() {
                return String::new();
            }
        }
    })
    .await
    .expect("an error state");
    assert!(err.contains("grant +xinfo"), "{err}");
}

// ---------------------------------------------------------------- discovery

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_created_after_the_first_pass_is_found_within_seconds() {
    let server = Server::start();
    let mut c = server.conn();
    xadd_n(&mut c, "early", 1);
    let target = Target::parse_url(&server.url()).expect("url");
    // The default configuration: what the TUI runs with.
    let poller = StreamsPoller::spawn(target, StreamsConfig::default());
    let mut rx = poller.state();
    let has = |rx: &tokio::sync::watch::Receiver<redtail::redis::streams::StreamsState>,
               key: &[u8]| {
        let s = rx.borrow();
        s.scan.complete
            && s.last_ok
                .as_ref()
                .is_some_and(|snap| snap.stream(key).is_some())
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !has(&rx, b"early") {
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            panic!("first pass never completed: {:?}", *rx.borrow());
        }
    }
    // A complete pass has just ended: the new stream needs the next one.
    xadd_n(&mut c, "late", 1);
    let created = std::time::Instant::now();
    // Generous: the configured pause (≤ 5 s, unit-tested) plus a loaded machine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !has(&rx, b"late") {
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            panic!("the new stream was not discovered: {:?}", *rx.borrow());
        }
    }
    eprintln!("found after {:?}", created.elapsed());
}

// ---------------------------------------------------------------- group status rule

#[tokio::test(flavor = "multi_thread")]
async fn setid_shows_position_moved_and_a_consumerless_group_says_no_consumers() {
    let server = Server::start();
    let mut c = server.conn();
    let ids = xadd_n(&mut c, "q", 60);
    for (group, at) in [("workers", "0"), ("nobody", "0")] {
        let _: () = redis::cmd("XGROUP")
            .arg(&["CREATE", "q", group, at][..])
            .query(&mut c)
            .expect("XGROUP CREATE");
    }
    // workers read up to lag 5; "nobody" never gets a consumer.
    let read = read_group(&mut c, "q", "workers", "w1", 55);
    ack(&mut c, "q", "workers", &read);
    let mut conn = aconn(&server).await;
    let mut d = discovery(&[], &[]);
    let mut tracker = HealthTracker::default();
    let status = |snap: &StreamsSnapshot, g: &[u8]| {
        let g = snap.stream(b"q").and_then(|s| s.group(g)).expect("group");
        (g.health.status, g.health.reason.clone(), g.effective_lag())
    };
    let t0 = 1_000_000_i64;
    for step in 0..3 {
        let mut snap = poll(&mut conn, &mut d).await;
        tracker.observe(&mut snap, t0 + step * 1000);
        let (st, reason, lag) = status(&snap, b"nobody");
        assert_eq!((st, lag), (Status::NoConsumers, Some(60)), "{reason}");
        assert_eq!(status(&snap, b"workers").2, Some(5));
    }
    // Move the group back 45 entries: lag 5 → 50 without anyone reading.
    let _ = server.cli(&["XGROUP", "SETID", "q", "workers", &ids[9]]);
    let mut snap = poll(&mut conn, &mut d).await;
    tracker.observe(&mut snap, t0 + 3000);
    let (st, reason, lag) = status(&snap, b"workers");
    assert_eq!(lag, Some(50), "{reason}");
    assert_eq!(st, Status::PositionMoved, "{reason}");
    let g = snap
        .stream(b"q")
        .and_then(|s| s.group(b"workers"))
        .expect("g");
    assert_eq!(g.health.outlook, Outlook::Unknown);
    // Still no evidence a few seconds later.
    let mut snap = poll(&mut conn, &mut d).await;
    tracker.observe(&mut snap, t0 + 8000);
    assert_eq!(status(&snap, b"workers").0, Status::PositionMoved);
    assert_eq!(status(&snap, b"nobody").0, Status::NoConsumers);
}

#[tokio::test]
async fn xdel_past_a_groups_position_is_not_a_position_move() {
    let server = Server::start();
    let mut c = server.conn();
    let ids = xadd_n(&mut c, "jobs", 40);
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "jobs", "slow", "0"][..])
        .query(&mut c)
        .expect("XGROUP CREATE");
    read_group(&mut c, "jobs", "slow", "w1", 10);
    let mut conn = aconn(&server).await;
    let mut d = discovery(&[], &[]);
    let mut tracker = HealthTracker::default();
    let t0 = 1_000_000_i64;
    let status = |snap: &StreamsSnapshot| {
        let g = (snap.stream(b"jobs").and_then(|s| s.group(b"slow"))).expect("group");
        (g.health.status, g.health.reason.clone(), g.lag())
    };
    for step in 0..2 {
        let mut snap = poll(&mut conn, &mut d).await;
        tracker.observe(&mut snap, t0 + step * 1000);
    }
    // An entry ahead of the group deleted, then read past: the server forgets
    // entries-read (nil lag), but nothing moved the group.
    let _ = server.cli(&["XDEL", "jobs", &ids[20]]);
    read_group(&mut c, "jobs", "slow", "w1", 15);
    let groups = cli_items(&server.cli(&["XINFO", "GROUPS", "jobs"]));
    assert!(
        groups[0]["lag"].is_empty(),
        "nil lag after the XDEL: {groups:?}"
    );
    for step in 2..5 {
        let mut snap = poll(&mut conn, &mut d).await;
        tracker.observe(&mut snap, t0 + step * 1000);
        let (st, reason, _) = status(&snap);
        assert_ne!(st, Status::PositionMoved, "{reason}");
    }
}

// ---------------------------------------------------------------- doctor and metrics

/// `redtail doctor ARGS --json` → (document, exit code).
fn doctor_json(args: &[&str]) -> (serde_json::Value, i32) {
    let mut full = vec!["doctor"];
    full.extend_from_slice(args);
    full.push("--json");
    let mut p = Proc::spawn(&full);
    let line = p
        .line(T)
        .unwrap_or_else(|| panic!("no output; stderr: {}", p.stderr()));
    let code = p.wait_exit(T).expect("doctor exits");
    assert!(!p.stderr().contains("panicked"), "{}", p.stderr());
    (
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad json {line:?}: {e}")),
        code,
    )
}

fn findings_of<'a>(doc: &'a serde_json::Value, kind: &str) -> Vec<&'a serde_json::Value> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

/// Run a finding's fix (`redtail …`) with the real binary; returns the exit code.
fn run_fix(fix: &str) -> i32 {
    let words: Vec<&str> = fix.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"redtail"), "{fix}");
    let mut p = Proc::spawn(&words[1..]);
    let code = p.wait_exit(T).expect("fix exits");
    assert!(!p.stderr().contains("panicked"), "{}", p.stderr());
    code
}

fn xclaim(c: &mut redis::Connection, key: &str, group: &str, consumer: &str, id: &str) {
    let _: Value = redis::cmd("XCLAIM")
        .arg(&[key, group, consumer, "0", id][..])
        .query(c)
        .expect("XCLAIM");
}

fn xgroup(c: &mut redis::Connection, args: &[&str]) {
    let _: Value = redis::cmd("XGROUP").arg(args).query(c).expect("XGROUP");
}

#[test]
fn doctor_finds_poison_dangling_zombie_consumerless_nil_lag_and_dead_letters() {
    let server = Server::start();
    let url = server.url();
    let mut c = server.conn();
    let ids = xadd_n(&mut c, "jobs", 10);
    xgroup(&mut c, &["CREATE", "jobs", "workers", "0"]);
    // "busy" takes three entries and stops; "done" takes three and acks them.
    read_group(&mut c, "jobs", "workers", "busy", 3);
    let done = read_group(&mut c, "jobs", "workers", "done", 3);
    ack(&mut c, "jobs", "workers", &done);
    // Poison: ids[0] delivered 1 + 5 times.
    for _ in 0..5 {
        xclaim(&mut c, "jobs", "workers", "busy", &ids[0]);
    }
    // Dangling: ids[1] deleted while pending.
    let _: i64 = redis::cmd("XDEL")
        .arg("jobs")
        .arg(&ids[1])
        .query(&mut c)
        .expect("XDEL");
    // A consumerless group with lag 4.
    xadd_n(&mut c, "orphans", 4);
    xgroup(&mut c, &["CREATE", "orphans", "nobody", "0"]);
    // Nil lag: the group's position set to an arbitrary id (7.0 forgets entries-read).
    let moved = xadd_n(&mut c, "moved", 5);
    xgroup(&mut c, &["CREATE", "moved", "g2", "0"]);
    xgroup(&mut c, &["CREATECONSUMER", "moved", "g2", "idler"]);
    xgroup(&mut c, &["SETID", "moved", "g2", &moved[2]]);
    // A dead-letter stream with an entry.
    xadd(&mut c, "jobs:dlq", &[("why", "boom")]);
    // The zombie threshold is 1s: wait past it, then a live consumer takes one entry.
    std::thread::sleep(Duration::from_millis(1300));
    read_group(&mut c, "jobs", "workers", "fresh", 1);

    let (doc, code) = doctor_json(&[&url, "--zombie-after", "1s"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["checked"]["streams"], 4, "{doc:#}");
    assert_eq!(doc["checked"]["groups"], 3, "{doc:#}");
    // Most severe first.
    let rank = |s: &serde_json::Value| match s.as_str() {
        Some("critical") => 0,
        Some("warning") => 1,
        Some("info") => 2,
        other => panic!("severity {other:?}"),
    };
    let ranks: Vec<i32> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| rank(&f["severity"]))
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{doc:#}");

    let poison = findings_of(&doc, "poison");
    assert_eq!(poison.len(), 1, "{doc:#}");
    let p = poison[0];
    assert_eq!(
        (
            &p["severity"],
            &p["stream"],
            &p["group"],
            &p["consumer"],
            &p["id"]
        ),
        (
            &"critical".into(),
            &"jobs".into(),
            &"workers".into(),
            &"busy".into(),
            &ids[0].as_str().into()
        ),
        "{doc:#}"
    );
    assert!(
        p["evidence"].as_str().unwrap().contains("6 deliveries"),
        "{p}"
    );
    let fix = p["fix"].as_str().unwrap();
    assert_eq!(
        fix,
        format!("redtail -u {url} dead-letter jobs workers {}", ids[0])
    );

    let dangling = findings_of(&doc, "dangling");
    assert_eq!(dangling.len(), 1, "{doc:#}");
    assert_eq!(dangling[0]["ids"], serde_json::json!([ids[1]]), "{doc:#}");
    assert_eq!(dangling[0]["severity"], "warning");
    let ack_fix = dangling[0]["fix"].as_str().unwrap();
    assert_eq!(
        ack_fix,
        format!("redtail -u {url} ack jobs workers {}", ids[1])
    );

    let zombies = findings_of(&doc, "zombie");
    assert_eq!(
        zombies.len(),
        1,
        "only busy holds entries and is idle: {doc:#}"
    );
    let z = zombies[0];
    assert_eq!(z["consumer"], "busy", "{doc:#}");
    let zfix = z["fix"].as_str().unwrap();
    assert!(
        zfix.starts_with(&format!(
            "redtail -u {url} claim jobs workers fresh --min-idle "
        )),
        "{zfix}"
    );
    assert!(zfix.contains(&ids[0]) && zfix.contains(&ids[2]), "{zfix}");
    assert!(
        !zfix.contains(&ids[1]),
        "a deleted entry cannot be claimed: {zfix}"
    );

    let lonely = findings_of(&doc, "no_consumers");
    assert_eq!(lonely.len(), 1, "{doc:#}");
    assert_eq!(
        (&lonely[0]["stream"], &lonely[0]["group"]),
        (&"orphans".into(), &"nobody".into())
    );
    assert!(
        lonely[0]["evidence"].as_str().unwrap().contains("lag 4"),
        "{doc:#}"
    );

    let anomalies = findings_of(&doc, "lag_anomaly");
    assert_eq!(anomalies.len(), 1, "{doc:#}");
    let a = anomalies[0];
    assert_eq!(
        (&a["group"], &a["severity"]),
        (&"g2".into(), &"info".into())
    );
    let ev = a["evidence"].as_str().unwrap();
    assert!(
        ev.contains("nil") && ev.contains("counted 2 (method xrange-count)"),
        "{ev}"
    );

    let dlq = findings_of(&doc, "dlq_growing");
    assert_eq!(dlq.len(), 1, "{doc:#}");
    assert_eq!(
        (&dlq[0]["stream"], &dlq[0]["severity"]),
        (&"jobs:dlq".into(), &"info".into())
    );

    // The fixes are real commands: run them, and the findings go away.
    assert_eq!(run_fix(ack_fix), 0);
    assert_eq!(run_fix(fix), 0);
    let (doc, _) = doctor_json(&[&url, "--zombie-after", "1s"]);
    assert!(findings_of(&doc, "dangling").is_empty(), "{doc:#}");
    assert!(findings_of(&doc, "poison").is_empty(), "{doc:#}");
    let text = server.cli(&["XLEN", "jobs:dlq"]);
    assert_eq!(
        n(&text),
        2,
        "the poison entry went to the dead-letter stream"
    );
}

#[test]
fn doctor_exits_0_when_healthy_1_on_problems_3_when_unreachable_64_on_usage() {
    let server = Server::start();
    let url = server.url();
    let mut c = server.conn();
    xadd_n(&mut c, "calm", 5);
    xgroup(&mut c, &["CREATE", "calm", "g", "0"]);
    let read = read_group(&mut c, "calm", "g", "w", 10);
    ack(&mut c, "calm", "g", &read);
    let (doc, code) = doctor_json(&[&url]);
    assert_eq!(
        (code, &doc["findings"]),
        (0, &serde_json::json!([])),
        "{doc:#}"
    );
    // Info findings (a dead-letter stream with entries) do not make it fail.
    xadd(&mut c, "calm:dlq", &[("k", "v")]);
    let (doc, code) = doctor_json(&[&url]);
    assert_eq!(findings_of(&doc, "dlq_growing").len(), 1, "{doc:#}");
    assert_eq!(code, 0, "{doc:#}");
    // A warning does.
    xadd_n(&mut c, "calm", 1);
    xgroup(&mut c, &["CREATE", "calm", "idle", "0"]);
    let (doc, code) = doctor_json(&[&url]);
    assert_eq!(findings_of(&doc, "no_consumers").len(), 1, "{doc:#}");
    assert_eq!(code, 1);
    // The text report: one block per finding with escaped names.
    let mut p = Proc::spawn(&["doctor", &url]);
    assert_eq!(p.wait_exit(T), Some(1), "{}", p.stderr());
    let mut text = String::new();
    while let Some(l) = p.line(Duration::from_millis(200)) {
        text.push_str(&l);
        text.push('\n');
    }
    assert!(
        text.contains("WARNING  no_consumers  stream calm  group idle"),
        "{text}"
    );
    assert!(
        text.contains("INFO     dlq_growing  stream calm:dlq"),
        "{text}"
    );

    // Nothing listening: 3, not 1 ("problems found").
    let dead = format!("redis://127.0.0.1:{}", common::free_port());
    let mut p = Proc::spawn(&["doctor", &dead, "--json"]);
    assert_eq!(p.wait_exit(T), Some(3), "{}", p.stderr());
    assert!(p.stderr().contains("cannot connect"), "{}", p.stderr());
    let mut p = Proc::spawn(&["doctor", &url, "--zombie-after", "5"]);
    assert_eq!(p.wait_exit(T), Some(64), "{}", p.stderr());
}

/// One HTTP/1.1 request with a plain TCP client: (status line, body).
fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(T)).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))?
        .trim()
        .parse()
        .ok()?;
    assert_eq!(body.len(), length, "Content-Length matches the body");
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// Check every line of a Prometheus text exposition; returns the samples as
/// (name, labels, value).
fn parse_exposition(text: &str) -> Vec<(String, HashMap<String, String>, f64)> {
    let comment = regex::Regex::new(r"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$").unwrap();
    let sample = regex::Regex::new(
        r#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+)$"#,
    )
    .unwrap();
    let label =
        regex::Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)""#).unwrap();
    let mut types = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(m) = comment.captures(line) {
            if &m[1] == "TYPE" {
                assert!(["gauge", "counter"].contains(&&m[3]), "{line}");
                assert_eq!(m[2].ends_with("_total"), &m[3] == "counter", "{line}");
                types.insert(m[2].to_string(), m[3].to_string());
            }
            continue;
        }
        let m = sample
            .captures(line)
            .unwrap_or_else(|| panic!("not a valid sample line: {line:?}"));
        assert!(types.contains_key(&m[1]), "no TYPE before {line:?}");
        let value: f64 = m[3].parse().unwrap_or_else(|_| panic!("value in {line:?}"));
        let labels = m.get(2).map_or_else(HashMap::new, |l| {
            label
                .captures_iter(l.as_str())
                .map(|c| (c[1].to_string(), c[2].to_string()))
                .collect()
        });
        samples.push((m[1].to_string(), labels, value));
    }
    samples
}

fn xinfo_calls(server: &Server) -> u64 {
    let stats = server.cli(&["INFO", "commandstats"]);
    stats
        .lines()
        .filter(|l| l.starts_with("cmdstat_xinfo"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn metrics_listen_that_is_not_an_address_is_a_usage_error() {
    for listen in ["nonsense", "127.0.0.1:99999"] {
        let mut p = Proc::spawn(&["metrics", "redis://127.0.0.1:1", "--listen", listen]);
        assert_eq!(p.wait_exit(T), Some(64), "{listen}: {}", p.stderr());
        assert!(
            p.stderr().contains("not an address to listen on"),
            "{}",
            p.stderr()
        );
    }
}

#[test]
fn metrics_say_why_polls_fail_and_when_they_succeed_again() {
    let locked = Server::start_with(&["--requirepass", "s3cr3t"]);
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let wrong = format!("redis://:wrong@127.0.0.1:{}", locked.port);
    let p = Proc::spawn(&["metrics", &wrong, "--listen", &listen, "--interval", "1s"]);
    let said = common::wait_for("the refusal said", T, || {
        let err = p.stderr();
        err.contains("the poll failed").then_some(err)
    });
    assert!(
        said.contains("WRONGPASS") || said.contains("password"),
        "{said}"
    );
    assert!(
        !said.contains("s3cr3t") && !said.contains(":wrong@"),
        "{said}"
    );
    let (_, body) = http_get(port, "/metrics").expect("a scrape");
    assert!(body.contains("redtail_up 0"), "{body}");
    drop(p);
    // A server that goes away, then comes back: both said, once each.
    let mut server = Server::start();
    let server_url = server.url();
    let p = Proc::spawn(&[
        "metrics",
        &server_url,
        "--listen",
        &listen,
        "--interval",
        "1s",
    ]);
    common::wait_for("a first poll", T, || {
        let (_, body) = http_get(port, "/metrics")?;
        body.contains("redtail_up 1").then_some(())
    });
    server.kill();
    common::wait_for("the outage said", T, || {
        p.stderr().contains("the poll failed").then_some(())
    });
    server.restart();
    common::wait_for("the recovery said", T, || {
        p.stderr().contains("polling again").then_some(())
    });
    assert_eq!(
        p.stderr().matches("polling again").count(),
        1,
        "{}",
        p.stderr()
    );
}

#[test]
fn metrics_serve_prometheus_text_from_memory_with_the_servers_lag() {
    let server = Server::start();
    let mut c = server.conn();
    let ids = xadd_n(&mut c, "m", 8);
    xgroup(&mut c, &["CREATE", "m", "exact", "0"]);
    read_group(&mut c, "m", "exact", "w", 5);
    xgroup(&mut c, &["CREATE", "m", "nil", "0"]);
    xgroup(&mut c, &["SETID", "m", "nil", &ids[3]]);
    // A hostile stream name: quote, backslash, newline and ESC in a label value.
    xadd(&mut c, "we\"ird\\\n\x1bname", &[("k", "v")]);
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut p = Proc::spawn(&[
        "metrics",
        &server.url(),
        "--listen",
        &listen,
        "--interval",
        "30s",
    ]);
    let body = common::wait_for("a scrape with group figures", T, || {
        let (status, body) = http_get(port, "/metrics")?;
        assert_eq!(status, "HTTP/1.1 200 OK");
        body.contains("redtail_group_pending{").then_some(body)
    });
    let samples = parse_exposition(&body);
    let value = |name: &str, want: &[(&str, &str)]| {
        samples
            .iter()
            .filter(|(n, labels, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(v))
            })
            .map(|s| s.2)
            .collect::<Vec<f64>>()
    };
    assert_eq!(value("redtail_up", &[]), vec![1.0]);
    // Lag exactly as XINFO GROUPS says, per group; nil lag has no lag sample, an estimate.
    let groups = cli_items(&server.cli(&["XINFO", "GROUPS", "m"]));
    for g in &groups {
        let name = g["name"].as_str();
        let lag = value("redtail_group_lag", &[("stream", "m"), ("group", name)]);
        if g["lag"].is_empty() {
            assert!(
                lag.is_empty(),
                "nil lag must not be exported as a number: {body}"
            );
            let est = value(
                "redtail_group_lag_estimate",
                &[("stream", "m"), ("group", name), ("method", "xrange-count")],
            );
            assert_eq!(est, vec![4.0], "{body}");
        } else {
            assert_eq!(lag, vec![n(&g["lag"]) as f64], "group {name}: {body}");
        }
        let pending = value("redtail_group_pending", &[("stream", "m"), ("group", name)]);
        assert_eq!(pending, vec![n(&g["pending"]) as f64], "{body}");
    }
    assert_eq!(groups.len(), 2);
    assert_eq!(
        value("redtail_stream_length", &[("stream", "m")]),
        vec![8.0]
    );
    // The hostile name: escaped for the terminal (newline and ESC visible, as everywhere
    // in redtail), then `\`, `"` and newline escaped for Prometheus.
    assert!(
        body.contains(r#"redtail_stream_length{stream="we\"ird\\\\n\\x1bname"} 1"#),
        "{body}"
    );
    assert!(!body.contains('\x1b'));
    assert_eq!(
        value(
            "redtail_findings",
            &[("kind", "lag_anomaly"), ("severity", "info")]
        ),
        vec![1.0]
    );
    assert_eq!(
        value(
            "redtail_findings",
            &[("kind", "poison"), ("severity", "critical")]
        ),
        vec![0.0]
    );
    assert!(!value(
        "redtail_group_oldest_pending_age_seconds",
        &[("group", "exact")]
    )
    .is_empty());
    // Scrapes answer from memory: twenty of them cause no XINFO.
    let before = xinfo_calls(&server);
    for _ in 0..20 {
        assert!(http_get(port, "/metrics").is_some());
    }
    assert_eq!(xinfo_calls(&server), before, "a scrape must not poll");
    let (status, _) = http_get(port, "/other").expect("404 answer");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    assert!(
        p.child.try_wait().expect("alive").is_none(),
        "{}",
        p.stderr()
    );
}

/// The poll's raw socket killed under it: that poll fails as a lost connection (so the
/// poller reconnects), the dead socket is never read again, and a fresh one polls fine.
#[tokio::test(flavor = "multi_thread")]
async fn a_poll_connection_killed_between_polls_fails_as_lost_and_a_new_one_works() {
    let server = Server::start();
    let mut producer = server.conn();
    xadd_n(&mut producer, "jobs", 3);
    let mut conn = aconn(&server).await;
    let mut d = discovery(&[], &["jobs"]);
    assert!(poll(&mut conn, &mut d).await.stream(b"jobs").is_some());

    // Only the raw socket (it names itself); the redis-rs one for discovery stays.
    let list = server.cli(&["CLIENT", "LIST"]);
    let id = list
        .lines()
        .find(|l| l.contains("name=redtail-streams"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|f| f.strip_prefix("id="))
        .unwrap_or_else(|| panic!("no redtail-streams client in {list}"))
        .to_string();
    assert_eq!(server.cli(&["CLIENT", "KILL", "ID", &id]).trim(), "1");
    for _ in 0..2 {
        let e = poll_streams(&mut conn, &mut d)
            .await
            .expect_err("the socket is gone");
        assert_eq!(e.kind, PollErrorKind::Connection, "{e}");
        assert!(e.message.contains("lost the connection"), "{e}");
    }
    let mut fresh = aconn(&server).await;
    let snap = poll(&mut fresh, &mut d).await;
    assert_eq!(snap.stream(b"jobs").map(|s| s.length), Some(3));
}
