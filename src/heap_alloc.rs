//! Fallible allocation of a heap link's arrays: a size the allocator cannot provide is a
//! named error ([`LinkError::OutOfMemory`]), not an abort.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::alloc::Layout;

use crate::error::LinkError;

/// `len` values made by `make`, on the heap.
///
/// # Errors
/// [`LinkError::OutOfMemory`] if the allocator refuses the array (nothing is allocated).
pub(crate) fn boxed_slice<T>(len: usize, make: impl FnMut() -> T) -> Result<Box<[T]>, LinkError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| LinkError::OutOfMemory {
            bytes: len.saturating_mul(core::mem::size_of::<T>()),
        })?;
    v.extend(core::iter::repeat_with(make).take(len));
    Ok(v.into_boxed_slice())
}

/// An empty vector with room for `len` values.
///
/// # Errors
/// [`LinkError::OutOfMemory`] if the allocator refuses the room (or its size overflows).
pub(crate) fn vec_with_capacity<T>(len: usize) -> Result<Vec<T>, LinkError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| LinkError::OutOfMemory {
            bytes: len.saturating_mul(core::mem::size_of::<T>()),
        })?;
    Ok(v)
}

/// `len` zeroed values on the heap, from the allocator's zeroed memory (pages the system
/// zeroes lazily are not touched here).
///
/// # Safety
/// All-zero bytes must be a valid `T`.
///
/// # Errors
/// [`LinkError::OutOfMemory`] if the allocator refuses the array.
pub(crate) unsafe fn zeroed_slice<T>(len: usize) -> Result<Box<[T]>, LinkError> {
    let bytes = len.saturating_mul(core::mem::size_of::<T>());
    let oom = LinkError::OutOfMemory { bytes };
    let layout = Layout::array::<T>(len).map_err(|_| oom)?;
    if layout.size() == 0 {
        // SAFETY: zero-sized: `Box::new_zeroed_slice` does not allocate; all-zero is a
        // valid `T` (caller's contract).
        return Ok(unsafe { Box::new_zeroed_slice(len).assume_init() });
    }
    // SAFETY: the layout has a non-zero size (checked above).
    let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(oom);
    }
    let slice = core::ptr::slice_from_raw_parts_mut(ptr.cast::<T>(), len);
    // SAFETY: `ptr` was allocated by the global allocator with the layout of `[T; len]`,
    // which is the layout `Box<[T]>` frees with; its bytes are zero, a valid `T` (caller's
    // contract); nothing else owns it.
    Ok(unsafe { Box::from_raw(slice) })
}

#[cfg(all(test, not(milonga_loom)))]
mod tests {
    use super::*;

    #[test]
    fn arrays_round_trip_and_refusals_are_named() {
        let b = boxed_slice(5, || 7u64).unwrap();
        assert_eq!(&*b, &[7; 5]);
        // SAFETY: all-zero is a valid u64.
        let z = unsafe { zeroed_slice::<u64>(9) }.unwrap();
        assert_eq!(&*z, &[0; 9]);
        // SAFETY: as above; zero-length arrays and zero-sized types allocate nothing.
        assert!(unsafe { zeroed_slice::<u64>(0) }.unwrap().is_empty());
        // A size no layout can have is refused before the allocator is asked.
        assert_eq!(
            // SAFETY: as above.
            unsafe { zeroed_slice::<u64>(usize::MAX / 4) }.err(),
            Some(LinkError::OutOfMemory { bytes: usize::MAX })
        );
        assert_eq!(
            boxed_slice(usize::MAX / 4, || 0u64).err(),
            Some(LinkError::OutOfMemory { bytes: usize::MAX })
        );
    }
}
