//! A handler on a thread of its own, fed every batch.

use std::any::Any;
use std::borrow::ToOwned;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::string::String;
use std::thread::JoinHandle;

use crate::dispatch::{Batch, Batches};
use crate::sync::Ordering::Relaxed;

/// A thread running a handler on every batch of a [`Batches`] receiver, started by
/// [`Batches::spawn`]. It ends with the stream (after a shutdown or a stop, or once every
/// [`Dispatcher`](crate::dispatch::Dispatcher) is gone), then drops the receiver.
///
/// A handler that panics does not end the worker: the panic is caught, counted (here and
/// in [`DispatchStats::handler_panics`](crate::dispatch::DispatchStats::handler_panics)),
/// its batch is released as delivered (the handler had it), and the handler is called
/// again with the next batch. A handler that cannot go on after a panic should catch it
/// itself.
///
/// ```
/// use milonga::dispatch::Dispatcher;
/// use std::time::Duration;
///
/// let (tx, rx) = Dispatcher::builder().max_batch_bytes(4).build()?;
/// let worker = rx.spawn(|batch| {
///     if batch.iter().any(|item| item == b"boom") {
///         panic!("a poisoned item");
///     }
/// })?;
/// for item in [&b"ok"[..], b"boom", b"ok"] {
///     tx.enqueue(item)?;
/// }
/// tx.shutdown(Duration::from_secs(10))?;
/// let report = worker.join();
/// assert_eq!((report.batches, report.items, report.panics), (3, 3, 1)); // [ok] [boom] [ok]
/// assert_eq!(report.first_panic.as_deref(), Some("a poisoned item"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Worker {
    thread: JoinHandle<WorkerReport>,
}

/// What a [`Worker`] did, from [`Worker::join`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Batches handed to the handler.
    pub batches: u64,
    /// Their items.
    pub items: u64,
    /// Handler calls that panicked.
    pub panics: u64,
    /// The first panic's message, if it was a string.
    pub first_panic: Option<String>,
}

impl Worker {
    /// Waits for the worker to end (the stream ended) and returns its report.
    pub fn join(self) -> WorkerReport {
        match self.thread.join() {
            Ok(report) => report,
            // The loop catches the handler's panics; anything else is re-raised here.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// The worker thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

pub(crate) fn spawn<F>(mut rx: Batches, mut handler: F) -> std::io::Result<Worker>
where
    F: FnMut(Batch<'_>) + Send + 'static,
{
    let thread = std::thread::Builder::new()
        .name("milonga-dispatch".into())
        .spawn(move || {
            let mut report = WorkerReport::default();
            loop {
                let Some(batch) = rx.next_batch() else { break };
                report.batches += 1;
                report.items += batch.len() as u64;
                // The batch is moved into the call: if the handler panics, it is dropped
                // (released) while unwinding, and the receiver stays consistent.
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| handler(batch))) {
                    report.panics += 1;
                    rx.shared().out.handler_panics.store(report.panics, Relaxed);
                    if report.first_panic.is_none() {
                        report.first_panic = message(&*panic);
                    }
                }
            }
            report
        })?;
    Ok(Worker { thread })
}

fn message(panic: &(dyn Any + Send)) -> Option<String> {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
}
