//! Consumer group management: create, SETID, destroy, and deleting a consumer only when
//! it holds nothing (so no pending entry silently disappears).

use std::str::FromStr;

use redis::aio::MultiplexedConnection;
use redis::Value;
use serde::Serialize;

use super::{script_command_error, ActionContext, ActionError, ActionOutcome, Attempt};
use crate::audit::BinText;
use crate::redis::pending::{
    bytes_of, check_reply, parse_summary, redis_error, reply_error, u64_of, StreamId,
};
use crate::text::escape::escape_line;

/// Where a group starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStart {
    /// `$`: only entries added from now on.
    End,
    /// `0`: every entry in the stream.
    Beginning,
    /// After this id.
    After(StreamId),
}

impl FromStr for GroupStart {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "$" => Ok(GroupStart::End),
            "0" | "0-0" => Ok(GroupStart::Beginning),
            other => other
                .parse::<StreamId>()
                .map(GroupStart::After)
                .map_err(|e| format!("{e}, or $ (new entries only) or 0 (all entries)")),
        }
    }
}

impl std::fmt::Display for GroupStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupStart::End => f.write_str("$"),
            GroupStart::Beginning => f.write_str("0"),
            GroupStart::After(id) => write!(f, "{id}"),
        }
    }
}

impl Serialize for GroupStart {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupCreateOutcome {
    pub group: BinText,
    pub start: GroupStart,
    pub mkstream: bool,
}

impl ActionOutcome for GroupCreateOutcome {
    fn summary(&self) -> String {
        format!(
            "created group {} reading from {}",
            escape_line(&self.group.0),
            self.start
        )
    }
}

/// XGROUP CREATE (with MKSTREAM when `mkstream`, creating an empty stream if missing).
pub async fn create_group(
    ctx: &ActionContext<'_>,
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    start: GroupStart,
    mkstream: bool,
) -> Result<GroupCreateOutcome, ActionError> {
    const COMMAND: &str = "XGROUP CREATE";
    let attempt = Attempt::start(ctx, "group-create", COMMAND, stream, Some(group));
    if let Err(e) = attempt.check_writable() {
        return attempt.finish(Err(e), None);
    }
    let mut cmd = redis::cmd("XGROUP");
    cmd.arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg(start.to_string());
    if mkstream {
        cmd.arg("MKSTREAM");
    }
    let result = cmd
        .query_async::<Value>(conn)
        .await
        .map(|_| GroupCreateOutcome {
            group: BinText::from(group),
            start,
            mkstream,
        })
        .map_err(|e| {
            let mut e = ActionError::from(redis_error(COMMAND, &e));
            if e.message.contains("BUSYGROUP") {
                e.message
                    .push_str(" — pick another name, or move the existing group with SETID");
            } else if e.message.contains("requires the key to exist") {
                e.message
                    .push_str(" — create the stream too (MKSTREAM) or check the key name");
            }
            e
        });
    attempt.finish(result, None)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupSetIdOutcome {
    pub group: BinText,
    pub start: GroupStart,
}

impl ActionOutcome for GroupSetIdOutcome {
    fn summary(&self) -> String {
        format!(
            "group {} now reads after {} (its pending entries are unchanged)",
            escape_line(&self.group.0),
            self.start
        )
    }
}

/// XGROUP SETID: move the group's last-delivered id.
pub async fn set_group_id(
    ctx: &ActionContext<'_>,
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    start: GroupStart,
) -> Result<GroupSetIdOutcome, ActionError> {
    const COMMAND: &str = "XGROUP SETID";
    let attempt = Attempt::start(ctx, "group-setid", COMMAND, stream, Some(group));
    if let Err(e) = attempt.check_writable() {
        return attempt.finish(Err(e), None);
    }
    let result = redis::cmd("XGROUP")
        .arg("SETID")
        .arg(stream)
        .arg(group)
        .arg(start.to_string())
        .query_async::<Value>(conn)
        .await
        .map(|_| GroupSetIdOutcome {
            group: BinText::from(group),
            start,
        })
        .map_err(|e| ActionError::from(redis_error(COMMAND, &e)));
    attempt.finish(result, None)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupDestroyOutcome {
    pub group: BinText,
    pub existed: bool,
    /// Pending entries the group held when it was destroyed (now forgotten).
    pub pending_dropped: u64,
    pub consumers: Vec<(BinText, u64)>,
}

impl ActionOutcome for GroupDestroyOutcome {
    fn summary(&self) -> String {
        if !self.existed {
            return format!("no group {} to destroy", escape_line(&self.group.0));
        }
        format!(
            "destroyed group {} ({} pending entries of {} consumers forgotten)",
            escape_line(&self.group.0),
            self.pending_dropped,
            self.consumers.len()
        )
    }
    fn is_complete(&self) -> bool {
        self.existed
    }
}

/// XGROUP DESTROY, recording what the group still held.
pub async fn destroy_group(
    ctx: &ActionContext<'_>,
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
) -> Result<GroupDestroyOutcome, ActionError> {
    const COMMAND: &str = "XGROUP DESTROY";
    let attempt = Attempt::start(ctx, "group-destroy", COMMAND, stream, Some(group));
    if let Err(e) = attempt.check_writable() {
        return attempt.finish(Err(e), None);
    }
    let result = destroy(conn, stream, group).await;
    attempt.finish(result, None)
}

async fn destroy(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
) -> Result<GroupDestroyOutcome, ActionError> {
    // Summary and destroy travel together so the record describes what was dropped.
    let replies: Vec<Value> = redis::pipe()
        .cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .cmd("XGROUP")
        .arg("DESTROY")
        .arg(stream)
        .arg(group)
        .ignore_errors()
        .query_async(conn)
        .await
        .map_err(|e| redis_error("XGROUP DESTROY", &e))?;
    let mut replies = replies.into_iter();
    let (Some(summary), Some(destroyed)) = (replies.next(), replies.next()) else {
        return Err(reply_error("XGROUP DESTROY", "wrong number of replies").into());
    };
    let destroyed = check_reply("XGROUP DESTROY")(destroyed)?;
    // NOGROUP from XPENDING just means there was nothing to destroy.
    let summary = match summary {
        Value::ServerError(_) => None,
        other => parse_summary(other),
    }
    .unwrap_or_default();
    Ok(GroupDestroyOutcome {
        group: BinText::from(group),
        existed: destroyed == Value::Int(1),
        pending_dropped: summary.count,
        consumers: summary
            .consumers
            .iter()
            .map(|(name, n)| (BinText::from(name.as_ref()), *n))
            .collect(),
    })
}

/// KEYS[1] stream; ARGV[1] group, ARGV[2] consumer. Check and delete in one step, so a
/// consumer that reads an entry in between cannot lose it.
const DELETE_CONSUMER_SCRIPT: &str = r#"
local r = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if r.err then return {'error', 'XINFO CONSUMERS', r.err} end
for _, c in ipairs(r) do
  local name, pending
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1] end
  end
  if name == ARGV[2] then
    if pending and pending > 0 then return {'has_pending', pending} end
    local d = redis.pcall('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
    if type(d) == 'table' and d.err then return {'error', 'XGROUP DELCONSUMER', d.err} end
    return {'ok'}
  end
end
return {'missing'}
"#;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerDeleteOutcome {
    pub group: BinText,
    pub consumer: BinText,
}

impl ActionOutcome for ConsumerDeleteOutcome {
    fn summary(&self) -> String {
        format!(
            "deleted consumer {} from group {} (it held no pending entries)",
            escape_line(&self.consumer.0),
            escape_line(&self.group.0)
        )
    }
}

/// XGROUP DELCONSUMER, refused while the consumer still holds pending entries (deleting
/// it would drop them from the pending list without anyone processing them).
pub async fn delete_consumer(
    ctx: &ActionContext<'_>,
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    consumer: &[u8],
) -> Result<ConsumerDeleteOutcome, ActionError> {
    const COMMAND: &str = "EVAL (XINFO CONSUMERS, XGROUP DELCONSUMER)";
    let attempt =
        Attempt::start(ctx, "consumer-delete", COMMAND, stream, Some(group)).consumer(consumer);
    if let Err(e) = attempt.check_writable() {
        return attempt.finish(Err(e), None);
    }
    let result = delete_consumer_run(conn, stream, group, consumer).await;
    attempt.finish(result, None)
}

async fn delete_consumer_run(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    consumer: &[u8],
) -> Result<ConsumerDeleteOutcome, ActionError> {
    let reply: Value = redis::cmd("EVAL")
        .arg(DELETE_CONSUMER_SCRIPT)
        .arg(1)
        .arg(stream)
        .arg(group)
        .arg(consumer)
        .query_async(conn)
        .await
        .map_err(|e| redis_error("EVAL", &e))?;
    let bad = || {
        reply_error(
            "EVAL",
            "consumer-delete script answered something unexpected",
        )
    };
    let parts = crate::redis::pending::into_items(reply).ok_or_else(bad)?;
    let status = parts.first().and_then(bytes_of).ok_or_else(bad)?;
    let text = |i: usize| {
        parts
            .get(i)
            .and_then(bytes_of)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let name = escape_line(consumer);
    let group_name = escape_line(group);
    match status.as_ref() {
        b"ok" => Ok(ConsumerDeleteOutcome {
            group: BinText::from(group),
            consumer: BinText::from(consumer),
        }),
        b"has_pending" => Err(ActionError::refused(
            "XGROUP DELCONSUMER",
            format!(
                "consumer-delete refused: {name} still holds {} in group \
                 {group_name}; claim or ack them first (deleting it would drop them \
                 unprocessed)",
                crate::text::plural(
                    parts.get(1).and_then(u64_of).unwrap_or(0),
                    "pending entry",
                    "pending entries"
                )
            ),
        )),
        b"missing" => Err(ActionError::refused(
            "XGROUP DELCONSUMER",
            format!(
                "consumer-delete: group {group_name} has no consumer {name}; nothing was changed"
            ),
        )),
        b"error" => Err(script_command_error(&text(1), &text(2))),
        _ => Err(bad().into()),
    }
}
