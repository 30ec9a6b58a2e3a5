//! Headless `stats` and `publish` (being written).
use anyhow::{bail, Result};

use crate::cli::{PublishArgs, StatsArgs};
use crate::redis::conn::Target;

pub async fn run_stats(_args: StatsArgs, _target: Target) -> Result<i32> {
    bail!("stats: not built yet")
}

pub async fn run_publish(_args: PublishArgs, _target: Target) -> Result<i32> {
    bail!("publish: not built yet")
}
