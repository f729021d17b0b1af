//! The limits on callers, per replica: requests per principal, and failed authentications per
//! source address (the limiter itself is `crate::limits`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::ids::PrincipalId;
pub use crate::limits::{Cell, Cells, LimitName, Limiter, Rate, Refused};

/// Sources are unbounded (principals are not): once this many are tracked, the store is swept
/// every `SWEEP_EVERY` failures, so addresses that come and go cannot grow it forever.
const SWEEP_ABOVE: usize = 1024;
const SWEEP_EVERY: u32 = 256;

/// Each principal's allowance, kept by the key cache with the principal's keys.
pub type PrincipalLimits = Cells<PrincipalId>;

/// Failed authentications per source. Only failures count (a key's first use here is not
/// one), but a source over its limit is refused before its next key is looked up, so a flood
/// of invented keys costs no query per try.
pub struct FailureLimiter {
    limiter: Limiter<Source>,
    /// Sources refused lately, and until when: consulted before a lookup.
    refused: Mutex<HashMap<Source, Instant>>,
    since_sweep: AtomicU32,
}

impl FailureLimiter {
    pub fn new(rate: Rate) -> Self {
        Self {
            limiter: Limiter::new(LimitName::AuthFailures, rate),
            refused: Mutex::new(HashMap::new()),
            since_sweep: AtomicU32::new(0),
        }
    }

    /// Counts one failed authentication from `source`.
    pub fn failed(&self, source: Source) -> Result<(), Refused> {
        if self.since_sweep.fetch_add(1, Ordering::Relaxed) >= SWEEP_EVERY {
            self.since_sweep.store(0, Ordering::Relaxed);
            if self.limiter.tracked() > SWEEP_ABOVE {
                self.limiter.sweep();
            }
        }
        self.limiter.admit(&source).inspect_err(|refused| {
            let until = Instant::now() + refused.retry_after;
            let mut sources = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            if sources.len() >= SWEEP_ABOVE {
                let now = Instant::now();
                sources.retain(|_, until| *until > now);
            }
            sources.insert(source, until);
        })
    }

    /// Whether `source` is still waiting out a refusal, and for how long.
    pub fn refusing(&self, source: Source) -> Result<(), Refused> {
        let sources = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        match sources.get(&source).and_then(|until| until.checked_duration_since(Instant::now())) {
            Some(wait) if !wait.is_zero() => {
                metrics::counter!("tokenbroker_rate_limited_total", "limit" => LimitName::AuthFailures.as_str())
                    .increment(1);
                Err(Refused { limit: LimitName::AuthFailures, retry_after: wait })
            }
            _ => Ok(()),
        }
    }
}

/// Where a request came from, as the failed-authentication limit counts it: an IPv4 address,
/// or an IPv6 /64 (one host is usually given a whole /64, so single addresses are free to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(addr: IpAddr) -> Self {
        match addr.to_canonical() {
            IpAddr::V6(v6) => Source(IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX)))),
            v4 => Source(v4),
        }
    }

    /// Requests whose peer address is not known (a listener that does not record it) share one allowance.
    pub fn unknown() -> Self {
        Source(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_refusals_that_say_how_long_to_wait() {
        let limiter = Limiter::new(LimitName::Principal, Rate { per_second: 2, burst: 3 });
        let key = "svc".to_owned();
        for _ in 0..3 {
            limiter.admit(&key).unwrap();
        }
        let refused = limiter.admit(&key).unwrap_err();
        assert_eq!(refused.limit, LimitName::Principal);
        assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_millis(500));
        limiter.admit(&"other".to_owned()).unwrap();
    }

    #[test]
    fn every_holder_of_a_principals_cell_shares_one_allowance() {
        let cells = PrincipalLimits::new(LimitName::Principal, Rate { per_second: 2, burst: 3 });
        let svc = PrincipalId::from_trusted("svc".into());
        let (first, second) = (cells.cell(&svc), cells.cell(&svc));
        assert_eq!([first.admit(), second.admit(), first.admit()], [Ok(()); 3]);
        let Err(refused) = second.admit() else { panic!("a fourth request within the burst of three") };
        assert_eq!(refused.limit, LimitName::Principal);
        assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_millis(500));
        assert_eq!(cells.cell(&PrincipalId::from_trusted("other".into())).admit(), Ok(()));
        let off = PrincipalLimits::new(LimitName::Principal, Rate { per_second: 0, burst: 0 });
        let unlimited = off.cell(&svc);
        assert!((0..1000).all(|_| unlimited.admit().is_ok()));
    }

    #[test]
    fn a_source_over_its_failures_is_refused_before_trying_again() {
        let failures = FailureLimiter::new(Rate { per_second: 1, burst: 2 });
        let source = Source::of("192.0.2.1".parse().unwrap());
        failures.refusing(source).unwrap();
        failures.failed(source).unwrap();
        failures.failed(source).unwrap();
        failures.refusing(source).unwrap();
        let refused = failures.failed(source).unwrap_err();
        assert_eq!(refused.limit, LimitName::AuthFailures);
        let waiting = failures.refusing(source).unwrap_err();
        assert!(waiting.retry_after <= refused.retry_after);
        failures.refusing(Source::of("192.0.2.2".parse().unwrap())).unwrap();
    }

    #[test]
    fn sources_that_stopped_failing_are_swept() {
        let failures = FailureLimiter::new(Rate { per_second: 1000, burst: 1 });
        let source = |i: u32| Source::of(IpAddr::from((0x0a00_0000 + i).to_be_bytes()));
        for i in 0..2000 {
            failures.failed(source(i)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        for i in 0..=SWEEP_EVERY {
            failures.failed(source(5000 + i)).unwrap();
        }
        assert!(failures.limiter.tracked() < 2000, "{} sources still tracked", failures.limiter.tracked());
    }

    #[test]
    fn zero_per_second_turns_a_limit_off() {
        let limiter = Limiter::new(LimitName::AuthFailures, Rate { per_second: 0, burst: 1 });
        for _ in 0..1000 {
            limiter.admit(&Source::unknown()).unwrap();
        }
    }

    #[test]
    fn ipv6_sources_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Source::of(a), Source::of(b));
        assert_ne!(Source::of(a), Source::of(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(Source::of(mapped), Source::of("192.0.2.7".parse().unwrap()));
    }
}
