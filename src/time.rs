//! Time as data: every timestamp in keepscope comes from a packet (or, in live mode,
//! from the capture clock passed in as a tick). Nothing below `main`/`live` reads the
//! wall clock, so replaying a capture is deterministic.

use std::fmt;

/// Nanoseconds since the Unix epoch. Captures keep their own precision: a
/// microsecond pcap gives multiples of 1000, a nanosecond pcap(ng) keeps every digit.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    pub fn from_secs_f64(secs: f64) -> Self {
        Timestamp((secs * 1e9).round() as i64)
    }

    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch, for reports (the JSON rounds to microseconds).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Seconds from `earlier` to `self`; negative if `earlier` is later (captures
    /// whose timestamps go backwards exist, and must not panic anything).
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0.saturating_sub(earlier.0)) as f64 / 1e9
    }

    pub fn saturating_add_nanos(self, nanos: i64) -> Self {
        Timestamp(self.0.saturating_add(nanos))
    }

    pub fn max(self, other: Timestamp) -> Timestamp {
        if other.0 > self.0 {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}", self.as_secs_f64())
    }
}

/// Rounds seconds to microseconds, the precision the JSON document promises.
pub fn round_us(secs: f64) -> f64 {
    (secs * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanoseconds_are_kept() {
        let t = Timestamp::from_secs_nanos(1_700_000_000, 123_456_789);
        assert_eq!(t.as_nanos(), 1_700_000_000_123_456_789);
        let later = t.saturating_add_nanos(1_500_000_000);
        assert!((later.secs_since(t) - 1.5).abs() < 1e-12);
        assert!(t.secs_since(later) < 0.0);
    }

    #[test]
    fn rounding_to_microseconds() {
        assert_eq!(round_us(1.000_000_4), 1.0);
        assert_eq!(round_us(0.000_000_6), 0.000_001);
    }
}
