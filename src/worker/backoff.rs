//! Capped exponential backoff with jitter: `base · 2^(attempt-1)`, capped, then a
//! random factor in [0.5, 1.0] so retries of one outage do not arrive in lockstep.

use std::time::Duration;

pub fn retry_delay(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let raw = base.as_secs_f64() * f64::from(1u32 << exponent.min(31));
    let capped = raw.min(cap.as_secs_f64());
    Duration::from_secs_f64(capped * (0.5 + 0.5 * jitter.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_doubles_and_caps() {
        let base = Duration::from_millis(250);
        let cap = Duration::from_secs(20);
        assert_eq!(retry_delay(1, base, cap, 1.0), Duration::from_millis(250));
        assert_eq!(retry_delay(3, base, cap, 1.0), Duration::from_secs(1));
        assert_eq!(retry_delay(30, base, cap, 1.0), cap);
        assert_eq!(retry_delay(3, base, cap, 0.0), Duration::from_millis(500));
    }
}
