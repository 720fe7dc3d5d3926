//! Typed batches: several values lent at once, zero-copy, their credits returned together.

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;

use crate::frag::{Ctl, FragMeta};
use crate::spsc;
use crate::typed::{Mismatch, Pod};

/// Consecutive values lent by [`Consumer::try_batch`](crate::typed::Consumer::try_batch):
/// iterate them as `&T` with [`iter`](Self::iter) (or with their metadata,
/// [`frags`](Self::frags)), as often as needed. Every frag of a typed batch is a `T`: the
/// batch ends before the first frag that is not.
///
/// Credits go back as for the byte [`spsc::Batch`]: all of them on
/// [`commit`](Self::commit); on drop, only those of the values some iterator reached (the
/// others are lent again by the next read).
pub struct Batch<'c, 'a, T> {
    inner: spsc::Batch<'c, 'a>,
    _type: PhantomData<&'c T>,
}

impl<'c, 'a, T: Pod> Batch<'c, 'a, T> {
    /// The typed batch of the frags of `batch` up to the first that is not a `T`. If that
    /// is the first, no batch: an abandoned claim is released, a frag of another size left
    /// unread.
    #[inline(always)]
    pub(crate) fn check(mut batch: spsc::Batch<'c, 'a>, link: usize) -> Result<Self, Mismatch> {
        let size = size_of::<T>();
        // Fast path: frags all of the size (the common case) leave `first_not_sized` with
        // nothing to find.
        if let Some((k, meta)) = batch.first_not_sized(size) {
            if k > 0 {
                batch.truncate(k);
            } else {
                let mismatch = Mismatch::of(&meta, size, link).unwrap_or(
                    // `first_not_sized` finds a frag of another size, or (for a zero-sized
                    // `T`) an empty ERR frag: `Mismatch::of` names both.
                    Mismatch::Abandoned { seq: meta.seq },
                );
                match mismatch {
                    Mismatch::Abandoned { .. } => {
                        batch.truncate(1);
                        batch.commit();
                    }
                    Mismatch::WrongSize { .. } => {
                        batch.truncate(0);
                        drop(batch); // releases nothing
                    }
                }
                return Err(mismatch);
            }
        }
        Ok(Batch {
            inner: batch,
            _type: PhantomData,
        })
    }

    /// Values in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Never true: an empty read is an error, not an empty batch.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The seq of the first value.
    #[inline]
    pub fn first_seq(&self) -> u64 {
        self.inner.first_seq()
    }

    /// The values, in order, borrowed from this batch.
    #[inline(always)]
    pub fn iter(&self) -> BatchIter<'_, T> {
        BatchIter {
            inner: self.inner.iter(),
            _type: PhantomData,
        }
    }

    /// The values with their metadata, in order, borrowed from this batch.
    #[inline]
    pub fn frags(&self) -> FragIter<'_, T> {
        FragIter {
            inner: self.inner.iter(),
            _type: PhantomData,
        }
    }

    /// Ends the batch, returning the credits of all its values.
    pub fn commit(self) {
        self.inner.commit();
    }

    /// The byte batch underneath.
    pub fn as_bytes(&self) -> &spsc::Batch<'c, 'a> {
        &self.inner
    }
}

impl<T> fmt::Debug for Batch<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("typed::Batch")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<'b, T: Pod> IntoIterator for &'b Batch<'_, '_, T> {
    type Item = &'b T;
    type IntoIter = BatchIter<'b, T>;
    fn into_iter(self) -> BatchIter<'b, T> {
        self.iter()
    }
}

/// The payload of a frag of a typed batch as a `&T`.
#[inline(always)]
fn cast<T: Pod>(payload: &[u8]) -> Option<&T> {
    // Every frag of a typed batch is exactly `size_of::<T>()` bytes (`Batch::check`), at
    // an 8-aligned address (the store's alignment guarantee, module docs), and
    // `align_of::<T>() <= 8` (checked at compile time by the constructors): the checked
    // cast fails only if another process rewrote the frag's metadata since the check (a
    // link in shared memory that a process corrupts). The batch then ends there.
    bytemuck::try_from_bytes(payload).ok()
}

/// The values of a typed [`Batch`], in order, as `&T`.
pub struct BatchIter<'b, T> {
    inner: spsc::BatchIter<'b>,
    _type: PhantomData<&'b T>,
}

impl<'b, T: Pod> Iterator for BatchIter<'b, T> {
    type Item = &'b T;

    #[inline(always)]
    fn next(&mut self) -> Option<&'b T> {
        self.inner.next().and_then(|frag| cast(frag.payload()))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T: Pod> ExactSizeIterator for BatchIter<'_, T> {}

impl<T> fmt::Debug for BatchIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchIter").finish_non_exhaustive()
    }
}

/// The values of a typed [`Batch`] with their metadata, in order.
pub struct FragIter<'b, T> {
    inner: spsc::BatchIter<'b>,
    _type: PhantomData<&'b T>,
}

impl<'b, T: Pod> Iterator for FragIter<'b, T> {
    type Item = Frag<'b, T>;

    #[inline(always)]
    fn next(&mut self) -> Option<Frag<'b, T>> {
        let frag = self.inner.next()?;
        Some(Frag {
            meta: *frag.meta(),
            value: cast(frag.payload())?,
        })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T: Pod> ExactSizeIterator for FragIter<'_, T> {}

impl<T> fmt::Debug for FragIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FragIter").finish_non_exhaustive()
    }
}

/// A value of a typed [`Batch`] with its frag's metadata.
#[derive(Clone, Copy)]
pub struct Frag<'b, T> {
    meta: FragMeta,
    value: &'b T,
}

impl<'b, T> Frag<'b, T> {
    /// The frag's metadata.
    #[inline]
    pub fn meta(&self) -> &FragMeta {
        &self.meta
    }

    /// The frag's seq.
    #[inline]
    pub fn seq(&self) -> u64 {
        self.meta.seq
    }

    /// The frag's application bits.
    #[inline]
    pub fn sig(&self) -> u64 {
        self.meta.sig
    }

    /// The frag's control bits.
    #[inline]
    pub fn ctl(&self) -> Ctl {
        self.meta.ctl
    }

    /// The value, borrowed from the link's store for as long as the batch.
    #[inline]
    pub fn value(&self) -> &'b T {
        self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Frag<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("typed::Frag")
            .field("meta", &self.meta)
            .field("value", self.value)
            .finish()
    }
}
