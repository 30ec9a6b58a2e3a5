pub mod app;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod decode;
pub mod exit;
pub mod filter;
pub mod json;
pub mod jsonl;
pub mod keymap;
pub mod redis;
pub mod signals;
pub mod state;
#[cfg(test)]
mod test_rng;
pub mod text;
pub mod ui;
