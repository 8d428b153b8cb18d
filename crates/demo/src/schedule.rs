//! When the run's injected faults happen: at random points of its progress.

use rand::{Rng, SeedableRng};

/// `count` points of the progress (fractions of the results out), drawn from a seed, in
/// order; each is due once the progress reaches it, until it is marked done.
#[derive(Debug)]
pub struct Schedule {
    at: Vec<f64>,
    done: u32,
}

impl Schedule {
    /// `count` points in `range` of the progress, from `seed`.
    pub fn new(count: u32, seed: u64, range: std::ops::Range<f64>) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut at: Vec<f64> = (0..count).map(|_| rng.gen_range(range.clone())).collect();
        at.sort_by(|a, b| a.total_cmp(b));
        Self { at, done: 0 }
    }

    /// Whether the next point is reached at `fraction`.
    pub fn due(&self, fraction: f64) -> bool {
        self.at
            .get(self.done as usize)
            .is_some_and(|&at| fraction >= at)
    }

    /// The next point is done.
    pub fn mark_done(&mut self) {
        self.done += 1;
    }

    /// How many points are done.
    pub fn done(&self) -> u32 {
        self.done
    }

    /// How many points there are.
    pub fn total(&self) -> u32 {
        self.at.len() as u32
    }

    /// Whether every point is done.
    pub fn finished(&self) -> bool {
        self.done as usize >= self.at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_come_due_in_order_once_each() {
        let mut s = Schedule::new(3, 7, 0.1..0.8);
        assert_eq!(s.total(), 3);
        assert!(!s.due(0.05));
        let mut fired = Vec::new();
        for step in 0..=100 {
            let fraction = f64::from(step) / 100.0;
            while s.due(fraction) {
                fired.push(fraction);
                s.mark_done();
            }
        }
        assert_eq!(fired.len(), 3);
        assert!(fired.iter().all(|f| (0.1..=0.81).contains(f)), "{fired:?}");
        assert!(s.finished());
        assert!(!s.due(1.0));
        assert!(Schedule::new(0, 7, 0.1..0.8).finished());
    }
}
