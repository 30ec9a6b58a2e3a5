use clap::Parser;

use redtail::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("redtail: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        match run(cli).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("redtail: {e:#}");
                1
            }
        }
    });
    // Don't wait for blocked reader threads (e.g. stdin) at shutdown.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    std::process::exit(code);
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Some(Command::Tail(args)) => {
            redtail::tail::validate(&args)?;
            let target = cli.conn.target(args.url_pos.as_deref())?;
            redtail::tail::run(args, target).await
        }
        Some(Command::Stats(args)) => {
            let target = cli.conn.target(args.url_pos.as_deref())?;
            redtail::stats::run_stats(args, target).await
        }
        Some(Command::Publish(args)) => {
            let target = cli.conn.target(None)?;
            redtail::stats::run_publish(args, target).await
        }
        Some(Command::Pending(args)) => {
            let target = cli.conn.target(None)?;
            redtail::pending_cli::run_pending(args, target).await
        }
        Some(Command::Ack(args)) => {
            let target = cli.conn.target(None)?;
            redtail::pending_cli::run_ack(args, target).await
        }
        Some(Command::Claim(args)) => {
            let target = cli.conn.target(None)?;
            redtail::pending_cli::run_claim(args, target).await
        }
        Some(Command::DeadLetter(args)) => {
            let target = cli.conn.target(None)?;
            redtail::pending_cli::run_dead_letter(args, target).await
        }
        Some(Command::Demo(args)) => redtail::demo::run(args, cli.tui).await,
        None => {
            let target = cli.conn.target(cli.url_pos.as_deref())?;
            redtail::app::run(cli.tui, target).await
        }
    }
}
