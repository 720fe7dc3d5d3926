//! No allocation after construction: a counting global allocator (this test binary's own)
//! sees none while a million frags go through a link on one thread, with every way of
//! publishing (batch publishes included) and reading, the error paths and housekeeping
//! included.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use milonga::spsc::Budget;
use milonga::spsc::{InlineLink, Link};
use milonga::wait::{BusySpin, SpinThenYield};
use milonga::TryRecvError;
use milonga::{data_chunks, Header, PublishError};

/// Counts allocations (alloc, alloc_zeroed, realloc) made by a thread while its
/// `COUNTING` flag is set, so that other threads (the test harness) are not counted.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.with(Cell::get) {
        ALLOCS.fetch_add(1, Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; counting has no effect on it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One measurement at a time: the tests of this file run on parallel threads and share
/// the counter.
static MEASURING: Mutex<()> = Mutex::new(());

/// Runs `f` with allocations counted; returns how many it made.
fn count_allocs(f: impl FnOnce()) -> usize {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let before = ALLOCS.load(Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.load(Relaxed) - before
}

const PAIRS: u64 = if cfg!(miri) { 2_000 } else { 1_000_000 };
const DEPTH: usize = 64;
const MTU: usize = 256;

#[test]
fn the_counter_sees_allocations() {
    let n = count_allocs(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(10));
        std::hint::black_box(&v);
        let b = Box::new(std::hint::black_box(5u64));
        std::hint::black_box(&b);
    });
    assert_eq!(n, 2);
}

/// The measured loop: `PAIRS` publish/consume pairs, each kind in turn. Returns the
/// frags and bytes read, to check the loop did what it says.
fn exercise(
    tx: &mut milonga::spsc::Producer<'_>,
    rx: &mut milonga::spsc::Consumer<'_>,
    payload: &[u8; MTU],
) -> (u64, u64, u64) {
    let (mut frags, mut bytes, mut sum) = (0u64, 0u64, 0u64);
    let mut i = 0u64;
    while i < PAIRS {
        let len = (i as usize * 7) % (MTU + 1);
        match i % 8 {
            // try_publish + poll
            0 | 1 => {
                tx.try_publish(Header::new(i), &payload[..len]).unwrap();
                let frag = rx.try_recv().unwrap();
                sum = sum.wrapping_add(frag.sig() + frag.payload().len() as u64);
                bytes += frag.payload().len() as u64;
                frags += 1;
                i += 1;
            }
            // try_claim + commit (shorter than claimed) + recv
            2 | 3 => {
                let mut claim = tx.try_claim(MTU).unwrap();
                claim[..len].copy_from_slice(&payload[..len]);
                claim.commit_with(Header::new(i), len).unwrap();
                let frag = rx.recv_with(SpinThenYield::default()).unwrap();
                sum = sum.wrapping_add(frag.sig() + frag.payload().len() as u64);
                bytes += frag.payload().len() as u64;
                frags += 1;
                i += 1;
            }
            // A burst of blocking publishes and blocking claims, or a batch publish (copied,
            // or written in place), then one batch.
            4 => {
                let burst = (PAIRS - i).min(16);
                let len_of = |k: u64| ((i + k) as usize * 13) % (MTU + 1);
                match (i / 8) % 3 {
                    0 => {
                        for k in 0..burst {
                            let len = len_of(k);
                            if k % 2 == 0 {
                                tx.publish_with(Header::new(i + k), &payload[..len], BusySpin)
                                    .unwrap();
                            } else {
                                let claim = tx.claim_with(len, BusySpin).unwrap();
                                claim.commit_with(Header::new(i + k), len).unwrap();
                            }
                        }
                    }
                    1 => {
                        let mut frags: [(Header, &[u8]); 16] = [(Header::new(0), &[]); 16];
                        for k in 0..burst {
                            frags[k as usize] = (Header::new(i + k), &payload[..len_of(k)]);
                        }
                        tx.publish_batch_with(&frags[..burst as usize], BusySpin)
                            .unwrap();
                    }
                    _ => {
                        let base = tx.next_seq();
                        tx.try_publish_batch_in_place(burst as usize, MTU, |seq, buf| {
                            let k = seq - base;
                            let len = len_of(k);
                            buf[..len].copy_from_slice(&payload[..len]);
                            (Header::new(i + k), len)
                        })
                        .unwrap();
                    }
                }
                let batch = rx.try_batch(Budget::new(64, 64 * MTU).unwrap()).unwrap();
                assert_eq!(batch.len() as u64, burst);
                for frag in &batch {
                    sum = sum.wrapping_add(frag.sig() + frag.payload().len() as u64);
                }
                bytes += batch.bytes() as u64;
                frags += batch.len() as u64;
                batch.commit();
                i += burst;
            }
            // Error paths: nothing to read, abandoned claim, too large, partial batch.
            5 => {
                assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
                assert!(Budget::new(0, MTU).is_err());
                let _abandoned = tx.try_claim(len).unwrap();
                let too_big = [0u8; MTU + 1];
                assert!(matches!(
                    tx.try_publish(Header::new(0), &too_big),
                    Err(PublishError::TooLarge { .. })
                ));
                tx.try_publish(Header::new(i), &payload[..len]).unwrap();
                tx.try_publish(Header::new(i + 1), &payload[..len]).unwrap();
                let batch = rx
                    .recv_batch_with(Budget::new(8, 8 * MTU).unwrap(), SpinThenYield::default())
                    .unwrap();
                let first = batch.iter().next().unwrap();
                sum = sum.wrapping_add(first.sig() + first.payload().len() as u64);
                drop(batch); // releases the first only
                let frag = rx.try_recv().unwrap();
                sum = sum.wrapping_add(frag.sig() + frag.payload().len() as u64);
                drop(frag);
                bytes += 2 * len as u64;
                frags += 2;
                i += 2;
            }
            // Housekeeping on both ends, counters, cnc reads.
            _ => {
                tx.housekeeping();
                rx.housekeeping();
                sum = sum.wrapping_add(tx.counters().published_frags);
                sum = sum.wrapping_add(rx.cnc().heartbeat());
                sum = sum.wrapping_sub(tx.counters().published_frags);
                sum = sum.wrapping_sub(rx.cnc().heartbeat());
                tx.try_publish(Header::new(i), &payload[..len]).unwrap();
                let frag = rx.try_recv().unwrap();
                sum = sum.wrapping_add(frag.sig() + frag.payload().len() as u64);
                bytes += frag.payload().len() as u64;
                frags += 1;
                i += 1;
            }
        }
    }
    (frags, bytes, sum)
}

/// What `exercise` must have read: frag `i` has sig `i`, so the sum is known.
fn expected_sum(bytes: u64) -> u64 {
    (0..PAIRS).sum::<u64>().wrapping_add(bytes)
}

#[test]
fn heap_link_allocates_nothing_after_construction() {
    let (mut tx, mut rx) = Link::builder().depth(DEPTH).mtu(MTU).heap_pair().unwrap();
    let payload: [u8; MTU] = core::array::from_fn(|i| i as u8);
    let mut result = (0, 0, 0);
    let n = count_allocs(|| result = exercise(&mut tx, &mut rx, &payload));
    let (frags, bytes, sum) = result;
    println!("heap link: {frags} frags, {bytes} bytes, {n} allocations");
    assert_eq!(n, 0, "allocations after construction");
    assert_eq!(frags, PAIRS);
    assert_eq!(rx.consumed(), (frags, bytes));
    assert_eq!(tx.counters().published_frags, PAIRS);
    assert_eq!(sum, expected_sum(bytes));
}

static LINK: InlineLink<DEPTH, MTU, { data_chunks(DEPTH, MTU) }> = InlineLink::new();

#[test]
fn static_link_allocates_nothing_even_to_split() {
    let payload: [u8; MTU] = core::array::from_fn(|i| (i * 3) as u8);
    let mut result = (0, 0, 0);
    let n = count_allocs(|| {
        let (mut tx, mut rx) = LINK.split().unwrap().into_pair();
        result = exercise(&mut tx, &mut rx, &payload);
    });
    let (frags, bytes, sum) = result;
    assert_eq!(n, 0, "allocations by a static link");
    assert_eq!(frags, PAIRS);
    assert_eq!(sum, expected_sum(bytes));
}

/// A 64-byte typed message.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Msg([u64; 8]);

/// Typed round trips on heap links, reliable and lossy, with every way of pushing and
/// reading (copies, guards, claims, batches, iterators, blocking calls) and the typed
/// error paths (a full link handing the value back, a frag of another size).
#[test]
fn typed_round_trips_allocate_nothing() {
    use milonga::typed;
    let rounds: u64 = if cfg!(miri) { 200 } else { 100_000 };
    let (tx, rx) = Link::builder().depth(DEPTH).mtu(64).heap_pair().unwrap();
    let (mut tx, mut rx) = typed::pair::<Msg, _>((tx, rx)).unwrap();
    let link = Link::builder()
        .depth(8)
        .mtu(8)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let (ltx, _, mut lrx) = (link.producer, link.reliable, link.lossy);
    let mut ltx = typed::Producer::<u64, _>::new(ltx).unwrap();
    let mut lrx = typed::LossyConsumer::<u64>::new(lrx.pop().unwrap()).unwrap();
    let budget = Budget::frags(16).unwrap();
    let (mut sum, mut expected) = (0u64, 0u64);
    let n = count_allocs(|| {
        for i in 0..rounds {
            let msg = Msg([i; 8]);
            tx.try_push(msg).unwrap();
            let mut claim = tx.try_claim().unwrap();
            *claim = Msg([i + 1; 8]);
            claim.commit_with(Header::new(i));
            tx.push_with(Msg([i + 2; 8]), BusySpin).unwrap();
            sum = sum.wrapping_add(rx.try_pop().unwrap().0[7]);
            sum = sum.wrapping_add(rx.try_recv().unwrap().0[0]);
            sum = sum.wrapping_add(rx.pop_with(SpinThenYield::default()).unwrap().0[3]);
            expected = expected.wrapping_add(3 * i + 3);
            if i % 16 == 0 {
                rx.housekeeping(); // reports every release: the producer sees a full window
                for k in 0..DEPTH as u64 {
                    tx.try_push(Msg([k; 8])).unwrap();
                }
                assert!(tx.try_push(msg).unwrap_err().is_full());
                let batch = rx.try_batch(budget).unwrap();
                for m in &batch {
                    sum = sum.wrapping_add(m.0[1]);
                }
                batch.commit();
                for m in rx.try_iter() {
                    sum = sum.wrapping_add(m.0[2]);
                }
                expected = expected.wrapping_add((0..DEPTH as u64).sum::<u64>());
                tx.as_bytes_mut()
                    .try_publish(Header::new(0), b"bytes")
                    .unwrap();
                assert!(matches!(
                    rx.try_pop(),
                    Err(typed::TryRecvError::WrongSize { size: 5, .. })
                ));
                drop(rx.as_bytes_mut().try_recv().unwrap());
            }
            ltx.try_push(i).unwrap();
            sum = sum.wrapping_add(lrx.try_pop().unwrap());
            expected = expected.wrapping_add(i);
        }
    });
    assert_eq!(n, 0, "allocations by typed round trips");
    assert_eq!(sum, expected);
}

/// The typed layer over both designs: pushes, claims (committed and abandoned), copies,
/// guards, batches and fan-in scans allocate nothing either.
#[test]
fn typed_ring_and_fan_in_allocate_nothing() {
    use milonga::mpsc::{FanIn, Ring};
    use milonga::typed;
    let rounds: u64 = if cfg!(miri) { 20 } else { 10_000 };
    let ring = Ring::builder().depth(16).mtu(64).heap_pair().unwrap();
    let (tx, mut rx) = typed::ring::<[u64; 8]>(ring).unwrap();
    let tx2 = tx.clone();
    let link = FanIn::builder()
        .producers(3)
        .depth(16)
        .mtu(8)
        .heap()
        .unwrap();
    let (txs, fan) = (link.producers, link.consumer);
    let mut fan = typed::FanIn::<u64, _>::new(fan).unwrap();
    let mut txs: Vec<typed::Producer<'static, u64>> = txs
        .into_iter()
        .map(|t| typed::Producer::new(t).unwrap())
        .collect();
    let mut sum = 0u64;
    let n = count_allocs(|| {
        for i in 0..rounds {
            let mut claim = tx.try_claim().unwrap();
            *claim = [i; 8];
            claim.commit();
            tx2.try_push([1; 8]).unwrap();
            drop(tx.try_claim().unwrap()); // abandoned
            tx.try_publish(Header::new(2), [2; 8]).unwrap();
            assert_eq!(rx.try_pop().unwrap()[0], i);
            let batch = rx.try_batch(Budget::frags(8).unwrap()).unwrap();
            for v in &batch {
                sum += v[7];
            }
            batch.commit();
            assert!(matches!(
                rx.try_recv().err(),
                Some(typed::TryRecvError::Abandoned { .. })
            ));
            sum += rx.try_recv().unwrap()[3];
            for (p, t) in txs.iter_mut().enumerate() {
                t.try_push(p as u64).unwrap();
            }
            for (link, v) in fan.try_iter() {
                assert_eq!(link as u64, v);
                sum += 1;
            }
        }
    });
    assert_eq!(n, 0, "allocations by typed round trips");
    assert_eq!(sum, rounds * (1 + 2 + 3));
}
