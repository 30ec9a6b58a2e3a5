//! A server that accepts connections and never answers (hung, or a firewall that drops
//! the traffic after the accept): a one-shot command ends within the connect timeout —
//! one deadline for the deployment probe and the connect together — with one message
//! that names the server and the seconds it really waited. (The listener is a dead
//! network, not a stand-in for Redis: it never says a byte.)

use crate::common::{self, Proc};

use std::time::{Duration, Instant};

use redtail::redis::conn::CONNECT_TIMEOUT;

#[test]
fn one_shot_commands_against_a_silent_server_end_within_the_connect_timeout() {
    let port = common::silent_listener();
    let url = format!("redis://127.0.0.1:{port}");
    let expected = format!(
        "cannot connect to {url}: the server did not answer within {} s",
        CONNECT_TIMEOUT.as_secs()
    );
    // doctor uses 1 for "problems found": its "could not check" is 3 (src/exit.rs).
    let commands: [(&[&str], i32); 6] = [
        (&["stats", &url], redtail::exit::ERROR),
        (
            &["pending", "--url", &url, "jobs", "workers"],
            redtail::exit::ERROR,
        ),
        (
            &[
                "claim",
                "--url",
                &url,
                "jobs",
                "workers",
                "me",
                "--min-idle",
                "1",
                "1-0",
            ],
            redtail::exit::ERROR,
        ),
        (
            &["publish", "--url", &url, "news", "hello"],
            redtail::exit::ERROR,
        ),
        (
            &["ack", "--url", &url, "jobs", "workers", "1-0"],
            redtail::exit::ERROR,
        ),
        (&["doctor", &url], redtail::exit::UNAVAILABLE),
    ];
    // All at once: the listener holds every connection open and silent.
    let started = Instant::now();
    let mut running: Vec<(&[&str], i32, Proc)> = commands
        .iter()
        .map(|&(args, code)| (args, code, Proc::spawn(args)))
        .collect();
    for (args, code, p) in &mut running {
        assert_eq!(
            p.wait_exit(Duration::from_secs(15)),
            Some(*code),
            "{args:?}: {}",
            p.stderr()
        );
        let took = started.elapsed();
        let err = p.stderr();
        assert!(
            took < CONNECT_TIMEOUT + Duration::from_secs(1),
            "{args:?} took {took:?}: {err}"
        );
        assert!(err.contains(&expected), "{args:?}: {err}");
        // One message, saying the time it waited: not a second timeout after the first.
        assert_eq!(err.matches("did not answer").count(), 1, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}
