//! Who is subscribed: `CLIENT LIST TYPE pubsub`, and the output-buffer limit that
//! decides when the server disconnects a subscriber that reads too slowly.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::Value;

use crate::redis::error::PollError;
use crate::redis::reply::{into_bytes, into_items, strip_attribute};

/// One subscribed client, from a `CLIENT LIST` line. Fields we do not use are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PubSubClient {
    pub id: u64,
    pub addr: String,
    /// Set with CLIENT SETNAME; the server allows only printable ASCII, but escape it
    /// anyway before display: it came off the network.
    pub name: String,
    /// Channel subscriptions.
    pub sub: u64,
    /// Pattern subscriptions.
    pub psub: u64,
    /// Shard channel subscriptions (0 before Redis 7.0, which lacks the field).
    pub ssub: u64,
    /// Bytes waiting in the client's output buffer: a subscriber that is falling behind.
    pub omem: u64,
    pub age: Duration,
    pub idle: Duration,
}

/// The `pubsub` class of `client-output-buffer-limit`: past `hard_bytes`, or past
/// `soft_bytes` for `soft_seconds`, the server disconnects the subscriber. 0 = no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

pub async fn client_list_pubsub(
    conn: &mut MultiplexedConnection,
) -> Result<Vec<PubSubClient>, PollError> {
    const COMMAND: &str = "CLIENT LIST";
    let reply: Value = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(conn)
        .await
        .map_err(|e| PollError::from_redis(COMMAND, &e))?;
    let text = into_bytes(reply).ok_or_else(|| PollError {
        command: COMMAND.into(),
        kind: crate::redis::error::PollErrorKind::Reply,
        message: format!("{COMMAND} failed: unexpected reply (not text)"),
    })?;
    Ok(parse_client_list(&text))
}

/// None when the user may not run CONFIG GET (common on managed services) or the
/// value cannot be read: the limit is then simply not shown.
pub async fn pubsub_output_limit(conn: &mut MultiplexedConnection) -> Option<OutputLimit> {
    let reply: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("client-output-buffer-limit")
        .query_async(conn)
        .await
        .ok()?;
    // RESP2 answers [name, value]; RESP3 a map {name: value}.
    let value = match strip_attribute(reply) {
        Value::Map(pairs) => pairs.into_iter().next().map(|(_, v)| v)?,
        v => into_items(v)?.into_iter().nth(1)?,
    };
    let text = into_bytes(value)?;
    parse_output_limit(std::str::from_utf8(&text).ok()?)
}

/// Lines of `key=value` fields separated by spaces. Lines without an id are skipped;
/// an unreadable number counts as 0 rather than hiding the client.
pub fn parse_client_list(text: &[u8]) -> Vec<PubSubClient> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = String::from_utf8_lossy(line);
            let mut client = PubSubClient::default();
            let mut has_id = false;
            for field in line.trim_end_matches('\r').split(' ') {
                let Some((key, value)) = field.split_once('=') else {
                    continue;
                };
                let num = || value.parse::<u64>().unwrap_or(0);
                match key {
                    "id" => {
                        client.id = num();
                        has_id = value.parse::<u64>().is_ok();
                    }
                    "addr" => client.addr = value.to_string(),
                    "name" => client.name = value.to_string(),
                    "sub" => client.sub = num(),
                    "psub" => client.psub = num(),
                    "ssub" => client.ssub = num(),
                    "omem" => client.omem = num(),
                    "age" => client.age = Duration::from_secs(num()),
                    "idle" => client.idle = Duration::from_secs(num()),
                    _ => {}
                }
            }
            has_id.then_some(client)
        })
        .collect()
}

/// `normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60`: groups of four.
pub fn parse_output_limit(text: &str) -> Option<OutputLimit> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.chunks(4).find_map(|group| match group {
        ["pubsub", hard, soft, seconds] => Some(OutputLimit {
            hard_bytes: parse_memory(hard)?,
            soft_bytes: parse_memory(soft)?,
            soft_seconds: seconds.parse().ok()?,
        }),
        _ => None,
    })
}

/// Redis memory units: k/m/g are powers of 1000, kb/mb/gb powers of 1024.
fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_7_0_and_6_2_lines_and_skips_junk() {
        let text = b"id=5 addr=127.0.0.1:50000 laddr=127.0.0.1:6379 fd=8 name=worker age=12 idle=3 flags=P db=0 sub=2 psub=1 ssub=4 multi=-1 qbuf=0 omem=1024 cmd=ssubscribe user=default\r\n\
id=6 addr=[::1]:50001 fd=9 name= age=1 idle=1 flags=P db=0 sub=1 psub=0 multi=-1 omem=0\n\
garbage line without fields\n\n";
        let clients = parse_client_list(text);
        assert_eq!(clients.len(), 2);
        assert_eq!(
            clients[0],
            PubSubClient {
                id: 5,
                addr: "127.0.0.1:50000".into(),
                name: "worker".into(),
                sub: 2,
                psub: 1,
                ssub: 4,
                omem: 1024,
                age: Duration::from_secs(12),
                idle: Duration::from_secs(3),
            }
        );
        assert_eq!(clients[1].addr, "[::1]:50001");
        assert_eq!(clients[1].ssub, 0);
        assert_eq!(clients[1].name, "");
    }

    #[test]
    fn output_limit_with_and_without_units() {
        let plain = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
        assert_eq!(
            parse_output_limit(plain),
            Some(OutputLimit {
                hard_bytes: 32 << 20,
                soft_bytes: 8 << 20,
                soft_seconds: 60
            })
        );
        let units = "normal 0 0 0 replica 256mb 64mb 60 pubsub 32MB 8m 30";
        assert_eq!(
            parse_output_limit(units),
            Some(OutputLimit {
                hard_bytes: 32 << 20,
                soft_bytes: 8_000_000,
                soft_seconds: 30
            })
        );
        assert_eq!(parse_output_limit("normal 0 0 0"), None);
        assert_eq!(parse_output_limit("pubsub 1parsec 0 0"), None);
    }
}
