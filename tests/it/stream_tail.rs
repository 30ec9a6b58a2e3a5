//! Stream entries in the feed: `redtail tail --stream KEY` and the `StreamTail` task follow
//! new entries with plain XREAD (no group), leave consumer groups untouched, and report a
//! key of the wrong type without panicking.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{wait_for, Proc, Server};
use redtail::redis::conn::Target;
use redtail::redis::inbox::{Caps, Inbox};
use redtail::redis::message::{Delivery, Kind};
use redtail::redis::stream_tail::StreamTail;

const T: Duration = Duration::from_secs(10);

/// Wait until some client is blocked in XREAD (the tail found where to start).
fn wait_reading(server: &Server) {
    wait_for("the stream tail to block in XREAD", T, || {
        server
            .cli(&["CLIENT", "LIST"])
            .contains("cmd=xread")
            .then_some(())
    });
}

/// XINFO GROUPS without `lag`, which XADD changes by itself.
fn group_state(server: &Server) -> String {
    let text = server.cli(&["XINFO", "GROUPS", "s"]);
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .filter(|kv| kv[0] != "lag")
        .map(|kv| kv.join("="))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn tail_follows_new_entries_in_order_and_leaves_groups_alone() {
    let server = Server::start();
    let url = server.url();
    server.cli(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    server.cli(&["XADD", "s", "1-1", "old", "x"]);
    let before = group_state(&server);
    let p = Proc::spawn(&["tail", &url, "--stream", "s", "--format", "jsonl"]);
    wait_reading(&server);
    for i in 0..5 {
        let id = format!("2-{i}");
        let n = i.to_string();
        server.cli(&["XADD", "s", &id, "n", &n, "dup", "a", "dup", "b"]);
    }
    for i in 0..5 {
        let line = p
            .line(T)
            .unwrap_or_else(|| panic!("entry {i}: {}", p.stderr()));
        let v: serde_json::Value = serde_json::from_str(&line).expect("json line");
        assert_eq!(v["kind"], "xentry", "{line}");
        assert_eq!(v["stream"], "s");
        assert_eq!(v["id"], format!("2-{i}"), "older entries are skipped");
        assert_eq!(
            v["fields"],
            serde_json::json!([["n", i.to_string()], ["dup", "a"], ["dup", "b"]])
        );
    }
    assert_eq!(group_state(&server), before, "group state changed");
    let clients = server.cli(&["CLIENT", "LIST"]);
    assert!(!clients.contains("xreadgroup"), "{clients}");
}

#[test]
fn jsonl_stream_entries_round_trip_exactly() {
    use base64::Engine as _;
    let server = Server::start();
    let key: &[u8] = b"orders \xff=1";
    let p = Proc::spawn(&[
        "tail",
        &server.url(),
        "--stream",
        "b64:b3JkZXJzIP89MQ==",
        "--format",
        "jsonl",
    ]);
    wait_reading(&server);
    type Fields = Vec<(&'static [u8], &'static [u8])>;
    let entries: Vec<Fields> = vec![
        vec![(b"a=b", b"c d=e"), (b"sp ace", b" ")],
        vec![(b"bin", b"\xff\x00\xfe"), (b"\xc3", b"x")],
        vec![(b"dup", b"1"), (b"dup", b"2"), (b"dup", b"1")],
        vec![("q\"\\\u{9b}\u{202e}\u{200b}\x7f".as_bytes(), b"\x1b[2J\n")],
    ];
    let mut conn = server.conn();
    let mut ids = Vec::new();
    for fields in &entries {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(key).arg("*");
        for (k, v) in fields {
            cmd.arg(*k).arg(*v);
        }
        let id: String = cmd.query(&mut conn).expect("XADD");
        ids.push(id);
    }
    // A JSON string or {"b64": …} back to the bytes it stands for.
    let bytes_of = |v: &serde_json::Value| -> Vec<u8> {
        match v {
            serde_json::Value::String(s) => s.as_bytes().to_vec(),
            other => base64::engine::general_purpose::STANDARD
                .decode(other["b64"].as_str().expect("b64 object"))
                .expect("base64"),
        }
    };
    for (fields, id) in entries.iter().zip(&ids) {
        let line = p.line(T).unwrap_or_else(|| panic!("{}", p.stderr()));
        let unsafe_char = line
            .chars()
            .find(|&c| redtail::text::escape::is_unsafe_char(c));
        assert!(unsafe_char.is_none(), "raw {unsafe_char:?} in {line:?}");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json line");
        assert_eq!(v["kind"], "xentry", "{line}");
        assert_eq!(bytes_of(&v["stream"]), key, "{line}");
        assert_eq!(v["id"], *id, "{line}");
        assert!(v.get("payload").is_none() && v.get("payload_b64").is_none());
        let got: Vec<(Vec<u8>, Vec<u8>)> = v["fields"]
            .as_array()
            .expect("fields array")
            .iter()
            .map(|pair| (bytes_of(&pair[0]), bytes_of(&pair[1])))
            .collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = fields
            .iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        assert_eq!(got, want, "{line}");
    }
}

#[test]
fn text_format_marks_stream_entries() {
    let server = Server::start();
    let p = Proc::spawn(&["tail", &server.url(), "--stream", "s", "-c", "ch"]);
    wait_reading(&server);
    server.cli(&["XADD", "s", "7-0", "k", "v"]);
    let line = p.line(T).unwrap_or_else(|| panic!("{}", p.stderr()));
    assert!(
        line.ends_with(" [stream] s {\"id\":\"7-0\",\"fields\":[[\"k\",\"v\"]]}"),
        "{line}"
    );
    // Channel messages still arrive beside the stream.
    common::wait_subscribed(&server, 1);
    server.cli(&["PUBLISH", "ch", "hello"]);
    let line = p.line(T).unwrap_or_else(|| panic!("{}", p.stderr()));
    assert!(line.ends_with(" ch hello"), "{line}");
}

#[test]
fn tail_on_a_key_of_the_wrong_type_fails_cleanly() {
    let server = Server::start();
    server.cli(&["SET", "k", "v"]);
    let mut p = Proc::spawn(&["tail", &server.url(), "--stream", "k"]);
    assert_eq!(p.wait_exit(T), Some(1), "{}", p.stderr());
    let err = p.stderr();
    assert!(err.contains("WRONGTYPE"), "{err}");
    assert!(err.contains("stream k"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_reports_bad_keys_and_keeps_reading_good_ones() {
    let server = Server::start();
    server.cli(&["SET", "bad", "v"]);
    server.cli(&["XGROUP", "CREATE", "good", "g", "0", "MKSTREAM"]);
    let inbox = Arc::new(Inbox::new(Caps::default()));
    let target = Target::parse_url(&server.url()).expect("url");
    let tail = StreamTail::spawn(
        target,
        vec![Bytes::from_static(b"bad"), Bytes::from_static(b"good")],
        inbox.clone(),
    );
    tokio::task::spawn_blocking({
        let port = server.port;
        move || {
            let cli = |args: &[&str]| {
                std::process::Command::new("redis-cli")
                    .args(["-p", &port.to_string()])
                    .args(args)
                    .output()
                    .expect("redis-cli")
            };
            wait_for("XREAD", T, || {
                String::from_utf8_lossy(&cli(&["CLIENT", "LIST"]).stdout)
                    .contains("cmd=xread")
                    .then_some(())
            });
            cli(&["XADD", "good", "1-0", "a", "1"]);
            cli(&["XADD", "good", "2-0", "b", "\u{1b}"]);
        }
    })
    .await
    .unwrap();
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + T;
    while got
        .iter()
        .filter(|d| matches!(d, Delivery::Message(_)))
        .count()
        < 2
    {
        assert!(tokio::time::Instant::now() < deadline, "{got:?}");
        let _ = tokio::time::timeout(Duration::from_millis(200), inbox.notified()).await;
        inbox.drain_into(100, &mut got);
    }
    let errors: Vec<&String> = got
        .iter()
        .filter_map(|d| match d {
            Delivery::ServerError(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{got:?}");
    assert!(errors[0].starts_with("stream bad: "), "{}", errors[0]);
    assert!(errors[0].contains("WRONGTYPE"), "{}", errors[0]);
    let msgs: Vec<_> = got
        .iter()
        .filter_map(|d| match d {
            Delivery::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    assert!(msgs.iter().all(|m| m.kind == Kind::StreamEntry));
    assert!(msgs.iter().all(|m| &m.channel[..] == b"good"));
    assert!(msgs[0].seq < msgs[1].seq);
    assert!(msgs[0].payload.starts_with(b"{\"id\":\"1-0\""));
    assert!(msgs[1].payload.starts_with(b"{\"id\":\"2-0\""));
    let groups = server.cli(&["XINFO", "GROUPS", "good"]);
    assert!(groups.contains("pending\n0\n"), "{groups}");
    assert!(groups.contains("last-delivered-id\n0-0\n"), "{groups}");
    tail.shutdown().await;
}

#[test]
fn tail_reconnects_after_a_server_restart() {
    let mut server = Server::start();
    let p = Proc::spawn(&["tail", &server.url(), "--stream", "s", "--format", "jsonl"]);
    wait_reading(&server);
    server.cli(&["XADD", "s", "*", "n", "1"]);
    let first = p.line(T).unwrap_or_else(|| panic!("{}", p.stderr()));
    assert!(first.contains(r#"["n","1"]"#), "{first}");
    server.restart();
    wait_reading(&server);
    server.cli(&["XADD", "s", "*", "n", "2"]);
    // The Pub/Sub side reports its outage as a gap line; skip to the entry.
    let second = wait_for("the entry after the restart", T, || {
        p.line(Duration::from_millis(100))
            .filter(|l| l.contains("\"xentry\""))
    });
    assert!(second.contains(r#"["n","2"]"#), "{second}");
}

/// Two followed streams on one cluster node but in different hash slots: one XREAD may
/// not hold both (CROSSSLOT, even on one node), so each slot gets its own follower and
/// both streams' new entries arrive. Following them from one XREAD per node ended `tail`
/// with exit 1 ("the server refused a subscription: … CROSSSLOT").
#[test]
fn two_streams_in_different_slots_of_one_cluster_node_are_both_followed() {
    let cluster = common::cluster::Cluster::shared();
    let owner = cluster.primaries()[0].port;
    let keys: Vec<String> = (0..200)
        .map(|i| format!("xslot{i}"))
        .filter(|k| cluster.port_for_key(k) == owner)
        .take(2)
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(
        cluster.slot_for_key(&keys[0]),
        cluster.slot_for_key(&keys[1])
    );
    let url = cluster.seed_url();
    let mut p = Proc::spawn(&[
        "tail", "--url", &url, "--format", "jsonl", "--stream", &keys[0], "--stream", &keys[1],
    ]);
    // An entry added before a follower found where to start is not new to it: add one
    // to each stream not yet seen until both have arrived.
    let mut seen = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + T;
    while seen.len() < 2 && std::time::Instant::now() < deadline {
        for k in keys.iter().filter(|k| !seen.contains(*k)) {
            cluster.cli(owner, &["XADD", k, "*", "n", "1"]);
        }
        while let Some(line) = p.line(Duration::from_millis(300)) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["kind"] == "xentry" {
                seen.insert(v["stream"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}; stderr: {}", p.stderr());
    assert!(
        p.child.try_wait().ok().flatten().is_none(),
        "{}",
        p.stderr()
    );
}
