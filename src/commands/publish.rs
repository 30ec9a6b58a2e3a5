//! Headless `publish`: one PUBLISH or SPUBLISH through the action layer (read-only guard,
//! audit record), printing the receiver count.

use std::sync::Arc;

use anyhow::Result;

use crate::audit::AuditLog;
use crate::cli::PublishArgs;
use crate::redis::actions::{self, ActionContext, ReadOnly};
use crate::redis::route::Route;

pub async fn run(args: PublishArgs, route: Arc<Route>, read_only: ReadOnly) -> Result<i32> {
    let audit = AuditLog::open_default()?;
    let ctx = ActionContext {
        // The publish action names the node it was sent to.
        server: route.template().to_string(),
        read_only,
        cluster: route.is_cluster(),
        audit: &audit,
    };
    let outcome = actions::publish(
        &ctx,
        &route,
        args.channel.as_bytes(),
        args.payload.as_bytes(),
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
