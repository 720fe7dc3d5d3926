//! Lossy tear stress: a producer that never waits for the lossy consumer, which reads on
//! another thread, so it is lapped again and again, also in the middle of its copies.
//!
//! Every payload byte is a function of (seq, position), and sizes vary with the seq (small
//! payloads that share a 64-byte chunk with their neighbours, payloads of exactly a chunk,
//! payloads that span several), so a copy torn between two frags, or taken from the wrong
//! place, cannot pass the check: the lossy reader checks every delivered frag completely
//! (seq order, sig, size, every byte). It also checks that no frag goes missing without
//! being reported: between two delivered frags, every seq is either lost (counted by an
//! `Overrun`) or rejected by its filter. At the end, for every consumer, published =
//! consumed + filtered + lost, in frags and in bytes, exactly, as the consumer counts it
//! and as the link's metrics report it.
//!
//! Two runs: a lossy consumer alone (the producer never waits at all), and beside a
//! reliable consumer, which gates the producer and must get every frag, in order, intact.
//!
//! What happens when is up to the scheduler; what is asserted is not (the overrun counts
//! are printed, not required). No sleeps: the threads meet only through the link. The
//! number of frags can be set with `LOSSY_TEAR_FRAGS` (for a run under ThreadSanitizer).

use milonga::spsc::Budget;
use milonga::spsc::{Link, SigFilter};
use milonga::wait::SpinThenYield;
use milonga::LossyTryRecvError;
use milonga::Overrun;
use milonga::OverrunKind;
use milonga::TryRecvError;
use milonga::{ConsumerCounters, Header};

const DEPTH: usize = 4;
const MTU: usize = if cfg!(miri) { 200 } else { 2048 };

fn frags(native: u64) -> u64 {
    std::env::var("LOSSY_TEAR_FRAGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(miri) { 150 } else { native })
}

/// The size of frag `seq`: cycles through sizes that share chunks, fill one exactly, and
/// span several.
fn size(seq: u64) -> usize {
    let r = (seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize;
    match seq % 6 {
        0 => 1 + r % 16,
        1 => 8 * (1 + r % 8),
        2 => 64,
        3 => 65 + r % (MTU - 65),
        4 => MTU - r % 8,
        _ => r % (MTU + 1),
    }
}

/// Byte `i` of frag `seq`.
fn byte(seq: u64, i: usize) -> u8 {
    (seq.wrapping_mul(131).wrapping_add(i as u64 * 7) as u8) ^ ((seq >> 8) as u8)
}

/// The payloads, fast: byte `i` of the payload of `seq` is `(seq * 131 + 7 * i) as u8` XOR
/// `(seq >> 8) as u8`. Row `a = seq * 131 % 256` of the additive part is `(a + 7 * i) as u8`,
/// which is `base[i + a * 183 % 256]` for `base[i] = (7 * i) as u8` (183 is 7's inverse
/// modulo 256), so one base row of `MTU + 256` bytes serves every `seq`, and the payload is
/// written and checked 8 bytes at a time.
struct Payloads(Vec<u8>);

impl Payloads {
    fn new() -> Self {
        Payloads((0..MTU + 256).map(|i| (i * 7) as u8).collect())
    }

    /// Writes the payload of `seq` into `buf` (its length is the payload's).
    fn fill(&self, seq: u64, buf: &mut [u8]) {
        let a = seq.wrapping_mul(131) as u8 as usize;
        let j = a * 183 % 256;
        let row = &self.0[j..j + MTU];
        let x = (seq >> 8) as u8;
        let k = u64::from_ne_bytes([x; 8]);
        let whole = buf.len() / 8 * 8;
        let mut dst = buf.chunks_exact_mut(8);
        for (d, s) in (&mut dst).zip(row.chunks_exact(8)) {
            d.copy_from_slice(&(u64::from_ne_bytes(s.try_into().unwrap()) ^ k).to_ne_bytes());
        }
        for (d, s) in dst.into_remainder().iter_mut().zip(&row[whole..]) {
            *d = s ^ x;
        }
    }
}

/// The lossy consumer skips these sigs (the sig is the seq).
const FILTER: fn(u64) -> bool = |sig| sig % 7 != 3;

/// Checks one delivered frag completely (`scratch`: room for the expected payload).
fn check(p: &Payloads, seq: u64, sig: u64, payload: &[u8], scratch: &mut [u8]) {
    assert_eq!(sig, seq, "sig of seq {seq}");
    assert_eq!(payload.len(), size(seq), "size of seq {seq}");
    let want = &mut scratch[..payload.len()];
    p.fill(seq, want);
    if payload != want {
        let i = (0..want.len()).find(|&i| payload[i] != want[i]).unwrap();
        panic!(
            "seq {seq}: byte {i} of {} is {:#04x}, not {:#04x}: a torn or misplaced copy",
            want.len(),
            payload[i],
            want[i]
        );
    }
}

fn assert_exact(c: &ConsumerCounters, frags: u64, bytes: u64) {
    assert_eq!(
        c.consumed_frags + c.filtered_frags + c.lost_frags(),
        frags,
        "{c:?}"
    );
    assert_eq!(
        c.consumed_bytes + c.filtered_bytes + c.lost_bytes,
        bytes,
        "{c:?}"
    );
}

/// The two runs each want both cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(reliable: usize, n: u64) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Link {
        producer: mut tx,
        reliable: rels,
        lossy,
        ..
    } = Link::builder()
        .depth(DEPTH)
        .mtu(MTU)
        .reliable(reliable)
        .lossy(1)
        .heap()
        .unwrap();
    let metrics = tx.metrics();
    let bytes: u64 = (0..n).map(|s| size(s) as u64).sum();
    let mut lossy = lossy.into_iter().next().unwrap();
    lossy.set_filter(Some(SigFilter::func(FILTER)));
    // Every thread starts once all are running, so the producer does not finish before
    // the readers are scheduled.
    let start = std::sync::Barrier::new(2 + reliable);
    std::thread::scope(|s| {
        let start = &start;
        s.spawn(move || {
            start.wait();
            let payloads = Payloads::new();
            let mut buf = vec![0u8; MTU];
            for seq in 0..n {
                let len = size(seq);
                payloads.fill(seq, &mut buf[..len]);
                let hdr = Header::new(seq);
                let got = if reliable == 0 {
                    tx.try_publish(hdr, &buf[..len]) // nobody to wait for
                } else {
                    tx.publish_with(hdr, &buf[..len], SpinThenYield::default())
                };
                assert_eq!(got, Ok(seq));
            }
            tx.halt();
        });
        for mut rx in rels {
            s.spawn(move || {
                start.wait();
                let (payloads, mut scratch) = (Payloads::new(), vec![0u8; MTU]);
                let mut next = 0u64;
                loop {
                    match rx.try_batch(Budget::new(16, 16 * MTU).unwrap()) {
                        Ok(batch) => {
                            for frag in &batch {
                                assert_eq!(frag.seq(), next, "reliable order");
                                check(
                                    &payloads,
                                    frag.seq(),
                                    frag.sig(),
                                    frag.payload(),
                                    &mut scratch,
                                );
                                next += 1;
                            }
                            batch.commit();
                        }
                        Err(TryRecvError::Empty) => std::thread::yield_now(),
                        Err(TryRecvError::Closed) => break,
                        Err(e) => panic!("reliable: {e}"),
                    }
                }
                assert_eq!(next, n, "the reliable consumer got every frag");
                assert_exact(&rx.counters(), n, bytes);
                assert_eq!(rx.counters().lost_frags(), 0);
            });
        }
        s.spawn(move || {
            start.wait();
            let (payloads, mut scratch) = (Payloads::new(), vec![0u8; MTU]);
            let mut buf = vec![0u8; MTU];
            // Every seq before `next` was delivered, filtered or reported lost.
            let (mut next, mut consumed, mut lost, mut overruns, mut empty) = (0u64, 0, 0, 0, 0u64);
            // Overruns and frags lost, by how they were found: lapped before the read,
            // overwritten during the copy.
            let (mut lapped, mut overwritten) = ((0u64, 0u64), (0u64, 0u64));
            loop {
                match lossy.try_recv(&mut buf) {
                    Ok(meta) => {
                        assert!(
                            meta.seq >= next,
                            "seq {} after {next}: out of order",
                            meta.seq
                        );
                        for skipped in next..meta.seq {
                            assert!(!FILTER(skipped), "seq {skipped} vanished unreported");
                        }
                        check(
                            &payloads,
                            meta.seq,
                            meta.sig,
                            &buf[..meta.sz as usize],
                            &mut scratch,
                        );
                        next = meta.seq + 1;
                        consumed += 1;
                    }
                    Err(LossyTryRecvError::Overrun(Overrun { lost: l, kind })) => {
                        let by_kind = match kind {
                            OverrunKind::Lapped => &mut lapped,
                            OverrunKind::Overwritten => &mut overwritten,
                        };
                        by_kind.0 += 1;
                        by_kind.1 += l;
                        // The call may have skipped filtered frags before it found the
                        // overrun: the `l` frags before where it resumes are the lost ones.
                        let resume = lossy.next_seq();
                        assert!(l > 0 && resume - l >= next, "lost {l}, resumed at {resume}");
                        for skipped in next..resume - l {
                            assert!(!FILTER(skipped), "seq {skipped} vanished unreported");
                        }
                        lost += l;
                        next = resume;
                        overruns += 1;
                    }
                    Err(LossyTryRecvError::Empty) => {
                        // Spin, then let the producer run (on a busy machine the threads
                        // share a core); not a synchronisation.
                        empty += 1;
                        if cfg!(miri) || empty % 128 == 0 {
                            std::thread::yield_now();
                        } else {
                            std::hint::spin_loop();
                        }
                    }
                    Err(LossyTryRecvError::Closed) => break,
                    Err(e) => panic!("lossy: {e}"),
                }
                assert!(lossy.next_seq() >= next);
            }
            for skipped in next..n {
                assert!(
                    !FILTER(skipped),
                    "seq {skipped} vanished unreported at the end"
                );
            }
            let c = lossy.counters();
            println!(
                "{reliable} reliable + 1 lossy, {n} frags: lossy consumed {consumed}, lost \
                 {lost} in {overruns} overruns ({} found polling, {} while copying), {empty} \
                 empty reads; {c:?}",
                c.poll_overruns, c.read_overruns
            );
            assert_eq!((c.consumed_frags, c.lost_frags()), (consumed, lost));
            assert_eq!(c.poll_overruns + c.read_overruns, overruns);
            // Each error said how its overrun was found, as the counters did.
            assert_eq!((c.poll_overruns, c.poll_lost), lapped);
            assert_eq!((c.read_overruns, c.read_lost), overwritten);
            assert_exact(&c, n, bytes);
        });
    });
    let snap = metrics.snapshot();
    assert!(snap.closed);
    assert_eq!(
        (snap.producer.published_frags, snap.producer.published_bytes),
        (n, bytes)
    );
    for c in &snap.consumers {
        assert!(c.detached, "{c:?}");
        assert_exact(&c.counters, n, bytes);
    }
}

#[test]
fn the_fast_payloads_are_the_bytes_of_each_seq() {
    let p = Payloads::new();
    let mut buf = [0u8; MTU];
    for seq in (0..70_000u64).step_by(if cfg!(miri) { 9973 } else { 7 }) {
        let len = size(seq);
        p.fill(seq, &mut buf[..len]);
        assert!((0..len).all(|i| buf[i] == byte(seq, i)), "seq {seq}");
    }
}

#[test]
fn a_lossy_reader_alone_never_delivers_a_torn_frag_and_counts_exactly() {
    run(0, frags(1_500_000));
}

#[test]
fn a_lossy_reader_beside_a_reliable_one_never_delivers_a_torn_frag() {
    run(1, frags(800_000));
}
