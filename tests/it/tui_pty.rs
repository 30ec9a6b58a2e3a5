//! The real `redtail` binary in a pseudo-terminal against a real server, asserted on the
//! screen a person would see (parsed by a terminal emulator).

use crate::common;

use std::time::Duration;

use common::pty::Tui;
use common::{wait_subscribed, Server};
use redis::Commands;

const T: Duration = Duration::from_secs(15);

#[test]
fn feed_subscribe_filter_pause_resume_detail_quit() {
    let server = Server::start();
    let url = server.url();
    let mut tui = Tui::spawn(&[&url, "-c", "orders", "-p", "ai:*"], 120, 30);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 2);
    let mut c = server.conn();
    for i in 1..=3 {
        let _: i64 = c
            .publish("orders", format!("{{\"id\":{i},\"total\":{}}}", i * 100))
            .unwrap();
    }
    tui.wait_for(r#"{"id":3,"total":300}"#, T);

    // Filter: only totals above 150 stay.
    tui.send(b"/");
    tui.send(b".total > 150");
    tui.send(b"\r");
    let s = tui.wait_until("filtered feed", T, |s| !s.contains(r#""total":100"#));
    assert!(s.contains(r#"{"id":2,"total":200}"#), "{s}");
    assert!(s.contains(r#"{"id":3,"total":300}"#), "{s}");

    // Pause: the list holds still and the header counts what arrives.
    tui.send(b" ");
    tui.wait_for("paused", T);
    for i in 4..=6 {
        let _: i64 = c
            .publish("orders", format!("{{\"id\":{i},\"total\":{}}}", i * 100))
            .unwrap();
    }
    // A message that does not match the filter is not counted as new.
    let _: i64 = c.publish("orders", r#"{"id":7,"total":1}"#).unwrap();
    tui.wait_for("paused — 3 new", T);

    // Resume: following the tail again shows the newest.
    tui.send(b" ");
    let s = tui.wait_until("resumed", T, |s| !s.contains("paused"));
    assert!(s.contains(r#"{"id":6,"total":600}"#), "{s}");
    assert!(!s.contains(r#""total":1}"#), "{s}");

    // Detail: the newest (selected) message pretty-printed as JSON.
    tui.send(b"\r");
    let s = tui.wait_for("\"total\": 600", T);
    assert!(s.contains("JSON"), "{s}");
    tui.send(b"\x1b");
    tui.wait_until("back to the feed", T, |s| !s.contains("\"total\": 600"));

    tui.send(b"q");
    assert_eq!(tui.wait_exit(T), Some(0));
    assert!(
        !tui.alternate_screen(),
        "terminal left in the alternate screen"
    );
}

#[test]
fn hostile_payload_is_shown_escaped_and_changes_nothing_in_the_terminal() {
    let server = Server::start();
    let url = server.url();
    let mut tui = Tui::spawn(&[&url, "-c", "evil"], 140, 30);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 1);
    let payload: &[u8] =
        b"A\x1b]0;pwned-title\x07B\x1b]52;c;c3RvbGVu\x07C\x1b[2JD\x1b[6nE\xe2\x80\xaeF\x9bG";
    let _: i64 = server.conn().publish("evil", payload).unwrap();
    let s = tui.wait_for(r"A\x1b]0;pwned-title\x07B", T);
    assert!(
        s.contains(r"\x1b]52;c;c3RvbGVu\x07C\x1b[2JD\x1b[6nE\u{202e}F\x9bG"),
        "{s}"
    );
    // The header survived: the screen was not cleared by the payload.
    assert!(s.contains("connected"), "{s}");
    tui.with_parser(|p| {
        assert!(p
            .callbacks()
            .titles
            .iter()
            .all(|t| !t.windows(5).any(|w| w == b"pwned")));
        assert!(p.callbacks().clipboard.is_empty(), "clipboard was written");
    });
    let raw = tui.raw_output();
    for needle in [
        &b"\x1b]52;"[..],
        b"\x1b]0;pwned",
        b"\x1b[6n",
        b"\xe2\x80\xae",
        b"\x9b",
    ] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "raw terminal output contains {needle:?}"
        );
    }
    // Detail view escapes too.
    tui.send(b"\r");
    tui.wait_for("pwned-title", T);
    tui.with_parser(|p| assert!(p.callbacks().clipboard.is_empty()));
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn no_color_draws_without_colours_but_keeps_the_selection_visible() {
    let server = Server::start();
    let url = server.url();
    let mut tui = Tui::spawn_env(&[&url, "-c", "c"], &[("NO_COLOR", "1")], 100, 20);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 1);
    let _: i64 = server.conn().publish("c", "hello").unwrap();
    tui.wait_for("hello", T);
    tui.with_parser(|p| {
        let screen = p.screen();
        let mut inverse = 0;
        for row in 0..20 {
            for col in 0..100 {
                if let Some(cell) = screen.cell(row, col) {
                    assert_eq!(cell.fgcolor(), vt100::Color::Default, "fg at {row},{col}");
                    assert_eq!(cell.bgcolor(), vt100::Color::Default, "bg at {row},{col}");
                    inverse += usize::from(cell.inverse());
                }
            }
        }
        assert!(
            inverse > 0,
            "highlighted parts (tabs, selection) use reverse video"
        );
    });
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn subscribe_from_the_channels_pane_and_see_messages_in_the_feed() {
    let server = Server::start();
    let url = server.url();
    // Somebody else listens on "news"; redtail itself only on "other".
    let mut listener = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    std::io::Write::write_all(&mut listener, b"SUBSCRIBE news\r\n").unwrap();
    let mut tui = Tui::spawn(&[&url, "-c", "other"], 120, 30);
    tui.wait_for("connected", T);
    tui.send(b"2");
    tui.wait_until("the news channel with its subscriber", T, |s| {
        s.lines()
            .any(|l| l.contains("news") && l.split_whitespace().any(|w| w == "1"))
    });
    // Narrow the table to the row, then subscribe to it.
    tui.send(b"/");
    tui.send(b"news");
    tui.send(b"\r");
    tui.wait_for("filter news (1 of 2)", T);
    tui.send(b"\r");
    tui.wait_for("subscribed: news, other", T);
    wait_subscribed(&server, 2);
    let _: i64 = server.conn().publish("news", "extra extra").unwrap();
    tui.send(b"1");
    let s = tui.wait_for("extra extra", T);
    assert!(
        s.lines()
            .any(|l| l.contains("news") && l.contains("extra extra")),
        "{s}"
    );
    tui.send(b"q");
    tui.wait_exit(T);
    drop(listener);
}

/// Screen row (0-based) of the first line containing `text`.
fn line_of(screen: &str, text: &str) -> Option<usize> {
    screen.lines().position(|l| l.contains(text))
}

/// A left click (SGR mouse report, 1-based coordinates) on a screen row.
fn click(tui: &mut Tui, row: usize) {
    let press = format!("\x1b[<0;6;{}M", row + 1);
    let release = format!("\x1b[<0;6;{}m", row + 1);
    tui.send(press.as_bytes());
    tui.send(release.as_bytes());
}

fn selected_line(screen: &str) -> String {
    screen
        .lines()
        .find(|l| l.trim_start().starts_with('›'))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn clicking_a_row_selects_it_in_the_table_panes() {
    let server = Server::start();
    let url = server.url();
    // Other clients: channels with 3, 2 and 1 subscribers (sorted by subscribers).
    let mut listeners = Vec::new();
    for (ch, n) in [("alpha", 3), ("bravo", 2), ("charlie", 1)] {
        for _ in 0..n {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            std::io::Write::write_all(&mut c, format!("SUBSCRIBE {ch}\r\n").as_bytes()).unwrap();
            listeners.push(c);
        }
    }
    // A stream with a group and pending entries, and a second stream.
    for i in 0..3 {
        server.cli(&["XADD", "jobs", "*", "n", &i.to_string()]);
    }
    server.cli(&["XADD", "other", "*", "n", "1"]);
    server.create_group("jobs", "g");
    server.read_group("jobs", "g", "w", 10);

    let mut tui = Tui::spawn(&[&url, "-c", "zulu"], 120, 30);
    tui.wait_for("connected", T);

    tui.send(b"2");
    let s = tui.wait_until("three channels", T, |s| {
        ["alpha", "bravo", "charlie"].iter().all(|c| s.contains(c))
    });
    let row = line_of(&s, "charlie").expect("charlie row");
    click(&mut tui, row);
    tui.wait_until("charlie selected", T, |s| {
        selected_line(s).contains("charlie")
    });

    tui.send(b"3");
    let s = tui.wait_until("two streams", T, |s| {
        s.contains("jobs") && s.contains("other")
    });
    let target = if selected_line(&s).contains("jobs") {
        "other"
    } else {
        "jobs"
    };
    let row = line_of(&s, &format!(" {target} ")).expect("stream row");
    click(&mut tui, row);
    tui.wait_until("the other stream selected", T, |s| {
        selected_line(s).contains(target)
    });

    tui.send(b"4");
    tui.send(b"t");
    tui.send(b"\x15");
    tui.send(b"jobs g");
    tui.send(b"\r");
    let ids: Vec<String> = server
        .cli(&["XRANGE", "jobs", "-", "+"])
        .lines()
        .filter(|l| l.contains('-') && l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let s = tui.wait_until("pending rows", T, |s| {
        ids.iter().all(|id| s.contains(id.as_str()))
    });
    let unselected = ids
        .iter()
        .find(|id| !selected_line(&s).contains(id.as_str()))
        .expect("an unselected id")
        .clone();
    let row = line_of(&s, &unselected).expect("pending row");
    click(&mut tui, row);
    tui.wait_until("the clicked entry selected", T, |s| {
        selected_line(s).contains(unselected.as_str())
    });
    tui.send(b"q");
    tui.wait_exit(T);
    drop(listeners);
}

#[test]
fn a_refused_login_is_shown_not_retried_and_retry_connects_once_fixed() {
    let server = Server::start_with(&["--requirepass", "secret"]);
    let url = format!("redis://:client-pass@127.0.0.1:{}", server.port);
    let mut tui = Tui::spawn(&[&url, "-c", "c"], 140, 30);
    let screen = tui.wait_for("authentication failed for user default", T);
    assert!(!screen.contains("Cannot reach the server"), "{screen}");
    // Retry is R (r sends a message again); the screen names the key from the keymap.
    assert!(screen.contains("press R to"), "{screen}");
    assert!(!screen.contains("client-pass"), "{screen}");
    // No retry storm: the subscriber, pollers and stream watcher all wait.
    std::thread::sleep(Duration::from_secs(5));
    let failed = common::failed_auths(&server, "secret");
    assert!((1..=2).contains(&failed), "{failed} failed AUTHs in 5 s");
    // Fix the password on the server, then ask for one new attempt.
    let out = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &server.port.to_string(),
            "--no-auth-warning",
            "-a",
            "secret",
        ])
        .args(["CONFIG", "SET", "requirepass", "client-pass"])
        .output()
        .expect("redis-cli");
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
    tui.send(b"R");
    tui.wait_for("connected", T);
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn memory_bounded_by_max_bytes_keeps_a_huge_message_truncated_and_says_so() {
    let server = Server::start();
    let url = server.url();
    // 2 MiB in all: the feed gets 1 MiB of it (the buffer in front of it the rest).
    let mut tui = Tui::spawn(&[&url, "-c", "big", "--max-bytes", "2MiB"], 140, 30);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 1);
    let huge = vec![b'h'; 3 << 20];
    let _: i64 = server.conn().publish("big", huge).unwrap();
    tui.wait_for("hhhhhhhh", T);
    tui.send(b"\r");
    let s = tui.wait_for("of 3,145,728 bytes (kept truncated", T);
    assert!(s.contains("larger than --max-bytes"), "{s}");
    tui.send(b"\x1b");
    tui.send(b"q");
    assert_eq!(tui.wait_exit(T), Some(0));
}

/// The header's msg/s figure, e.g. 12.4 from "live  12.4 msg/s · …".
fn header_rate(screen: &str) -> Option<f64> {
    let line = screen.lines().find(|l| l.contains(" msg/s"))?;
    let before = &line[..line.find(" msg/s")?];
    before
        .split_whitespace()
        .last()?
        .replace(',', "")
        .parse()
        .ok()
}

#[test]
fn an_outage_shows_rate_zero_and_an_open_gap_before_the_reconnect() {
    let mut server = Server::start();
    let url = server.url();
    let mut tui = Tui::spawn(&[&url, "-c", "beat"], 140, 30);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 1);
    // A steady publisher that stops by itself when the server goes away.
    let mut c = server.conn();
    let publisher = std::thread::spawn(move || {
        for _ in 0..3000 {
            if c.publish::<_, _, i64>("beat", "x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let s = tui.wait_until("a rate above 0", T, |s| {
        header_rate(s).is_some_and(|r| r > 0.0)
    });
    assert!(s.contains("0 gaps"), "{s}");
    server.kill();
    // The first screen that knows of the outage already shows rate 0 and the open gap,
    // counted (the gap row itself only comes after the reconnect).
    let s = tui.wait_for("gap open", T);
    assert_eq!(header_rate(&s), Some(0.0), "{s}");
    assert!(s.contains("1 gap "), "{s}");
    let _ = publisher.join();
    // Still down a few seconds later: still 0, the gap still open and counted once.
    let s = tui.wait_until("the gap open for 2 s or more", T, |s| {
        s.lines().any(|l| {
            l.split("gap open ")
                .nth(1)
                .and_then(|r| r.split(['s', ' ']).next())
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= 2)
        })
    });
    assert_eq!(header_rate(&s), Some(0.0), "{s}");
    assert!(s.contains("1 gap "), "{s}");
    server.restart();
    let s = tui.wait_until(
        "reconnected with the gap closed",
        Duration::from_secs(30),
        |s| s.contains("● connected") && !s.contains("gap open") && s.contains("disconnected "),
    );
    assert!(s.contains("1 gap "), "counted once: {s}");
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn a_channel_under_two_patterns_counts_each_message_once_at_its_real_rate() {
    let server = Server::start();
    let url = server.url();
    let mut tui = Tui::spawn(&[&url, "-p", "*", "-p", "rate:*"], 140, 30);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 2);
    tui.send(b"2");
    // 70 messages at about 10/s; every one reaches redtail twice (`*` and `rate:*`).
    let mut c = server.conn();
    let first = std::time::Instant::now();
    for i in 0..70 {
        let _: i64 = c.publish("rate:x", format!("m{i}")).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let published_over = first.elapsed().as_secs_f64() - 0.1;
    let row = |s: &str| -> Option<Vec<String>> {
        let line = s.lines().find(|l| l.contains("rate:x"))?;
        let cells = line.split_whitespace().map(str::to_string);
        // From the name on (the selected row starts with a marker).
        Some(cells.skip_while(|c| c != "rate:x").collect())
    };
    let s = tui.wait_until("rate:x counted", T, |s| {
        row(s).is_some_and(|r| r.get(3).is_some_and(|seen| seen == "70"))
    });
    let read_after = first.elapsed().as_secs_f64();
    let cells = row(&s).expect("row");
    // name, kind, subscribers (— : only via patterns), seen, msg/s, …
    assert_eq!(cells[3], "70", "seen counts messages, not deliveries: {s}");
    let rate: f64 = cells[4].parse().unwrap_or_else(|_| panic!("msg/s in {s}"));
    // The rate is 70 over the time observed so far, somewhere between the publishing
    // time and the time of this screen (generous: a loaded machine stretches both).
    let (low, high) = (70.0 / (read_after + 1.0) * 0.8, 70.0 / published_over * 1.2);
    assert!(
        (low..=high).contains(&rate),
        "msg/s {rate} not in {low:.2}..={high:.2} (published over {published_over:.1} s): {s}"
    );
    tui.send(b"q");
    tui.wait_exit(T);
}
