//! Wraparound: of the 64-bit seq (a link whose first seq is just below `u64::MAX`) and of
//! the payload store (compact placement that packs small payloads into shared chunks and
//! starts again at word 0), with every size that sits on a word or chunk boundary,
//! zero-size frags and frags of exactly the mtu.

mod common;

use std::collections::VecDeque;
use std::thread;

use common::{consume_checked, fill, frag_header, frag_seed, produce_try_publish, XorShift};
use milonga::spsc::Budget;
use milonga::spsc::{Consumer, InlineLink, Link, Producer, MTU_MAX};
use milonga::wait::SpinThenYield;
use milonga::TryRecvError;
use milonga::{data_bytes, data_chunks, Header, PublishError, CHUNK_SZ};

const NEAR_END: u64 = u64::MAX - 5;
const FRAGS: u64 = if cfg!(miri) { 300 } else { 300_000 };
const DEPTH: usize = if cfg!(miri) { 4 } else { 64 };
const MTU: usize = if cfg!(miri) { 80 } else { 300 };

#[test]
fn seq_wraps_in_order_single_thread() {
    let (mut tx, mut rx) = Link::builder()
        .depth(16)
        .mtu(64)
        .first_seq(NEAR_END)
        .heap_pair()
        .unwrap();
    assert_eq!((tx.next_seq(), rx.next_seq()), (NEAR_END, NEAR_END));
    let expected: Vec<u64> = (0..12).map(|i| NEAR_END.wrapping_add(i)).collect();
    assert_eq!(expected[5], u64::MAX);
    assert_eq!(expected[6], 0);
    for &seq in &expected {
        assert_eq!(
            tx.try_publish(Header::new(seq), &seq.to_le_bytes()),
            Ok(seq)
        );
    }
    assert_eq!(tx.next_seq(), 6);
    // One batch straddles the wrap.
    let batch = rx.try_batch(Budget::new(64, 64 * 64).unwrap()).unwrap();
    assert_eq!(
        (batch.first_seq(), batch.len(), batch.bytes()),
        (NEAR_END, 12, 96)
    );
    let seen: Vec<u64> = batch.iter().map(|f| f.seq()).collect();
    assert_eq!(seen, expected);
    for f in &batch {
        assert_eq!(f.sig(), f.seq());
        assert_eq!(f.payload(), &f.seq().to_le_bytes());
    }
    batch.commit();
    assert_eq!(rx.next_seq(), 6);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
}

#[test]
fn credits_are_counted_across_the_seq_wrap() {
    let (mut tx, mut rx) = Link::builder()
        .depth(8)
        .mtu(64)
        .first_seq(NEAR_END)
        .heap_pair()
        .unwrap();
    for i in 0..8 {
        assert_eq!(
            tx.try_publish(Header::new(i), &[]),
            Ok(NEAR_END.wrapping_add(i))
        );
    }
    assert_eq!(tx.next_seq(), 2);
    assert_eq!(
        tx.try_publish(Header::new(8), &[]),
        Err(PublishError::NoCredits)
    );
    // Read six (through the wrap), report them: the producer gets exactly six back.
    for i in 0..6 {
        assert_eq!(rx.try_recv().unwrap().seq(), NEAR_END.wrapping_add(i));
    }
    rx.housekeeping();
    for i in 8..14 {
        assert_eq!(
            tx.try_publish(Header::new(i), &[]),
            Ok(NEAR_END.wrapping_add(i))
        );
    }
    assert_eq!(
        tx.try_publish(Header::new(14), &[]),
        Err(PublishError::NoCredits)
    );
    assert_eq!(tx.next_seq(), 8);
}

#[test]
fn heap_link_crosses_the_seq_wrap_two_threads() {
    let (tx, mut rx) = Link::builder()
        .depth(DEPTH)
        .mtu(MTU)
        .first_seq(NEAR_END)
        .heap_pair()
        .unwrap();
    let producer = thread::spawn(move || produce_try_publish(tx, FRAGS));
    let stats = consume_checked(&mut rx, NEAR_END, FRAGS, DEPTH, 0, false);
    let txs = producer.join().unwrap();
    assert_eq!(rx.next_seq(), NEAR_END.wrapping_add(FRAGS));
    assert!(rx.next_seq() < NEAR_END, "the stream crossed the wrap");
    assert_eq!((stats.frags, stats.bytes), (FRAGS, txs.bytes));
    assert_eq!(txs.counters.published_frags, FRAGS);
}

static WRAP_LINK: InlineLink<DEPTH, MTU, { data_chunks(DEPTH, MTU) }> =
    InlineLink::with_first_seq(NEAR_END);

#[test]
fn static_link_crosses_the_seq_wrap_two_threads() {
    let (mut tx, mut rx) = WRAP_LINK.split().unwrap().into_pair();
    assert_eq!(tx.next_seq(), NEAR_END);
    let producer = thread::spawn(move || {
        let mut buf = vec![0u8; MTU];
        for i in 0..FRAGS {
            let seq = NEAR_END.wrapping_add(i);
            let seed = frag_seed(seq);
            let len = common::frag_len(seed, MTU);
            fill(seed, &mut buf[..len]);
            let got = tx.publish_with(frag_header(seq), &buf[..len], SpinThenYield::default());
            assert_eq!(got, Ok(seq));
        }
        tx.halt();
    });
    let stats = consume_checked(&mut rx, NEAR_END, FRAGS, DEPTH, 0, true);
    producer.join().unwrap();
    assert_eq!(stats.frags, FRAGS);
    assert_eq!(rx.next_seq(), NEAR_END.wrapping_add(FRAGS));
}

/// A frag published by [`StoreModel`]'s test, and where the model says its payload goes.
struct Sent {
    seq: u64,
    sz: usize,
    offset: u32,
}

/// The placement rule of the payload store, in 8-byte words: `ceil(sz / 8)` contiguous
/// words at the producer's cursor; but at the next 64-byte chunk if the payload is longer
/// than a chunk or would straddle one; and at word 0 if it would cross the end.
struct StoreModel {
    chunks: usize,
    cursor: usize,
    wraps: u64,
}

impl StoreModel {
    fn place(&mut self, sz: usize) -> u32 {
        let per_chunk = CHUNK_SZ / 8;
        let n = sz.div_ceil(8);
        let mut at = self.cursor;
        let first_chunk = at / per_chunk;
        let last_chunk = (at + n.max(1) - 1) / per_chunk;
        if !at.is_multiple_of(per_chunk) && (sz > CHUNK_SZ || (n > 0 && first_chunk != last_chunk))
        {
            at = (first_chunk + 1) * per_chunk;
        }
        if at + n > self.chunks * per_chunk {
            self.wraps += 1;
            at = 0;
        }
        self.cursor = at + n;
        at as u32
    }
}

fn sizes_of_interest(mtu: usize) -> Vec<usize> {
    let mut v = vec![
        0,
        1,
        8,
        9,
        16,
        17,
        40,
        56,
        63,
        64,
        65,
        127,
        128,
        129,
        mtu - 1,
        mtu,
        mtu,
        mtu,
    ];
    v.retain(|&s| s <= mtu);
    v
}

fn check_payload(seq: u64, payload: &[u8], scratch: &mut [u8]) {
    let sz = payload.len();
    fill(frag_seed(seq), &mut scratch[..sz]);
    assert!(
        payload == &scratch[..sz],
        "payload of seq {seq} ({sz} bytes) differs"
    );
}

/// Rounds of up to a full window of frags of mixed sizes (the sizes next to chunk
/// boundaries, 0, and the mtu, often), published with `try_publish` or a claim, then read
/// back while all of them are held at once; checks each frag's placement against the
/// model and every byte. Returns how many times the store wrapped.
fn store_round_trips(
    tx: &mut Producer<'_>,
    rx: &mut Consumer<'_>,
    depth: usize,
    chunks: usize,
    rounds: usize,
) -> u64 {
    let mtu = tx.mtu();
    let sizes = sizes_of_interest(mtu);
    let mut model = StoreModel {
        chunks,
        cursor: 0,
        wraps: 0,
    };
    let mut rng = XorShift::new(depth as u64 * 1000 + mtu as u64);
    let mut scratch = vec![0u8; mtu];
    let mut buf = vec![0u8; mtu];
    let mut sent = VecDeque::new();
    for round in 0..rounds {
        // Every fourth round fills the whole window with frags of the mtu.
        let full = round % 4 == 0;
        let k = if full {
            depth
        } else {
            1 + rng.below_eq(depth - 1)
        };
        for _ in 0..k {
            let seq = tx.next_seq();
            let sz = if full {
                mtu
            } else if rng.next_u64().is_multiple_of(4) {
                rng.below_eq(mtu)
            } else {
                sizes[rng.below_eq(sizes.len() - 1)]
            };
            let offset = model.place(sz);
            let seed = frag_seed(seq);
            if rng.next_u64().is_multiple_of(2) {
                fill(seed, &mut buf[..sz]);
                assert_eq!(tx.try_publish(Header::new(sz as u64), &buf[..sz]), Ok(seq));
            } else {
                let mut claim = tx.try_claim(sz).unwrap();
                fill(seed, &mut claim);
                assert_eq!(claim.commit_with(Header::new(sz as u64), sz), Ok(seq));
            }
            sent.push_back(Sent { seq, sz, offset });
        }
        // Hold all k at once, then check them: a payload written over another one
        // still held would show here.
        let batch = rx
            .try_batch(Budget::new(depth, depth * mtu.max(1)).unwrap())
            .unwrap();
        assert_eq!(batch.len(), k);
        let held: Vec<_> = batch.iter().collect();
        for frag in held {
            let s = sent.pop_front().unwrap();
            assert_eq!((frag.seq(), frag.sig()), (s.seq, s.sz as u64));
            assert_eq!(frag.meta().sz as usize, s.sz);
            assert_eq!(
                frag.meta().offset,
                s.offset,
                "placement of seq {} ({} bytes)",
                s.seq,
                s.sz
            );
            check_payload(s.seq, frag.payload(), &mut scratch);
        }
        batch.commit();
        // Finding nothing reports the progress: the producer's credits come back.
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    }
    assert!(sent.is_empty());
    model.wraps
}

const ROUNDS: usize = if cfg!(miri) { 12 } else { 2_000 };

#[test]
fn payload_store_wraps_with_mixed_sizes() {
    // (depth, mtu, extra store bytes beyond the minimum)
    let geometries: &[(usize, usize, usize)] = if cfg!(miri) {
        &[(4, 200, 0), (2, 65, 3 * 64 + 17)]
    } else {
        &[
            (8, 200, 0),
            (4, 64, 0),
            (16, 65, 3 * 64 + 17),
            (2, 1500, 0),
            (2, 1, 0),
            (32, 513, 5000),
        ]
    };
    for &(depth, mtu, extra) in geometries {
        let bytes = data_bytes(depth, mtu) + extra;
        let chunks = bytes / CHUNK_SZ;
        let (mut tx, mut rx) = Link::builder()
            .depth(depth)
            .mtu(mtu)
            .data_bytes(bytes)
            .heap_pair()
            .unwrap();
        let wraps = store_round_trips(&mut tx, &mut rx, depth, chunks, ROUNDS);
        println!("depth {depth}, mtu {mtu}, {chunks} chunks: the store wrapped {wraps} times");
        // Payloads of a few bytes pack up to eight to a chunk, so a store for a tiny mtu
        // wraps less often in the same number of rounds.
        let min_wraps = if cfg!(miri) {
            2
        } else if mtu < 8 {
            50
        } else {
            100
        };
        assert!(wraps >= min_wraps, "the store wrapped only {wraps} times");
    }
}

static STORE_LINK: InlineLink<4, 129, { data_chunks(4, 129) }> =
    InlineLink::with_first_seq(NEAR_END);

#[test]
fn static_payload_store_wraps_with_mixed_sizes() {
    let (mut tx, mut rx) = STORE_LINK.split().unwrap().into_pair();
    let wraps = store_round_trips(&mut tx, &mut rx, 4, data_chunks(4, 129), ROUNDS);
    assert!(wraps >= if cfg!(miri) { 2 } else { 100 });
}

#[test]
fn zero_size_frags_take_no_room() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(128).heap_pair().unwrap();
    // A one-chunk frag moves the cursor to word 8; zero-size frags leave it there.
    assert_eq!(tx.try_publish(Header::new(0), &[9; 64]), Ok(0));
    assert_eq!(rx.try_recv().unwrap().payload(), &[9; 64]);
    for seq in 1..=40u64 {
        assert_eq!(tx.try_publish(Header::new(seq), &[]), Ok(seq));
        let frag = rx.try_recv().unwrap();
        assert_eq!(
            (frag.seq(), frag.sig(), frag.payload()),
            (seq, seq, &[][..])
        );
        assert_eq!((frag.meta().sz, frag.meta().offset), (0, 8));
    }
    let mut claim = tx.try_claim(0).unwrap();
    assert!(claim.is_empty());
    claim.set_header(Header::new(41));
    assert_eq!(claim.commit(0), Ok(41));
    assert_eq!(tx.try_publish(Header::new(42), &[7; 65]), Ok(42));
    let batch = rx.try_batch(Budget::new(8, 128).unwrap()).unwrap();
    assert_eq!((batch.len(), batch.bytes()), (2, 65));
    drop(batch); // nothing iterated: nothing released
    let batch = rx.try_batch(Budget::new(8, 128).unwrap()).unwrap();
    assert_eq!(batch.iter().next().map(|f| f.seq()), Some(41));
    drop(batch); // the first one released
    assert_eq!(rx.next_seq(), 42);
    let frag = rx.try_recv().unwrap();
    assert_eq!(
        (frag.seq(), frag.meta().offset, frag.payload()),
        (42, 8, &[7; 65][..])
    );
}

#[test]
fn mtu_zero_link_carries_only_empty_frags() {
    let (mut tx, mut rx) = Link::builder().depth(2).mtu(0).heap_pair().unwrap();
    assert_eq!(
        tx.try_publish(Header::new(0), &[1]),
        Err(PublishError::TooLarge { len: 1, max: 0 })
    );
    for i in 0..20u64 {
        assert_eq!(tx.try_publish(Header::new(i), &[]), Ok(2 * i));
        assert_eq!(tx.try_publish(Header::new(i), &[]), Ok(2 * i + 1));
        let batch = rx.try_batch(Budget::new(4, 0).unwrap()).unwrap();
        assert_eq!((batch.len(), batch.bytes()), (2, 0));
        assert!(batch.iter().all(|f| f.payload().is_empty()));
        batch.commit();
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    }
}

static EMPTY_STORE: InlineLink<2, 0, 0> = InlineLink::new();

#[test]
fn static_link_with_an_empty_store() {
    let (mut tx, mut rx) = EMPTY_STORE.split().unwrap().into_pair();
    for seq in 0..10u64 {
        assert_eq!(tx.try_publish(Header::new(seq), &[]), Ok(seq));
        let frag = rx.try_recv().unwrap();
        assert_eq!((frag.seq(), frag.payload()), (seq, &[][..]));
    }
}

#[test]
fn sizes_on_chunk_boundaries_and_the_mtu_round_trip() {
    let mtus: &[usize] = if cfg!(miri) {
        &[65, 200]
    } else {
        &[65, 200, 1500, MTU_MAX]
    };
    for &mtu in mtus {
        let depth = 4;
        let (mut tx, mut rx) = Link::builder().depth(depth).mtu(mtu).heap_pair().unwrap();
        let mut model = StoreModel {
            chunks: data_chunks(depth, mtu),
            cursor: 0,
            wraps: 0,
        };
        let mut scratch = vec![0u8; mtu];
        let mut buf = vec![0u8; mtu];
        let sizes = [mtu, mtu - 1, 1, 63, 64, 65, 0, mtu];
        for round in 0..3 {
            for &sz in &sizes {
                let seq = tx.next_seq();
                // A claim is placed for the size claimed, the cursor then moves by the
                // size committed.
                let offset = model.place(if round == 2 { mtu } else { sz });
                let seed = frag_seed(seq);
                match round {
                    0 => {
                        fill(seed, &mut buf[..sz]);
                        assert_eq!(tx.try_publish(Header::new(7), &buf[..sz]), Ok(seq));
                    }
                    1 => {
                        fill(seed, &mut buf[..sz]);
                        assert_eq!(
                            tx.publish_with(Header::new(7), &buf[..sz], SpinThenYield::default()),
                            Ok(seq)
                        );
                    }
                    _ => {
                        // Claim the whole mtu, commit only `sz`.
                        let mut claim = tx.claim_with(mtu, SpinThenYield::default()).unwrap();
                        assert_eq!(claim.len(), mtu);
                        fill(seed, &mut claim[..sz]);
                        assert_eq!(claim.commit_with(Header::new(7), sz), Ok(seq));
                        model.cursor = offset as usize + sz.div_ceil(8);
                    }
                }
                let frag = rx.try_recv().unwrap();
                assert_eq!((frag.seq(), frag.payload().len()), (seq, sz), "mtu {mtu}");
                assert_eq!(frag.meta().offset, offset, "mtu {mtu}, size {sz}");
                check_payload(seq, frag.payload(), &mut scratch);
            }
        }
    }
}
