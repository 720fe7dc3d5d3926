//! Typed messages: the same links, carrying values of one plain-data type `T` instead of
//! byte slices.
//!
//! Each typed handle wraps a byte handle ([`spsc::Producer`], [`spsc::Consumer`],
//! [`spsc::LossyConsumer`], [`mpsc::RingProducer`], [`mpsc::FanIn`]) and adds no state and
//! no second implementation: a `T` is one frag whose payload is the `size_of::<T>()` bytes
//! of the value. So the typed layer works on every link kind and
//! every storage (a `static` [`InlineLink`](crate::spsc::InlineLink), the heap, broadcast,
//! lossy, both multi-producer designs), allocates nothing, and mixes with the byte API:
//! `as_bytes`/`as_bytes_mut`/`into_inner` reach the byte handle underneath.
//!
//! **When to use it.** When every frag of a link is one fixed-size record (a price update,
//! an order, a sensor sample, a counter): the types then say what the link carries, values
//! go in by value (`try_push(v)`) and come out as copies (`try_pop() -> T`, `iter()`) or
//! zero-copy (`&T` through a guard or a batch), and there is no length or byte-order code
//! to get wrong. Stay with the byte API for variable-size payloads, for several message
//! types on one link (tell them apart by `sig`, and cast with
//! [`bytemuck`](https://docs.rs/bytemuck) yourself), and for messages spread over several
//! frags.
//!
//! ```
//! use milonga::spsc::Link;
//! use milonga::typed;
//!
//! #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
//! #[repr(C)]
//! struct Quote {
//!     instrument: u32,
//!     size: u32,
//!     price: f64,
//! }
//!
//! let link = Link::builder().depth(64).mtu(16).heap_pair()?;
//! let (mut tx, mut rx) = typed::pair::<Quote, _>(link)?;
//! let producer = std::thread::spawn(move || {
//!     for i in 0..100u32 {
//!         tx.push(Quote { instrument: i % 4, size: i, price: 100.0 + i as f64 }).unwrap();
//!     }
//! }); // dropping the producer closes the stream
//! let mut seen = 0;
//! for quote in rx.iter() {
//!     assert_eq!(quote.size, seen);
//!     seen += 1;
//! }
//! assert_eq!(seen, 100);
//! producer.join().unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The type
//!
//! `T` is [`bytemuck::Pod`] (plain old data: `Copy`, no padding, no pointers, every bit
//! pattern valid), so any bytes a producer wrote are a valid `T` and a value can be copied
//! in and out as bytes. Its size must be at most the link's mtu (checked when a typed
//! handle is built: [`MtuError`], which hands the byte handle back). Zero-sized types are
//! allowed: each value is then an empty frag, and its `sig` is what it says.
//!
//! **Alignment.** Every payload starts on an 8-byte word of the link's payload store
//! ([`FragMeta::offset`](crate::FragMeta::offset) counts 8-byte words, on an SPSC link and
//! on a shared ring alike), and the store is an array of 64-byte-aligned chunks
//! ([`CHUNK_SZ`](crate::CHUNK_SZ)), inline or on the heap: every payload address is a
//! multiple of [`PAYLOAD_ALIGN`] (8). So a `&T` into the store is aligned for any `T`
//! with `align_of::<T>() <= 8`, which covers every primitive and every `repr(C)` struct of
//! them on common targets. A larger alignment is a compile-time error (an assertion in
//! every typed constructor), never a misaligned reference:
//!
//! ```compile_fail,E0080
//! use milonga::spsc::Link;
//! use milonga::typed;
//!
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
//! #[repr(C, align(16))]
//! struct Wide([u8; 16]);
//!
//! let (tx, _rx) = Link::builder().depth(8).mtu(16).heap_pair().unwrap();
//! let _ = typed::Producer::<Wide>::new(tx); // error: align_of::<Wide>() is 16
//! ```
//!
//! The zero-copy casts use `bytemuck`'s checked casts ([`bytemuck::from_bytes`]), which
//! verify both the size and the alignment; with the size checked on every frag (below) and
//! the alignment guaranteed, they never panic. The typed layer has no `unsafe` code.
//!
//! # Frags that are not a `T`
//!
//! Every frag a typed producer publishes is exactly `size_of::<T>()` bytes. A frag of
//! another size (published through the byte API) never becomes a `&T` or a `T`: every
//! typed read reports it as `WrongSize { seq, size, link }` and does not consume it (see
//! [`TryRecvError::WrongSize`] for the one lossy exception), so it is never skipped
//! silently; deal with it through the byte handle (`as_bytes_mut`). A named error of the
//! typed layer rather than the byte layer's `Corrupt`: the link's memory is intact and
//! follows the protocol, the frag is simply not of this type, and it can be read past.
//!
//! An empty frag marked [`ERR`](crate::Ctl::ERR) is what a shared ring publishes for a
//! claim dropped without a commit ([`mpsc`]). It holds no message: the `recv`
//! and batch reads report it once as `Abandoned { seq }` (consumed; read on), as the byte
//! API lends it as an ERR frag; the `pop` reads and the iterators skip it.
//!
//! # Cost
//!
//! A typed call is the byte call it wraps plus one compare of the frag's size (a batch:
//! one pass over its frags' sizes, in metadata it has just read), and the typed producer
//! copies a value of a known size, which the compiler inlines. The copies cost a copy:
//! `try_pop` moves the value out of the store, where a guard (`try_recv`) or a batch reads
//! it in place; for large types prefer the zero-copy reads and, on the producer side, a
//! claim.
//!
//! # Producers and consumers
//!
//! - [`Producer`]: `try_push(v)` hands the value back when the link is full
//!   ([`PushError::Full`]); `push` waits with the handle's [`wait::Strategy`](crate::wait::Strategy);
//!   `try_publish(hdr, v)` and friends set a [`Header`](crate::Header) (the `sig` consumers
//!   filter on); on a link without lossy consumers, `try_claim()` hands out a `&mut T` in
//!   the store, published by [`WriteClaim::commit`].
//! - [`RingProducer`]: the same, `Clone`, for the shared multi-producer ring;
//!   [`RingClaim`] derefs to `&mut T`.
//! - [`Consumer`]: `try_pop()` / `pop()` copy a `T` out; `try_recv()` / `recv()` lend a
//!   [`ReadGuard`] that derefs to `&T`; `try_batch` lends a [`Batch`] whose iterator yields
//!   `&T`; `iter()` (blocking, ends at the end of the stream) and `try_iter()` (ends when
//!   nothing is ready) yield owned copies, which a byte consumer cannot.
//! - [`LossyConsumer`]: copies a `T` out, with the byte layer's overrun accounting
//!   (`Overrun { lost, kind }` and the same counters).
//! - [`FanIn`]: one typed consumer over several SPSC links.

mod batch;
mod consumer;
mod error;
mod fan_in;
mod lossy;
mod producer;
mod ring;

pub use batch::{Batch, BatchIter, Frag, FragIter};
pub use bytemuck::Pod;
pub use consumer::{Consumer, Iter, ReadGuard, TryIter};
pub use error::{
    LossyRecvError, LossyRecvTimeoutError, LossyTryRecvError, MtuError, PushError, RecvError,
    RecvTimeoutError, TryRecvError,
};
pub use fan_in::{FanIn, FanInIter, FanInTryIter};
pub use lossy::{LossyConsumer, LossyIter, LossyTryIter};
pub use producer::{Producer, WriteClaim};
pub use ring::{RingClaim, RingProducer};

pub(crate) use error::Mismatch;

use crate::mpsc;
use crate::spsc::{self, WriteMode};

/// The alignment of every payload address: payloads start on 8-byte words of a store of
/// 64-byte-aligned chunks. A typed link carries any `T` with `align_of::<T>() <= 8`.
pub const PAYLOAD_ALIGN: usize = crate::dcache::WORD_SZ;

/// A `T` fits a link of this mtu. `const`, so a `static` link's geometry can be checked
/// where it is declared.
///
/// ```
/// use milonga::typed;
/// const MTU: usize = 16;
/// const _: () = assert!(typed::fits::<[u64; 2]>(MTU));
/// assert!(!typed::fits::<[u64; 3]>(MTU));
/// ```
pub const fn fits<T>(mtu: usize) -> bool {
    core::mem::size_of::<T>() <= mtu
}

/// Checks what every typed constructor checks: `T`'s alignment at compile time, its size
/// against the link's mtu at run time (handing the byte handle back if it does not fit).
#[inline]
fn check<T: Pod, H>(handle: H, mtu: usize) -> Result<H, MtuError<H>> {
    const {
        assert!(
            core::mem::align_of::<T>() <= PAYLOAD_ALIGN,
            "typed links carry types aligned to at most 8 bytes (PAYLOAD_ALIGN): payloads \
             start on 8-byte words of the store"
        )
    };
    let size = core::mem::size_of::<T>();
    if fits::<T>(mtu) {
        Ok(handle)
    } else {
        Err(MtuError { size, mtu, handle })
    }
}

/// A byte link's producer and reliable consumer (as the SPSC constructors return them) as
/// a typed pair.
///
/// # Errors
/// [`MtuError`] (with both handles back) if a `T` does not fit the link's mtu.
///
/// ```
/// use milonga::spsc::InlineLink;
/// use milonga::{data_chunks, typed};
///
/// static LINK: InlineLink<16, 8, { data_chunks(16, 8) }> = InlineLink::new();
/// let (mut tx, mut rx) = typed::pair::<u64, _>(LINK.split()?.into_pair())?;
/// tx.try_push(42)?;
/// assert_eq!(*rx.try_recv()?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
// The error hands the byte handles back: they are as large as the typed ones.
#[allow(clippy::type_complexity, clippy::result_large_err)]
pub fn pair<'a, T: Pod, W: WriteMode>(
    link: (spsc::Producer<'a, W>, spsc::Consumer<'a>),
) -> Result<
    (Producer<'a, T, W>, Consumer<'a, T>),
    MtuError<(spsc::Producer<'a, W>, spsc::Consumer<'a>)>,
> {
    let mtu = link.0.mtu();
    let (tx, rx) = check::<T, _>(link, mtu)?;
    Ok((Producer::wrap(tx), Consumer::wrap(rx)))
}

/// A shared ring's first producer handle and its consumer (as the ring constructors return
/// them) as a typed pair.
///
/// # Errors
/// [`MtuError`] (with both handles back) if a `T` does not fit the ring's mtu.
///
/// ```
/// use milonga::mpsc::Ring;
/// use milonga::typed;
///
/// let (tx, mut rx) = typed::ring::<u32>(Ring::builder().depth(8).mtu(4).heap_pair()?)?;
/// let tx2 = tx.clone();
/// tx.try_push(1)?;
/// tx2.try_push(2)?;
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
// The error hands the byte handles back: they are as large as the typed ones.
#[allow(clippy::type_complexity, clippy::result_large_err)]
pub fn ring<'a, T: Pod>(
    link: (mpsc::RingProducer<'a>, spsc::Consumer<'a>),
) -> Result<
    (RingProducer<'a, T>, Consumer<'a, T>),
    MtuError<(mpsc::RingProducer<'a>, spsc::Consumer<'a>)>,
> {
    let mtu = link.0.mtu();
    let (tx, rx) = check::<T, _>(link, mtu)?;
    Ok((RingProducer::wrap(tx), Consumer::wrap(rx)))
}
