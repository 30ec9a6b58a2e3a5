//! `redtail stats` / `redtail publish` and the poller engine against real servers:
//! counts compared with what the server reports, 10,000 channels in two round trips,
//! hostile channel names, ACL denials, renamed commands, bad passwords, restarts.

use crate::common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{redtail_bin, resp, Server};
use redtail::redis::conn::Target;
use redtail::redis::poller::{poll_pubsub, ChannelKind, PollState, Poller};

const T: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- helpers

/// A subscriber on a raw socket: sends one (P|S)SUBSCRIBE, then PING, and returns once
/// the PING's answer proves the server has processed every subscription. A thread keeps
/// draining the socket so the server never sees a slow reader.
struct RawSub {
    stream: TcpStream,
}

impl RawSub {
    fn new(port: u16, command: &str, channels: &[&[u8]]) -> RawSub {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect subscriber");
        let mut args: Vec<&[u8]> = vec![command.as_bytes()];
        args.extend_from_slice(channels);
        let mut out = resp(&args);
        out.extend_from_slice(&resp(&[b"PING"]));
        stream.write_all(&out).expect("send subscribe");
        let mut reader = stream.try_clone().expect("clone socket");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // In subscribed mode PING answers ["pong", ""]; nothing else looks like it.
            let marker = b"$4\r\npong\r\n$0\r\n\r\n";
            let mut tail: Vec<u8> = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut seen = false;
            let mut first = true;
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) if !seen => {
                        // An error reply (e.g. NOPERM) comes instead of the confirmations.
                        if first && buf[0] == b'-' {
                            let _ = tx.send(Err(String::from_utf8_lossy(&buf[..n]).into_owned()));
                            seen = true;
                            continue;
                        }
                        first = false;
                        tail.extend_from_slice(&buf[..n]);
                        if tail.windows(marker.len()).any(|w| w == marker) {
                            let _ = tx.send(Ok(()));
                            seen = true;
                        } else {
                            let keep_from = tail.len().saturating_sub(marker.len());
                            tail.drain(..keep_from);
                        }
                    }
                    Ok(_) => {}
                }
            }
        });
        match rx.recv_timeout(T) {
            Ok(Ok(())) => RawSub { stream },
            Ok(Err(e)) => panic!("{command} refused: {e}"),
            Err(_) => panic!("{command} not confirmed within {T:?}"),
        }
    }
}

impl Drop for RawSub {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

/// Run the real binary to completion with raw stdout bytes (a `Proc` line reader would
/// hide a raw control byte behind a UTF-8 error).
fn redtail(args: &[&str]) -> Run {
    let mut child = Command::new(redtail_bin())
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redtail");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + T;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("redtail {args:?} did not exit within {T:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    assert!(!stderr.contains("panicked"), "redtail panicked: {stderr}");
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

fn stats_json(url: &str) -> serde_json::Value {
    let r = redtail(&["stats", url, "--json"]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    serde_json::from_slice(&r.stdout)
        .unwrap_or_else(|e| panic!("bad json {:?}: {e}", String::from_utf8_lossy(&r.stdout)))
}

/// (kind, name) → subscribers from a stats document.
fn counts(doc: &serde_json::Value) -> HashMap<(String, String), i64> {
    doc["channels"]
        .as_array()
        .expect("channels array")
        .iter()
        .map(|c| {
            (
                (
                    c["kind"].as_str().expect("kind").to_string(),
                    c["name"].as_str().expect("name").to_string(),
                ),
                c["subscribers"].as_i64().expect("subscribers"),
            )
        })
        .collect()
}

/// `name\ncount\n…` from redis-cli NUMSUB / SHARDNUMSUB.
fn cli_pairs(text: &str) -> HashMap<String, i64> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .map(|p| (p[0].to_string(), p[1].trim().parse().expect("count")))
        .collect()
}

fn commandstat_calls(server: &Server, name: &str) -> u64 {
    let info = server.cli(&["INFO", "commandstats"]);
    let prefix = format!("cmdstat_{name}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn wait_state(
    rx: &mut tokio::sync::watch::Receiver<PollState>,
    what: &str,
    mut pred: impl FnMut(&PollState) -> bool,
) -> PollState {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        {
            let s = rx.borrow_and_update();
            if pred(&s) {
                return s.clone();
            }
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!(
                "timed out waiting for {what}; last state: {:?}",
                *rx.borrow()
            ),
        }
    }
}

fn count_of(s: &PollState, kind: ChannelKind, name: &[u8]) -> Option<i64> {
    s.last_ok.as_ref().and_then(|snap| {
        snap.channels
            .iter()
            .find(|c| c.kind == kind && c.name.as_ref() == name)
            .map(|c| c.subscribers)
    })
}

// ---------------------------------------------------------------- stats

#[test]
fn stats_counts_equal_subscribers_created_and_server_figures() {
    let server = Server::start();
    let url = server.url();
    let _subs: Vec<RawSub> = vec![
        RawSub::new(server.port, "SUBSCRIBE", &[b"orders"]),
        RawSub::new(server.port, "SUBSCRIBE", &[b"orders"]),
        RawSub::new(server.port, "SUBSCRIBE", &[b"orders"]),
        RawSub::new(server.port, "SUBSCRIBE", &[b"orders", b"audit"]),
        RawSub::new(server.port, "PSUBSCRIBE", &[b"ord*", b"x*"]),
        RawSub::new(server.port, "SSUBSCRIBE", &[b"shard-a"]),
        RawSub::new(server.port, "SSUBSCRIBE", &[b"shard-a"]),
        RawSub::new(server.port, "SSUBSCRIBE", &[b"shard-b"]),
    ];

    let doc = stats_json(&url);
    assert_eq!(doc["server"], url.as_str());
    assert!(chrono::DateTime::parse_from_rfc3339(doc["taken_at"].as_str().unwrap()).is_ok());
    // took_ms is milliseconds in whole microseconds: at most three decimals, never float noise.
    let took = doc["took_ms"].to_string();
    assert!(
        doc["took_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{took}"
    );
    assert!(
        took.split('.')
            .nth(1)
            .is_none_or(|decimals| decimals.len() <= 3),
        "took_ms {took}"
    );
    let got = counts(&doc);
    let key = |k: &str, n: &str| (k.to_string(), n.to_string());
    let expected: HashMap<_, _> = [
        (key("channel", "orders"), 4),
        (key("channel", "audit"), 1),
        (key("shard", "shard-a"), 2),
        (key("shard", "shard-b"), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, expected);
    assert_eq!(doc["numpat"], 2);

    // The same figures as the server gives redis-cli.
    let numsub = cli_pairs(&server.cli(&["PUBSUB", "NUMSUB", "orders", "audit"]));
    assert_eq!(numsub["orders"], got[&key("channel", "orders")]);
    assert_eq!(numsub["audit"], got[&key("channel", "audit")]);
    let shard = cli_pairs(&server.cli(&["PUBSUB", "SHARDNUMSUB", "shard-a", "shard-b"]));
    assert_eq!(shard["shard-a"], got[&key("shard", "shard-a")]);
    assert_eq!(shard["shard-b"], got[&key("shard", "shard-b")]);
    let numpat: i64 = server.cli(&["PUBSUB", "NUMPAT"]).trim().parse().unwrap();
    assert_eq!(doc["numpat"].as_i64(), Some(numpat));

    let table = redtail(&["stats", &url]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let text = String::from_utf8(table.stdout).expect("utf-8 table");
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.contains("channels: 4 (2 shard)"), "{text}");
    assert!(header.contains("numpat: 2"), "{text}");
    assert!(text.contains("          4  channel  orders\n"), "{text}");
    assert!(text.contains("          2  shard    shard-a\n"), "{text}");
}

#[test]
fn stats_on_an_idle_server_is_empty_not_an_error() {
    let server = Server::start();
    let doc = stats_json(&server.url());
    assert_eq!(doc["channels"].as_array().map(Vec::len), Some(0));
    assert_eq!(doc["numpat"], 0);
    assert_eq!(doc["shard_channels_supported"], true);
    let r = redtail(&["stats", &server.url()]);
    assert_eq!(r.code, 0);
    assert!(String::from_utf8_lossy(&r.stdout).contains("no channel has a subscriber"));
}

#[test]
fn hostile_and_binary_channel_names_are_escaped() {
    let server = Server::start();
    let evil: &[u8] = b"evil\x1b]0;pwned\x07\x1b[2J\r\n\xe2\x80\xae";
    let binary: &[u8] = b"bin\xff\xfe\x9b";
    let huge = vec![b'h'; 1 << 20];
    let _subs = [
        RawSub::new(server.port, "SUBSCRIBE", &[evil, binary]),
        RawSub::new(server.port, "SUBSCRIBE", &[&huge]),
    ];

    let r = redtail(&["stats", &server.url(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stdout[..r.stdout.len() - 1]
            .iter()
            .any(|&b| b < 0x20 || b == 0x7f),
        "raw control byte in JSON output"
    );
    let doc: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let channels = doc["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 3);
    let by_prefix = |p: &str| {
        channels
            .iter()
            .find(|c| c["name"].as_str().unwrap().starts_with(p))
            .unwrap_or_else(|| panic!("no channel starting {p:?} in {doc}"))
    };
    let e = by_prefix("evil");
    assert_eq!(e["name"].as_str().unwrap().as_bytes(), evil);
    assert!(e.get("name_b64").is_none());
    let b = by_prefix("bin");
    assert_eq!(b["name"], "bin\\xff\\xfe\\x9b");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b["name_b64"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, binary);
    assert_eq!(by_prefix("hhh")["name"].as_str().unwrap().len(), huge.len());

    let r = redtail(&["stats", &server.url()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = String::from_utf8(r.stdout).expect("table is UTF-8");
    assert!(
        !text
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
        "raw control character in table: {text:?}"
    );
    assert!(
        text.contains("evil\\x1b]0;pwned\\x07\\x1b[2J\\r\\n\\u{202e}"),
        "{text:?}"
    );
    assert!(text.contains("bin\\xff\\xfe\\x9b"), "{text:?}");
}

#[test]
fn stats_json_never_prints_raw_control_characters() {
    // Legal raw inside JSON strings, but they rewrite or hide what a terminal shows.
    const HOSTILE: &str = "\u{9b}\u{202e}\u{200b}\x7f";
    let server = Server::start();
    let (channel, stream) = (format!("ch{HOSTILE}"), format!("st{HOSTILE}"));
    let (group, consumer) = (format!("g{HOSTILE}"), format!("c{HOSTILE}"));
    let _sub = RawSub::new(server.port, "SUBSCRIBE", &[channel.as_bytes()]);
    server.xadd(&stream, &["f", "v"]);
    server.create_group(&stream, &group);
    server.read_group(&stream, &group, &consumer, 10);

    let r = redtail(&["stats", &server.url(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for raw in ["\u{9b}", "\u{202e}", "\u{200b}", "\x7f"] {
        let found = r.stdout.windows(raw.len()).any(|w| w == raw.as_bytes());
        assert!(!found, "raw {raw:?} in stats --json output");
    }
    let doc: serde_json::Value = serde_json::from_slice(&r.stdout).expect("json");
    assert_eq!(doc["channels"][0]["name"], channel, "{doc}");
    let s = &doc["streams"][0];
    assert_eq!(s["key"], stream, "{doc}");
    assert_eq!(s["groups"][0]["name"], group);
    assert_eq!(s["groups"][0]["consumer_list"][0]["name"], consumer);
}

#[test]
fn ten_thousand_channels_cost_two_round_trips() {
    let server = Server::start();
    let names: Vec<Vec<u8>> = (0..10_000)
        .map(|i| format!("ch:{i}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
    let shard_names: Vec<Vec<u8>> = (0..1_500).map(|i| format!("sh:{i}").into_bytes()).collect();
    let shard_refs: Vec<&[u8]> = shard_names.iter().map(Vec::as_slice).collect();
    let _subs = [
        RawSub::new(server.port, "SUBSCRIBE", &refs),
        RawSub::new(server.port, "SSUBSCRIBE", &shard_refs),
    ];

    let _ = server.cli(&["CONFIG", "RESETSTAT"]);
    let doc = stats_json(&server.url());
    let got = counts(&doc);
    assert_eq!(got.len(), 11_500);
    assert!(got.iter().all(|(_, &n)| n == 1));
    assert_eq!(got[&("channel".to_string(), "ch:9999".to_string())], 1);
    assert_eq!(got[&("shard".to_string(), "sh:1499".to_string())], 1);
    assert_eq!(commandstat_calls(&server, "pubsub|numsub"), 10);
    assert_eq!(commandstat_calls(&server, "pubsub|shardnumsub"), 2);
    assert_eq!(commandstat_calls(&server, "pubsub|channels"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn library_poll_reports_two_round_trips_for_ten_thousand_channels() {
    let server = Server::start();
    let names: Vec<Vec<u8>> = (0..10_000).map(|i| format!("c{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
    let _sub = RawSub::new(server.port, "SUBSCRIBE", &refs);
    let target = Target::parse_url(&server.url()).unwrap();
    let mut conn = target.command_connection().await.unwrap();
    let snap = poll_pubsub(&mut conn).await.expect("poll");
    assert_eq!(snap.channels.len(), 10_000);
    assert!(snap
        .channels
        .iter()
        .all(|c| c.subscribers == 1 && c.kind == ChannelKind::Channel));
    assert_eq!(snap.round_trips, 2);
    // CHANNELS + NUMPAT + SHARDCHANNELS, then 10 NUMSUB chunks of 1,000.
    assert_eq!(snap.commands_sent, 13);
    assert!(snap.shard_supported);

    // Nothing subscribed: one round trip, no NUMSUB at all.
    drop(_sub);
    common::wait_for("subscriber to go", T, || {
        (server.cli(&["PUBSUB", "NUMSUB", "c1"]).lines().nth(1) == Some("0")).then_some(())
    });
    let snap = poll_pubsub(&mut conn).await.expect("poll");
    assert!(snap.channels.is_empty());
    assert_eq!((snap.round_trips, snap.commands_sent), (1, 3));
}

// ---------------------------------------------------------------- publish

/// An empty stream name or glob (an unset variable) is a usage error for the read-only
/// commands too, instead of quietly reporting on a stream called "".
#[test]
fn empty_names_are_refused_with_a_usage_error() {
    let server = Server::start();
    let url = server.url();
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["stats", &url, "--stream", ""],
            "--stream",
            "the name is empty",
        ),
        (
            &["stats", &url, "--streams", ""],
            "--streams",
            "the glob is empty",
        ),
        (
            &["doctor", &url, "--stream", "b64:"],
            "--stream",
            "decodes to nothing",
        ),
        (
            &["doctor", &url, "--streams", ""],
            "--streams",
            "the glob is empty",
        ),
        (
            &["metrics", &url, "--listen", "127.0.0.1:0", "--stream", ""],
            "--stream",
            "the name is empty",
        ),
    ];
    for (args, flag, says) in cases {
        let run = redtail(args);
        assert_eq!(
            run.code, 64,
            "{args:?} must be a usage error: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(flag) && run.stderr.contains(says),
            "{args:?}: says which argument is empty: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{args:?}: nothing reported");
    }
}

#[test]
fn publish_reports_receivers_and_warns_when_nobody_listens() {
    let server = Server::start();
    let url = server.url();
    let _subs = [
        RawSub::new(server.port, "SUBSCRIBE", &[b"orders"]),
        RawSub::new(server.port, "SUBSCRIBE", &[b"orders"]),
        RawSub::new(server.port, "SUBSCRIBE", &[b"orders"]),
        RawSub::new(server.port, "PSUBSCRIBE", &[b"ord*"]),
        RawSub::new(server.port, "SSUBSCRIBE", &[b"shard-a"]),
        RawSub::new(server.port, "SSUBSCRIBE", &[b"shard-a"]),
    ];

    let r = redtail(&["publish", "-u", &url, "orders", "hello"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Three channel subscribers plus the matching pattern.
    assert_eq!(String::from_utf8_lossy(&r.stdout).trim(), "4");
    assert_eq!(server.cli(&["PUBLISH", "orders", "again"]).trim(), "4");
    assert!(!r.stderr.contains("nobody"), "{}", r.stderr);

    let r = redtail(&["publish", "-u", &url, "--shard", "shard-a", "hello"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(String::from_utf8_lossy(&r.stdout).trim(), "2");

    // A shard subscriber does not receive PUBLISH, and vice versa.
    let r = redtail(&["publish", "-u", &url, "shard-a", "hello"]);
    assert_eq!(String::from_utf8_lossy(&r.stdout).trim(), "0");
    assert!(
        r.stderr
            .contains("nobody was listening — the message is gone"),
        "{}",
        r.stderr
    );
    assert_eq!(r.code, 0);

    let r = redtail(&["publish", "-u", &url, "--shard", "orders", "hello"]);
    assert_eq!(String::from_utf8_lossy(&r.stdout).trim(), "0");
    assert!(r.stderr.contains("nobody was listening"), "{}", r.stderr);
}

// ---------------------------------------------------------------- failures

#[test]
fn acl_denied_pubsub_and_publish_are_explained() {
    let server = Server::start();
    let _ = server.cli(&["ACL", "SETUSER", "u", "on", ">s3cretpw", "+@all", "-pubsub"]);
    let _ = server.cli(&[
        "ACL",
        "SETUSER",
        "v",
        "on",
        ">s3cretpw",
        "+@all",
        "-publish",
    ]);
    let _ = server.cli(&[
        "ACL",
        "SETUSER",
        "w",
        "on",
        ">s3cretpw",
        "+@all",
        "resetchannels",
    ]);
    let url = |user: &str| format!("redis://{user}:s3cretpw@127.0.0.1:{}", server.port);

    for args in [vec!["stats", "--json"], vec!["stats"]] {
        let u = url("u");
        let mut full = args.clone();
        full.insert(1, &u);
        let r = redtail(&full);
        assert_eq!(r.code, 1, "{full:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(
            r.stderr.contains("PUBSUB CHANNELS refused: NOPERM"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("grant +pubsub|channels"), "{}", r.stderr);
        assert!(!r.stderr.contains("s3cretpw"), "{}", r.stderr);
    }

    let r = redtail(&["publish", "-u", &url("v"), "orders", "x"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("PUBLISH refused: NOPERM"), "{}", r.stderr);
    assert!(r.stderr.contains("grant +publish"), "{}", r.stderr);

    let r = redtail(&["publish", "-u", &url("w"), "orders", "x"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("channels"), "{}", r.stderr);
    assert!(r.stderr.contains("&<pattern>"), "{}", r.stderr);
    assert!(!r.stderr.contains("s3cretpw"), "{}", r.stderr);
}

#[test]
fn renamed_pubsub_command_is_explained() {
    let server = Server::start_with(&["--rename-command", "PUBSUB", ""]);
    let r = redtail(&["stats", &server.url(), "--json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("does not know the PUBSUB command"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("renamed or disabled"), "{}", r.stderr);
}

#[test]
fn wrong_or_missing_password_exits_1_without_echoing_it() {
    let server = Server::start_with(&["--requirepass", "x"]);
    let bad = format!("redis://:hunter2wrong@127.0.0.1:{}", server.port);
    let r = redtail(&["stats", &bad, "--json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // redis-rs reports a failed AUTH as AuthenticationFailed, without the server's code.
    assert!(
        r.stderr.to_lowercase().contains("authentication failed"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2wrong"), "{}", r.stderr);

    let r = redtail(&["stats", &server.url(), "--pass", "hunter2wrong"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("hunter2wrong"), "{}", r.stderr);

    let r = redtail(&["publish", "-u", &bad, "c", "p"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("hunter2wrong"), "{}", r.stderr);

    let r = redtail(&["stats", &server.url()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("NOAUTH"), "{}", r.stderr);
    assert!(r.stderr.contains("REDISCLI_AUTH"), "{}", r.stderr);

    let good = format!("redis://:x@127.0.0.1:{}", server.port);
    assert_eq!(redtail(&["stats", &good]).code, 0);
}

#[test]
fn nothing_listening_is_an_error_not_a_hang() {
    let port = common::free_port();
    let r = redtail(&["stats", &format!("redis://127.0.0.1:{port}")]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot connect"), "{}", r.stderr);
}

// ---------------------------------------------------------------- background poller

#[tokio::test(flavor = "multi_thread")]
async fn poller_keeps_last_good_snapshot_and_reports_denial() {
    let server = Server::start();
    let _ = server.cli(&["ACL", "SETUSER", "u", "on", ">pw", "+@all", "allchannels"]);
    let _sub = RawSub::new(server.port, "SUBSCRIBE", &[b"orders", b"audit"]);
    let target = Target::parse_url(&format!("redis://u:pw@127.0.0.1:{}", server.port)).unwrap();
    // A long interval: every update after the first must come from poll_now or
    // set_clients_enabled, which is what this test checks.
    let poller = Poller::spawn(target, Duration::from_secs(3600));
    let mut rx = poller.state();

    let first = wait_state(&mut rx, "first poll", |s| s.last_ok.is_some()).await;
    assert_eq!(count_of(&first, ChannelKind::Channel, b"orders"), Some(1));
    assert!(first.last_error.is_none() && first.clients.is_none());

    poller.set_clients_enabled(true);
    let with_clients = wait_state(&mut rx, "client list", |s| s.clients.is_some()).await;
    let clients = with_clients
        .clients
        .clone()
        .unwrap()
        .expect("CLIENT LIST allowed");
    assert_eq!(clients.len(), 1);
    assert_eq!(
        (clients[0].sub, clients[0].psub, clients[0].ssub),
        (2, 0, 0)
    );
    let limit = with_clients.output_limit.expect("output limit");
    assert_eq!(
        (limit.hard_bytes, limit.soft_bytes, limit.soft_seconds),
        (32 << 20, 8 << 20, 60)
    );
    assert!(with_clients.generation > first.generation);

    let _more = RawSub::new(server.port, "SUBSCRIBE", &[b"orders"]);
    poller.poll_now();
    let seen = wait_state(&mut rx, "second subscriber", |s| {
        count_of(s, ChannelKind::Channel, b"orders") == Some(2)
    })
    .await;

    let _ = server.cli(&["ACL", "SETUSER", "u", "-pubsub"]);
    poller.poll_now();
    let denied = wait_state(&mut rx, "denial", |s| s.last_error.is_some()).await;
    let (_, message) = denied.last_error.clone().unwrap();
    assert!(message.contains("NOPERM"), "{message}");
    assert!(message.contains("+pubsub|channels"), "{message}");
    // The old figures stay, with their old timestamp, flagged stale.
    assert!(denied.is_stale());
    let kept = denied.last_ok.as_ref().unwrap();
    assert_eq!(kept.taken_at, seen.last_ok.as_ref().unwrap().taken_at);
    assert_eq!(count_of(&denied, ChannelKind::Channel, b"orders"), Some(2));

    poller.set_clients_enabled(false);
    let _ = server.cli(&["ACL", "SETUSER", "u", "+pubsub"]);
    poller.poll_now();
    let back = wait_state(&mut rx, "recovery", |s| s.last_error.is_none()).await;
    assert!(back.clients.is_none());
    assert!(back.last_ok.unwrap().taken_at > kept.taken_at);
}

#[tokio::test(flavor = "multi_thread")]
async fn poller_reconnects_after_a_server_restart() {
    let mut server = Server::start();
    let target = Target::parse_url(&server.url()).unwrap();
    let poller = Poller::spawn(target, Duration::from_millis(100));
    let mut rx = poller.state();
    wait_state(&mut rx, "first poll", |s| s.last_ok.is_some()).await;

    tokio::task::block_in_place(|| server.kill());
    let down = wait_state(&mut rx, "an error while down", |s| s.last_error.is_some()).await;
    assert!(down.last_ok.is_some(), "last good snapshot kept while down");

    tokio::task::block_in_place(|| server.restart());
    let _sub = tokio::task::block_in_place(|| RawSub::new(server.port, "SUBSCRIBE", &[b"after"]));
    let back = wait_state(&mut rx, "recovery", |s| {
        s.last_error.is_none() && count_of(s, ChannelKind::Channel, b"after") == Some(1)
    })
    .await;
    assert!(back.generation > down.generation);
    drop(poller);
}

/// A password with every character a URL parser trips on, set on a real server.
const ODD_PASSWORD: &str = "Od/d#Pw?q@r:Zk% 9Xy";

fn assert_no_password_piece(text: &str) {
    for piece in ["Od/d", "Pw?q", "@r:Zk", "% 9Xy", "Od", "Zk", "Xy"] {
        assert!(
            !text.contains(piece),
            "password piece {piece:?} leaked: {text}"
        );
    }
}

#[test]
fn password_is_never_printed_and_pasted_odd_passwords_connect() {
    let server = Server::start();
    server.cli(&["CONFIG", "SET", "requirepass", ODD_PASSWORD]);
    // Pasted raw, as a password manager gives it.
    let good = format!("redis://default:{ODD_PASSWORD}@127.0.0.1:{}", server.port);
    let r = redtail(&["stats", &good, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_password_piece(&String::from_utf8_lossy(&r.stdout));
    assert_no_password_piece(&r.stderr);
    serde_json::from_slice::<serde_json::Value>(&r.stdout).expect("json");

    // A bad port: the URL is shown with *** and the advice to percent-encode.
    let broken = format!("redis://default:{ODD_PASSWORD}@127.0.0.1:99999");
    let r = redtail(&["stats", &broken, "--json"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("redis://default:***@127.0.0.1:99999"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("%2F") && r.stderr.contains("REDISCLI_AUTH"),
        "{}",
        r.stderr
    );
    assert_no_password_piece(&String::from_utf8_lossy(&r.stdout));
    assert_no_password_piece(&r.stderr);

    // Percent-encoded works too.
    let encoded = format!(
        "redis://default:Od%2Fd%23Pw%3Fq%40r%3AZk%25%209Xy@127.0.0.1:{}",
        server.port
    );
    assert_eq!(redtail(&["stats", &encoded, "--json"]).code, 0);

    // REDISCLI_AUTH still works, and the password is not echoed on success or failure.
    for (pass, code) in [(ODD_PASSWORD, 0), ("Od/d#Pw?q-wrong Xy", 1)] {
        let out = Command::new(redtail_bin())
            .args(["stats", &server.url(), "--json"])
            .env("REDISCLI_AUTH", pass)
            .stdin(Stdio::null())
            .output()
            .expect("run redtail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert_no_password_piece(&String::from_utf8_lossy(&out.stdout));
        assert_no_password_piece(&stderr);
    }
}
