//! The doctor's extra reads: XPENDING rows for groups with pending entries and whether
//! each entry still exists, two pipelined round trips per node.

use std::collections::BTreeMap;

use futures_util::future::try_join_all;
use redis::aio::MultiplexedConnection;
use redis::Value;

use super::{GroupPending, GroupRef, PendingDetails, MAX_PENDING_PER_GROUP};
use crate::redis::error::PollError;
use crate::redis::pending::{parse_pending_row, redis_error, server_error, PendingRow, StreamId};
use crate::redis::reply::into_items;
use crate::redis::streams::StreamsSnapshot;
use crate::text::escape::escape_line;

/// Commands per pipeline; bigger rounds are split and sent together (one round trip).
const PIPELINE_CHUNK: usize = 1000;

/// The groups of `snapshot` worth a pending read: pending > 0.
pub fn groups_with_pending(snapshot: &StreamsSnapshot) -> Vec<GroupRef<'_>> {
    snapshot
        .streams
        .iter()
        .flat_map(|s| s.groups.iter().map(move |g| (s, g)))
        .filter(|(_, g)| g.pending > 0)
        .collect()
}

/// Read the pending details of `groups` (all on the node behind `conn`) in two round
/// trips. A per-group error reply (NOGROUP after a concurrent destroy, NOPERM) becomes
/// that group's error; a lost connection fails the whole read.
pub async fn read_pending_details(
    conn: &MultiplexedConnection,
    groups: &[GroupRef<'_>],
) -> Result<PendingDetails, PollError> {
    let mut details = PendingDetails::new();
    if groups.is_empty() {
        return Ok(details);
    }
    // Round 1: XPENDING key group - + COUNT for every group.
    let xpending: Vec<redis::Cmd> = groups
        .iter()
        .map(|(s, g)| {
            let mut cmd = redis::cmd("XPENDING");
            cmd.arg(s.key.as_ref())
                .arg(g.name.as_ref())
                .arg("-")
                .arg("+")
                .arg(MAX_PENDING_PER_GROUP);
            cmd
        })
        .collect();
    let replies = run_round(conn, xpending, "XPENDING").await?;
    let mut read: Vec<(usize, GroupPending)> = Vec::new();
    for (i, reply) in replies.into_iter().enumerate() {
        let (stream, group) = groups[i];
        let key = (stream.key.clone(), group.name.clone());
        match parse_rows(reply) {
            Ok(rows) => {
                let truncated = group.pending > rows.len() as u64;
                read.push((
                    i,
                    GroupPending {
                        rows,
                        deleted: Vec::new(),
                        truncated,
                    },
                ));
            }
            Err(message) => {
                details.insert(key, Err(message));
            }
        }
    }
    // Round 2: does each pending entry still exist? Ids before the first entry were
    // trimmed away (or the stream is empty), ids after the last deletion exist: no read
    // needed for those.
    let mut checks = Vec::new();
    let mut owners = Vec::new();
    for (slot, (i, pending)) in read.iter_mut().enumerate() {
        let stream = groups[*i].0;
        for row in &pending.rows {
            let gone_for_sure = match stream.first_entry_id {
                None => true,
                Some(first) => {
                    row.id
                        < StreamId {
                            ms: first.ms,
                            seq: first.seq,
                        }
                }
            };
            if gone_for_sure {
                pending.deleted.push(row.id);
                continue;
            }
            // Nothing at or after this id was ever deleted (XINFO STREAM's
            // max-deleted-entry-id, 7.0+; XDEL and trims raise it, nothing lowers it):
            // the entry exists, no read needed. On a stream nobody deletes from, this
            // leaves no XRANGE at all.
            let exists_for_sure = stream.max_deleted_entry_id.is_some_and(|max| {
                row.id
                    > StreamId {
                        ms: max.ms,
                        seq: max.seq,
                    }
            });
            if exists_for_sure {
                continue;
            }
            let id = row.id.to_string();
            let mut cmd = redis::cmd("XRANGE");
            cmd.arg(stream.key.as_ref())
                .arg(&id)
                .arg(&id)
                .arg("COUNT")
                .arg(1);
            checks.push(cmd);
            owners.push((slot, row.id));
        }
    }
    let replies = run_round(conn, checks, "XRANGE").await?;
    for ((slot, id), reply) in owners.into_iter().zip(replies) {
        let gone = match reply {
            Value::ServerError(_) => false,
            v => into_items(v).is_some_and(|items| items.is_empty()),
        };
        if gone {
            read[slot].1.deleted.push(id);
        }
    }
    for (i, mut pending) in read {
        pending.deleted.sort();
        let (stream, group) = groups[i];
        details.insert((stream.key.clone(), group.name.clone()), Ok(pending));
    }
    Ok(details)
}

fn parse_rows(reply: Value) -> Result<Vec<PendingRow>, String> {
    if let Value::ServerError(e) = reply {
        return Err(server_error("XPENDING", e.code(), e.details().unwrap_or("")).message);
    }
    let bad = || "XPENDING: expected a list of [id, consumer, idle, deliveries]".to_string();
    into_items(reply)
        .ok_or_else(bad)?
        .into_iter()
        .map(|row| parse_pending_row(row).ok_or_else(bad))
        .collect()
}

/// Send `commands` as pipelines of at most [`PIPELINE_CHUNK`], all in flight together;
/// replies in order, error replies kept in place.
async fn run_round(
    conn: &MultiplexedConnection,
    commands: Vec<redis::Cmd>,
    what: &str,
) -> Result<Vec<Value>, PollError> {
    if commands.is_empty() {
        return Ok(Vec::new());
    }
    // Commands are moved into their pipelines, not cloned (3,000+ per findings pass).
    let mut pipes = Vec::with_capacity(commands.len().div_ceil(PIPELINE_CHUNK));
    let mut it = commands.into_iter().peekable();
    while it.peek().is_some() {
        let mut pipe = redis::pipe();
        let mut expected = 0;
        for cmd in it.by_ref().take(PIPELINE_CHUNK) {
            pipe.add_command(cmd);
            expected += 1;
        }
        pipes.push((pipe, expected));
    }
    let chunks = pipes.into_iter().map(|(mut pipe, expected)| {
        let mut conn = conn.clone();
        async move {
            let replies: Vec<Value> = pipe
                .ignore_errors()
                .query_async(&mut conn)
                .await
                .map_err(|e| redis_error(what, &e))?;
            if replies.len() != expected {
                return Err(PollError::reply(what, "fewer replies than commands"));
            }
            Ok(replies)
        }
    });
    Ok(try_join_all(chunks).await?.into_iter().flatten().collect())
}

/// [`read_pending_details`] for every group with pending entries, on the node that holds
/// each stream (a cluster's nodes are read concurrently, two round trips each). A node
/// that cannot be read leaves its groups without details and adds a note saying so.
pub async fn read_details_via_route(
    route: &crate::redis::route::Route,
    pool: &mut crate::redis::route::Pool,
    snapshot: &StreamsSnapshot,
) -> (PendingDetails, Vec<String>) {
    let groups = groups_with_pending(snapshot);
    let mut notes = Vec::new();
    let mut details = PendingDetails::new();
    if groups.is_empty() {
        return (details, notes);
    }
    // Group by node: one target for a single server or Sentinel primary.
    let mut by_node: BTreeMap<String, (crate::redis::conn::Target, Vec<GroupRef<'_>>)> =
        BTreeMap::new();
    let single = if route.is_cluster() {
        None
    } else {
        match route.target(0).await {
            Ok(t) => Some(t),
            Err(e) => {
                notes.push(format!("pending entries not read: {e:#}"));
                return (details, notes);
            }
        }
    };
    for (stream, group) in groups {
        let target = match &single {
            Some(t) => t.clone(),
            None => match route.target_for_key(&stream.key).await {
                Ok(t) => t,
                Err(e) => {
                    notes.push(format!(
                        "pending entries of stream {} not read: {e:#}",
                        escape_line(&stream.key)
                    ));
                    continue;
                }
            },
        };
        by_node
            .entry(target.addr())
            .or_insert_with(|| (target, Vec::new()))
            .1
            .push((stream, group));
    }
    let mut reads = Vec::new();
    for (addr, (target, groups)) in &by_node {
        match pool.get(target).await {
            Ok(conn) => {
                reads.push(async move { (addr, target, read_pending_details(&conn, groups).await) })
            }
            Err(e) => notes.push(format!("pending entries on {addr} not read: {e:#}")),
        }
    }
    for (addr, target, result) in futures_util::future::join_all(reads).await {
        match result {
            Ok(d) => details.extend(d),
            Err(e) => {
                pool.drop_conn(target);
                notes.push(format!("pending entries on {addr} not read: {e}"));
            }
        }
    }
    for ((stream, group), d) in &details {
        if let Err(e) = d {
            notes.push(format!(
                "pending entries of group {} of stream {} not read: {e}",
                escape_line(group),
                escape_line(stream)
            ));
        }
    }
    notes.sort();
    (details, notes)
}
