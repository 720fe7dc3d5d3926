//! Lock-free message links in the style of Firedancer's Tango.
//!
//! A producer publishes *frags*: 32-byte metadata records ([`FragMeta`]) in a
//! sequence-validated ring, with payload bytes in a chunked store. A reliable consumer
//! reads them in order, zero-copy, one at a time or in batches, and returns *credits* to
//! the producer as it goes: the producer never overwrites what the consumer still holds,
//! and the borrow checker ends every payload borrow before its credit goes back. Lossy
//! consumers never slow the producer; they detect when they were lapped and count exactly
//! what they lost. How it works: [`design`].
//!
//! ```
//! use milonga::spsc::{Budget, Link};
//! use milonga::{Header, RecvError};
//!
//! let (mut tx, mut rx) = Link::builder().depth(256).mtu(1024).heap_pair()?;
//! let producer = std::thread::spawn(move || {
//!     for i in 0..1000u64 {
//!         tx.publish(Header::new(i), &i.to_le_bytes()).unwrap(); // waits for credits
//!     }
//!     tx.halt(); // the consumer drains what was published, then sees the end
//! });
//! let budget = Budget::new(64, 64 * 1024)?;
//! let mut next = 0u64;
//! let end = loop {
//!     match rx.recv_batch(budget) {
//!         Ok(batch) => {
//!             for frag in &batch {
//!                 assert_eq!(frag.payload(), next.to_le_bytes()); // zero-copy
//!                 next += 1;
//!             }
//!             batch.commit(); // the credits go back once per batch
//!         }
//!         Err(end) => break end,
//!     }
//! };
//! assert_eq!((next, end), (1000, RecvError::Closed));
//! producer.join().unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Which part to use
//!
//! - **One producer, one consumer that must see everything**: [`spsc::Link::builder`]
//!   (heap) or [`spsc::InlineLink`] (a `static`, no allocator). Read with
//!   [`try_recv`](spsc::Consumer::try_recv) / [`recv`](spsc::Consumer::recv) (one frag
//!   lent through a guard) or [`try_batch`](spsc::Consumer::try_batch) /
//!   [`recv_batch`](spsc::Consumer::recv_batch) (many, one credit return).
//! - **Broadcast**: the same link with `.reliable(n)`: each of the `n` consumers sees every
//!   frag; the producer goes at the pace of the slowest.
//! - **Observers that must never slow the producer** (a monitor, a recorder that may fall
//!   behind): `.lossy(n)` adds [`spsc::LossyConsumer`]s, which copy payloads out and report
//!   [`Overrun`]s with exact loss counts.
//! - **Several producers, one order**: [`mpsc::Ring`] (a shared ring: producers claim seqs
//!   with one compare-exchange; a log, a sequencer, producers that come and go).
//! - **Several producers, most throughput**: [`mpsc::FanIn`] (one SPSC link per producer,
//!   read in a fair order; no write shared between producers).
//! - **Plain-old-data messages instead of bytes**: [`typed`], the same links carrying values
//!   of one `Pod` type: `try_push(v)`, `try_pop() -> T`, zero-copy `&T` guards and batches,
//!   `iter()`.
//! - **Waiting**: [`wait::Strategy`] is chosen once per handle (or on the builder); the
//!   `*_with` calls take any [`wait::Wait`] for one call.
//! - **A source that must never be blocked for long**: [`ingest::Ingest`] publishes under
//!   an explicit [`DropPolicy`](ingest::DropPolicy) (reject the newest, overwrite the
//!   oldest, block with a timeout) and counts every drop by reason in the link's metrics.
//! - **Watching a link**: [`metrics`] snapshots from any thread; [`Cnc`] for the
//!   producer's state, heartbeat and halt requests.
//! - **Messages larger than a frag**: [`Producer::try_publish_message`](spsc::Producer::try_publish_message)
//!   and [`reasm`] to put them back together; [`Tcache`] to drop duplicate tags.
//! - **Timestamps**: [`clock`]; **sequence arithmetic**: [`seq`].
//! - **Batches by bytes and time from many threads** (telemetry, log shipping, a batch
//!   writer; Go's `tempo`): [`dispatch`] (`std`): a non-blocking `enqueue` with a bounded
//!   buffer and named refusals, zero-copy batches, a graceful `shutdown` and a `stop`.
//! - **Gaps, duplicates and reordering in `(source, seq)` streams** (telemetry stamped
//!   per source): [`seq_gap`].
//!
//! # Features
//! - `std` (default): thread-aware wait strategies; implies `alloc`.
//! - `alloc`: heap-backed links sized at run time.
//! - `critical-section`: for targets without compare-and-swap (thumbv6m, riscv32imc),
//!   lets portable-atomic emulate atomics with a critical section. Such a target needs it
//!   (or portable-atomic's single-core mode, set as the cfg
//!   `portable_atomic_unsafe_assume_single_core`): without either the build stops with an
//!   error that says so.
//! - `serde`: `serde::Serialize` for metrics snapshots (see [`metrics`]), the dispatcher's
//!   statistics and the gap detector's counters.
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
#[cfg(feature = "std")]
pub mod dispatch;
mod error;
mod fctl;
mod frag;
mod fseq;
#[cfg(feature = "alloc")]
mod heap_alloc;
#[cfg(feature = "alloc")]
mod heap_storage;
pub mod ingest;
mod liveness;
mod mcache;
pub mod metrics;
pub mod mpsc;
pub mod reasm;
pub mod seq;
pub mod seq_gap;
#[cfg(all(feature = "shm", unix, not(milonga_loom)))]
pub mod shm;
pub mod spsc;
mod stall_watch;
mod sync;
mod tcache;
pub mod typed;
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
