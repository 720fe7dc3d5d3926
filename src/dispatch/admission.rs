//! The admission word: the dispatcher's state and its pending items and bytes, in one
//! atomic, so that admitting an item and shutting down are ordered by one variable.
//!
//! Layout of the `u64`, low bits first:
//!
//! | bits | field |
//! | --- | --- |
//! | 0..40 | pending bytes (accepted, not yet released by the consumer) |
//! | 40..62 | pending items |
//! | 62 | shutting down: no new item is admitted, the consumer flushes |
//! | 63 | stopped: no new item is admitted, the consumer drops what is left |
//!
//! Protocol:
//! 1. *Admit* (any producer): a compare-exchange that adds one item and its bytes, tried
//!    only while neither state bit is set and the sums stay within the limits. An item is
//!    accepted exactly when this succeeds, so a shutdown that sets its bit first admits
//!    nothing after it, and one whose bit comes later sees the item as pending.
//! 2. *Release* (the consumer): once the frags of a batch are released to the ring and
//!    the ring has been told (the consumer's progress is published), subtract their
//!    items and bytes with release ordering. A producer whose admit reads that value (with
//!    acquire ordering) therefore also sees the ring's free slots: pending items never
//!    exceed the ring's depth, so an admitted item always finds a free slot.
//! 3. *Shutdown* / *stop* (anyone): `fetch_or` of a state bit. The pending counts only
//!    fall after it, and reach zero once every admitted item was released.

use crate::sync::{AtomicU64, Ordering::*, ADMIT_ACQUIRE, ADMIT_RELEASE};

const BYTES_BITS: u32 = 40;
const ITEMS_BITS: u32 = 22;
const BYTES_MASK: u64 = (1 << BYTES_BITS) - 1;
const ITEM: u64 = 1 << BYTES_BITS;
const ITEMS_MASK: u64 = ((1 << ITEMS_BITS) - 1) << BYTES_BITS;
const SHUTTING_DOWN: u64 = 1 << 62;
const STOPPED: u64 = 1 << 63;

/// The most pending bytes the word can count: `max_buffered_bytes` may not exceed it.
pub(crate) const MAX_BYTES: u64 = BYTES_MASK;
/// The most pending items the word can count: the ring's depth may not exceed it.
pub(crate) const MAX_ITEMS: u64 = (1 << ITEMS_BITS) - 1;

/// Why an item was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Stopped,
    ShuttingDown,
    Full,
}

/// A reading of the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word(u64);

impl Word {
    pub(crate) fn items(self) -> u64 {
        (self.0 & ITEMS_MASK) >> BYTES_BITS
    }

    pub(crate) fn bytes(self) -> u64 {
        self.0 & BYTES_MASK
    }

    pub(crate) fn stopped(self) -> bool {
        self.0 & STOPPED != 0
    }

    pub(crate) fn shutting_down(self) -> bool {
        self.0 & SHUTTING_DOWN != 0
    }

    /// Neither shutting down nor stopped.
    #[cfg(test)]
    pub(crate) fn running(self) -> bool {
        self.0 & (STOPPED | SHUTTING_DOWN) == 0
    }

    /// The refusal for a word that is not running.
    fn refusal(self) -> Option<Refused> {
        if self.stopped() {
            Some(Refused::Stopped)
        } else if self.shutting_down() {
            Some(Refused::ShuttingDown)
        } else {
            None
        }
    }
}

/// The admission word (see the module docs).
#[derive(Debug)]
pub(crate) struct Admission {
    word: AtomicU64,
    max_bytes: u64,
    max_items: u64,
}

impl Admission {
    /// A running, empty word admitting at most `max_items` items and `max_bytes` bytes at
    /// once (`max_items <= MAX_ITEMS`, `max_bytes <= MAX_BYTES`, checked by the builder).
    pub(crate) fn new(max_items: u64, max_bytes: u64) -> Self {
        debug_assert!(max_items <= MAX_ITEMS && max_bytes <= MAX_BYTES);
        Admission {
            word: AtomicU64::new(0),
            max_bytes,
            max_items,
        }
    }

    /// The word now.
    #[inline]
    pub(crate) fn load(&self) -> Word {
        Word(self.word.load(Acquire))
    }

    /// The state check alone, in the order the enqueue errors are reported: stopped, then
    /// shutting down. Returns the word it read.
    #[inline]
    pub(crate) fn check(&self) -> Result<Word, Refused> {
        let w = Word(self.word.load(Relaxed));
        match w.refusal() {
            Some(r) => Err(r),
            None => Ok(w),
        }
    }

    /// Step 1: admits one item of `len` bytes (`len <= max_bytes`, checked by the caller).
    #[inline]
    pub(crate) fn admit(&self, len: u64) -> Result<(), Refused> {
        let mut w = self.word.load(Relaxed);
        loop {
            if let Some(r) = Word(w).refusal() {
                return Err(r);
            }
            let word = Word(w);
            if word.bytes() + len > self.max_bytes || word.items() >= self.max_items {
                return Err(Refused::Full);
            }
            // Acquire: pairs with the consumer's release (step 2), so that the ring slots
            // it freed are visible to the publish that follows.
            match self
                .word
                .compare_exchange_weak(w, w + ITEM + len, ADMIT_ACQUIRE, Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => w = now,
            }
        }
    }

    /// Step 2: `items` admitted items of `bytes` bytes in all are released.
    #[inline]
    pub(crate) fn release(&self, items: u64, bytes: u64) {
        if items == 0 {
            return;
        }
        let before = self.word.fetch_sub(items * ITEM + bytes, ADMIT_RELEASE);
        debug_assert!(Word(before).items() >= items && Word(before).bytes() >= bytes);
    }

    /// Step 3: no new item is admitted and the consumer flushes. Returns the word before.
    pub(crate) fn shut_down(&self) -> Word {
        Word(self.word.fetch_or(SHUTTING_DOWN, AcqRel))
    }

    /// Step 3: no new item is admitted and the consumer drops what is left. Returns the
    /// word before.
    pub(crate) fn stop(&self) -> Word {
        Word(self.word.fetch_or(STOPPED, AcqRel))
    }
}

#[cfg(all(test, not(milonga_loom)))]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limits_exactly() {
        let a = Admission::new(3, 10);
        assert_eq!(a.admit(6), Ok(()));
        assert_eq!(a.admit(4), Ok(())); // exactly at the byte limit
        assert_eq!(a.admit(1), Err(Refused::Full));
        assert_eq!(a.admit(0), Ok(())); // zero bytes: counted as an item
        assert_eq!(a.admit(0), Err(Refused::Full)); // the item limit
        assert_eq!((a.load().items(), a.load().bytes()), (3, 10));
        a.release(2, 10);
        assert_eq!((a.load().items(), a.load().bytes()), (1, 0));
        assert_eq!(a.admit(10), Ok(()));
    }

    #[test]
    fn state_bits_refuse_in_order_and_keep_the_counts() {
        let a = Admission::new(8, 100);
        a.admit(5).unwrap();
        assert!(a.shut_down().running());
        assert_eq!(a.admit(1), Err(Refused::ShuttingDown));
        assert!(!a.stop().stopped());
        assert_eq!(a.admit(1), Err(Refused::Stopped)); // stopped wins over shutting down
        assert_eq!(a.check(), Err(Refused::Stopped));
        assert_eq!((a.load().items(), a.load().bytes()), (1, 5));
        a.release(1, 5);
        assert_eq!((a.load().items(), a.load().bytes()), (0, 0));
        assert!(a.load().stopped() && a.load().shutting_down());
    }

    #[test]
    fn the_largest_counts_do_not_reach_the_state_bits() {
        let a = Admission::new(MAX_ITEMS, MAX_BYTES);
        a.admit(MAX_BYTES).unwrap();
        assert_eq!(a.admit(1), Err(Refused::Full));
        assert!(a.load().running());
        assert_eq!(a.load().bytes(), MAX_BYTES);
    }
}
