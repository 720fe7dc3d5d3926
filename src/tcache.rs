//! Exact deduplication of the last `N` 64-bit tags: a hash set for lookup plus a ring for
//! age, the oldest tag evicted first.
//!
//! A tag seen again while it is among the last `N` distinct tags inserted is a duplicate;
//! a duplicate does not refresh its age (it is evicted when its first insertion is the
//! oldest). Fixed capacity, no allocation, `no_std`.
//!
//! ```
//! use milonga::Tcache;
//! let mut tc: Tcache<4> = Tcache::new();
//! assert!(!tc.insert(1)); // new
//! assert!(tc.insert(1));  // duplicate
//! for t in 2..=5 { tc.insert(t); } // 1 is evicted by 5
//! assert!(!tc.contains(1));
//! assert!(!tc.insert(1));
//! ```

use heapless::{Deque, FnvIndexSet};

/// The last `N` distinct tags (`N` a power of two, at least 2).
pub struct Tcache<const N: usize> {
    set: FnvIndexSet<u64, N>,
    ring: Deque<u64, N>,
}

impl<const N: usize> Tcache<N> {
    /// An empty cache.
    pub fn new() -> Self {
        const {
            assert!(
                N >= 2 && N.is_power_of_two(),
                "Tcache: N must be a power of two >= 2"
            )
        };
        Tcache {
            set: FnvIndexSet::new(),
            ring: Deque::new(),
        }
    }

    /// Tags held.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// No tag held.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// `tag` is among the last `N` distinct tags.
    pub fn contains(&self, tag: u64) -> bool {
        self.set.contains(&tag)
    }

    /// Inserts `tag`; returns `true` if it was a duplicate (then nothing changes).
    pub fn insert(&mut self, tag: u64) -> bool {
        if self.set.contains(&tag) {
            return true;
        }
        if self.ring.is_full() {
            if let Some(oldest) = self.ring.pop_front() {
                self.set.remove(&oldest);
            }
        }
        // Neither can fail: the ring had room or was just given one, and the set holds
        // exactly the ring's tags.
        let _ = self.ring.push_back(tag);
        let _ = self.set.insert(tag);
        false
    }

    /// Forgets every tag.
    pub fn clear(&mut self) {
        self.set.clear();
        self.ring.clear();
    }
}

impl<const N: usize> Default for Tcache<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for Tcache<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tcache")
            .field("capacity", &N)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// The model: a queue of the last N distinct tags, searched linearly.
    struct Model {
        q: VecDeque<u64>,
        cap: usize,
    }

    impl Model {
        fn insert(&mut self, tag: u64) -> bool {
            if self.q.contains(&tag) {
                return true;
            }
            if self.q.len() == self.cap {
                self.q.pop_front();
            }
            self.q.push_back(tag);
            false
        }
    }

    fn check<const N: usize>(seed: u64, steps: usize, range: u64) -> usize {
        let mut tc: Tcache<N> = Tcache::new();
        let mut model = Model {
            q: VecDeque::new(),
            cap: N,
        };
        let mut x = seed | 1;
        let mut dups = 0;
        for _ in 0..steps {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let tag = x % range;
            let dup = model.insert(tag);
            dups += dup as usize;
            assert_eq!(tc.insert(tag), dup, "tag {tag}");
            assert_eq!(tc.len(), model.q.len());
            if !cfg!(miri) || tag.is_multiple_of(16) {
                assert!(model.q.iter().all(|&t| tc.contains(t)));
            }
        }
        dups
    }

    #[test]
    fn matches_the_model() {
        let (steps, seeds) = if cfg!(miri) { (120, 2) } else { (20_000, 6) };
        for seed in 1..seeds {
            for dups in [
                check::<2>(seed, steps, 5),
                check::<8>(seed, steps, 20),
                check::<64>(seed, steps, 150),
            ] {
                assert!(dups > 0 && dups < steps, "the test sees both outcomes");
            }
        }
        assert_eq!(
            check::<16>(99, steps, u64::MAX),
            0,
            "distinct tags are never duplicates"
        );
    }

    #[test]
    fn a_duplicate_does_not_refresh_age() {
        let mut tc: Tcache<2> = Tcache::new();
        assert!(!tc.insert(1) && !tc.insert(2));
        assert!(tc.insert(1)); // duplicate: 1 stays the oldest
        assert!(!tc.insert(3)); // evicts 1, not 2
        assert!(!tc.contains(1) && tc.contains(2) && tc.contains(3));
    }

    #[test]
    fn tag_zero_and_max_are_ordinary_tags() {
        let mut tc: Tcache<2> = Tcache::new();
        assert!(!tc.insert(0) && !tc.insert(u64::MAX));
        assert!(tc.insert(0) && tc.insert(u64::MAX));
        tc.clear();
        assert!(tc.is_empty() && !tc.insert(0));
    }
}
