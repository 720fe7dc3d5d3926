//! Bad input gets a named error and leaves the link as it was: payloads over the mtu,
//! geometries that cannot work, flow settings out of range, a second split, batch budgets
//! of zero frags.

use std::error::Error;

use milonga::spsc::Budget;
use milonga::spsc::{Consumer, InlineLink, Link, Producer, MTU_MAX};
use milonga::wait::SpinThenYield;
use milonga::{
    data_bytes, data_chunks, BudgetError, FlowConfig, Header, LinkError, LossyRecvError,
    LossyRecvTimeoutError, LossyTryRecvError, Overrun, OverrunKind, PublishError, RecvError,
    RecvTimeoutError, TryRecvError, MAX_CHUNKS,
};

const MTU: usize = 100;

fn link() -> (Producer<'static>, Consumer<'static>) {
    Link::builder().depth(8).mtu(MTU).heap_pair().unwrap()
}

/// Nothing was published: the consumer finds nothing, both ends are where they were, and
/// the next good publish gets the next seq and is read back intact.
fn check_nothing_published(tx: &mut Producer<'_>, rx: &mut Consumer<'_>, seq: u64, credits: u64) {
    assert_eq!(tx.next_seq(), seq);
    assert_eq!(tx.credits(), credits);
    assert_eq!(rx.next_seq(), seq);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    assert_eq!(tx.counters().published_frags, seq);
    assert_eq!(tx.try_publish(Header::new(seq), b"good"), Ok(seq));
    let frag = rx.try_recv().unwrap();
    assert_eq!(
        (frag.seq(), frag.sig(), frag.payload()),
        (seq, seq, &b"good"[..])
    );
}

#[test]
fn payload_over_the_mtu_is_refused_by_every_publish_call() {
    let (mut tx, mut rx) = link();
    let too_big = [0xa5u8; MTU + 1];
    let err = PublishError::TooLarge {
        len: MTU + 1,
        max: MTU,
    };
    let mut seq = 0;

    assert_eq!(tx.try_publish(Header::new(1), &too_big), Err(err));
    check_nothing_published(&mut tx, &mut rx, seq, 8);
    seq += 1;

    assert_eq!(
        tx.publish_with(Header::new(1), &too_big, SpinThenYield::default()),
        Err(err)
    );
    check_nothing_published(&mut tx, &mut rx, seq, 7);
    seq += 1;

    assert_eq!(tx.try_claim(MTU + 1).err(), Some(err));
    check_nothing_published(&mut tx, &mut rx, seq, 6);
    seq += 1;

    assert_eq!(
        tx.claim_with(usize::MAX, SpinThenYield::default()).err(),
        Some(PublishError::TooLarge {
            len: usize::MAX,
            max: MTU
        })
    );
    check_nothing_published(&mut tx, &mut rx, seq, 5);
    seq += 1;

    // A commit longer than the claim.
    let mut claim = tx.try_claim(10).unwrap();
    claim.copy_from_slice(&[1; 10]);
    assert_eq!(
        claim.commit(11),
        Err(PublishError::TooLarge { len: 11, max: 10 })
    );
    check_nothing_published(&mut tx, &mut rx, seq, 4);
    seq += 1;

    let claim = tx.try_claim(0).unwrap();
    assert_eq!(
        claim.commit_with(Header::new(5), 1),
        Err(PublishError::TooLarge { len: 1, max: 0 })
    );
    check_nothing_published(&mut tx, &mut rx, seq, 3);
    seq += 1;

    // The mtu itself is fine.
    assert_eq!(tx.try_publish(Header::new(0), &[3; MTU]), Ok(seq));
    assert_eq!(rx.try_recv().unwrap().payload(), &[3; MTU]);
}

#[test]
fn too_large_is_reported_before_credits_or_disconnection() {
    let (mut tx, rx) = link();
    for seq in 0..8 {
        assert_eq!(tx.try_publish(Header::new(seq), &[]), Ok(seq));
    }
    let too_big = PublishError::TooLarge {
        len: MTU + 1,
        max: MTU,
    };
    assert_eq!(tx.try_publish(Header::new(0), &[0; MTU + 1]), Err(too_big));
    assert_eq!(
        tx.try_publish(Header::new(0), &[]),
        Err(PublishError::NoCredits)
    );
    assert_eq!(tx.try_claim(MTU + 1).err(), Some(too_big));
    drop(rx);
    assert_eq!(tx.try_publish(Header::new(0), &[0; MTU + 1]), Err(too_big));
    assert_eq!(
        tx.try_publish(Header::new(0), &[]),
        Err(PublishError::Disconnected)
    );
    assert_eq!(tx.next_seq(), 8);
}

#[test]
fn bad_depths_are_named() {
    for depth in [0, 1, 3, 12, 1000, usize::MAX] {
        assert_eq!(
            Link::builder().depth(depth).mtu(64).heap_pair().err(),
            Some(LinkError::BadDepth { depth }),
            "depth {depth}"
        );
    }
    for depth in [2, 4, 1024] {
        assert!(Link::builder().depth(depth).mtu(64).heap_pair().is_ok());
    }
}

#[test]
fn mtu_over_the_frag_size_field_is_named() {
    assert_eq!(
        Link::builder().depth(4).mtu(65536).heap_pair().err(),
        Some(LinkError::MtuTooLarge {
            mtu: 65536,
            max: 65535
        })
    );
    assert_eq!(
        Link::builder().depth(4).mtu(usize::MAX).heap_pair().err(),
        Some(LinkError::MtuTooLarge {
            mtu: usize::MAX,
            max: MTU_MAX
        })
    );
    let (tx, _rx) = Link::builder().depth(2).mtu(MTU_MAX).heap_pair().unwrap();
    assert_eq!(tx.mtu(), 65535);
}

#[test]
fn payload_store_too_small_for_the_mtu_is_named() {
    let needed = data_chunks(8, 100);
    assert_eq!(needed, 2 * 10);
    for bytes in [0, 64, data_bytes(8, 100) - 1, data_bytes(8, 100) - 64] {
        assert_eq!(
            Link::builder()
                .depth(8)
                .mtu(100)
                .data_bytes(bytes)
                .heap_pair()
                .err(),
            Some(LinkError::BadDataSize {
                chunks: bytes / 64,
                needed,
                max: MAX_CHUNKS
            }),
            "{bytes} bytes"
        );
    }
    assert!(Link::builder()
        .depth(8)
        .mtu(100)
        .data_bytes(data_bytes(8, 100))
        .heap_pair()
        .is_ok());
    assert!(Link::builder()
        .depth(8)
        .mtu(0)
        .data_bytes(0)
        .heap_pair()
        .is_ok());
}

#[test]
fn geometry_too_large_to_compute_is_named_not_a_panic() {
    // depth * chunks per payload does not fit a usize.
    for cfg in [
        Link::builder().depth(1 << 62).mtu(1500),
        Link::builder().depth(1 << 62).mtu(1500).data_bytes(1 << 20),
        Link::builder()
            .depth(1 << 63)
            .mtu(MTU_MAX)
            .data_bytes(usize::MAX),
    ] {
        assert!(
            matches!(cfg.heap_pair(), Err(LinkError::BadDataSize { .. })),
            "{cfg:?}"
        );
    }
}

#[test]
fn flow_settings_out_of_range_are_named() {
    let cases = [
        (FlowConfig::new().cr_max(0), "cr_max", 0, 8),
        (FlowConfig::new().cr_max(9), "cr_max", 9, 8),
        (FlowConfig::new().cr_resume(0), "cr_resume", 0, 8),
        (FlowConfig::new().cr_max(4).cr_resume(5), "cr_resume", 5, 4),
        (FlowConfig::new().cr_refill(0), "cr_refill", 0, 8),
        (FlowConfig::new().cr_refill(9), "cr_refill", 9, 8),
        (FlowConfig::new().release_every(0), "release_every", 0, 8),
        (
            FlowConfig::new().cr_max(2).release_every(3),
            "release_every",
            3,
            2,
        ),
    ];
    for (flow, param, value, max) in cases {
        assert_eq!(
            Link::builder()
                .depth(8)
                .mtu(64)
                .flow(flow)
                .heap_pair()
                .err(),
            Some(LinkError::BadFlow {
                param,
                value,
                min: 1,
                max
            }),
            "{flow:?}"
        );
    }
    let ok = FlowConfig::new()
        .cr_max(8)
        .cr_resume(8)
        .cr_refill(1)
        .release_every(8);
    assert!(Link::builder()
        .depth(8)
        .mtu(64)
        .flow(ok)
        .heap_pair()
        .is_ok());
}

static LINK: InlineLink<8, 64, { data_chunks(8, 64) }> = InlineLink::new();

#[test]
fn inline_link_bad_flow_leaves_it_unsplit_and_splits_once() {
    assert_eq!(
        LINK.split_with(FlowConfig::new().cr_max(9)).err(),
        Some(LinkError::BadFlow {
            param: "cr_max",
            value: 9,
            min: 1,
            max: 8
        })
    );
    assert!(LINK.split_with(FlowConfig::new().cr_refill(0)).is_err());
    let (mut tx, mut rx) = LINK
        .split_with(FlowConfig::new().cr_max(4))
        .unwrap()
        .into_pair();
    assert_eq!(LINK.split().err(), Some(LinkError::AlreadySplit));
    assert_eq!(
        LINK.split_with(FlowConfig::new()).err(),
        Some(LinkError::AlreadySplit)
    );
    // The flow settings of the successful split are the ones in force.
    for seq in 0..4 {
        assert_eq!(tx.try_publish(Header::new(seq), &[]), Ok(seq));
    }
    assert_eq!(
        tx.try_publish(Header::new(4), &[]),
        Err(PublishError::NoCredits)
    );
    assert_eq!(rx.try_recv().unwrap().seq(), 0);
}

#[test]
fn batch_budgets_of_zero_frags_are_named_and_small_budgets_still_lend_one_frag() {
    let (mut tx, mut rx) = link();
    for seq in 0..3 {
        tx.try_publish(Header::new(seq), &[7; MTU]).unwrap();
    }
    for max_bytes in [0, 1, 1 << 20, usize::MAX] {
        assert_eq!(Budget::new(0, max_bytes), Err(BudgetError::ZeroFrags));
    }
    assert_eq!(Budget::frags(0), Err(BudgetError::ZeroFrags));
    // A budget below the mtu lends the first frag alone, whatever its size.
    for max_bytes in [0, 1, MTU - 1] {
        let batch = rx.try_batch(Budget::new(16, max_bytes).unwrap()).unwrap();
        assert_eq!((batch.first_seq(), batch.len(), batch.bytes()), (0, 1, MTU));
        drop(batch); // not iterated: nothing released
        assert_eq!(rx.next_seq(), 0);
    }
    let batch = rx.try_batch(Budget::new(1, MTU).unwrap()).unwrap();
    assert_eq!((batch.first_seq(), batch.len(), batch.bytes()), (0, 1, MTU));
    batch.commit();
    let batch = rx.try_batch(Budget::new(16, 2 * MTU + 1).unwrap()).unwrap();
    assert_eq!((batch.first_seq(), batch.len()), (1, 2));
    batch.commit();
}

fn check_error<E: Error + Send + Sync + 'static>(e: E) {
    assert!(!e.to_string().is_empty(), "{e:?}");
    assert!(!format!("{e:?}").is_empty());
    let boxed: Box<dyn Error + Send + Sync> = Box::new(e);
    assert!(boxed.source().is_none());
}

#[test]
fn errors_display_and_implement_std_error() {
    let link_errors = [
        LinkError::BadDepth { depth: 3 },
        LinkError::MtuTooLarge {
            mtu: 65536,
            max: 65535,
        },
        LinkError::BadDataSize {
            chunks: 1,
            needed: 2,
            max: 3,
        },
        LinkError::BadFlow {
            param: "cr_max",
            value: 0,
            min: 1,
            max: 8,
        },
        LinkError::AlreadySplit,
    ];
    for e in link_errors {
        check_error(e);
    }
    assert!(LinkError::BadDepth { depth: 12 }.to_string().contains("12"));
    assert!(LinkError::BadFlow {
        param: "cr_resume",
        value: 0,
        min: 1,
        max: 8
    }
    .to_string()
    .contains("cr_resume"));
    let publish_errors = [
        PublishError::NoCredits,
        PublishError::TooLarge { len: 9, max: 8 },
        PublishError::Disconnected,
        PublishError::Timeout,
    ];
    for e in publish_errors {
        check_error(e);
    }
    assert!(PublishError::TooLarge { len: 9, max: 8 }
        .to_string()
        .contains('9'));
    let recv_errors = [
        TryRecvError::Empty,
        TryRecvError::Closed,
        TryRecvError::Failed,
        TryRecvError::Corrupt { seq: 5 },
    ];
    for e in recv_errors {
        check_error(e);
    }
    check_error(RecvError::Closed);
    check_error(RecvTimeoutError::Timeout);
    check_error(BudgetError::ZeroFrags);
    let overrun = Overrun {
        lost: 3,
        kind: OverrunKind::Overwritten,
    };
    check_error(overrun);
    check_error(LossyTryRecvError::Overrun(overrun));
    check_error(LossyRecvError::BufferTooSmall { needed: 9 });
    check_error(LossyRecvTimeoutError::Timeout);
    assert!(overrun.to_string().contains("during the copy"));
    // Each end of a stream keeps its meaning across the error types.
    assert_eq!(TryRecvError::from(RecvError::Failed), TryRecvError::Failed);
    assert_eq!(
        RecvTimeoutError::from(RecvError::Closed),
        RecvTimeoutError::Closed
    );
    assert_eq!(
        LossyTryRecvError::from(LossyRecvError::Overrun(overrun)),
        LossyTryRecvError::Overrun(overrun)
    );
    // Distinct variants display differently.
    let all: Vec<String> = link_errors
        .iter()
        .map(ToString::to_string)
        .chain(publish_errors.iter().map(ToString::to_string))
        .chain(recv_errors.iter().map(ToString::to_string))
        .collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // `?` converts them into boxed errors.
    fn build() -> Result<(), Box<dyn Error>> {
        Link::builder().depth(3).mtu(64).heap_pair()?;
        Ok(())
    }
    assert_eq!(
        build().unwrap_err().to_string(),
        LinkError::BadDepth { depth: 3 }.to_string()
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri stops at an allocation this large instead of refusing it"
)]
fn a_valid_link_too_large_to_allocate_is_a_named_error_not_an_abort() {
    // Depth 2^40 with mtu 0 passes every geometry check (no payload store), but its
    // metadata ring alone is 32 TiB.
    let depth = 1usize << 40;
    let want = LinkError::OutOfMemory { bytes: depth * 32 };
    assert_eq!(
        Link::builder().depth(depth).mtu(0).heap_pair().err(),
        Some(want)
    );
    assert_eq!(
        milonga::mpsc::Ring::builder()
            .depth(depth)
            .mtu(0)
            .heap_pair()
            .err(),
        Some(want)
    );
    assert_eq!(
        want.to_string(),
        "could not allocate 35184372088832 bytes for the link"
    );
    // And the machine is still fine: a normal link builds afterwards.
    assert!(Link::builder().depth(8).mtu(64).heap_pair().is_ok());
}

/// A fan-in over more links than the machine can hold handles for is `OutOfMemory` too:
/// it used to abort in the allocator (2^40 links) or panic with "capacity overflow"
/// (2^62 links).
#[test]
#[cfg_attr(
    miri,
    ignore = "Miri stops at an allocation this large instead of refusing it"
)]
fn a_fan_in_too_large_to_allocate_is_a_named_error_not_an_abort() {
    use milonga::mpsc::FanIn;
    for links in [1usize << 40, 1 << 62, usize::MAX] {
        let err = FanIn::builder()
            .producers(links)
            .depth(4)
            .mtu(8)
            .heap()
            .err()
            .unwrap_or_else(|| panic!("{links} links built"));
        assert!(
            matches!(err, LinkError::OutOfMemory { bytes } if bytes >= links),
            "{links} links: {err:?}"
        );
    }
    assert!(FanIn::builder().producers(2).depth(4).mtu(8).heap().is_ok());
}
