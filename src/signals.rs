//! The signals that ask redtail to stop: SIGINT (Ctrl-C outside the TUI), SIGTERM
//! (`kill`, `timeout`, systemd, docker) and SIGHUP (a closed terminal, a dropped SSH
//! session). A command that receives one stops as on Ctrl-C: it puts back what it
//! changed (the keyspace notification flags it enabled, the terminal) before it exits.
//! Without them handled, TERM and HUP ended the process on the spot and left a server's
//! `notify-keyspace-events` as redtail had set it.

/// Listens for the stop signals from its creation on (one listener per command).
pub struct Stop {
    #[cfg(unix)]
    signals: [tokio::signal::unix::Signal; 3],
}

impl Stop {
    /// Start listening. Must run inside the Tokio runtime.
    pub fn new() -> std::io::Result<Stop> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Stop {
                signals: [
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                    signal(SignalKind::hangup())?,
                ],
            })
        }
        #[cfg(not(unix))]
        Ok(Stop {})
    }

    /// The next stop signal's name. Cancel-safe: a `select!` may drop it.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            let [int, term, hup] = &mut self.signals;
            tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => "SIGHUP",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
