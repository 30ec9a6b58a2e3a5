//! One primary failover on a real cluster (3 primaries, 3 replicas), watched by `tail`
//! (a stream and a shard channel in the dead primary's slot, and a classic channel),
//! then by `stats` and the TUI. A cluster start and a failover take seconds, so the
//! scenario runs once and records what redtail and redis-cli said; each test checks one
//! promise against that record.

use crate::common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::pty::Tui;
use common::Proc;

const T: Duration = Duration::from_secs(15);
/// Entries written on the new owner after the failover.
const AFTER: usize = 10;

/// What the scenario saw.
struct Seen {
    victim: u16,
    promoted: u16,
    /// Ids `tail` printed for the stream after the one read before the kill, in order.
    tail_ids: Vec<String>,
    /// `XRANGE` of the stream after that id, per redis-cli on the new owner.
    xrange_ids: Vec<String>,
    tail_running: bool,
    tail_stderr: String,
    /// Live nodes where redis-cli counts tail's classic subscription (`PUBSUB NUMSUB`),
    /// and its shard channel subscription (`PUBSUB SHARDNUMSUB`).
    classic_on: Vec<u16>,
    shard_on: Vec<u16>,
    /// `redis-cli CLUSTER NODES` on the new owner.
    cluster_nodes: String,
    stats_json: serde_json::Value,
    stats_table: String,
    tui_screen: String,
}

/// The scenario's record, or why it could not be made (each test then fails with it).
fn seen() -> &'static Seen {
    static SEEN: OnceLock<Result<Seen, String>> = OnceLock::new();
    let result = SEEN.get_or_init(|| {
        std::panic::catch_unwind(run_scenario).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the failover scenario panicked".into())
        })
    });
    match result {
        Ok(seen) => seen,
        Err(e) => panic!("failover scenario: {e}"),
    }
}

fn run_scenario() -> Seen {
    let cluster = Cluster::start();
    let victim = cluster.primaries()[1].port;
    let tag = (0..500)
        .map(|i| format!("fo{i}"))
        .find(|t| cluster.port_for_key(&format!("{{{t}}}")) == victim)
        .expect("a hash tag on the victim's shard");
    let stream = format!("fo:{{{tag}}}:jobs");
    let channel = format!("fo:{{{tag}}}");
    cluster.cli(victim, &["XADD", &stream, "*", "n", "old"]);
    // Connect through the node that will die: the URL names it, the message must not.
    let url = format!("redis://127.0.0.1:{victim}");
    let mut p = Proc::spawn(&[
        "tail",
        "--url",
        &url,
        "--format",
        "jsonl",
        "--stream",
        &stream,
        "-s",
        &channel,
        "-c",
        "fo:classic",
    ]);
    common::wait_for("shard subscription on the victim", T, || {
        (numsub(&cluster, victim, "SHARDNUMSUB", &channel) == 1).then_some(())
    });
    let first = cluster
        .cli(victim, &["XADD", &stream, "*", "n", "first"])
        .trim()
        .to_string();
    // Replicated before the kill, so the promoted replica has it too.
    assert_eq!(cluster.cli(victim, &["WAIT", "1", "2000"]).trim(), "1");
    let mut ids = entry_ids(&p, 1, T);
    assert_eq!(ids, vec![first.clone()], "stderr: {}", p.stderr());

    cluster.kill_primary(victim);
    let promoted = cluster.wait_failover(victim);
    for i in 0..AFTER {
        cluster.cli(promoted, &["XADD", &stream, "*", "n", &format!("a{i}")]);
    }
    ids = entry_ids(&p, AFTER, Duration::from_secs(30));
    // Anything more (a duplicate) would show here.
    ids.extend(entry_ids(&p, usize::MAX, Duration::from_secs(1)));
    let xrange = cluster.cli(promoted, &["XRANGE", &stream, &format!("({first}"), "+"]);
    let xrange_ids = xrange
        .lines()
        .map(str::trim)
        .filter(|l| is_entry_id(l))
        .map(str::to_string)
        .collect();
    p.wait_stderr("reconnected to", T);
    let live: Vec<u16> = cluster
        .nodes()
        .iter()
        .filter(|n| !n.failed)
        .map(|n| n.port)
        .collect();
    let on = |sub: &str, name: &str| -> Vec<u16> {
        live.iter()
            .copied()
            .filter(|&port| numsub(&cluster, port, sub, name) == 1)
            .collect()
    };
    // The new shard connection may still be subscribing when the message is printed.
    let deadline = Instant::now() + T;
    let (mut classic_on, mut shard_on) = (Vec::new(), Vec::new());
    while Instant::now() < deadline && !(classic_on.len() == 1 && shard_on == [promoted]) {
        std::thread::sleep(Duration::from_millis(50));
        classic_on = on("NUMSUB", "fo:classic");
        shard_on = on("SHARDNUMSUB", &channel);
    }
    let seen_tail = (
        p.child.try_wait().ok().flatten().is_none(),
        p.stderr(),
        classic_on,
        shard_on,
    );
    drop(p);

    let promoted_url = format!("redis://127.0.0.1:{promoted}");
    let cluster_nodes = cluster.cli(promoted, &["CLUSTER", "NODES"]);
    let mut s = Proc::spawn(&["stats", "--json", "--url", &promoted_url]);
    let line = s.line(T).unwrap_or_default();
    assert_eq!(s.wait_exit(T), Some(0), "stats: {}", s.stderr());
    let stats_json = serde_json::from_str(&line).unwrap_or_default();
    let mut s = Proc::spawn(&["stats", "--url", &promoted_url]);
    assert_eq!(s.wait_exit(T), Some(0), "stats: {}", s.stderr());
    let mut stats_table = String::new();
    while let Some(l) = s.line(Duration::from_millis(200)) {
        stats_table.push_str(&l);
        stats_table.push('\n');
    }
    let tui = Tui::spawn(&[&promoted_url, "-c", "fo:tui"], 160, 30);
    let deadline = Instant::now() + T;
    let mut tui_screen = tui.screen();
    while !tui_screen.contains("not online") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        tui_screen = tui.screen();
    }
    tui.quit();

    Seen {
        victim,
        promoted,
        tail_ids: ids,
        xrange_ids,
        tail_running: seen_tail.0,
        tail_stderr: seen_tail.1,
        classic_on: seen_tail.2,
        shard_on: seen_tail.3,
        cluster_nodes,
        stats_json,
        stats_table,
        tui_screen,
    }
}

/// The next `n` stream entry ids `tail` prints (other lines skipped), or fewer at the
/// deadline.
fn entry_ids(p: &Proc, n: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut ids = Vec::new();
    while ids.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(line) = p.line(left) else { break };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["kind"] == "xentry" {
            ids.push(v["id"].as_str().unwrap_or_default().to_string());
        }
    }
    ids
}

fn is_entry_id(s: &str) -> bool {
    s.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && ms.bytes().all(|b| b.is_ascii_digit())
            && seq.bytes().all(|b| b.is_ascii_digit())
    })
}

fn numsub(cluster: &Cluster, port: u16, sub: &str, name: &str) -> i64 {
    cluster
        .cli(port, &["PUBSUB", sub, name])
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(-1)
}

#[test]
fn a_stream_followed_across_a_primary_failover_reads_on_at_the_new_owner_missing_no_entry() {
    let seen = seen();
    assert_eq!(seen.xrange_ids.len(), AFTER, "{:?}", seen.xrange_ids);
    assert_eq!(
        seen.tail_ids, seen.xrange_ids,
        "tail printed other entries than XRANGE holds; stderr: {}",
        seen.tail_stderr
    );
    assert!(seen.tail_running, "tail ended: {}", seen.tail_stderr);
}

#[test]
fn the_reconnect_message_names_the_node_reached_after_a_failover_not_the_urls() {
    let seen = seen();
    let line = seen
        .tail_stderr
        .lines()
        .find(|l| l.contains("reconnected to"))
        .unwrap_or_else(|| panic!("no reconnect message: {}", seen.tail_stderr));
    let named = line.split("reconnected to ").nth(1).unwrap_or_default();
    assert!(
        !named.contains(&seen.victim.to_string()),
        "names the dead node the URL gave: {line}"
    );
    // The classic subscription's node, then where the shard channel went: both as
    // redis-cli sees tail's subscriptions there.
    let (classic, shard) = named.split_once(" (shard channels on ").expect(line);
    assert_eq!(seen.classic_on.len(), 1, "{:?}", seen.classic_on);
    assert_eq!(
        classic,
        format!("127.0.0.1:{}", seen.classic_on[0]),
        "{line}"
    );
    assert_eq!(seen.shard_on, vec![seen.promoted]);
    assert_eq!(shard, format!("127.0.0.1:{})", seen.promoted), "{line}");
}

#[test]
fn after_a_failover_stats_and_the_header_count_only_healthy_primaries_as_redis_cli_does() {
    let seen = seen();
    // Count from `redis-cli CLUSTER NODES`: the dead ex-primary is `master,fail`.
    let (mut primaries, mut replicas, mut down) = (0, 0, 0);
    for line in seen.cluster_nodes.lines().filter(|l| !l.trim().is_empty()) {
        let flags: Vec<&str> = line
            .split_whitespace()
            .nth(2)
            .unwrap_or("")
            .split(',')
            .collect();
        if flags.contains(&"fail") || flags.contains(&"fail?") {
            down += 1;
        } else if flags.contains(&"master") {
            primaries += 1;
        } else if flags.contains(&"slave") {
            replicas += 1;
        }
    }
    assert_eq!(
        (primaries, replicas, down),
        (3, 2, 1),
        "{}",
        seen.cluster_nodes
    );
    let expected =
        format!("cluster · {primaries} primaries · {replicas} replicas · {down} not online");
    let doc = &seen.stats_json;
    assert_eq!(doc["deployment"].as_str(), Some(expected.as_str()), "{doc}");
    assert!(seen.stats_table.contains(&expected), "{}", seen.stats_table);
    assert!(seen.tui_screen.contains(&expected), "{}", seen.tui_screen);
    // The dead node is still listed, as failed, with no slots.
    let dead = doc["nodes"]
        .as_array()
        .and_then(|nodes| {
            nodes
                .iter()
                .find(|n| n["addr"] == format!("127.0.0.1:{}", seen.victim))
        })
        .unwrap_or_else(|| panic!("dead node not listed: {doc}"));
    assert_eq!(dead["health"], "fail", "{doc}");
    assert_eq!(dead["slots"], 0, "{doc}");
}
