//! The retry schedule of a failing record: how long to wait before each next attempt.

use std::time::Duration;

/// The wait before a failing record's next attempt: `initial` after the first failure,
/// multiplied by `multiplier` after each further one, at most `max`, each wait spread by up
/// to ± `jitter` of itself so that records failing together do not all come back at once.
/// A processor's [`Failure::retry_after`](crate::Failure::retry_after) hint takes the
/// place of the schedule for that attempt; [`PipelineBuilder::max_attempts`](crate::PipelineBuilder::max_attempts)
/// says when to stop.
///
/// The jitter is a function of the record and the attempt, not of a random source, so a
/// replayed schedule is the same schedule.
///
/// ```
/// use std::time::Duration;
/// use kafka_eos_processor::{Backoff, PipelineBuilder};
///
/// // 200 ms, 600 ms, 1.8 s, 5 s, 5 s, ... each within ± 10 %; dead-lettered after 6 attempts
/// let builder = PipelineBuilder::new()
///     .max_attempts(6)
///     .retry_schedule(
///         Backoff::new(Duration::from_millis(200), Duration::from_secs(5))
///             .multiplier(3.0)
///             .jitter(0.1),
///     );
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: f64,
    jitter: f64,
}

impl Default for Backoff {
    /// 100 ms, doubling, at most 10 s, ± 20 %.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(10)).jitter(0.2)
    }
}

impl Backoff {
    /// `initial`, doubled after each failed attempt, at most `max`, without jitter.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            multiplier: 2.0,
            jitter: 0.0,
        }
    }

    /// The factor between one wait and the next (at least 1; default 2).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// The spread of each wait, as a fraction of it (0 to 1; default 0: none).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// Why this schedule cannot be used, naming the setting: (field, value, reason).
    pub(crate) fn invalid(&self) -> Option<(&'static str, String, &'static str)> {
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Some((
                "retry_backoff.multiplier",
                self.multiplier.to_string(),
                "must be a number of at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Some((
                "retry_backoff.jitter",
                self.jitter.to_string(),
                "must be a fraction from 0 to 1",
            ));
        }
        if self.initial > self.max {
            return Some((
                "retry_backoff",
                format!("{:?} > {:?}", self.initial, self.max),
                "the initial wait must not exceed the maximum",
            ));
        }
        None
    }

    /// The wait before attempt `failed + 1` after `failed` failures (`failed` >= 1) of the
    /// record identified by `seed` (the jitter is a hash of `seed` and `failed`: the same
    /// record waits the same on every instance).
    pub fn after(&self, failed: u32, seed: u64) -> Duration {
        let steps = failed.saturating_sub(1).min(64);
        let max = self.max.as_secs_f64();
        let mut wait = self.initial.as_secs_f64();
        for _ in 0..steps {
            if wait >= max {
                break;
            }
            wait *= self.multiplier;
        }
        let wait = wait.min(max);
        // a spread in [-jitter, +jitter] of the wait, from the record and the attempt
        let unit = (mix(seed ^ u64::from(failed)) >> 11) as f64 / (1u64 << 53) as f64;
        let spread = self.jitter * (2.0 * unit - 1.0);
        Duration::try_from_secs_f64(wait * (1.0 + spread)).unwrap_or(self.max)
    }
}

/// splitmix64's finaliser: spreads a seed over 64 bits.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn without_jitter_the_wait_grows_by_the_multiplier_up_to_its_cap() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let waits: Vec<u128> = (1..=4).map(|n| ms(b.after(n, 7))).collect();
        assert_eq!(waits, [100, 200, 350, 350]);
        let b = Backoff::new(Duration::from_millis(200), Duration::from_secs(5)).multiplier(3.0);
        let waits: Vec<u128> = (1..=5).map(|n| ms(b.after(n, 7))).collect();
        assert_eq!(waits, [200, 600, 1800, 5000, 5000]);
        assert_eq!(b.after(u32::MAX, 7), Duration::from_secs(5));
    }

    #[test]
    fn jitter_spreads_waits_within_its_bounds_and_is_the_same_on_a_replay() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).jitter(0.2);
        let waits: Vec<Duration> = (0..1000).map(|seed| b.after(1, seed)).collect();
        assert!(waits
            .iter()
            .all(|w| (Duration::from_millis(800)..=Duration::from_millis(1200)).contains(w)));
        let below = waits
            .iter()
            .filter(|w| **w < Duration::from_secs(1))
            .count();
        assert!(
            (400..600).contains(&below),
            "spread both ways: {below} below"
        );
        assert_eq!(b.after(1, 42), b.after(1, 42));
        assert_ne!(b.after(1, 42), b.after(2, 42), "each attempt draws anew");
    }

    #[test]
    fn a_bad_schedule_names_its_setting() {
        let d = Duration::from_secs(1);
        assert_eq!(Backoff::default().invalid(), None);
        let field = |b: Backoff| b.invalid().map(|(f, _, _)| f);
        assert_eq!(
            field(Backoff::new(d, d).multiplier(0.5)),
            Some("retry_backoff.multiplier")
        );
        assert_eq!(
            field(Backoff::new(d, d).multiplier(f64::NAN)),
            Some("retry_backoff.multiplier")
        );
        assert_eq!(
            field(Backoff::new(d, d).jitter(1.5)),
            Some("retry_backoff.jitter")
        );
        assert_eq!(field(Backoff::new(d * 2, d)), Some("retry_backoff"));
    }
}
