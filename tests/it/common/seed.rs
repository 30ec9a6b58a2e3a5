//! What tests put on a server before they look, written as any other client would:
//! stream entries, a consumer group, entries a consumer holds unacked, and `redtail tail`
//! started and subscribed (so nothing published afterwards is missed).

use super::{wait_subscribed, Proc, Server};

impl Server {
    /// `XADD stream * fields…`: the new entry's id. Panics on an error reply.
    pub fn xadd(&self, stream: &str, fields: &[&str]) -> String {
        redis::cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg(fields)
            .query(&mut self.conn())
            .unwrap_or_else(|e| panic!("XADD {stream}: {e}"))
    }

    /// `consumer` of `group` reads up to `count` new entries of `stream`
    /// (`XREADGROUP … >`): they are pending on it until acked. Panics on an error reply.
    pub fn read_group(&self, stream: &str, group: &str, consumer: &str, count: usize) {
        let _: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(stream)
            .arg(">")
            .query(&mut self.conn())
            .unwrap_or_else(|e| panic!("XREADGROUP {stream} {group} {consumer}: {e}"));
    }

    /// `XGROUP CREATE stream group 0`: a group that will read the stream from its start.
    /// Panics on an error reply.
    pub fn create_group(&self, stream: &str, group: &str) {
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg("0")
            .query(&mut self.conn())
            .unwrap_or_else(|e| panic!("XGROUP CREATE {stream} {group}: {e}"));
    }

    /// A worker that crashed: `entries` entries `task t0`, `task t1`… in `stream`, a
    /// `group` reading from the start, and `consumer` holding every one of them, never
    /// acked. Their ids, oldest first.
    pub fn crashed_worker(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        entries: usize,
    ) -> Vec<String> {
        let ids = (0..entries)
            .map(|i| self.xadd(stream, &["task", &format!("t{i}")]))
            .collect();
        self.create_group(stream, group);
        self.read_group(stream, group, consumer, entries);
        ids
    }
}

/// `redtail tail URL --format jsonl ARGS…` on `server`, returned once the server counts
/// `subscriptions` subscriptions of redtail's (channels, patterns and shard channels).
pub fn tail_jsonl(server: &Server, args: &[&str], subscriptions: usize) -> Proc {
    let url = server.url();
    let mut all = vec!["tail", url.as_str(), "--format", "jsonl"];
    all.extend_from_slice(args);
    let p = Proc::spawn(&all);
    wait_subscribed(server, subscriptions);
    p
}
