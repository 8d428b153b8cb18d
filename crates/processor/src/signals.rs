//! Graceful shutdown on SIGINT and (Unix) SIGTERM.

use tokio_util::sync::CancellationToken;

/// Cancels `token` on SIGINT or (Unix) SIGTERM (what
/// [`PipelineBuilder::stop_on_signals`](crate::PipelineBuilder::stop_on_signals) runs; spawn
/// it for other loops that stop on a token).
pub async fn cancel_on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("signal received: finishing the current batch and stopping");
    token.cancel();
}

/// Runs `work`; with `on_signals`, SIGINT or SIGTERM meanwhile cancels `token` (the loop
/// behind `work` then stops gracefully).
pub async fn stopping_on_signals<F: std::future::Future>(
    token: CancellationToken,
    on_signals: bool,
    work: F,
) -> F::Output {
    let signals = on_signals.then(|| tokio::spawn(cancel_on_signal(token)));
    let result = work.await;
    if let Some(task) = signals {
        task.abort();
    }
    result
}
