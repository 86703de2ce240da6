//! [`shutdown_signal`]: Ctrl-C or SIGTERM, the signal to shut down gracefully; a second one
//! ends the process at once.

/// Completes on Ctrl-C, or SIGTERM on Unix: the signal to shut down gracefully.
///
/// Installing these handlers replaces the default action of the signals (which ends the
/// process), so once this completes a second Ctrl-C or SIGTERM ends the process at once, with
/// the exit code a shell gives a process ended by that signal (130, 143), without waiting for
/// graceful shutdown to drain.
pub async fn shutdown_signal() {
    let mut signals = Signals::new();
    signals.next().await;
    tracing::info!("shutdown signal received");
    tokio::spawn(async move {
        let code = signals.next().await;
        tracing::warn!("second signal: exiting without waiting for open connections");
        std::process::exit(code);
    });
}

/// The signals that ask the process to end, listened to from its creation on (so that none
/// is missed between a first and a second).
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Waits for the next signal; returns the exit code a shell reports for a process that
    /// signal ended (128 + its number).
    async fn next(&mut self) -> i32 {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                let received = match s {
                    Some(s) => s.recv().await.is_some(),
                    None => false,
                };
                if !received {
                    std::future::pending::<()>().await;
                }
            }
            tokio::select! {
                () = recv(&mut self.interrupt) => 130,
                () = recv(&mut self.terminate) => 143,
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            130
        }
    }
}
