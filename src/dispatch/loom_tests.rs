//! Loom models of the dispatcher's admission protocol (src/dispatch/admission.rs), on the
//! real shared ring.
//!
//! `admitted_items_always_find_a_slot`: a ring of depth 2 admitting at most 2 items, a
//! producer enqueuing 3 items the way `Dispatcher::enqueue` does (admit, then publish with
//! one `try_publish`), a consumer reading them the way `Batches` does (read, release to
//! the ring, publish its progress, then release the admission). The third item can only
//! be admitted after the consumer released one; its publish must then find a credit at
//! once: the model fails if it ever sees `NoCredits` after an admission (`enqueue` spins
//! on it, trusting this), or a payload out of order.
//!
//! `nothing_is_admitted_after_a_shutdown_saw_nothing_pending`: a producer admitting and
//! publishing 2 items, a consumer releasing them, and a shutdown that sets its bit and
//! then waits (bounded) until nothing is pending. If it saw nothing pending, every item
//! ever admitted had been consumed by then: no admission succeeds after the shutdown bit.
//!
//! Weakenings that make the first model fail (checked by `loom-tests/run.sh`):
//! - `admit_acquire` (the admission's compare-exchange): the producer's credit refresh
//!   may read the consumer's progress from before the release it was admitted on, and
//!   find no credit;
//! - `admit_release` (the consumer's subtraction): the same.

use loom::sync::atomic::{AtomicU64, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

use super::admission::{Admission, Refused};
use crate::mpsc::Ring;
use crate::{FlowConfig, Header, PublishError};

fn model<F: Fn() + Sync + Send + 'static>(preemptions: usize, f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    builder.check(f);
}

/// Tries `f` until it returns `Some`, yielding between tries, at most `n` times.
fn bounded<T>(n: u32, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..n {
        if let Some(v) = f() {
            return Some(v);
        }
        thread::yield_now();
    }
    None
}

/// Its own module, so that the weakening runs can select it alone.
mod slot {
    use super::*;

    #[test]
    fn admitted_items_always_find_a_slot() {
        model(2, || {
            let flow = FlowConfig::new().cr_max(2).cr_resume(1);
            let ring = Ring::builder().depth(2).mtu(8).flow(flow).heap().unwrap();
            let (tx, mut rx) = ring.into_pair();
            let admission = Arc::new(Admission::new(2, 64));

            let producer = {
                let admission = admission.clone();
                thread::spawn(move || {
                    for i in 0..3u8 {
                        let admitted = bounded(4, || match admission.admit(1) {
                            Ok(()) => Some(()),
                            Err(Refused::Full) => None,
                            Err(r) => panic!("refused: {r:?}"),
                        });
                        if admitted.is_none() {
                            return; // the consumer is slow in this execution: give up
                        }
                        // Admitted: a slot must be free, visibly, now.
                        match tx.try_publish(Header::new(u64::from(i)), &[i]) {
                            Ok(_) => {}
                            Err(PublishError::NoCredits) => {
                                panic!("item {i} admitted without a free slot")
                            }
                            Err(e) => panic!("publish: {e:?}"),
                        }
                    }
                })
            };

            let mut next = 0u8;
            while next < 3 {
                let got = bounded(6, || match rx.try_recv() {
                    Ok(frag) => {
                        assert_eq!(frag.payload(), &[next]);
                        Some(())
                    }
                    Err(_) => None,
                });
                if got.is_none() {
                    break;
                }
                next += 1;
                // As `Batches` releases a batch: the ring first, then the admission.
                rx.housekeeping();
                admission.release(1, 1);
            }
            producer.join().unwrap();
        });
    }
}

#[test]
fn nothing_is_admitted_after_a_shutdown_saw_nothing_pending() {
    model(2, || {
        let admission = Arc::new(Admission::new(4, 64));
        let admitted = Arc::new(AtomicU64::new(0));
        let consumed = Arc::new(AtomicU64::new(0));

        let producer = {
            let (admission, admitted) = (admission.clone(), admitted.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    if admission.admit(1).is_ok() {
                        admitted.fetch_add(1, SeqCst);
                    }
                }
            })
        };
        let consumer = {
            let (admission, admitted, consumed) =
                (admission.clone(), admitted.clone(), consumed.clone());
            thread::spawn(move || {
                for _ in 0..3 {
                    // Consumes what the producer has recorded as admitted.
                    if consumed.load(SeqCst) < admitted.load(SeqCst) {
                        consumed.fetch_add(1, SeqCst);
                        admission.release(1, 1);
                    }
                    thread::yield_now();
                }
            })
        };

        admission.shut_down();
        let quiet = bounded(3, || (admission.load().items() == 0).then_some(()));
        let seen = consumed.load(SeqCst);
        producer.join().unwrap();
        consumer.join().unwrap();
        if quiet.is_some() {
            assert_eq!(
                admitted.load(SeqCst),
                seen,
                "an item was admitted after the shutdown saw nothing pending"
            );
        }
    });
}
