//! Retry schedules for socket reconnects and channel rejoins (PROTOCOL.md §1.9).
//!
//! ```
//! use musubi_wasm::phoenix::backoff::Backoff;
//! let reconnect = Backoff::phoenix_reconnect();
//! assert_eq!(reconnect.base_delay(1), 10);
//! assert_eq!(reconnect.base_delay(10), 5000);
//! let expo = Backoff::exponential(1000, 30_000);
//! assert_eq!(expo.base_delay(3), 4000);
//! assert_eq!(expo.base_delay(50), 30_000);
//! ```

/// A delay schedule indexed by attempt (1-based), with optional seeded jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    kind: Kind,
    jitter: f64,
}

#[derive(Clone)]
enum Kind {
    /// `delays[attempt - 1]`, then `fallback`.
    Table { delays: Vec<u64>, fallback: u64 },
    /// `initial * 2^(attempt - 1)`, capped at `max`.
    Exponential { initial: u64, max: u64 },
    /// An application-supplied function of the attempt.
    Custom(std::rc::Rc<dyn Fn(u32) -> u64>),
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Table { delays, fallback } => f.debug_struct("Table").field("delays", delays).field("fallback", fallback).finish(),
            Kind::Exponential { initial, max } => f.debug_struct("Exponential").field("initial", initial).field("max", max).finish(),
            Kind::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Kind::Table { delays: a, fallback: b }, Kind::Table { delays: c, fallback: d }) => a == c && b == d,
            (Kind::Exponential { initial: a, max: b }, Kind::Exponential { initial: c, max: d }) => a == c && b == d,
            (Kind::Custom(a), Kind::Custom(b)) => std::rc::Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Backoff {
    /// phoenix.js socket reconnect ladder: 10, 50, 100, 150, 200, 250, 500, 1000, 2000, then 5000 ms.
    pub fn phoenix_reconnect() -> Self {
        Self::table(vec![10, 50, 100, 150, 200, 250, 500, 1000, 2000], 5000)
    }

    /// phoenix.js channel rejoin ladder: 1000, 2000, 5000, then 10000 ms.
    pub fn phoenix_rejoin() -> Self {
        Self::table(vec![1000, 2000, 5000], 10_000)
    }

    /// A table of delays for attempts 1, 2, …, and a fallback for every later attempt.
    pub fn table(delays: Vec<u64>, fallback: u64) -> Self {
        Backoff { kind: Kind::Table { delays, fallback }, jitter: 0.0 }
    }

    /// Doubling delays from `initial_ms`, capped at `max_ms`.
    pub fn exponential(initial_ms: u64, max_ms: u64) -> Self {
        Backoff { kind: Kind::Exponential { initial: initial_ms, max: max_ms }, jitter: 0.0 }
    }

    /// Delays computed by `delay_for(attempt)` (1-based), like phoenix.js's `reconnectAfterMs`
    /// function.
    ///
    /// ```
    /// use musubi_wasm::phoenix::backoff::Backoff;
    /// let linear = Backoff::custom(|attempt| u64::from(attempt) * 100);
    /// assert_eq!(linear.base_delay(3), 300);
    /// ```
    pub fn custom(delay_for: impl Fn(u32) -> u64 + 'static) -> Self {
        Backoff { kind: Kind::Custom(std::rc::Rc::new(delay_for)), jitter: 0.0 }
    }

    /// Spreads each delay uniformly within ±`fraction` of itself (clamped to 0..=1).
    #[must_use]
    pub fn with_jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
        self
    }

    /// The delay for `attempt` (1-based) before jitter.
    pub fn base_delay(&self, attempt: u32) -> u64 {
        let index = attempt.saturating_sub(1);
        match &self.kind {
            Kind::Table { delays, fallback } => usize::try_from(index).ok().and_then(|i| delays.get(i)).copied().unwrap_or(*fallback),
            Kind::Exponential { initial, max } => {
                let factor = 1u64.checked_shl(index.min(63)).unwrap_or(u64::MAX);
                initial.saturating_mul(factor).min(*max)
            }
            Kind::Custom(delay_for) => delay_for(attempt.max(1)),
        }
    }

    /// The delay for `attempt` with jitter drawn from `rng`.
    pub fn delay(&self, attempt: u32, rng: &mut fastrand::Rng) -> u64 {
        let base = self.base_delay(attempt);
        if self.jitter == 0.0 || base == 0 {
            return base;
        }
        let spread = (rng.f64() * 2.0 - 1.0) * self.jitter;
        // Float → integer casts saturate in Rust; delays stay within u64.
        (base as f64 * (1.0 + spread)).round().max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_ladder_is_exact() {
        let backoff = Backoff::phoenix_reconnect();
        let delays: Vec<u64> = (1..=12).map(|n| backoff.base_delay(n)).collect();
        assert_eq!(delays, vec![10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000, 5000]);
    }

    #[test]
    fn rejoin_ladder_is_exact() {
        let backoff = Backoff::phoenix_rejoin();
        let delays: Vec<u64> = (1..=6).map(|n| backoff.base_delay(n)).collect();
        assert_eq!(delays, vec![1000, 2000, 5000, 10_000, 10_000, 10_000]);
    }

    #[test]
    fn exponential_doubles_and_caps_without_overflow() {
        let backoff = Backoff::exponential(1000, 30_000);
        let delays: Vec<u64> = (1..=7).map(|n| backoff.base_delay(n)).collect();
        assert_eq!(delays, vec![1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
        assert_eq!(backoff.base_delay(u32::MAX), 30_000);
    }

    #[test]
    fn jitter_is_bounded_and_deterministic_per_seed() {
        let backoff = Backoff::exponential(1000, 30_000).with_jitter(0.5);
        let draw = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            (1..=5).map(|n| backoff.delay(n, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        for (n, delay) in (1..=5).zip(draw(9)) {
            let base = backoff.base_delay(n) as f64;
            assert!((delay as f64) >= base * 0.5 && (delay as f64) <= base * 1.5, "{delay} vs {base}");
        }
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(Backoff::phoenix_reconnect().delay(1, &mut rng), 10, "no jitter unless asked");
    }
}
