//! Helpers shared by the integration tests: a tiny PRNG and payloads derived from a seq,
//! so a consumer can regenerate exactly what the producer wrote.

#![allow(dead_code)]

/// Mixes the seq of a frag into its seed.
pub const KEY: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64: turns any `u64` (a seq) into a well-mixed seed.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Xorshift64*: small, fast, good enough to make payloads and pick sizes.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(splitmix64(seed) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..=max`.
    pub fn below_eq(&mut self, max: usize) -> usize {
        (self.next_u64() % (max as u64 + 1)) as usize
    }
}

/// The seed of the frag with this seq: carried in its `sig`, it fixes its size and bytes.
pub fn frag_seed(seq: u64) -> u64 {
    splitmix64(seq ^ KEY)
}

/// The size of the frag with this seed, uniform in `0..=mtu`.
pub fn frag_len(seed: u64, mtu: usize) -> usize {
    ((seed >> 7) % (mtu as u64 + 1)) as usize
}

/// Fills `buf` with the payload bytes of the frag with this seed.
pub fn fill(seed: u64, buf: &mut [u8]) {
    let mut rng = XorShift::new(seed);
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        w.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    let rest = words.into_remainder();
    let last = rng.next_u64().to_le_bytes();
    rest.copy_from_slice(&last[..rest.len()]);
}

/// Checks a received frag against what the producer derived from its seq; `scratch` must
/// hold at least `mtu` bytes. Returns the payload length.
pub fn check_frag(seq: u64, sig: u64, payload: &[u8], mtu: usize, scratch: &mut [u8]) -> usize {
    let seed = frag_seed(seq);
    assert_eq!(sig, seed, "sig of seq {seq}");
    let len = frag_len(seed, mtu);
    assert_eq!(payload.len(), len, "size of seq {seq}");
    fill(seed, &mut scratch[..len]);
    assert!(payload == &scratch[..len], "payload of seq {seq} differs");
    len
}

use milonga::spsc::Budget;
use milonga::spsc::{Consumer, Producer};
use milonga::wait::SpinThenYield;
use milonga::RecvTimeoutError;
use milonga::TryRecvError;
use milonga::{FragMeta, Header, ProducerCounters, PublishError};

/// The header the producer of a checked stream publishes the frag `seq` with.
pub fn frag_header(seq: u64) -> Header {
    Header::new(frag_seed(seq))
        .tsorig(seq as u32)
        .tspub((seq >> 32) as u32)
}

/// Checks the header fields of a received frag of a checked stream.
pub fn check_meta(meta: &FragMeta) {
    assert_eq!(
        meta.header(),
        frag_header(meta.seq),
        "header of seq {}",
        meta.seq
    );
}

/// What [`consume_checked`] saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct RxStats {
    pub frags: u64,
    pub bytes: u64,
    /// Frags read one at a time.
    pub polled: u64,
    /// Batches ended by `commit`.
    pub committed: u64,
    /// Batches dropped after iterating only some of their frags.
    pub partial: u64,
    /// Read attempts that found nothing yet.
    pub empty: u64,
    /// Deliberate stalls that ended with the producer a full window ahead.
    pub stalls_full: u64,
    /// Deliberate stalls that ended with the producer retrying for credits.
    pub stalls_retrying: u64,
}

/// The consumer holds everything it has until the producer is out of credits: either a
/// full window (`window` frags) is published and unread, or the producer's heartbeat,
/// which beats at every credit refresh, shows it retrying.
fn stall(rx: &mut Consumer<'_>, window: usize, stats: &mut RxStats) {
    rx.housekeeping();
    let hb0 = rx.cnc().heartbeat();
    let max_bytes = (2 * window * rx.mtu()).max(rx.mtu()).max(1);
    loop {
        let n = match rx.try_batch(Budget::new(2 * window, max_bytes).unwrap()) {
            Ok(batch) => batch.len(), // dropped unread: releases nothing
            Err(TryRecvError::Empty) => 0,
            Err(e) => panic!("stall: {e}"),
        };
        assert!(
            n <= window,
            "{n} frags published ahead of a window of {window}"
        );
        if n == window {
            stats.stalls_full += 1;
            return;
        }
        if rx.cnc().heartbeat().wrapping_sub(hb0) >= 4 {
            stats.stalls_retrying += 1;
            return;
        }
        std::thread::yield_now();
    }
}

/// Reads a checked stream (frag `first + i` made by [`frag_header`] and [`fill`]) of
/// exactly `frags` frags until the producer closes it, with a random mix of single reads,
/// committed batches and partly read batches, checking order, sizes, headers and every
/// payload byte. Blocking reads (`recv`, `recv_batch`) if `blocking`. Every `stall_every`
/// frags (0: never) the consumer stalls until the producer runs out of credits.
pub fn consume_checked(
    rx: &mut Consumer<'_>,
    first: u64,
    frags: u64,
    window: usize,
    stall_every: u64,
    blocking: bool,
) -> RxStats {
    let mtu = rx.mtu();
    let mut scratch = vec![0u8; mtu];
    let mut rng = XorShift::new(first ^ frags ^ 0x5eed);
    let mut stats = RxStats::default();
    let mut next_stall = stall_every;
    let wait = SpinThenYield::default;
    loop {
        let n = stats.frags;
        if stall_every > 0 && n >= next_stall && n + (window as u64) < frags {
            next_stall += stall_every;
            stall(rx, window, &mut stats);
        }
        let expect = first.wrapping_add(n);
        assert_eq!(rx.next_seq(), expect);
        let res = match rng.next_u64() % 8 {
            0..=2 => {
                let res = if blocking {
                    rx.recv_with(wait()).map_err(no_timeout)
                } else {
                    rx.try_recv()
                };
                res.map(|guard| {
                    assert_eq!(guard.seq(), expect);
                    check_meta(guard.meta());
                    let len =
                        check_frag(guard.seq(), guard.sig(), guard.payload(), mtu, &mut scratch);
                    stats.bytes += len as u64;
                    stats.frags += 1;
                    stats.polled += 1;
                })
            }
            k => {
                let max_frags = 1 + (rng.next_u64() % 64) as usize;
                let max_bytes = mtu.max(1) + rng.below_eq(8 * mtu);
                let res = if blocking {
                    rx.recv_batch_with(Budget::new(max_frags, max_bytes).unwrap(), wait())
                        .map_err(no_timeout)
                } else {
                    rx.try_batch(Budget::new(max_frags, max_bytes).unwrap())
                };
                res.map(|batch| {
                    assert_eq!(batch.first_seq(), expect);
                    assert!(!batch.is_empty() && batch.len() <= max_frags);
                    assert!(batch.bytes() <= max_bytes);
                    let take = if k <= 5 {
                        batch.len()
                    } else {
                        rng.below_eq(batch.len())
                    };
                    let (mut frags, mut bytes) = (0u64, 0usize);
                    for (i, frag) in batch.iter().take(take).enumerate() {
                        assert_eq!(frag.seq(), expect.wrapping_add(i as u64));
                        check_meta(frag.meta());
                        bytes +=
                            check_frag(frag.seq(), frag.sig(), frag.payload(), mtu, &mut scratch);
                        frags += 1;
                    }
                    if take == batch.len() {
                        assert_eq!(bytes, batch.bytes());
                        stats.committed += 1;
                        batch.commit();
                    } else {
                        stats.partial += 1;
                        drop(batch); // releases exactly the `take` frags iterated
                    }
                    stats.frags += frags;
                    stats.bytes += bytes as u64;
                })
            }
        };
        match res {
            Ok(()) => assert_eq!(rx.next_seq(), first.wrapping_add(stats.frags)),
            Err(TryRecvError::Empty) => {
                assert!(!blocking);
                stats.empty += 1;
                std::thread::yield_now();
            }
            Err(TryRecvError::Closed) => break,
            Err(e) => panic!("read at seq {expect}: {e}"),
        }
    }
    assert_eq!(
        stats.frags, frags,
        "frags read before the end of the stream"
    );
    assert_eq!(rx.next_seq(), first.wrapping_add(frags));
    assert_eq!(rx.consumed(), (stats.frags, stats.bytes));
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
    stats
}

/// What a producer thread reports.
pub struct TxStats {
    pub counters: ProducerCounters,
    pub no_credits: u64,
    pub bytes: u64,
}

/// Publishes the checked stream with `try_publish`, spinning (then yielding) on
/// `NoCredits`.
pub fn produce_try_publish(mut tx: Producer<'_>, frags: u64) -> TxStats {
    let first = tx.next_seq();
    let mtu = tx.mtu();
    let mut buf = vec![0u8; mtu];
    let (mut no_credits, mut bytes) = (0u64, 0u64);
    for i in 0..frags {
        let seq = tx.next_seq();
        assert_eq!(seq, first.wrapping_add(i));
        let seed = frag_seed(seq);
        let len = frag_len(seed, mtu);
        fill(seed, &mut buf[..len]);
        let mut spins = 0u32;
        loop {
            match tx.try_publish(frag_header(seq), &buf[..len]) {
                Ok(s) => {
                    assert_eq!(s, seq);
                    break;
                }
                Err(PublishError::NoCredits) => {
                    no_credits += 1;
                    assert_eq!(tx.next_seq(), seq);
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                Err(e) => panic!("publish seq {seq}: {e}"),
            }
        }
        bytes += len as u64;
    }
    let counters = tx.counters();
    tx.halt();
    TxStats {
        counters,
        no_credits,
        bytes,
    }
}

/// A blocking read's error as a non-blocking read reports it; the tests' wait strategies
/// never give up.
pub fn no_timeout(e: RecvTimeoutError) -> TryRecvError {
    match e {
        RecvTimeoutError::Closed => TryRecvError::Closed,
        RecvTimeoutError::Failed => TryRecvError::Failed,
        RecvTimeoutError::Corrupt { seq } => TryRecvError::Corrupt { seq },
        e => panic!("a wait strategy that never gives up returned {e}"),
    }
}
