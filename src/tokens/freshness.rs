//! When a stored access token may be handed out, and when it must be replaced.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::credentials::AccessToken;

/// Milliseconds since the Unix epoch. The hot path compares these, where chrono's calendar
/// arithmetic (a date from the clock, then a subtraction of dates) cost hundreds of
/// instructions per request, several times over.
pub type UnixMs = i64;

pub fn now_ms() -> UnixMs {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// A token's lifetime, worked out once per stored token.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    pub obtained: UnixMs,
    pub expires: UnixMs,
}

impl Lifetime {
    pub fn of(access: &AccessToken) -> Self {
        Self { obtained: access.obtained_at.timestamp_millis(), expires: access.expires_at.timestamp_millis() }
    }

    /// Whole seconds left at `now` (none once it has expired).
    pub fn seconds_left(&self, now: UnixMs) -> i64 {
        (self.expires.saturating_sub(now) / 1000).max(0)
    }
}

/// What the caller needs from the token.
pub enum Want {
    /// At least `min_ttl` seconds left, except that a token younger than half its lifetime
    /// is never replaced merely to satisfy `min_ttl` (so large `min_ttl`s cannot cause a
    /// refresh storm).
    Fresh { min_ttl: i64 },
    /// The caller saw the vendor reject this token: replace it if it is still the current one.
    ReplaceIfCurrent(SecretString),
    /// An admin asked for a new token regardless.
    Force,
}

impl Want {
    /// Judged to the millisecond: with whole seconds a 3 s token would count as "younger than
    /// half its lifetime" until it is 2 s old.
    pub fn satisfied_by(&self, access: &AccessToken, now: DateTime<Utc>) -> bool {
        self.satisfied(access, Lifetime::of(access), now.timestamp_millis())
    }

    /// [`Self::satisfied_by`] with `access`'s lifetime worked out beforehand.
    pub fn satisfied(&self, access: &AccessToken, life: Lifetime, now: UnixMs) -> bool {
        let remaining = life.expires.saturating_sub(now);
        if remaining <= 0 {
            return false;
        }
        match self {
            Want::Fresh { min_ttl } => {
                let lifetime = life.expires.saturating_sub(life.obtained);
                let age = now.saturating_sub(life.obtained);
                remaining >= min_ttl.saturating_mul(1000) || age.saturating_mul(2) < lifetime
            }
            Want::ReplaceIfCurrent(rejected) => {
                let same: bool =
                    access.token.expose_secret().as_bytes().ct_eq(rejected.expose_secret().as_bytes()).into();
                !same
            }
            Want::Force => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn token(obtained_secs_ago: i64, lifetime: i64, now: DateTime<Utc>) -> AccessToken {
        let obtained_at = now - Duration::seconds(obtained_secs_ago);
        AccessToken {
            token: SecretString::from("t1"),
            token_type: "Bearer".into(),
            obtained_at,
            expires_at: obtained_at + Duration::seconds(lifetime),
        }
    }

    #[test]
    fn min_ttl_rule() {
        let now = Utc::now();
        let fresh = Want::Fresh { min_ttl: 60 };
        assert!(fresh.satisfied_by(&token(0, 3600, now), now));
        assert!(fresh.satisfied_by(&token(3500, 3600, now), now), "100 s left >= 60");
        assert!(!fresh.satisfied_by(&token(3550, 3600, now), now), "50 s left, old");
        assert!(!fresh.satisfied_by(&token(3600, 3600, now), now), "expired");
        // A 100 s token is younger than half its life for 50 s, whatever min_ttl asks.
        let big = Want::Fresh { min_ttl: 7200 };
        assert!(big.satisfied_by(&token(10, 100, now), now));
        assert!(!big.satisfied_by(&token(60, 100, now), now));
        assert!(!big.satisfied_by(&token(0, 0, now), now), "never an expired token");
        // Sub-second: a 3 s token is past half its life at 1.6 s, not only at 2 s.
        let three = token(0, 3, now);
        assert!(big.satisfied_by(&three, now + Duration::milliseconds(1400)));
        assert!(!big.satisfied_by(&three, now + Duration::milliseconds(1600)));
        assert!(!Want::Fresh { min_ttl: 2 }.satisfied_by(&three, now + Duration::milliseconds(1600)));
        assert!(Want::Fresh { min_ttl: 1 }.satisfied_by(&three, now + Duration::milliseconds(1600)));
    }

    #[test]
    fn rejected_token_is_replaced_only_if_current() {
        let now = Utc::now();
        assert!(!Want::ReplaceIfCurrent(SecretString::from("t1")).satisfied_by(&token(0, 3600, now), now));
        assert!(Want::ReplaceIfCurrent(SecretString::from("old")).satisfied_by(&token(0, 3600, now), now));
        assert!(!Want::Force.satisfied_by(&token(0, 3600, now), now));
    }
}
