//! How long a connection waits after consecutive vendor failures: exponential, with jitter so
//! that replicas and connections do not retry in lockstep.

use std::time::Duration;

use rand::Rng;

const BASE: Duration = Duration::from_secs(1);

/// Delay after the `failures`-th consecutive failure: 1 s, 2 s, 4 s… up to `max`, each
/// scaled by a random factor in [0.8, 1.2].
pub fn delay(failures: i32, max: Duration) -> Duration {
    let exponent = u32::try_from(failures.saturating_sub(1)).unwrap_or(0).min(20);
    let nominal = BASE.saturating_mul(1u32 << exponent).min(max);
    nominal.mul_f64(rand::rng().random_range(0.8..=1.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_with_bounded_jitter() {
        let max = Duration::from_secs(60);
        for (failures, nominal) in [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (1000, 60.0), (0, 1.0), (-5, 1.0)] {
            for _ in 0..50 {
                let d = delay(failures, max).as_secs_f64();
                assert!(d >= nominal * 0.8 - 1e-9 && d <= nominal * 1.2 + 1e-9, "{failures}: {d}");
            }
        }
    }
}
