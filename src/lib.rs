//! Lock-free message links in the style of Firedancer's Tango.
//!
//! A producer publishes *frags*: 32-byte metadata records ([`FragMeta`]) in a
//! sequence-validated ring, with payload bytes in a chunked store. A reliable consumer
//! reads them in order, zero-copy, one at a time or in batches, and returns *credits* to
//! the producer as it goes; the producer never overwrites what the consumer still holds.
//!
//! - [`spsc`]: the single-producer single-consumer link, with inline storage (a `static`,
//!   no allocator) or heap storage (`alloc`).
//! - [`mpsc`]: several producers, one consumer: a shared ring (claim and publish) or
//!   fan-in over per-producer links.
//! - [`wait`]: what blocking calls do while they wait.
//! - [`seq`]: wrap-safe sequence arithmetic.
//!
//! ```
//! use milonga::spsc::{Budget, Link};
//! use milonga::{Header, RecvError, TryRecvError};
//!
//! let (mut tx, mut rx) = Link::builder().depth(256).mtu(1024).heap_pair()?;
//! let producer = std::thread::spawn(move || {
//!     for i in 0..1000u64 {
//!         tx.publish_with(Header::new(i), &i.to_le_bytes(), milonga::wait::SpinThenYield::default())
//!             .unwrap();
//!     }
//!     tx.halt();
//! });
//! let mut next = 0u64;
//! loop {
//!     match rx.try_batch(Budget::new(64, 64 * 1024).unwrap()) {
//!         Ok(batch) => {
//!             for frag in &batch {
//!                 assert_eq!(frag.payload(), &next.to_le_bytes());
//!                 next += 1;
//!             }
//!             batch.commit();
//!         }
//!         Err(TryRecvError::Empty) => std::thread::yield_now(),
//!         Err(RecvError::Closed) => break,
//!         Err(e) => panic!("{e}"),
//!     }
//! }
//! assert_eq!(next, 1000);
//! producer.join().unwrap();
//! # Ok::<(), milonga::LinkError>(())
//! ```
//!
//! # Features
//! - `std` (default): thread-aware wait strategies; implies `alloc`.
//! - `alloc`: heap-backed links sized at run time.
//! - `critical-section`: for targets without compare-and-swap (thumbv6m, riscv32imc),
//!   lets portable-atomic emulate atomics with a critical section. Such a target needs it
//!   (or portable-atomic's single-core mode, set as the cfg
//!   `portable_atomic_unsafe_assume_single_core`): without either the build stops with an
//!   error that says so.
//! - `serde`: `serde::Serialize` for metrics snapshots (see [`metrics`]).
//!
//! # 32-bit targets
//!
//! Every shared field is a 64-bit atomic. On targets with native 64-bit atomics (x86-64,
//! AArch64, RISC-V 64) the hot path has no read-modify-write. On 32-bit microcontrollers
//! (thumbv7em, thumbv7m, thumbv6m, riscv32imc) portable-atomic emulates 64-bit atomics:
//! on Armv7-M each 64-bit store takes a spinlock from a small global table (a 32-bit
//! compare-and-swap) and each load is an optimistic sequence-checked read; without
//! compare-and-swap (with `critical-section`) each 64-bit access runs in a critical
//! section. That is correct between threads and allocation-free, but not free: a publish
//! costs a few lock round trips.
//!
//! **Interrupt handlers:** the lock table is not interrupt-safe. A handler that touches a
//! link while the code it interrupted holds the same lock spins forever. A single-core
//! firmware that uses a link from interrupt handlers must enable portable-atomic's
//! `unsafe-assume-single-core` feature in its binary, so that 64-bit accesses mask
//! interrupts instead of taking locks.
//!
//! Without `std` and `alloc` the crate is `#![no_std]` and allocation-free.

#![no_std]

// Without compare-and-swap, portable-atomic provides the read-modify-write atomics milonga
// needs only with a critical section (milonga's `critical-section` feature) or in its
// single-core mode, which milonga can see only when it is set as a cfg. (AVR and MSP430
// are single-core, and portable-atomic always provides them.)
#[cfg(not(any(
    target_has_atomic = "ptr",
    feature = "critical-section",
    portable_atomic_unsafe_assume_single_core,
    target_arch = "avr",
    target_arch = "msp430",
)))]
compile_error!(
    "milonga: this target has no compare-and-swap (e.g. thumbv6m, riscv32imc): enable \
     milonga's `critical-section` feature (features = [\"critical-section\"]) and link a \
     critical-section implementation for the target (or, on a single-core chip, build with \
     `--cfg portable_atomic_unsafe_assume_single_core`)"
);

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

// Visibility: an item of a private module is `pub` only if the crate re-exports it (below);
// everything else the crate shares between its modules is `pub(crate)`.
mod assembly;
pub mod clock;
mod cnc;
mod dcache;
pub mod design;
mod error;
mod fctl;
mod frag;
mod fseq;
#[cfg(feature = "alloc")]
mod heap_alloc;
#[cfg(feature = "alloc")]
mod heap_storage;
mod mcache;
pub mod metrics;
pub mod mpsc;
pub mod reasm;
pub mod seq;
pub mod spsc;
mod stall_watch;
mod sync;
mod tcache;
pub mod wait;

pub use cnc::{Cnc, ProducerCounters, Signal};
pub use dcache::{data_bytes, data_chunks, CHUNK_SZ, MAX_CHUNKS};
pub use error::{
    BudgetError, LinkError, LossyRecvError, LossyRecvTimeoutError, LossyTryRecvError, Overrun,
    OverrunKind, PublishError, RecvError, RecvTimeoutError, TryRecvError,
};
pub use fctl::FlowConfig;
pub use frag::{Ctl, FragMeta, Header};
pub use fseq::ConsumerCounters;
pub use tcache::Tcache;
#[cfg(feature = "alloc")]
pub use tcache::{HeapTcache, TcacheError};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
