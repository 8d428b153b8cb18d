//! Waiting for a run to make progress, and a replayable seed for randomized tests.

use std::time::{Duration, Instant};

/// The environment variable that replays a randomized test: `EOS_TEST_SEED=<seed>`.
pub const SEED_ENV: &str = "EOS_TEST_SEED";

/// A seed for this run: [`SEED_ENV`] when set (to replay a failure), else random. Print it
/// in the test so a failure can be replayed.
pub fn test_seed() -> u64 {
    std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

/// Polls `done(progress())` every 20 ms until it holds (returns `true`) or `stall` passes
/// without `progress()` changing (returns `false`). Blocks the calling thread.
pub fn wait_until(
    mut progress: impl FnMut() -> usize,
    mut done: impl FnMut(usize) -> bool,
    stall: Duration,
) -> bool {
    let mut last = (progress(), Instant::now());
    loop {
        let p = progress();
        if done(p) {
            return true;
        }
        if p != last.0 {
            last = (p, Instant::now());
        } else if last.1.elapsed() > stall {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_while_progress_moves_and_gives_up_when_it_stalls() {
        let mut n = 0;
        assert!(wait_until(
            || {
                n += 1;
                n
            },
            |p| p >= 5,
            Duration::from_millis(200)
        ));
        assert!(!wait_until(|| 1, |p| p >= 5, Duration::from_millis(100)));
    }
}
