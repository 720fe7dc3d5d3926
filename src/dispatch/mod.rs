//! A batching dispatcher (`std`): items enqueued from any number of threads, delivered in
//! batches closed by bytes, items and time, with a bounded buffer, explicit refusals and a
//! graceful drain. It keeps the observable behaviour of Go's `tempo` dispatcher, on a
//! milonga shared ring: no lock, no allocation per item, zero-copy batches.
//!
//! ```
//! use milonga::dispatch::{Dispatcher, EnqueueError};
//! use std::time::Duration;
//!
//! let (tx, rx) = Dispatcher::builder()
//!     .interval(Duration::from_millis(20))
//!     .max_batch_bytes(16 * 1024)
//!     .max_buffered_bytes(1 << 20)
//!     .build()?;
//! let worker = rx.spawn(|batch| {
//!     for item in &batch {
//!         assert!(item.starts_with(b"event:"));
//!     }
//! })?;
//! std::thread::scope(|s| {
//!     for t in 0..2 {
//!         let tx = tx.clone();
//!         s.spawn(move || {
//!             for i in 0..1000 {
//!                 let item = format!("event:{t}:{i}");
//!                 // Never blocks: a full buffer is an error the caller decides about.
//!                 while tx.enqueue(item.as_bytes()) == Err(EnqueueError::QueueFull) {
//!                     std::thread::yield_now();
//!                 }
//!             }
//!         });
//!     }
//! });
//! tx.shutdown(Duration::from_secs(10))?; // everything accepted is delivered
//! assert_eq!(worker.join().items, 2000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Parts
//! - [`Dispatcher`] (`Clone + Send + Sync`): [`enqueue`](Dispatcher::enqueue) copies an item
//!   into the ring or refuses it at once; [`shutdown`](Dispatcher::shutdown) drains;
//!   [`stop`](Dispatcher::stop) drops; [`stats`](Dispatcher::stats).
//! - [`Batches`] (one consumer): [`next_batch`](Batches::next_batch),
//!   [`next_batch_timeout`](Batches::next_batch_timeout),
//!   [`try_next_batch`](Batches::try_next_batch), or [`spawn`](Batches::spawn) a
//!   [`Worker`] thread that runs a handler on each batch.
//! - [`Batch`]: the items, borrowed from the ring until the batch is dropped.
//!
//! # How it works
//! Items travel through one [`mpsc` shared ring](crate::mpsc) of `max_items` slots of
//! `max_item_bytes`, so every item has one place in a total order (FIFO per producer, and
//! across producers in the order they claimed their slots). Each item's frag carries its
//! time (the dispatcher's clock, nanoseconds; read by a producer only when the dispatcher
//! is idle, see [`Batches`]) in its `sig`.
//!
//! What is accepted is decided by one atomic word holding the state (running, shutting
//! down, stopped) and the pending items and bytes: an enqueue admits its item with one
//! compare-exchange on it, the consumer subtracts a batch when it is done with it (after
//! returning the batch's slots to the ring, so an admitted item always finds a slot), and
//! a shutdown or stop sets a bit in it. So "accepted" is exact: an item is accepted iff
//! its admission succeeded, which a shutdown that set its bit first never allows.
//!
//! The consumer forms batches as it reads the ring (see [`Batches`] for the rules): which
//! items share a batch depends only on their order, sizes and times.
//!
//! # From tempo
//! | tempo | here |
//! | --- | --- |
//! | `NewDispatcher(&Config{...})` | [`Dispatcher::builder()`](Dispatcher::builder)`...build()`, [`ConfigError`] |
//! | `Config.Interval`, `MaxBatchBytes` (0: off), `MaxBufferedBytes` | the builder's setters of the same names |
//! | `Enqueue` (blocks while the loop is busy) | [`enqueue`](Dispatcher::enqueue): never blocks |
//! | `ErrStopped`, `ErrShuttingDown`, `ErrPayloadTooLarge`, `ErrQueueFull` | [`EnqueueError`], same order |
//! | `Batches()` channel of `[][]byte` (copies) | [`Batches`]: zero-copy [`Batch`] |
//! | `go d.Start()` | nothing to start: the consumer forms batches as it reads |
//! | `Shutdown(ctx)` | [`shutdown`](Dispatcher::shutdown)`(timeout)`, [`ShutdownError`] |
//! | `Stop()` | [`stop`](Dispatcher::stop), and the drop count in [`DispatchStats`] |
//!
//! tempo's known flaws are not kept: the batch stream ends after a shutdown or a stop
//! (tempo never closes its channel); a stop during a shutdown makes the shutdown return
//! (at once, with [`ShutdownError::Stopped`]); a shutdown with no consumer running
//! returns at its deadline, and at once if nothing was accepted; zero-length items are
//! bounded (each takes one of the `max_items` slots, which tempo does not bound); and
//! nothing buffered is lost without being counted.
//!
//! # Limits
//! An item is at most `max_item_bytes` (65535 at most): the ring's slots are fixed-size.
//! Memory is `max_items * round_up(max_item_bytes, 64)` bytes, allocated by `build`.

#[cfg_attr(milonga_loom, allow(dead_code))]
mod admission;
// The rest needs `std`'s threads and clocks; under loom only the admission protocol is
// built, for its model.
#[cfg(not(milonga_loom))]
mod batches;
#[cfg(not(milonga_loom))]
mod dispatcher;
#[cfg(not(milonga_loom))]
mod error;
#[cfg(all(test, milonga_loom))]
mod loom_tests;
#[cfg(not(milonga_loom))]
mod stats;
#[cfg(not(milonga_loom))]
mod worker;

#[cfg(not(milonga_loom))]
pub use batches::{Batch, Batches, Items};
#[cfg(not(milonga_loom))]
pub use dispatcher::{Dispatcher, DispatcherBuilder, MAX_BUFFERED_BYTES, MAX_ITEMS};
#[cfg(not(milonga_loom))]
pub use error::{ConfigError, EnqueueError, NextBatchError, ShutdownError, TryNextBatchError};
#[cfg(not(milonga_loom))]
pub use stats::{DispatchState, DispatchStats};
#[cfg(not(milonga_loom))]
pub use worker::{Worker, WorkerReport};
