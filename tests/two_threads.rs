//! A producer and a consumer on two threads: millions of frags of random sizes, every one
//! checked for order, size, header and payload bytes, with the producer running out of
//! credits many times.

mod common;

use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use common::{
    consume_checked, fill, frag_header, frag_len, frag_seed, produce_try_publish, RxStats, TxStats,
    XorShift,
};
use milonga::spsc::{InlineLink, Link};
use milonga::wait::SpinThenYield;
use milonga::{data_chunks, FlowConfig, PublishError};

const FRAGS: u64 = if cfg!(any(miri, milonga_tsan)) {
    1_000
} else {
    10_000_000
};
/// The variants (static link, claims) run fewer frags.
const VARIANT_FRAGS: u64 = if cfg!(any(miri, milonga_tsan)) {
    500
} else {
    2_000_000
};
const DEPTH: usize = if cfg!(any(miri, milonga_tsan)) {
    8
} else {
    256
};
const MTU: usize = if cfg!(any(miri, milonga_tsan)) {
    100
} else {
    512
};
/// The consumer stalls this often until the producer is out of credits.
const STALL_EVERY: u64 = if cfg!(any(miri, milonga_tsan)) {
    100
} else {
    4096
};

/// The tests of this file each want both cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn report(name: &str, tx: &TxStats, rx: &RxStats, start: Instant) {
    println!(
        "{name}: {} frags, {} bytes in {:.2?}; producer: {} backpressure events, {} NoCredits \
         returns; consumer: {} polled, {} batches committed, {} partly read, {} empty reads, \
         {} stalls (full window {}, producer retrying {})",
        rx.frags,
        rx.bytes,
        start.elapsed(),
        tx.counters.backpressure,
        tx.no_credits,
        rx.polled,
        rx.committed,
        rx.partial,
        rx.empty,
        rx.stalls_full + rx.stalls_retrying,
        rx.stalls_full,
        rx.stalls_retrying,
    );
}

/// Checks what both ends counted, and that credits ran out at least once per stall (each
/// stall ends with the producer out of credits, and more than a window is read between
/// two stalls, so each is a separate backpressure episode).
fn check_totals(tx: &TxStats, rx: &RxStats, frags: u64, min_backpressure: u64) {
    assert_eq!(rx.frags, frags);
    assert_eq!(tx.counters.published_frags, frags);
    assert_eq!(tx.counters.published_bytes, tx.bytes);
    assert_eq!(rx.bytes, tx.bytes);
    let stalls = rx.stalls_full + rx.stalls_retrying;
    assert!(
        tx.counters.backpressure >= stalls,
        "{} backpressure events < {stalls} stalls",
        tx.counters.backpressure
    );
    assert!(
        tx.counters.backpressure >= min_backpressure,
        "credits ran out only {} times",
        tx.counters.backpressure
    );
    assert!(rx.committed > 0 && rx.partial > 0 && rx.polled > 0);
}

#[test]
fn heap_link_try_publish_against_poll_and_batch() {
    let _serial = serial();
    let start = Instant::now();
    let (tx, mut rx) = Link::builder().depth(DEPTH).mtu(MTU).heap_pair().unwrap();
    let producer = thread::spawn(move || produce_try_publish(tx, FRAGS));
    let rxs = consume_checked(&mut rx, 0, FRAGS, DEPTH, STALL_EVERY, false);
    let txs = producer.join().unwrap();
    report("heap/try_publish", &txs, &rxs, start);
    assert!(txs.no_credits >= txs.counters.backpressure);
    // The cnc's copy of the producer's counters is final once it has closed the stream.
    assert_eq!(rx.cnc().producer_counters(), txs.counters);
    check_totals(&txs, &rxs, FRAGS, FRAGS / STALL_EVERY - 2);
}

const S_DEPTH: usize = if cfg!(any(miri, milonga_tsan)) {
    8
} else {
    256
};
static LINK: InlineLink<S_DEPTH, MTU, { data_chunks(S_DEPTH, MTU) }> = InlineLink::new();

#[test]
fn static_link_blocking_publish_against_blocking_reads() {
    let _serial = serial();
    let start = Instant::now();
    let (mut tx, mut rx) = LINK.split().unwrap().into_pair();
    let producer = thread::spawn(move || {
        let mtu = tx.mtu();
        let mut buf = vec![0u8; mtu];
        let mut bytes = 0u64;
        for i in 0..VARIANT_FRAGS {
            assert_eq!(tx.next_seq(), i);
            let seed = frag_seed(i);
            let len = frag_len(seed, mtu);
            fill(seed, &mut buf[..len]);
            let seq = tx
                .publish_with(frag_header(i), &buf[..len], SpinThenYield::default())
                .unwrap();
            assert_eq!(seq, i);
            bytes += len as u64;
        }
        let counters = tx.counters();
        tx.halt();
        TxStats {
            counters,
            no_credits: 0,
            bytes,
        }
    });
    let rxs = consume_checked(&mut rx, 0, VARIANT_FRAGS, S_DEPTH, STALL_EVERY, true);
    let txs = producer.join().unwrap();
    report("static/publish", &txs, &rxs, start);
    assert_eq!(LINK.cnc().producer_counters(), txs.counters);
    check_totals(&txs, &rxs, VARIANT_FRAGS, VARIANT_FRAGS / STALL_EVERY - 2);
}

#[test]
fn heap_link_claims_committed_in_place() {
    let _serial = serial();
    let start = Instant::now();
    // A store larger than the minimum, of an odd size, so the wrap point moves around.
    let flow = FlowConfig::new()
        .cr_resume(DEPTH as u64 / 4)
        .release_every(3);
    let (mut tx, mut rx) = Link::builder()
        .depth(DEPTH)
        .mtu(MTU)
        .data_bytes(milonga::data_bytes(DEPTH, MTU) * 3 / 2 + 100)
        .flow(flow)
        .heap_pair()
        .unwrap();
    let producer = thread::spawn(move || {
        let mtu = tx.mtu();
        let mut rng = XorShift::new(42);
        let (mut no_credits, mut bytes) = (0u64, 0u64);
        for i in 0..VARIANT_FRAGS {
            let seed = frag_seed(i);
            let len = frag_len(seed, mtu);
            // Claim the exact size, or more than needed, up to the mtu.
            let claim_len = if rng.next_u64().is_multiple_of(2) {
                len
            } else {
                len + rng.below_eq(mtu - len)
            };
            let mut claim = loop {
                match tx.try_claim(claim_len) {
                    Ok(claim) => break claim,
                    Err(PublishError::NoCredits) => {
                        no_credits += 1;
                        thread::yield_now();
                    }
                    Err(e) => panic!("claim seq {i}: {e}"),
                }
            };
            assert_eq!(claim.len(), claim_len);
            fill(seed, &mut claim[..len]);
            let seq = if rng.next_u64().is_multiple_of(2) {
                claim.commit_with(frag_header(i), len)
            } else {
                claim.set_header(frag_header(i));
                claim.commit(len)
            };
            assert_eq!(seq, Ok(i));
            bytes += len as u64;
        }
        let counters = tx.counters();
        tx.halt();
        TxStats {
            counters,
            no_credits,
            bytes,
        }
    });
    let rxs = consume_checked(&mut rx, 0, VARIANT_FRAGS, DEPTH, STALL_EVERY, false);
    let txs = producer.join().unwrap();
    report("heap/claim", &txs, &rxs, start);
    check_totals(&txs, &rxs, VARIANT_FRAGS, VARIANT_FRAGS / STALL_EVERY - 2);
}
