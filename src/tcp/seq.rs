//! TCP sequence numbers with serial-number arithmetic (RFC 1982 style).
//!
//! Sequence numbers wrap at 2^32, so `a < b` means "b is less than 2^31 ahead of
//! a", not a comparison of the raw integers. Plain `u32` compares break every time a
//! stream crosses the wrap, which a long or randomly-seeded connection does.

use std::cmp::Ordering;

/// A 32-bit TCP sequence (or acknowledgement) number.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance `self - other`: positive when `self` is ahead. Only
    /// meaningful when the two are within 2^31 of each other (always true for the
    /// sequence numbers of one live TCP window).
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// The later of two sequence numbers (serial order).
    pub fn max(self, other: SeqNum) -> SeqNum {
        if other.diff(self) > 0 {
            other
        } else {
            self
        }
    }
}

/// `seq + n`, wrapping at 2^32.
impl std::ops::Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

/// `seq - n`, wrapping at 2^32.
impl std::ops::Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n))
    }
}

/// Serial order. Not a total order (a and a + 2^31 are each "less" than the other),
/// which is why `Ord` is deliberately not implemented.
impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn comparisons_across_the_wrap() {
        let before = SeqNum(u32::MAX - 5);
        let after = before + 10;
        assert_eq!(after, SeqNum(4));
        assert!(before < after);
        assert!(after > before);
        assert_eq!(after.diff(before), 10);
        assert_eq!(before.diff(after), -10);
        assert_eq!(after - 10, before);
        assert_eq!(before.max(after), after);
        assert_eq!(after.max(before), after);
    }

    #[test]
    fn equal_is_neither_less_nor_greater() {
        let a = SeqNum(7);
        assert_eq!(a.partial_cmp(&SeqNum(7)), Some(Ordering::Equal));
        assert_eq!(a.diff(SeqNum(7)), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn forward_distance_is_preserved(base in any::<u32>(), d in 1u32..(1 << 31)) {
            let a = SeqNum(base);
            let b = a + d;
            prop_assert!(a < b);
            prop_assert!(b > a);
            prop_assert_eq!(b.diff(a) as i64, d as i64);
            prop_assert_eq!(b - d, a);
        }
    }
}
