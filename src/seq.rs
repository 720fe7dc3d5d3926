//! Wrap-safe sequence arithmetic.
//!
//! Sequence numbers are 64-bit and wrap; two of them are compared through their signed
//! difference, which is correct as long as they are less than 2^63 apart (a link's
//! producer and consumers are never more than the ring depth apart).
//!
//! ```
//! use milonga::seq;
//! assert_eq!(seq::diff(1, u64::MAX), 2);
//! assert!(seq::lt(u64::MAX, 0));
//! ```

/// `a - b` as a signed distance: positive when `a` is after `b`.
///
/// ```
/// assert_eq!(milonga::seq::diff(2, u64::MAX), 3); // across the wrap
/// assert_eq!(milonga::seq::diff(u64::MAX, 2), -3);
/// ```
#[inline(always)]
pub const fn diff(a: u64, b: u64) -> i64 {
    a.wrapping_sub(b) as i64
}

/// `a` comes before `b`.
///
/// ```
/// assert!(milonga::seq::lt(u64::MAX, 1)); // across the wrap
/// assert!(!milonga::seq::lt(1, 1));
/// ```
#[inline(always)]
pub const fn lt(a: u64, b: u64) -> bool {
    diff(a, b) < 0
}

/// `a` comes before `b` or is `b`.
///
/// ```
/// assert!(milonga::seq::le(1, 1) && milonga::seq::le(u64::MAX, 0));
/// assert!(!milonga::seq::le(0, u64::MAX));
/// ```
#[inline(always)]
pub const fn le(a: u64, b: u64) -> bool {
    diff(a, b) <= 0
}

/// `a` comes after `b`.
///
/// ```
/// assert!(milonga::seq::gt(0, u64::MAX)); // across the wrap
/// assert!(!milonga::seq::gt(5, 5));
/// ```
#[inline(always)]
pub const fn gt(a: u64, b: u64) -> bool {
    diff(a, b) > 0
}

/// `a` comes after `b` or is `b`.
///
/// ```
/// assert!(milonga::seq::ge(5, 5) && milonga::seq::ge(0, u64::MAX));
/// assert!(!milonga::seq::ge(u64::MAX, 0));
/// ```
#[inline(always)]
pub const fn ge(a: u64, b: u64) -> bool {
    diff(a, b) >= 0
}

/// The sequence number `n` after `a`.
///
/// ```
/// assert_eq!(milonga::seq::inc(u64::MAX, 2), 1);
/// ```
#[inline(always)]
pub const fn inc(a: u64, n: u64) -> u64 {
    a.wrapping_add(n)
}

/// The sequence number `n` before `a`.
///
/// ```
/// assert_eq!(milonga::seq::dec(1, 2), u64::MAX);
/// ```
#[inline(always)]
pub const fn dec(a: u64, n: u64) -> u64 {
    a.wrapping_sub(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_across_the_wrap() {
        let near = u64::MAX - 2;
        for step in 1..10u64 {
            let later = inc(near, step);
            assert!(lt(near, later) && le(near, later) && !ge(near, later));
            assert!(gt(later, near) && ge(later, near) && !le(later, near));
            assert_eq!(diff(later, near), step as i64);
            assert_eq!(diff(near, later), -(step as i64));
            assert_eq!(dec(later, step), near);
        }
        assert!(le(5, 5) && ge(5, 5) && !lt(5, 5) && !gt(5, 5));
    }
}
