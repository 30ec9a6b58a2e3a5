//! The TUI event loop (being written).
use anyhow::{bail, Result};

use crate::cli::TuiArgs;
use crate::redis::conn::Target;

pub async fn run(_args: TuiArgs, _target: Target) -> Result<i32> {
    bail!("the TUI is not built yet; use `redtail tail`")
}
