//! [`Outcome`]: whether [`Idempotent::once`](crate::Idempotent::once) ran the effect.

/// What [`Idempotent::once`](crate::Idempotent::once) did with the effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Outcome<T> {
    /// The effect ran (now) and returned this; the key is marked done.
    Ran(T),
    /// The key was done already: the effect did not run.
    AlreadyDone,
}

impl<T> Outcome<T> {
    /// `true` if the effect ran.
    pub fn is_ran(&self) -> bool {
        matches!(self, Outcome::Ran(_))
    }

    /// The effect's value, if it ran.
    pub fn ran(self) -> Option<T> {
        match self {
            Outcome::Ran(value) => Some(value),
            Outcome::AlreadyDone => None,
        }
    }
}
