//! Headless `publish`: one PUBLISH or SPUBLISH through the action layer (read-only guard,
//! audit record), printing the receiver count; or, with `--from`, a replay of a captured
//! JSONL file (`replay.rs`).

mod replay;

use std::sync::Arc;

use anyhow::Result;

use crate::audit::AuditLog;
use crate::cli::PublishArgs;
use crate::exit::UsageError;
use crate::redis::actions::{self, ActionContext, ReadOnly};
use crate::redis::route::Route;

pub async fn run(args: PublishArgs, route: Arc<Route>, read_only: ReadOnly) -> Result<i32> {
    if args.from.is_some() {
        return replay::run(args, route, read_only).await;
    }
    let replay_only = [
        ("--channel", args.to_channel.is_some()),
        ("--rate", args.rate.is_some()),
        ("--as-recorded", args.as_recorded),
        ("--strict", args.strict),
        ("--json", args.json),
    ];
    if let Some((flag, _)) = replay_only.iter().find(|(_, set)| *set) {
        return Err(UsageError(format!(
            "{flag} is for replaying a capture: add --from FILE.jsonl (to publish one \
             message, give only CHANNEL PAYLOAD [--shard])"
        ))
        .into());
    }
    let (Some(channel), Some(payload)) = (&args.channel, &args.payload) else {
        return Err(UsageError(
            "publish needs a CHANNEL and a PAYLOAD, or --from FILE.jsonl to replay a capture"
                .into(),
        )
        .into());
    };
    let audit = AuditLog::open_default()?;
    let ctx = context(&route, read_only, &audit);
    let outcome = actions::publish(
        &ctx,
        &route,
        channel.as_bytes(),
        payload.as_bytes(),
        args.shard,
    )
    .await?;
    crate::commands::write_stdout(format!("{}\n", outcome.receivers).as_bytes())?;
    if outcome.receivers == 0 {
        eprintln!(
            "redtail: nobody was listening — the message is gone (Pub/Sub keeps nothing \
             for absent subscribers; use a stream if it must be kept)"
        );
    }
    Ok(0)
}

fn context<'a>(route: &Route, read_only: ReadOnly, audit: &'a AuditLog) -> ActionContext<'a> {
    ActionContext {
        // The publish action names the node it was sent to.
        server: route.template().to_string(),
        read_only,
        cluster: route.is_cluster(),
        audit,
    }
}
