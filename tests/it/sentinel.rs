//! Sentinel: the test harness (primary, replica, three sentinels) and the crate's
//! resolver against it: finding the primary, following a failover, and the errors a
//! person sees for a wrong master name, dead sentinels or a dead primary; and the stream
//! tail (`tail --stream`, the TUI's follow) reading the primary the Sentinels name; and
//! channel subscriptions (`tail`, the TUI's feed) moving to the new primary at once after
//! a failover, with a gap that covers what they missed.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::sentinel::{number_of, NumberedPublisher, Published, SentinelSetup};
use common::{info_field, query, query_text, Proc};
use redtail::redis::conn::Target;
use redtail::redis::inbox::{Caps, Inbox};
use redtail::redis::message::{Delivery, Kind};
use redtail::redis::route::Route;
use redtail::redis::sentinel::{resolve_master, SentinelSpec};
use redtail::redis::stream_tail::StreamTail;

const T: Duration = Duration::from_secs(10);

fn spec(setup: &SentinelSetup, master: &str) -> SentinelSpec {
    SentinelSpec::parse(&[setup.sentinel_addrs().join(",")], master).expect("valid addresses")
}

fn role(port: u16) -> Option<String> {
    let info = query_text(port, &["INFO", "replication"])?;
    info_field(&info, "role").map(str::to_string)
}

async fn resolve(spec: &SentinelSpec) -> anyhow::Result<Target> {
    resolve_master(spec, &Target::default()).await
}

#[test]
fn setup_comes_up_with_the_first_node_as_primary() {
    let setup = SentinelSetup::shared();
    let [primary, replica] = setup.data_ports();
    assert_eq!(setup.master_name(), "mymaster");
    assert_eq!(setup.sentinel_addrs().len(), 3);
    assert_eq!(setup.primary_port(), primary);
    assert_eq!(role(primary).as_deref(), Some("master"));
    assert_eq!(role(replica).as_deref(), Some("slave"));
}

#[test]
fn forced_failover_switches_the_primary() {
    let started = Instant::now();
    let setup = SentinelSetup::start();
    eprintln!("sentinel setup started in {:?}", started.elapsed());
    let [first, second] = setup.data_ports();
    let switched = Instant::now();
    let new = setup.failover();
    eprintln!("sentinel failover took {:?}", switched.elapsed());
    assert_eq!(new, second);
    assert_eq!(setup.primary_port(), second);
    assert_eq!(role(second).as_deref(), Some("master"));
    // Not waited for: the sentinels turn the old primary into a replica only when their
    // next INFO (every 10 s) shows it still claiming to be a primary.
    let _ = first;
}

#[tokio::test]
async fn resolves_the_primary_with_the_template_settings() {
    let setup = SentinelSetup::shared();
    let template = Target {
        db: 3,
        ..Target::default()
    };
    let target = resolve_master(&spec(setup, "mymaster"), &template)
        .await
        .expect("resolves");
    assert_eq!(target.host, "127.0.0.1");
    assert_eq!(target.port, setup.primary_port());
    assert_eq!(target.db, 3);
}

#[tokio::test]
async fn skips_a_dead_sentinel() {
    let setup = SentinelSetup::shared();
    let dead = format!("127.0.0.1:{}", common::free_port());
    let mut args = vec![dead];
    args.extend(setup.sentinel_addrs());
    let spec = SentinelSpec::parse(&args, "mymaster").expect("valid addresses");
    let target = resolve(&spec)
        .await
        .expect("resolves through the live sentinels");
    assert_eq!(target.port, setup.primary_port());
}

#[tokio::test]
async fn follows_a_failover() {
    let setup = SentinelSetup::start();
    let spec = spec(&setup, "mymaster");
    let before = resolve(&spec).await.expect("resolves");
    assert_eq!(before.port, setup.data_ports()[0]);
    let new = tokio::task::spawn_blocking(move || {
        let new = setup.failover();
        (setup, new)
    })
    .await
    .expect("failover");
    let after = resolve(&spec).await.expect("resolves after failover");
    assert_eq!(after.port, new.1);
    assert_ne!(after.port, before.port);
}

#[tokio::test]
async fn unknown_master_name_is_explained() {
    let setup = SentinelSetup::shared();
    let err = resolve(&spec(setup, "nosuch"))
        .await
        .unwrap_err()
        .to_string();
    eprintln!("unknown master: {err}");
    let first = &setup.sentinel_addrs()[0];
    assert!(
        err.contains(&format!(
            "sentinel {first} does not know a master called \"nosuch\""
        )) && err.contains("check --master"),
        "{err}"
    );
}

#[tokio::test]
async fn a_data_node_given_as_sentinel_is_explained() {
    let setup = SentinelSetup::shared();
    let not_a_sentinel = format!("127.0.0.1:{}", setup.data_ports()[1]);
    let spec = SentinelSpec::parse(std::slice::from_ref(&not_a_sentinel), "mymaster").unwrap();
    let err = resolve(&spec).await.unwrap_err().to_string();
    eprintln!("not a sentinel: {err}");
    assert!(
        err.contains(&format!("{not_a_sentinel} is not a sentinel")),
        "{err}"
    );
}

#[tokio::test]
async fn dead_primary_then_dead_sentinels_are_explained() {
    let setup = SentinelSetup::start();
    let spec = spec(&setup, "mymaster");
    let primary = setup.primary_port();
    // Sentinels still name the primary right after it dies (down-after is 1 s, and the
    // replica may then be promoted): either way the error must say what happened.
    setup.kill_data_nodes();
    let started = Instant::now();
    let err = resolve(&spec).await.unwrap_err().to_string();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains("says the primary of \"mymaster\" is 127.0.0.1:")
            && err.contains("cannot be reached"),
        "{err}"
    );
    assert!(err.contains(&format!("127.0.0.1:{primary}")), "{err}");
    eprintln!("dead primary: {err}");

    setup.kill_sentinels();
    let err = resolve(&spec).await.unwrap_err().to_string();
    eprintln!("dead sentinels: {err}");
    assert!(err.starts_with("cannot reach any sentinel: "), "{err}");
    for addr in setup.sentinel_addrs() {
        assert!(err.contains(&addr), "{addr} missing: {err}");
    }
}

/// Wait until a client on `port` is blocked in XREAD on `key` (the tail found where to
/// start there); `why` says what failed otherwise.
fn wait_reading_on(port: u16, timeout: Duration, why: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    loop {
        let clients = query_text(port, &["CLIENT", "LIST"]).unwrap_or_default();
        if clients.contains("cmd=xread") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no XREAD on 127.0.0.1:{port} within {timeout:?}: {}",
            why()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `--sentinel … --master …` and the `redis+sentinel://` URL: the tail reads the stream
/// on the primary the Sentinels name, not on the template's placeholder 127.0.0.1:6379
/// (where another Redis may hold a stream of the same name).
#[test]
fn tail_stream_through_sentinel_reads_the_primary() {
    let setup = SentinelSetup::shared();
    let primary = setup.primary_port();
    let sentinels = setup.sentinel_addrs().join(",");
    let url = format!("redis+sentinel://{sentinels}/mymaster");
    let forms: [(&str, Vec<&str>); 2] = [
        (
            "flags",
            vec!["--sentinel", &sentinels, "--master", "mymaster"],
        ),
        ("url", vec![&url]),
    ];
    for (form, conn) in forms {
        // The previous form's tail has exited: its XREAD must not pass for this one's.
        common::wait_for(
            "no XREAD left on the primary",
            Duration::from_secs(10),
            || (!query_text(primary, &["CLIENT", "LIST"])?.contains("cmd=xread")).then_some(()),
        );
        let key = format!("sentinel-tail-{form}");
        let mut args = vec!["tail"];
        args.extend(conn);
        args.extend(["--stream", &key, "-n", "1", "--format", "jsonl"]);
        let mut p = Proc::spawn(&args);
        wait_reading_on(primary, Duration::from_secs(15), || {
            format!("{form}: redtail stderr: {}", p.stderr())
        });
        query(primary, &["XADD", &key, "7-1", "via", form]).expect("XADD on the primary");
        let v = p.json_line(Duration::from_secs(10));
        assert_eq!(v["kind"], "xentry", "{form}: {v}");
        assert_eq!(v["stream"], key.as_str(), "{form}: {v}");
        assert_eq!(v["id"], "7-1", "{form}: {v}");
        assert_eq!(v["fields"], serde_json::json!([["via", form]]), "{form}");
        assert_eq!(
            p.wait_exit(Duration::from_secs(10)),
            Some(0),
            "{form}: {}",
            p.stderr()
        );
        let err = p.stderr();
        assert!(!err.contains("6379"), "{form}: {err}");
    }
}

/// Stream entry payloads from `inbox` into `seen` (everything into `log`) until there
/// are `want` or `timeout` passes.
async fn collect_entries(
    inbox: &Inbox,
    want: usize,
    timeout: Duration,
    seen: &mut Vec<String>,
    log: &mut Vec<String>,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    while seen.len() < want && tokio::time::Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(200), inbox.notified()).await;
        let mut batch = Vec::new();
        inbox.drain_into(100, &mut batch);
        for d in batch {
            if let Delivery::Message(m) = &d {
                assert_eq!(m.kind, Kind::StreamEntry);
                seen.push(String::from_utf8_lossy(&m.payload).into_owned());
            }
            log.push(format!("{d:?}"));
        }
    }
}

/// The engine under `tail --stream` and the TUI's follow (`StreamTail::spawn_routed`):
/// through Sentinel it reads the primary, and after a failover it asks the Sentinels
/// again and reads the new primary, from where it left off.
#[tokio::test(flavor = "multi_thread")]
async fn stream_tail_follows_the_primary_through_a_failover() {
    let setup = SentinelSetup::start();
    let [first, second] = setup.data_ports();
    let route = Route::sentinel(Target::default(), spec(&setup, "mymaster"));
    let inbox = Arc::new(Inbox::new(Caps::default()));
    let tails = StreamTail::spawn_routed(&route, vec![Bytes::from_static(b"fs")], inbox.clone());
    assert_eq!(tails.len(), 1);
    let inbox_errors = {
        let inbox = inbox.clone();
        move || {
            let mut got = Vec::new();
            inbox.drain_into(100, &mut got);
            format!("{got:?}")
        }
    };
    let setup = tokio::task::spawn_blocking(move || {
        wait_reading_on(first, Duration::from_secs(15), &inbox_errors);
        query(first, &["XADD", "fs", "1-1", "n", "before"]).expect("XADD");
        setup
    })
    .await
    .expect("first entry");
    let mut seen = Vec::new();
    let mut log = Vec::new();
    collect_entries(&inbox, 1, Duration::from_secs(10), &mut seen, &mut log).await;
    assert_eq!(seen.len(), 1, "{log:?}");
    assert!(seen[0].contains("\"before\""), "{seen:?}");

    let (setup, new) = tokio::task::spawn_blocking(move || {
        let new = setup.failover();
        (setup, new)
    })
    .await
    .expect("failover");
    assert_eq!(new, second);
    query(second, &["XADD", "fs", "2-1", "n", "after"]).expect("XADD on the new primary");
    let added = std::time::Instant::now();
    collect_entries(&inbox, 2, Duration::from_secs(30), &mut seen, &mut log).await;
    assert_eq!(seen.len(), 2, "{log:?}");
    assert!(seen[1].contains("\"after\""), "{seen:?}");
    // The old primary answers XREAD (with nothing) until the Sentinels demote it, about
    // 10 s after the switch: the follower must not wait for that. It asks the Sentinels
    // once a second between reads (BLOCK 2 s), so the entry arrives within ~3.5 s.
    let waited = added.elapsed();
    assert!(
        waited < Duration::from_secs(7),
        "the entry added on the new primary arrived after {waited:?}: {log:?}"
    );
    for tail in tails {
        tail.shutdown().await;
    }
    drop(setup);
}

/// A gap record (JSONL) as (from, to, reason).
type GapRecord = (
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
    String,
);

fn gap_record(v: &serde_json::Value) -> GapRecord {
    let time = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(v[k].as_str().expect("gap time"))
            .expect("rfc3339")
            .with_timezone(&chrono::Utc)
    };
    // A handover (no connection dropped) says so: `"handover": true`.
    let mut reason = v["reason"].as_str().unwrap_or_default().to_string();
    if v["handover"] == true {
        reason.push_str(" [handover]");
    }
    (time("from"), time("to"), reason)
}

/// README (Sentinel): "a failover is followed … redtail moves to the new primary within
/// about a second … with a gap row from when the Sentinels last named the old one to the
/// resubscribe". A publisher that follows the Sentinels keeps publishing numbered
/// messages through a forced failover; `tail -c` must get messages published on the new
/// primary within a few seconds of its first one there (the old code stayed on the
/// demoted primary until the Sentinels reconfigured it, ~10 s), and every number it
/// missed must lie inside a gap it reported (the old code's gap said 0.1 s).
#[test]
fn tail_through_sentinel_moves_to_the_new_primary_at_once_and_its_gap_covers_what_was_missed() {
    let setup = SentinelSetup::start();
    let sentinels = setup.sentinel_addrs().join(",");
    let first = setup.primary_port();
    let p = Proc::spawn(&[
        "tail",
        "--sentinel",
        &sentinels,
        "--master",
        setup.master_name(),
        "--format",
        "jsonl",
        "-c",
        "numbers",
    ]);
    common::wait_subscribed_on(first, 1);
    let publisher = NumberedPublisher::start(&setup, "numbers", Duration::from_millis(20));
    let mut received = BTreeSet::new();
    let mut gaps: Vec<GapRecord> = Vec::new();
    let mut take = |v: serde_json::Value, received: &mut BTreeSet<u64>| match v["kind"].as_str() {
        Some("gap") => gaps.push(gap_record(&v)),
        Some("message") => {
            received.extend(v["payload"].as_str().and_then(number_of));
        }
        _ => panic!("unexpected line {v}"),
    };
    while received.len() < 10 {
        take(p.json_line(T), &mut received);
    }
    let second = setup.failover();
    assert_ne!(first, second);
    // Until tail gets a message published on the new primary (or 20 s pass).
    let deadline = Instant::now() + Duration::from_secs(20);
    let on_new = |received: &BTreeSet<u64>, log: &[Published]| {
        log.iter()
            .any(|m| m.port == second && received.contains(&m.n))
    };
    while !on_new(&received, &publisher.log()) && Instant::now() < deadline {
        if let Some(line) = p.line(Duration::from_millis(200)) {
            take(serde_json::from_str(&line).expect("json"), &mut received);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let log = publisher.stop();
    while let Some(line) = p.line(Duration::from_millis(500)) {
        take(serde_json::from_str(&line).expect("json"), &mut received);
    }
    let switched = log
        .iter()
        .find(|m| m.port == second)
        .expect("the publisher moved to the new primary")
        .at;
    let first_seen_on_new = log
        .iter()
        .find(|m| m.port == second && received.contains(&m.n))
        .unwrap_or_else(|| {
            panic!(
                "tail got nothing from the new primary; stderr: {}",
                p.stderr()
            )
        });
    let missed: Vec<&Published> = log.iter().filter(|m| !received.contains(&m.n)).collect();
    let moved_after = (first_seen_on_new.at - switched)
        .to_std()
        .unwrap_or_default();
    eprintln!(
        "published {}, missed {} (on the new primary: {}), tail moved {:.2} s after the \
         publisher, gaps: {gaps:?}",
        log.len(),
        missed.len(),
        missed.iter().filter(|m| m.port == second).count(),
        moved_after.as_secs_f64()
    );
    assert!(
        moved_after < Duration::from_secs(3),
        "tail got the new primary's messages only {moved_after:?} after the switch"
    );
    for m in &missed {
        assert!(
            gaps.iter()
                .any(|(from, to, _)| *from <= m.at && m.at <= *to),
            "n={} (published on {} at {}) was missed outside every gap: {gaps:?}",
            m.n,
            m.port,
            m.at
        );
    }
    let handover = format!("node 127.0.0.1:{first} no longer serves; 127.0.0.1:{second} took over");
    assert!(
        gaps.iter()
            .any(|(_, _, reason)| reason.contains(&format!("{handover} [handover]"))),
        "{gaps:?}"
    );
    drop(setup);
}

/// The same README promise through the TUI's feed: after a forced failover the feed shows
/// messages published on the new primary within a few seconds of the publisher's first
/// one there (not after the Sentinels reconfigure the old primary, ~10 s), and a gap row
/// that names the handover.
#[test]
fn tui_feed_through_sentinel_moves_to_the_new_primary_at_once_with_a_gap_row() {
    let setup = SentinelSetup::start();
    let sentinels = setup.sentinel_addrs().join(",");
    let first = setup.primary_port();
    let tui = common::pty::Tui::spawn(
        &[
            "--sentinel",
            &sentinels,
            "--master",
            setup.master_name(),
            "-c",
            "numbers",
        ],
        240,
        40,
    );
    tui.wait_for("● connected", T);
    common::wait_subscribed_on(first, 1);
    // Slow enough that the gap row stays on screen a few seconds.
    let publisher = NumberedPublisher::start(&setup, "numbers", Duration::from_millis(100));
    tui.wait_for("n=000003", T);
    let second = setup.failover();
    let handover = format!("node 127.0.0.1:{first} no longer serves; 127.0.0.1:{second} took over");
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut seen_on_new, mut gap_row) = (None, None);
    while (seen_on_new.is_none() || gap_row.is_none()) && Instant::now() < deadline {
        let screen = tui.screen();
        if gap_row.is_none() {
            gap_row = screen
                .lines()
                .find(|l| l.contains(&handover))
                .map(str::to_string);
        }
        if seen_on_new.is_none() {
            seen_on_new = publisher
                .log()
                .into_iter()
                .find(|m| m.port == second && screen.contains(&format!("n={:06}", m.n)));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let log = publisher.stop();
    let switched = log
        .iter()
        .find(|m| m.port == second)
        .expect("the publisher moved to the new primary")
        .at;
    let seen_on_new =
        seen_on_new.unwrap_or_else(|| panic!("nothing from the new primary:\n{}", tui.screen()));
    let gap_row = gap_row.unwrap_or_else(|| panic!("no handover gap row:\n{}", tui.screen()));
    let moved_after = (seen_on_new.at - switched).to_std().unwrap_or_default();
    eprintln!(
        "TUI moved {:.2} s after the publisher; {gap_row}",
        moved_after.as_secs_f64()
    );
    assert!(
        moved_after < Duration::from_secs(3),
        "the feed showed the new primary's messages only {moved_after:?} after the switch"
    );
    // The connection never dropped: the row says what happened, not "disconnected".
    assert!(
        gap_row.contains("moved to the new primary after ") && !gap_row.contains("disconnected"),
        "{gap_row}"
    );
    tui.quit();
    drop(setup);
}
