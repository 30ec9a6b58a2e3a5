//! `redtail publish --from`: a capture made by `redtail tail --format jsonl` is sent again
//! byte for byte, into a second capture, against real servers (one server and a real 3+3
//! Cluster); payloads come from a real MessagePack encoder and raw bytes from Python.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use common::cluster::Cluster;
use common::python::{self, audit_records, b64, numsub, publish_calls};
use common::{wait_for, wait_subscribed, Proc, Server};

const T: Duration = Duration::from_secs(15);

/// One captured message: kind, channel bytes, payload bytes.
type Captured = (String, Vec<u8>, Vec<u8>);

fn bytes_of(v: &serde_json::Value, field: &str) -> Vec<u8> {
    match v[format!("{field}_b64")].as_str() {
        Some(encoded) => b64(encoded),
        None => v[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in {v}"))
            .as_bytes()
            .to_vec(),
    }
}

/// The next `n` lines of a running `tail --format jsonl`, as text.
fn lines(p: &Proc, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            p.line(T)
                .unwrap_or_else(|| panic!("line {i} of {n} missing; stderr: {}", p.stderr()))
        })
        .collect()
}

fn messages(lines: &[String]) -> Vec<Captured> {
    lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .filter(|v| v["kind"] != "gap")
        .map(|v| {
            (
                v["kind"].as_str().unwrap_or_default().to_string(),
                bytes_of(&v, "channel"),
                bytes_of(&v, "payload"),
            )
        })
        .collect()
}

/// Shard messages arrive on a connection of their own, so only the order within each
/// kind of connection is defined: compare classic and shard messages separately, each
/// in order.
fn assert_same_in_order(got: &[Captured], want: &[Captured]) {
    let split = |list: &[Captured]| -> (Vec<Captured>, Vec<Captured>) {
        list.iter()
            .cloned()
            .partition(|(kind, _, _)| kind != "smessage")
    };
    assert_eq!(got.len(), want.len(), "{got:?}\n{want:?}");
    assert_eq!(split(got), split(want));
}

struct Replayed {
    code: i32,
    summary: serde_json::Value,
    stderr: String,
}

/// `redtail publish --from FILE --json …` with the audit log at `audit`.
fn replay(url: &str, file: &Path, extra: &[&str], env: &[(&str, &str)], audit: &Path) -> Replayed {
    let file = file.to_string_lossy().into_owned();
    let audit = audit.to_string_lossy().into_owned();
    let mut args = vec!["publish", "--url", url, "--from", file.as_str(), "--json"];
    args.extend_from_slice(extra);
    let mut envs = vec![
        ("REDTAIL_AUDIT_LOG", audit.as_str()),
        ("REDTAIL_READ_ONLY", "0"),
    ];
    envs.extend_from_slice(env);
    let mut p = Proc::spawn_env(&args, &envs);
    let code = p.wait_exit(T).expect("publish --from exits");
    let summary = p
        .line(Duration::from_millis(500))
        .map(|l| serde_json::from_str(&l).expect("summary json"))
        .unwrap_or(serde_json::Value::Null);
    Replayed {
        code,
        summary,
        stderr: p.stderr(),
    }
}

/// A private server, its URL, a scratch folder and an audit log path in it.
fn setup() -> (Server, String, tempfile::TempDir, PathBuf) {
    let server = Server::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    (server, url, dir, audit)
}

/// A JSONL line's `ts`.
fn ts(line: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let v: serde_json::Value = serde_json::from_str(line).expect("json");
    chrono::DateTime::parse_from_rfc3339(v["ts"].as_str().expect("ts")).expect("rfc3339")
}

fn write_capture(dir: &Path, lines: &[String]) -> PathBuf {
    let path = dir.join("capture.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write capture");
    path
}

/// The Python publisher of the single-server tests: MessagePack (a real encoder), raw
/// random bytes, terminal escapes, bidi, a binary channel, a pattern message, a shard
/// message and a keyspace notification. 8 messages.
const PUBLISHER: &str = r#"
random.seed(17)
r.publish('orders', msgpack.packb({'id': 42, 'items': [1, 2, 3], 'ok': True}))
r.publish('orders', bytes(random.getrandbits(8) for _ in range(300)))
r.publish('orders', b'\x1b]52;c;aGk=\x07\x1b[2J plain \xe2\x80\xae bidi')
r.publish(b'bin:\xff\x00', b'\x00\xff')
r.publish('ev:created', '{"user": "zoë", "n": 1}')
r.execute_command('SPUBLISH', 'shard:1', b'\xc1\xc2 shard')
r.set('watched', 'x')
r.publish('orders', '')
"#;

fn capture_args(url: &str) -> Vec<&str> {
    vec![
        "tail",
        "--url",
        url,
        "--format",
        "jsonl",
        "-c",
        "orders",
        "-c",
        "b64:YmluOv8A",
        "-p",
        "ev:*",
        "-s",
        "shard:1",
    ]
}

#[test]
fn a_capture_replayed_and_recaptured_is_byte_identical() {
    let (server, url, dir, audit) = setup();
    server.cli(&["CONFIG", "SET", "notify-keyspace-events", "K$"]);
    let mut first = capture_args(&url);
    first.extend(["-p", "__keyspace@0__:*"]);
    let capture = Proc::spawn(&first);
    wait_subscribed(&server, 5);
    python::run(server.port, PUBLISHER);
    let recorded = lines(&capture, 8);
    assert!(
        recorded
            .iter()
            .any(|l| l.contains("__keyspace@0__:watched")),
        "{recorded:?}"
    );
    let file = write_capture(dir.path(), &recorded);

    // The first capture stays subscribed: every replayed message reaches both.
    let second = Proc::spawn(&capture_args(&url));
    wait_subscribed(&server, 9);
    let done = replay(&url, &file, &[], &[], &audit);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let replayed = lines(&second, 7);
    let expected: Vec<Captured> = messages(&recorded)
        .into_iter()
        .filter(|(_, channel, _)| !channel.starts_with(b"__keyspace"))
        .collect();
    assert_same_in_order(&messages(&replayed), &expected);
    assert!(expected.iter().any(|(kind, _, _)| kind == "pmessage"));
    assert!(expected.iter().any(|(kind, _, _)| kind == "smessage"));

    let s = &done.summary;
    assert_eq!(s["sent"], 7, "{s}");
    assert_eq!(s["receivers"], 14, "both captures got each: {s}");
    assert_eq!(s["zero_receivers"], 0, "{s}");
    assert_eq!(s["skipped"]["keyspace"], 1, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
    assert!(
        done.stderr.contains("replayed 7 messages"),
        "{}",
        done.stderr
    );

    // Audit: the first messages one record each, then one summary record.
    let records = audit_records(&audit);
    assert_eq!(records.len(), 8, "{records:?}");
    assert!(records[..7].iter().all(|r| r["action"] == "replay-publish"));
    assert_eq!(records[5]["command"], "SPUBLISH", "{}", records[5]);
    assert_eq!(records[7]["action"], "replay", "{}", records[7]);
    assert_eq!(records[7]["result"]["details"]["sent"], 7, "{}", records[7]);
}

#[test]
fn a_long_replay_audits_the_first_messages_and_one_summary() {
    let (server, url, dir, audit) = setup();
    let lines: Vec<String> = (0..2500)
        .map(|i| {
            format!(
                r#"{{"ts":"2026-01-01T00:00:00Z","kind":"message","channel":"bulk","pattern":null,"payload":"m{i}"}}"#
            )
        })
        .collect();
    let file = write_capture(dir.path(), &lines);
    let before = publish_calls(&server);
    let done = replay(&url, &file, &[], &[], &audit);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(done.summary["sent"], 2500, "{}", done.summary);
    assert_eq!(done.summary["zero_receivers"], 2500, "{}", done.summary);
    assert_eq!(publish_calls(&server) - before, 2500);
    let records = audit_records(&audit);
    let limit = redtail::redis::actions::REPLAY_AUDITED_MESSAGES as usize;
    assert_eq!(records.len(), limit + 1, "bounded audit");
    assert_eq!(
        records[limit]["result"]["details"]["audited_messages"],
        limit
    );
}

#[test]
fn replay_with_channel_sends_everything_to_the_new_channel() {
    let (server, url, dir, audit) = setup();
    let capture = Proc::spawn(&capture_args(&url));
    wait_subscribed(&server, 4);
    python::run(server.port, PUBLISHER);
    let recorded = lines(&capture, 7);
    let file = write_capture(dir.path(), &recorded);

    let target = Proc::spawn(&[
        "tail", "--url", &url, "--format", "jsonl", "-c", "copy", "-s", "copy",
    ]);
    wait_subscribed(&server, 6);
    let done = replay(&url, &file, &["--channel", "copy"], &[], &audit);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let got = messages(&lines(&target, 7));
    let want: Vec<Captured> = messages(&recorded)
        .into_iter()
        .map(|(kind, _, payload)| {
            let kind = if kind == "smessage" {
                "smessage"
            } else {
                "message"
            };
            (kind.to_string(), b"copy".to_vec(), payload)
        })
        .collect();
    assert_same_in_order(&got, &want);
}

#[test]
fn replay_at_a_rate_spaces_the_messages() {
    let (server, url, dir, audit) = setup();
    let lines_in: Vec<String> = (0..6)
        .map(|i| format!(r#"{{"kind":"message","channel":"paced","payload":"{i}"}}"#))
        .collect();
    let file = write_capture(dir.path(), &lines_in);
    let target = Proc::spawn(&["tail", "--url", &url, "--format", "jsonl", "-c", "paced"]);
    wait_subscribed(&server, 1);
    let done = replay(&url, &file, &["--rate", "10"], &[], &audit);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(done.summary["sent"], 6);
    // Behaviour, not speed: at 10 messages a second, six cannot arrive within 0.5 s of
    // each other (a lower bound only; a slow machine only spreads them further).
    let got = lines(&target, 6);
    let spread = ts(&got[5]) - ts(&got[0]);
    assert!(
        spread >= chrono::TimeDelta::milliseconds(480),
        "six messages at 10/s arrived within {spread}"
    );
}

#[test]
fn replay_as_recorded_keeps_the_recorded_spacing() {
    let (server, url, dir, audit) = setup();
    let lines_in = [
        r#"{"ts":"2026-01-01T00:00:00.000000Z","kind":"message","channel":"rec","payload":"a"}"#,
        r#"{"ts":"2026-01-01T00:00:00.010000Z","kind":"message","channel":"rec","payload":"b"}"#,
        r#"{"kind":"gap","from":"2026-01-01T00:00:00.010000Z","to":"2026-01-01T00:00:00.500000Z","duration_s":0.49,"reason":"x"}"#,
        r#"{"ts":"2026-01-01T00:00:00.600000Z","kind":"message","channel":"rec","payload":"c"}"#,
    ]
    .map(String::from);
    let file = write_capture(dir.path(), &lines_in);
    let target = Proc::spawn(&["tail", "--url", &url, "--format", "jsonl", "-c", "rec"]);
    wait_subscribed(&server, 1);
    let done = replay(&url, &file, &["--as-recorded"], &[], &audit);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(done.summary["skipped"]["gap"], 1, "{}", done.summary);
    let got = lines(&target, 3);
    assert!(
        ts(&got[2]) - ts(&got[0]) >= chrono::TimeDelta::milliseconds(580),
        "the recorded 0.6 s are kept: {got:?}"
    );
}

#[test]
fn read_only_refuses_a_replay_and_publishes_nothing() {
    let (server, url, dir, audit) = setup();
    let file = write_capture(
        dir.path(),
        &[r#"{"kind":"message","channel":"guarded","payload":"x"}"#.to_string()],
    );
    // A real subscriber counts what arrives.
    let watcher = Proc::spawn(&["tail", "--url", &url, "--format", "jsonl", "-c", "guarded"]);
    wait_subscribed(&server, 1);
    let before = publish_calls(&server);
    for (extra, env, why) in [
        (vec!["--read-only"], vec![], "--read-only"),
        (
            vec![],
            vec![("REDTAIL_READ_ONLY", "1")],
            "REDTAIL_READ_ONLY=1",
        ),
    ] {
        let done = replay(&url, &file, &extra, &env, &audit);
        assert_eq!(done.code, 1, "{}", done.stderr);
        assert!(
            done.stderr.contains("read-only mode is on") && done.stderr.contains(why),
            "{}",
            done.stderr
        );
        assert_eq!(
            done.summary,
            serde_json::Value::Null,
            "no summary: nothing ran"
        );
    }
    assert_eq!(publish_calls(&server), before, "nothing was published");
    assert_eq!(watcher.line(Duration::from_millis(300)), None);
    let records = audit_records(&audit);
    assert_eq!(records.len(), 2, "one refusal line each: {records:?}");
    for r in &records {
        assert_eq!(r["action"], "replay", "{r}");
        assert_eq!(r["result"]["status"], "refused", "{r}");
    }
}

#[test]
fn malformed_lines_are_reported_with_their_number_and_strict_stops() {
    let (server, url, dir, audit) = setup();
    let file = write_capture(
        dir.path(),
        &[
            r#"{"kind":"message","channel":"m","payload":"one"}"#,
            "this is not json",
            r#"{"kind":"message","channel":"m","payload_b64":"%%%"}"#,
            r#"{"kind":"message","channel":"m"}"#,
            r#"{"kind":"message","channel":"m","payload":"two"}"#,
        ]
        .map(String::from),
    );
    let before = publish_calls(&server);
    let done = replay(&url, &file, &[], &[], &audit);
    assert_eq!(done.code, 2, "partial: {}", done.stderr);
    for line in ["line 2:", "line 3:", "line 4:"] {
        assert!(done.stderr.contains(line), "{line} named: {}", done.stderr);
    }
    assert!(done.stderr.contains("payload_b64"), "{}", done.stderr);
    assert_eq!(done.summary["sent"], 2, "{}", done.summary);
    assert_eq!(done.summary["skipped"]["malformed"], 3, "{}", done.summary);
    assert_eq!(publish_calls(&server) - before, 2);

    strict_stops_at_line_2(&server, &url, &file, &audit);
    assert_eq!(publish_calls(&server) - before, 3);

    let missing = dir.path().join("nope.jsonl");
    let done = replay(&url, &missing, &[], &[], &audit);
    assert_eq!(done.code, 64, "{}", done.stderr);
    assert!(done.stderr.contains("cannot open"), "{}", done.stderr);
}

/// `--strict` on `file`, whose first line is good and second bad: the first is sent, the
/// replay stops at line 2 and exits 1.
fn strict_stops_at_line_2(server: &Server, url: &str, file: &Path, audit: &Path) {
    let before = publish_calls(server);
    let done = replay(url, file, &["--strict"], &[], audit);
    assert_eq!(done.code, 1, "{}", done.stderr);
    assert_eq!(done.summary["sent"], 1, "{}", done.summary);
    assert!(
        done.summary["stopped"]
            .as_str()
            .is_some_and(|s| s.contains("line 2")),
        "{}",
        done.summary
    );
    assert_eq!(publish_calls(server) - before, 1);
}

#[test]
fn a_line_longer_than_the_cap_is_skipped_and_the_lines_around_it_are_sent() {
    let (server, url, dir, audit) = setup();
    // A valid message line just over the 64 MiB cap: read to its end and dropped.
    let long = format!(
        r#"{{"kind":"message","channel":"m","payload":"{}"}}"#,
        "x".repeat(64 << 20)
    );
    let file = write_capture(
        dir.path(),
        &[
            r#"{"kind":"message","channel":"m","payload":"one"}"#.to_string(),
            long,
            r#"{"kind":"message","channel":"m","payload":"two"}"#.to_string(),
        ],
    );
    let before = publish_calls(&server);
    let done = replay(&url, &file, &[], &[], &audit);
    assert_eq!(done.code, 2, "partial: {}", done.stderr);
    assert!(
        done.stderr.contains("line 2: skipped: longer than 64 MiB"),
        "{}",
        done.stderr
    );
    assert_eq!(done.summary["sent"], 2, "{}", done.summary);
    assert_eq!(done.summary["skipped"]["malformed"], 1, "{}", done.summary);
    assert_eq!(publish_calls(&server) - before, 2);

    strict_stops_at_line_2(&server, &url, &file, &audit);
    assert_eq!(publish_calls(&server) - before, 3);
}

#[test]
fn publish_from_dev_zero_stops_at_the_cap_instead_of_filling_memory() {
    let (server, url, _dir, audit) = setup();
    let before = publish_calls(&server);
    // One endless line of NUL bytes: read up to the cap, then recognised as binary.
    let done = replay(&url, Path::new("/dev/zero"), &[], &[], &audit);
    assert_eq!(done.code, 2, "{}", done.stderr);
    assert!(
        done.stderr
            .contains("line 1: skipped: longer than 64 MiB and holds NUL bytes"),
        "{}",
        done.stderr
    );
    assert_eq!(done.summary["skipped"]["malformed"], 1, "{}", done.summary);
    assert_eq!(publish_calls(&server), before);
}

#[test]
fn publish_from_a_directory_is_a_usage_error() {
    let (server, url, dir, audit) = setup();
    let before = publish_calls(&server);
    let done = replay(&url, dir.path(), &[], &[], &audit);
    assert_eq!(done.code, 64, "{}", done.stderr);
    assert!(
        done.stderr.contains("cannot open") && done.stderr.contains("it is a directory"),
        "{}",
        done.stderr
    );
    assert_eq!(done.summary, serde_json::Value::Null, "no replay summary");
    assert_eq!(publish_calls(&server), before);
}

#[test]
fn shard_messages_replay_via_spublish_on_their_cluster_owner() {
    let cluster = Cluster::shared();
    let url = cluster.seed_url();
    let mut channels = Vec::new();
    let mut owners = Vec::new();
    for i in 0..400 {
        let channel = format!("rp:{{s{i}}}");
        let port = cluster.port_for_key(&channel);
        if !owners.contains(&port) {
            owners.push(port);
            channels.push(channel);
        }
        if channels.len() == 3 {
            break;
        }
    }
    assert_eq!(channels.len(), 3, "one channel per shard");
    let mut args = vec![
        "tail",
        "--url",
        url.as_str(),
        "--format",
        "jsonl",
        "-c",
        "rp:all",
    ];
    for c in &channels {
        args.extend(["-s", c.as_str()]);
    }
    let subscribed = |n: i64| {
        move |c: &String| {
            let port = cluster.port_for_key(c);
            let out = cluster.cli(port, &["PUBSUB", "SHARDNUMSUB", c]);
            out.lines()
                .last()
                .and_then(|l| l.trim().parse::<i64>().ok())
                == Some(n)
        }
    };
    let capture = Proc::spawn(&args);
    wait_for("shard subscriptions", T, || {
        channels.iter().all(subscribed(1)).then_some(())
    });
    for c in &channels {
        cluster.cli_c(&["SPUBLISH", c, &format!("hello {c}")]);
    }
    cluster.cli_c(&["PUBLISH", "rp:all", "broadcast"]);
    let recorded = lines(&capture, 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let file = write_capture(dir.path(), &recorded);

    // The first capture stays subscribed; the second is the one checked.
    let second = Proc::spawn(&args);
    wait_for("shard subscriptions of both captures", T, || {
        let broadcast: i64 = cluster
            .nodes()
            .iter()
            .map(|n| {
                let out = cluster.cli(n.port, &["PUBSUB", "NUMSUB", "rp:all"]);
                out.lines()
                    .last()
                    .and_then(|l| l.trim().parse::<i64>().ok())
                    .unwrap_or(0)
            })
            .sum();
        (channels.iter().all(subscribed(2)) && broadcast == 2).then_some(())
    });
    let done = replay(&url, &file, &[], &[], &audit);
    assert_eq!(done.code, 0, "{}", done.stderr);
    // Each SPUBLISH went to its slot's owner: a wrong node would have answered MOVED.
    assert_eq!(done.summary["errors"], 0, "{}", done.summary);
    assert_eq!(done.summary["sent"], 4, "{}", done.summary);
    let mut got = messages(&lines(&second, 4));
    let mut want = messages(&recorded);
    // Across shards only each channel's own order is defined.
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        want.iter()
            .filter(|(kind, _, _)| kind == "smessage")
            .count(),
        3
    );
}

// ---------------------------------------------------------------- TUI: r and y

#[test]
fn r_opens_the_composer_prefilled_and_sends_the_binary_message_again_byte_exact() {
    let server = Server::start();
    let url = server.url();
    let (mut tui, audit) = common::tui_audited(&[&url, "-c", "again"], false);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 1);
    python::run(
        server.port,
        "r.publish('again', b'\\x00\\xffpay\\x1b[2Jload \\\\x41 ' + msgpack.packb({'n': 1}))",
    );
    tui.wait_for(r"pay\x1b[2Jload", T);
    let listener = python::subscriber(server.port, "again", 1);
    wait_for("the Python subscriber", T, || {
        (numsub(&server, "again") == 2).then_some(())
    });
    tui.send(b"r");
    let screen = tui.wait_for("send again · binary", T);
    assert!(
        screen.contains("SPUBLISH") || screen.contains("PUBLISH"),
        "{screen}"
    );
    assert!(screen.contains(r"\x00\xffpay\x1b[2Jload \\x41"), "{screen}");
    tui.send(b"\x13"); // Ctrl-S: send
    tui.wait_for("2 receivers", T);
    let mut expected = b"\x00\xffpay\x1b[2Jload \\x41 ".to_vec();
    expected.extend_from_slice(b"\x81\xa1n\x01"); // msgpack {'n': 1}
    assert_eq!(
        python::received(listener, T),
        [expected],
        "the original bytes went out"
    );
    let records = audit_records(&audit.path);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["action"], "publish");
    assert_eq!(records[0]["command"], "PUBLISH");
    tui.send(b"\x1b"); // Esc closes the composer
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn y_copies_the_payload_with_one_osc52_sequence_in_base64() {
    let server = Server::start();
    let url = server.url();
    let mut tui = common::pty::Tui::spawn(&[&url, "-c", "copyme"], 120, 30);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 1);
    let payload: &[u8] = b"A\x1b]52;c;c3RvbGVu\x07B\x1b]0;title\x07 \xff\xfe end";
    python::run(
        server.port,
        "r.publish('copyme', b'A\\x1b]52;c;c3RvbGVu\\x07B\\x1b]0;title\\x07 \\xff\\xfe end')",
    );
    tui.wait_for(r"c3RvbGVu\x07B", T);
    tui.with_parser(|p| assert!(p.callbacks().clipboard.is_empty()));
    tui.send(b"y");
    tui.wait_for("copied", T);
    let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
    let mut sequence = b"\x1b]52;c;".to_vec();
    sequence.extend_from_slice(encoded.as_bytes());
    sequence.push(0x07);
    let raw = tui.raw_output();
    let count = |needle: &[u8]| raw.windows(needle.len()).filter(|w| *w == needle).count();
    assert_eq!(count(&sequence), 1, "exactly our sequence");
    assert_eq!(count(b"\x1b]52;"), 1, "and no other clipboard write");
    assert_eq!(count(b"\x1b]0;title"), 0, "nothing raw from the payload");
    tui.with_parser(|p| {
        let clipboard = &p.callbacks().clipboard;
        assert_eq!(clipboard.len(), 1, "{clipboard:?}");
        assert_eq!(b64(&String::from_utf8_lossy(&clipboard[0])), payload);
    });
    let screen = tui.screen();
    assert!(screen.contains("set-clipboard on"), "{screen}");
    tui.send(b"q");
    tui.wait_exit(T);
}

// ---------------------------------------------------------------- the send-again composer

#[test]
fn send_again_composer_shows_a_binary_hostile_message_safely_at_every_size() {
    use common::screen;
    use crossterm::event::{KeyCode, KeyModifiers};
    use redtail::redis::message::{Delivery, Kind, Message};
    use redtail::state::{AppState, Config, Event};

    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    let mut s = AppState::new(
        Config {
            export_dir: PathBuf::from("/exports"),
            ..Config::default()
        },
        redtail::redis::subscriber::Subscriptions::default(),
        now,
    );
    let mut payload = screen::HOSTILE.as_bytes().to_vec();
    payload.extend_from_slice(b"\n\xff\xfe {\"a\": \"b\\\\c\"}");
    s.update(
        Event::Deliveries(vec![Delivery::Message(Message {
            seq: 1,
            received: now,
            kind: Kind::SMessage,
            pattern: None,
            channel: bytes::Bytes::from_static(b"orders:{eu}"),
            payload: bytes::Bytes::from(payload),
        })]),
        now,
    );
    screen::press(&mut s, KeyCode::Char('r'), KeyModifiers::NONE, now);
    let expect = screen::Expect {
        names: &["orders:{eu}"],
        ..screen::Expect::default()
    };
    for size in screen::SIZES {
        let buf = screen::draw_at(&mut s, size, now);
        insta::assert_snapshot!(
            format!("send_again_binary_{}x{}", size.0, size.1),
            screen::text(&buf)
        );
        screen::check_screen(&buf, &expect);
    }
}

#[test]
fn r_in_read_only_mode_is_refused_audited_and_sends_nothing() {
    let server = Server::start();
    let url = server.url();
    let (mut tui, audit) = common::tui_audited(&[&url, "-c", "ro"], true);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 1);
    python::run(server.port, "r.publish('ro', 'once')");
    tui.wait_for("once", T);
    let before = publish_calls(&server);
    tui.send(b"r");
    let screen = tui.wait_for("read-only mode: publish is disabled", T);
    assert!(!screen.contains("send again"), "no composer: {screen}");
    wait_for("the refusal in the audit log", T, || {
        let records = audit_records(&audit.path);
        (records.len() == 1).then_some(records)
    })
    .iter()
    .for_each(|r| {
        assert_eq!(r["action"], "publish", "{r}");
        assert_eq!(r["result"]["status"], "refused", "{r}");
    });
    assert_eq!(publish_calls(&server), before, "nothing was published");
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn replay_flags_without_from_are_a_usage_error_and_send_nothing() {
    let server = Server::start();
    let url = server.url();
    let before = publish_calls(&server);
    for flag in [
        &["--rate", "5"][..],
        &["--channel", "x"],
        &["--strict"],
        &["--json"],
    ] {
        let mut args = vec!["publish", "--url", url.as_str(), "news", "hi"];
        args.extend_from_slice(flag);
        let mut p = Proc::spawn_env(&args, &[("REDTAIL_READ_ONLY", "0")]);
        assert_eq!(p.wait_exit(T), Some(64), "{flag:?}: {}", p.stderr());
        assert!(p.stderr().contains("add --from"), "{}", p.stderr());
    }
    assert_eq!(publish_calls(&server), before);
}
