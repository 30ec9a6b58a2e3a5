//! The headless commands, side by side: each turns the engine's answers into text or JSON
//! on stdout (JSON through `crate::json`, text through `crate::text`), and returns its
//! exit code (`crate::exit`).

pub mod demo;
pub mod doctor;
pub mod metrics;
pub mod pending;
pub mod publish;
pub mod stats;
pub mod tail;

use std::io::Write as _;

use anyhow::{anyhow, Result};

/// Write a command's output. A closed pipe (`redtail stats | head -1`) is not an error
/// worth reporting.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow!("cannot write to standard output: {e}"))
        }
        _ => Ok(()),
    }
}
