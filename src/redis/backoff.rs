//! Reconnect delays: exponential, capped, with optional jitter supplied by the caller so
//! the function stays pure and testable.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// Delay before reconnect attempt number `attempt` (0-based): initial × 2^attempt,
    /// capped at `max`, then scaled by `jitter` in [0, 1] into [50 %, 100 %] of that, so
    /// many clients restarted together do not reconnect in lockstep.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let factor = 2u64.saturating_pow(attempt.min(32));
        let raw = self
            .initial
            .checked_mul(u32::try_from(factor).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        let jitter = jitter.clamp(0.0, 1.0);
        raw.mul_f64(0.5 + 0.5 * jitter)
    }
}

/// A cheap jitter source from the clock; not for anything but spreading reconnects.
pub fn clock_jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 999.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_then_caps() {
        let b = Backoff::default();
        assert_eq!(b.delay(0, 1.0), Duration::from_millis(100));
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(b.delay(6, 1.0), Duration::from_secs(5));
        assert_eq!(b.delay(1000, 1.0), Duration::from_secs(5));
    }

    #[test]
    fn jitter_scales_between_half_and_full() {
        let b = Backoff::default();
        assert_eq!(b.delay(2, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay(2, 0.5), Duration::from_millis(300));
        assert_eq!(b.delay(2, 7.0), Duration::from_millis(400));
        assert_eq!(b.delay(2, -1.0), Duration::from_millis(200));
    }
}
