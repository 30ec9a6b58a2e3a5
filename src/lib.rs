pub mod app;
pub mod cli;
pub mod demo;
pub mod filter;
pub mod redis;
pub mod render_text;
pub mod stats;
pub mod tail;
