pub mod cli;
pub mod filter;
pub mod redis;
pub mod render_text;
pub mod tail;
