//! redtail against a real Redis Cluster (3 primaries, 3 replicas, built by the harness)
//! and a real Sentinel setup: per-node figures, sharded Pub/Sub across shards, streams
//! on every shard, actions on the owning node, and failovers followed mid-tail.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::cluster::Cluster;
use common::pty::Tui;
use common::sentinel::SentinelSetup;
use common::{resp, wait_for, Proc};

const T: Duration = Duration::from_secs(15);

/// Three hash tags whose keys live on three different primaries: (tag, owner port).
fn three_shards(cluster: &Cluster, prefix: &str) -> Vec<(String, u16)> {
    let mut tags: Vec<(String, u16)> = Vec::new();
    for i in 0..200 {
        let tag = format!("{prefix}{i}");
        let port = cluster.port_for_key(&format!("{{{tag}}}"));
        if tags.iter().all(|(_, p)| *p != port) {
            tags.push((tag, port));
        }
        if tags.len() == 3 {
            return tags;
        }
    }
    panic!("no three shards found: {tags:?}");
}

/// A subscriber connected to one node (kept subscribed while the stream lives).
fn subscriber(port: u16, command: &str, channel: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(&resp(&[command.as_bytes(), channel.as_bytes()]))
        .expect("subscribe");
    s
}

fn int(text: &str) -> i64 {
    text.lines()
        .last()
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(-1)
}

/// NUMSUB/SHARDNUMSUB of one channel on one node (redis-cli prints name, then count).
fn numsub(cluster: &Cluster, port: u16, sub: &str, channel: &str) -> i64 {
    int(&cluster.cli(port, &["PUBSUB", sub, channel]))
}

fn stats_json(url: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["stats", "--json", "--url", url];
    args.extend_from_slice(extra);
    let mut p = Proc::spawn(&args);
    let line = p
        .line(T)
        .unwrap_or_else(|| panic!("stats printed nothing; stderr: {}", p.stderr()));
    assert_eq!(p.wait_exit(T), Some(0), "stderr: {}", p.stderr());
    serde_json::from_str(&line).expect("stats json")
}

#[test]
fn subscribers_spread_over_nodes_are_each_counted_once() {
    let cluster = Cluster::shared();
    let primaries = cluster.primaries();
    let replicas = cluster.replicas();
    let (a, b) = (primaries[0].port, primaries[1].port);
    let r = replicas[0].port;
    // Two subscribers on one primary, one on another primary, one on a replica.
    let _s = [
        subscriber(a, "SUBSCRIBE", "count:news"),
        subscriber(a, "SUBSCRIBE", "count:news"),
        subscriber(b, "SUBSCRIBE", "count:news"),
        subscriber(r, "SUBSCRIBE", "count:news"),
    ];
    let (tag, owner) = three_shards(cluster, "count")[1].clone();
    let shard_channel = format!("count:{{{tag}}}");
    let _ss = subscriber(owner, "SSUBSCRIBE", &shard_channel);
    wait_for("subscribers registered", T, || {
        let n = numsub(cluster, a, "NUMSUB", "count:news")
            + numsub(cluster, b, "NUMSUB", "count:news")
            + numsub(cluster, r, "NUMSUB", "count:news");
        let s = numsub(cluster, owner, "SHARDNUMSUB", &shard_channel);
        (n == 4 && s == 1).then_some(())
    });

    let doc = stats_json(&cluster.seed_url(), &[]);
    let channel = |name: &str, kind: &str| {
        doc["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name && c["kind"] == kind)
            .map(|c| c["subscribers"].as_i64().unwrap())
    };
    assert_eq!(channel("count:news", "channel"), Some(4), "{doc}");
    assert_eq!(channel(&shard_channel, "shard"), Some(1), "{doc}");
    assert_eq!(
        doc["deployment"].as_str().unwrap(),
        "cluster · 3 primaries · 3 replicas",
        "{doc}"
    );
    let nodes = doc["nodes"].as_array().expect("nodes list");
    assert_eq!(nodes.len(), 6, "{doc}");
    let node = |port: u16| {
        nodes
            .iter()
            .find(|n| n["addr"] == format!("127.0.0.1:{port}"))
            .unwrap_or_else(|| panic!("node {port} missing: {doc}"))
    };
    // Per-node figures are that node's own (other tests may add channels, not these).
    assert!(node(a)["subscribers"].as_i64().unwrap() >= 2, "{doc}");
    assert_eq!(node(a)["role"], "primary");
    assert_eq!(node(r)["role"], "replica");
    assert_eq!(node(r)["slots"], 0);
    assert!(
        node(owner)["shard_subscribers"].as_i64().unwrap() >= 1,
        "{doc}"
    );
    let slots: i64 = nodes.iter().map(|n| n["slots"].as_i64().unwrap()).sum();
    assert_eq!(slots, 16384, "{doc}");

    // The table form says the same, one line per node.
    let mut p = Proc::spawn(&["stats", "--url", &cluster.seed_url()]);
    assert_eq!(p.wait_exit(T), Some(0), "stderr: {}", p.stderr());
    let mut out = String::new();
    while let Some(l) = p.line(Duration::from_millis(200)) {
        out.push_str(&l);
        out.push('\n');
    }
    assert!(out.contains("cluster · 3 primaries · 3 replicas"), "{out}");
    assert_eq!(out.matches("  primary ").count(), 3, "{out}");
    assert_eq!(out.matches("  replica ").count(), 3, "{out}");
}

#[test]
fn shard_channels_on_all_three_shards_arrive_in_one_tail() {
    let cluster = Cluster::shared();
    let shards = three_shards(cluster, "tail");
    let channels: Vec<String> = shards.iter().map(|(t, _)| format!("ev:{{{t}}}")).collect();
    let url = cluster.seed_url();
    let mut args = vec!["tail", "--url", url.as_str()];
    args.extend(["--format", "jsonl", "-c", "tail:broadcast"]);
    for c in &channels {
        args.extend(["-s", c.as_str()]);
    }
    let p = Proc::spawn(&args);
    // Each shard channel is subscribed on its own slot owner.
    wait_for("shard subscriptions on every owner", T, || {
        shards
            .iter()
            .zip(&channels)
            .all(|((_, port), c)| numsub(cluster, *port, "SHARDNUMSUB", c) == 1)
            .then_some(())
    });
    for c in &channels {
        let n = int(&cluster.cli_c(&["SPUBLISH", c, &format!("hello {c}")]));
        assert_eq!(n, 1, "SPUBLISH {c} reached {n} subscribers");
    }
    // PUBLISH on a replica still reaches the classic subscription (broadcast).
    let replica = cluster.replicas()[2].port;
    cluster.cli(replica, &["PUBLISH", "tail:broadcast", "to everyone"]);
    let mut got = Vec::new();
    for _ in 0..4 {
        let v = p.json_line(T);
        got.push((
            v["kind"].as_str().unwrap().to_string(),
            v["channel"].as_str().unwrap().to_string(),
            v["payload"].as_str().unwrap().to_string(),
        ));
    }
    for c in &channels {
        assert!(
            got.contains(&("smessage".into(), c.clone(), format!("hello {c}"))),
            "{got:?}"
        );
    }
    assert!(
        got.contains(&(
            "message".into(),
            "tail:broadcast".into(),
            "to everyone".into()
        )),
        "{got:?}"
    );
}

#[test]
fn streams_on_every_shard_are_listed_with_their_node_lag_and_pending() {
    let cluster = Cluster::shared();
    let shards = three_shards(cluster, "lag");
    for (i, (tag, _)) in shards.iter().enumerate() {
        let key = format!("jobs:{{{tag}}}");
        for n in 0..5 {
            cluster.cli_c(&["XADD", &key, "*", "n", &n.to_string()]);
        }
        cluster.cli_c(&["XGROUP", "CREATE", &key, "workers", "0"]);
        // Shard i: i+1 entries delivered (pending), the rest undelivered (lag).
        cluster.cli_c(&[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "COUNT",
            &(i + 1).to_string(),
            "STREAMS",
            &key,
            ">",
        ]);
    }
    let doc = stats_json(&cluster.seed_url(), &["--streams", "jobs:*"]);
    let streams = doc["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 3, "{doc}");
    for (i, (tag, owner)) in shards.iter().enumerate() {
        let key = format!("jobs:{{{tag}}}");
        let s = streams
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("{key} missing: {doc}"));
        assert_eq!(s["node"], format!("127.0.0.1:{owner}"), "{doc}");
        assert_eq!(s["length"], 5);
        let g = &s["groups"][0];
        assert_eq!(g["name"], "workers");
        assert_eq!(g["pending"], (i + 1) as i64, "{doc}");
        assert_eq!(g["lag"], 5 - (i + 1) as i64, "{doc}");
    }
}

#[test]
fn ack_and_claim_act_on_a_stream_owned_by_the_second_shard() {
    let cluster = Cluster::shared();
    let (tag, owner) = three_shards(cluster, "act")[1].clone();
    let seed_port = cluster
        .primaries()
        .iter()
        .map(|p| p.port)
        .find(|&p| p != owner)
        .unwrap();
    let key = format!("work:{{{tag}}}");
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            cluster
                .cli_c(&["XADD", &key, "*", "n", &n.to_string()])
                .trim()
                .to_string(),
        );
    }
    cluster.cli_c(&["XGROUP", "CREATE", &key, "g", "0"]);
    cluster.cli_c(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "crashed",
        "COUNT",
        "3",
        "STREAMS",
        &key,
        ">",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let audit_s = audit.to_str().unwrap().to_string();
    // Connect through a primary that does not own the key: redtail must route.
    let seed = format!("redis://127.0.0.1:{seed_port}");
    assert_ne!(seed_port, owner);
    let env = [("REDTAIL_AUDIT_LOG", audit_s.as_str())];

    let mut ack = Proc::spawn_env(&["ack", "--url", &seed, &key, "g", &ids[0]], &env);
    assert_eq!(ack.wait_exit(T), Some(0), "stderr: {}", ack.stderr());
    let mut claim = Proc::spawn_env(
        &[
            "claim",
            "--url",
            &seed,
            &key,
            "g",
            "rescuer",
            "--min-idle",
            "0",
            &ids[1],
        ],
        &env,
    );
    assert_eq!(claim.wait_exit(T), Some(0), "stderr: {}", claim.stderr());

    // Exactly the two entries were touched, on the owner.
    let pending = cluster.cli(owner, &["XPENDING", &key, "g", "-", "+", "10"]);
    assert!(
        !pending.contains(&ids[0]),
        "acked entry still pending: {pending}"
    );
    let lines: Vec<&str> = pending.lines().collect();
    let holder = |id: &str| {
        lines
            .iter()
            .position(|l| l.trim() == id)
            .map(|i| lines[i + 1].trim().to_string())
    };
    assert_eq!(holder(&ids[1]).as_deref(), Some("rescuer"), "{pending}");
    assert_eq!(holder(&ids[2]).as_deref(), Some("crashed"), "{pending}");
    let log = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(log.contains(&ids[0]) && log.contains(&ids[1]), "{log}");
}

#[test]
fn killed_primary_mid_tail_gap_then_resume_after_failover() {
    let cluster = Cluster::start();
    let shards = three_shards(&cluster, "fo");
    let (tag, victim) = shards[0].clone();
    let (other_tag, _) = shards[1].clone();
    let channel = format!("fo:{{{tag}}}");
    let other = format!("fo:{{{other_tag}}}");
    let url = cluster.seed_url();
    let p = Proc::spawn(&[
        "tail", "--url", &url, "--format", "jsonl", "-s", &channel, "-s", &other, "-c", "fo:all",
    ]);
    wait_for("subscribed on the owners", T, || {
        (numsub(&cluster, victim, "SHARDNUMSUB", &channel) == 1).then_some(())
    });
    cluster.cli_c(&["SPUBLISH", &channel, "before"]);
    let v = p.json_line(T);
    assert_eq!(v["payload"], "before");

    cluster.kill_primary(victim);
    let promoted = cluster.wait_failover(victim);
    // The subscription moves to the promoted replica within a few seconds.
    wait_for("shard subscription moved to the new owner", T, || {
        (numsub(&cluster, promoted, "SHARDNUMSUB", &channel) == 1).then_some(())
    });
    // …and the classic subscription is back on some live node.
    wait_for("classic subscription restored", T, || {
        let n: i64 = cluster
            .nodes()
            .iter()
            .filter(|n| !n.failed && n.port != victim)
            .map(|n| numsub(&cluster, n.port, "NUMSUB", "fo:all"))
            .sum();
        (n == 1).then_some(())
    });
    cluster.cli_c(&["SPUBLISH", &channel, "after"]);
    cluster.cli_c(&["SPUBLISH", &other, "other shard still fine"]);
    cluster.cli(promoted, &["PUBLISH", "fo:all", "broadcast after"]);
    let mut kinds = Vec::new();
    let mut payloads = Vec::new();
    let wanted = ["after", "other shard still fine", "broadcast after"];
    // Gaps (one per connection that was on the dead node) come first, then the messages.
    while !wanted.iter().all(|w| payloads.iter().any(|p| p == w)) {
        assert!(kinds.len() < 8, "{kinds:?} {payloads:?}");
        let v = p.json_line(T);
        kinds.push(v["kind"].as_str().unwrap().to_string());
        payloads.push(v["payload"].as_str().unwrap_or_default().to_string());
    }
    assert!(kinds.contains(&"gap".to_string()), "{kinds:?} {payloads:?}");
    // The gap is said before the message that followed it.
    let gap_at = kinds.iter().position(|k| k == "gap").unwrap();
    let after_at = payloads.iter().position(|p| p == "after").unwrap();
    assert!(gap_at < after_at, "{kinds:?} {payloads:?}");
}

#[test]
fn sentinel_failover_is_followed_by_tail_and_stats() {
    let setup = SentinelSetup::start();
    let sentinels = setup.sentinel_addrs().join(",");
    let master = setup.master_name().to_string();
    let first = setup.primary_port();
    // The URL is only the template (credentials, TLS): Sentinel says where to go.
    let p = Proc::spawn(&[
        "tail",
        "--sentinel",
        &sentinels,
        "--master",
        &master,
        "--format",
        "jsonl",
        "-c",
        "sent:events",
    ]);
    let cli = |port: u16, args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    wait_for("tail subscribed on the primary", T, || {
        (int(&cli(first, &["PUBSUB", "NUMSUB", "sent:events"])) == 1).then_some(())
    });
    cli(first, &["PUBLISH", "sent:events", "one"]);
    assert_eq!(p.json_line(T)["payload"], "one");

    let second = setup.failover();
    assert_ne!(first, second);
    wait_for("tail resubscribed on the new primary", T, || {
        (int(&cli(second, &["PUBSUB", "NUMSUB", "sent:events"])) == 1).then_some(())
    });
    cli(second, &["PUBLISH", "sent:events", "two"]);
    // A gap marker may come first (the old primary dropped us during the switch).
    let mut v = p.json_line(T);
    if v["kind"] == "gap" {
        v = p.json_line(T);
    }
    assert_eq!(v["payload"], "two", "{v}");

    // stats through the Sentinel (URL form) reads the new primary.
    cli(second, &["XADD", "sent:stream", "*", "k", "v"]);
    let url = format!("redis+sentinel://{sentinels}/{master}");
    let mut s = Proc::spawn(&["stats", "--json", &url]);
    let line = s
        .line(T)
        .unwrap_or_else(|| panic!("stderr: {}", s.stderr()));
    assert_eq!(s.wait_exit(T), Some(0));
    let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(
        doc["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["key"] == "sent:stream"),
        "{doc}"
    );
}

#[test]
fn sentinel_flags_are_checked() {
    let mut p = Proc::spawn(&["stats", "--sentinel", "127.0.0.1:1"]);
    assert_eq!(p.wait_exit(T), Some(1));
    assert!(
        p.stderr().contains("--sentinel needs --master"),
        "{}",
        p.stderr()
    );
    let mut p = Proc::spawn(&["stats", "--master", "x"]);
    assert_eq!(p.wait_exit(T), Some(1));
    assert!(
        p.stderr().contains("--master needs --sentinel"),
        "{}",
        p.stderr()
    );
}

#[test]
fn tui_shows_the_cluster_its_nodes_and_where_each_stream_lives() {
    let cluster = Cluster::shared();
    let shards = three_shards(cluster, "tui");
    let (tag, owner) = shards[2].clone();
    let key = format!("tui:stream:{{{tag}}}");
    cluster.cli_c(&["XADD", &key, "*", "k", "v"]);
    let channel = format!("tui:{{{tag}}}");
    let url = cluster.seed_url();
    let mut tui = Tui::spawn(
        &[&url, "-s", &channel, "--streams", "tui:stream:*"],
        160,
        30,
    );
    tui.wait_for("cluster · 3 primaries · 3 replicas", T);
    // A shard message published on its owner reaches the feed.
    wait_for("shard subscription on the owner", T, || {
        (numsub(cluster, owner, "SHARDNUMSUB", &channel) == 1).then_some(())
    });
    cluster.cli_c(&["SPUBLISH", &channel, "hello from the shard"]);
    tui.wait_for("hello from the shard", T);
    // Channels pane, nodes view: six nodes with roles and slots.
    tui.send(b"2");
    tui.send(b"n");
    let screen = tui.wait_until("six nodes listed", T, |s| {
        s.matches(" primary ").count() == 3 && s.matches(" replica ").count() == 3
    });
    assert!(screen.contains(&format!("127.0.0.1:{owner}")), "{screen}");
    // Streams pane: the stream with the node that holds it.
    tui.send(b"3");
    tui.wait_until("stream with its node", T, |s| {
        s.lines()
            .any(|l| l.contains(&key) && l.contains(&format!("127.0.0.1:{owner}")))
    });
    tui.send(b"q");
    assert!(tui.wait_exit(T).is_some());
}

/// A resharding moves a slot holding a shard channel and a followed stream: the shard
/// subscription follows the slot, and the stream's follower reads on at the new owner
/// from the last entry it read (a MOVED ended `tail` with exit 1 before).
#[test]
fn shard_subscription_and_stream_follow_their_slot_when_it_is_migrated() {
    let cluster = Cluster::start();
    let shards = three_shards(&cluster, "mig");
    let (tag, from) = shards[0].clone();
    let to = shards[1].1;
    let channel = format!("mig:{{{tag}}}");
    let stream = format!("mig:{{{tag}}}:jobs");
    let slot = cluster.slot_for_key(&channel).to_string();
    assert_eq!(cluster.slot_for_key(&stream).to_string(), slot);
    cluster.cli(from, &["XADD", &stream, "*", "n", "before"]);
    let url = cluster.seed_url();
    let args = [
        "tail", "--url", &url, "--format", "jsonl", "-s", &channel, "--stream", &stream,
    ];
    let mut p = Proc::spawn(&args);
    wait_for("subscribed on the owner", T, || {
        (numsub(&cluster, from, "SHARDNUMSUB", &channel) == 1).then_some(())
    });
    cluster.cli(from, &["XADD", &stream, "*", "n", "first"]);
    let entry = |v: &serde_json::Value| v["kind"] == "xentry";
    let mut v = p.json_line(T);
    while !entry(&v) {
        v = p.json_line(T);
    }
    assert!(v.to_string().contains("first"), "{v}");
    // Move the slot, and the stream in it, from one primary to another, as a resharding
    // would.
    let id = |port: u16| cluster.cli(port, &["CLUSTER", "MYID"]).trim().to_string();
    let (from_id, to_id) = (id(from), id(to));
    cluster.cli(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]);
    cluster.cli(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]);
    let port = to.to_string();
    let moved = cluster.cli(
        from,
        &[
            "MIGRATE",
            "127.0.0.1",
            &port,
            "",
            "0",
            "5000",
            "KEYS",
            &stream,
        ],
    );
    assert_eq!(moved.trim(), "OK");
    cluster.cli(to, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
    cluster.cli(from, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
    // The old owner drops the subscription (SUNSUBSCRIBE); redtail re-subscribes on
    // the new one.
    wait_for("subscription moved with the slot", T, || {
        (numsub(&cluster, to, "SHARDNUMSUB", &channel) == 1
            && numsub(&cluster, from, "SHARDNUMSUB", &channel) == 0)
            .then_some(())
    });
    let n = int(&cluster.cli(to, &["SPUBLISH", &channel, "after the move"]));
    assert_eq!(n, 1);
    cluster.cli(to, &["XADD", &stream, "*", "n", "moved"]);
    let (mut message, mut moved_entry, mut gap) = (false, false, None);
    while !(message && moved_entry) {
        let v = p.json_line(T);
        if v["kind"] == "gap" {
            gap = Some(v.clone());
        }
        message |= v["payload"] == "after the move";
        moved_entry |= entry(&v) && v.to_string().contains("moved");
    }
    // The move is a gap in the feed: what was published on the new owner before the
    // SSUBSCRIBE reached it is lost (there was none before).
    check_move_gap(gap, (from, to), &p);
    let running = p.child.try_wait().ok().flatten().is_none();
    assert!(running, "still running: {}", p.stderr());
}

/// A shard channel whose slot migrates between two nodes that both keep other shard
/// channels of ours (no connection starts or stops): tail follows it to the new owner and
/// keeps going. A MOVED answer to the re-subscription (a node whose view of the slot was
/// not updated yet) ended tail with exit 1 ("the server refused a subscription: MOVED").
#[test]
fn a_shard_channel_moving_between_two_followed_nodes_is_followed_with_a_gap_row() {
    let cluster = Cluster::start();
    let shards = three_shards(&cluster, "mv");
    let (tag, from) = shards[0].clone();
    let (other_tag, to) = shards[1].clone();
    // A second tag on `from`, in another slot: `from` keeps a channel after the move.
    let stay_tag = (0..400)
        .map(|i| format!("stay{i}"))
        .find(|t| {
            cluster.port_for_key(&format!("{{{t}}}")) == from
                && cluster.slot_for_key(&format!("{{{t}}}"))
                    != cluster.slot_for_key(&format!("{{{tag}}}"))
        })
        .expect("a second slot on the node");
    let moving = format!("mv:{{{tag}}}");
    let staying = format!("mv:{{{stay_tag}}}");
    let there = format!("mv:{{{other_tag}}}");
    let slot = cluster.slot_for_key(&moving).to_string();
    let url = cluster.seed_url();
    let args = [
        "tail", "--url", &url, "--format", "jsonl", "-s", &moving, "-s", &staying, "-s", &there,
    ];
    let mut p = Proc::spawn(&args);
    wait_for("subscribed on both owners", T, || {
        (numsub(&cluster, from, "SHARDNUMSUB", &moving) == 1
            && numsub(&cluster, from, "SHARDNUMSUB", &staying) == 1
            && numsub(&cluster, to, "SHARDNUMSUB", &there) == 1)
            .then_some(())
    });
    let id = |port: u16| cluster.cli(port, &["CLUSTER", "MYID"]).trim().to_string();
    let (from_id, to_id) = (id(from), id(to));
    cluster.cli(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]);
    cluster.cli(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]);
    cluster.cli(to, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
    cluster.cli(from, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
    wait_for("the subscription moved with the slot", T, || {
        let running = p.child.try_wait().ok().flatten().is_none();
        assert!(running, "tail ended: {}", p.stderr());
        (numsub(&cluster, to, "SHARDNUMSUB", &moving) == 1
            && numsub(&cluster, from, "SHARDNUMSUB", &moving) == 0)
            .then_some(())
    });
    assert_eq!(int(&cluster.cli(to, &["SPUBLISH", &moving, "after"])), 1);
    let mut gap = None;
    loop {
        let v = p.json_line(T);
        if v["kind"] == "gap" {
            gap = Some(v.clone());
        }
        if v["payload"] == "after" {
            break;
        }
    }
    // The move is a gap row, though no connection started or stopped.
    check_move_gap(gap, (from, to), &p);
    // The channel that stayed is still followed where it was.
    assert_eq!(numsub(&cluster, from, "SHARDNUMSUB", &staying), 1);
    let running = p.child.try_wait().ok().flatten().is_none();
    assert!(running, "still running: {}", p.stderr());
}

/// The JSONL gap record of a shard channel's move from node `from` to `to`: a handover
/// (no connection dropped) naming both nodes.
fn check_move_gap(gap: Option<serde_json::Value>, (from, to): (u16, u16), p: &Proc) {
    let gap = gap.unwrap_or_else(|| panic!("no gap for the move: {}", p.stderr()));
    assert_eq!(gap["handover"], true, "{gap}");
    let reason = gap["reason"].as_str().unwrap_or_default();
    let moved = format!("shard channels moved from 127.0.0.1:{from} to 127.0.0.1:{to}");
    assert!(reason.contains(&moved), "{gap}");
}

/// One entry in stream `key`, delivered to group `g`'s consumer `w` and left pending; its
/// id.
fn poison_pending(cluster: &Cluster, key: &str) -> String {
    let id = cluster.cli_c(&["XADD", key, "*", "job", "poison"]);
    cluster.cli_c(&["XGROUP", "CREATE", key, "g", "0"]);
    cluster.cli_c(&["XREADGROUP", "GROUP", "g", "w", "STREAMS", key, ">"]);
    id.trim().to_string()
}

#[test]
fn dead_letter_in_a_cluster_keeps_both_keys_in_one_slot() {
    let cluster = Cluster::shared();
    let key = "dlqjobs";
    let id = poison_pending(cluster, key);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut p = Proc::spawn_env(
        &["dead-letter", "--url", &cluster.seed_url(), key, "g", &id],
        &[("REDTAIL_AUDIT_LOG", audit.to_str().unwrap())],
    );
    assert_eq!(p.wait_exit(T), Some(0), "stderr: {}", p.stderr());
    // `dlqjobs:dlq` would live in another slot; `{dlqjobs}:dlq` shares the stream's.
    let copied = cluster.cli_c(&["XRANGE", "{dlqjobs}:dlq", "-", "+"]);
    assert!(copied.contains("poison"), "{copied}");
    let pending = cluster.cli_c(&["XPENDING", key, "g"]);
    assert!(pending.starts_with('0'), "{pending}");
}

/// `x}y` has no hash tag (no `{` before the `}`), so it hashes whole, to slot 8210;
/// `x}y:dlq` is in 2801 and `{x}y}:dlq` hashes only `x`. The refusal once suggested
/// `x}y:dlq`, the key it had just refused, then no key at all ("name one with --to"),
/// which the TUI's `d` cannot take. The default is now a numbered key in the stream's
/// slot, which the cluster itself confirms (CLUSTER KEYSLOT).
#[test]
fn dead_letter_of_a_name_with_its_own_braces_moves_to_a_default_key_in_its_slot() {
    let cluster = Cluster::shared();
    let key = "x}y";
    let slot = cluster.cli_c(&["CLUSTER", "KEYSLOT", key]);
    assert_eq!(slot.trim(), "8210");
    let id = poison_pending(cluster, key);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let env = [("REDTAIL_AUDIT_LOG", audit.to_str().unwrap())];
    let url = cluster.seed_url();
    // A key in another slot is refused, with a suggestion in the stream's.
    let mut p = Proc::spawn_env(
        &[
            "dead-letter",
            "--url",
            &url,
            "--to",
            "x}y:dlq",
            key,
            "g",
            &id,
        ],
        &env,
    );
    let code = p.wait_exit(T);
    let stderr = p.stderr();
    assert!(code.is_some_and(|c| c != 0), "{code:?} {stderr}");
    let suggested = (stderr.split("e.g. ").nth(1))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no key suggested: {stderr}"));
    assert_eq!(cluster.cli_c(&["CLUSTER", "KEYSLOT", suggested]), slot);
    assert!(cluster.cli_c(&["XPENDING", key, "g"]).starts_with('1'));
    // Without --to: the default, that same key.
    let mut p = Proc::spawn_env(&["dead-letter", "--url", &url, key, "g", &id], &env);
    assert_eq!(p.wait_exit(T), Some(0), "stderr: {}", p.stderr());
    assert!(cluster
        .cli_c(&["XRANGE", suggested, "-", "+"])
        .contains("poison"));
    assert!(cluster.cli_c(&["XPENDING", key, "g"]).starts_with('0'));
}

/// The same through the TUI: the Pending pane's `d` offers a dead-letter stream in the
/// stream's slot (it offered `p}q:dlq`, which the action then refused, and the advice
/// was a `--to` the dialog has no field for), and moving the entry there works.
#[test]
fn tui_dead_letter_of_a_name_with_its_own_braces_offers_a_key_in_its_slot() {
    let cluster = Cluster::shared();
    let key = "p}q";
    let slot = cluster.cli_c(&["CLUSTER", "KEYSLOT", key]);
    let id = poison_pending(cluster, key);
    let (mut tui, audit) =
        common::tui_audited_sized(&[&cluster.seed_url(), "-c", "unused"], false, (160, 30));
    tui.wait_for("connected", T);
    tui.send(b"4");
    tui.send(b"t");
    tui.send(b"\x15");
    tui.send(b"p}q g");
    tui.send(b"\r");
    tui.wait_for(&id, T);
    tui.send(b"d");
    let screen = tui.wait_for("to the dead-letter stream", T);
    let text = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    let offered = (text.split("to the dead-letter stream ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no key offered:\n{screen}"))
        .to_string();
    assert!(offered.starts_with("p}q:dlq"), "{offered}\n{screen}");
    assert_eq!(cluster.cli_c(&["CLUSTER", "KEYSLOT", &offered]), slot);
    tui.send(b"y");
    common::wait_for("the entry to leave the pending list", T, || {
        cluster
            .cli_c(&["XPENDING", key, "g"])
            .starts_with('0')
            .then_some(())
    });
    assert!(cluster
        .cli_c(&["XRANGE", &offered, "-", "+"])
        .contains("poison"));
    let log = std::fs::read_to_string(&audit.path).expect("audit log written");
    assert!(
        log.contains("dead-letter") || log.contains("dead_letter"),
        "{log}"
    );
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn tui_through_a_sentinel_names_the_primary_it_follows() {
    let setup = SentinelSetup::shared();
    let sentinels = setup.sentinel_addrs().join(",");
    let primary = setup.primary_port();
    let mut tui = Tui::spawn(
        &[
            "--sentinel",
            &sentinels,
            "--master",
            setup.master_name(),
            "-c",
            "sent:tui",
        ],
        160,
        30,
    );
    tui.wait_for(
        &format!("sentinel · {} at 127.0.0.1:{primary}", setup.master_name()),
        T,
    );
    tui.wait_for("● connected", T);
    tui.send(b"q");
    assert!(tui.wait_exit(T).is_some());
}

#[test]
fn a_database_number_on_a_cluster_is_refused_with_what_to_do() {
    let cluster = Cluster::shared();
    let url = format!("{}/3", cluster.seed_url());
    let mut p = Proc::spawn(&["stats", "--url", &url]);
    assert_eq!(p.wait_exit(T), Some(1));
    let err = p.stderr();
    assert!(
        err.contains("only database 0") && err.contains("drop the /3"),
        "{err}"
    );
}
