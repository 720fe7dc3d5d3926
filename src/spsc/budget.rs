//! How much one batch may lend, checked once.

use crate::error::BudgetError;

/// The most one batch may lend: at most `max_frags` frags and `max_bytes` payload bytes,
/// except that a batch always lends its first frag whatever its size (so no budget can
/// stall a stream). Checked once, when it is made, not on every read.
///
/// ```
/// use milonga::spsc::Budget;
///
/// const BUDGET: Budget = match Budget::new(64, 64 * 1024) {
///     Ok(b) => b,
///     Err(_) => panic!("bad budget"),
/// };
/// assert_eq!((BUDGET.max_frags(), BUDGET.max_bytes()), (64, 65536));
/// assert_eq!(Budget::frags(16).unwrap().max_bytes(), usize::MAX);
/// assert!(Budget::new(0, 1024).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Budget {
    max_frags: usize,
    max_bytes: usize,
}

impl Budget {
    /// At most `max_frags` frags holding at most `max_bytes` payload bytes (but always the
    /// first frag).
    ///
    /// # Errors
    /// [`BudgetError::ZeroFrags`] if `max_frags` is 0.
    pub const fn new(max_frags: usize, max_bytes: usize) -> Result<Budget, BudgetError> {
        if max_frags == 0 {
            return Err(BudgetError::ZeroFrags);
        }
        Ok(Budget {
            max_frags,
            max_bytes,
        })
    }

    /// At most `max_frags` frags, whatever their bytes.
    ///
    /// # Errors
    /// [`BudgetError::ZeroFrags`] if `max_frags` is 0.
    pub const fn frags(max_frags: usize) -> Result<Budget, BudgetError> {
        Budget::new(max_frags, usize::MAX)
    }

    /// The most frags a batch lends.
    #[inline]
    pub const fn max_frags(&self) -> usize {
        self.max_frags
    }

    /// The most payload bytes a batch lends (its first frag aside).
    #[inline]
    pub const fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

impl Default for Budget {
    /// 256 frags, any number of bytes.
    fn default() -> Self {
        Budget {
            max_frags: 256,
            max_bytes: usize::MAX,
        }
    }
}
