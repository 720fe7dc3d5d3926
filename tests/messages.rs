//! Multi-frag messages: published whole as SOM..EOM frags, reassembled into a caller's
//! buffer; messages damaged by loss or marked ERR are dropped and counted.

use milonga::reasm::Reassembler;
use milonga::spsc::Link;
use milonga::LossyTryRecvError;
use milonga::Overrun;
use milonga::{Ctl, Header, PublishError};

fn message(id: u64) -> Vec<u8> {
    let len = (id * 37 % 300) as usize;
    (0..len).map(|i| (i as u64 ^ id) as u8).collect()
}

#[test]
fn messages_round_trip_through_a_reliable_consumer() {
    let mtu = 16;
    let (mut tx, mut rx) = Link::builder().depth(64).mtu(mtu).heap_pair().unwrap();
    let mut buf = [0u8; 300];
    let mut reasm = Reassembler::new(&mut buf);
    let mut next = 0u64;
    let count = if cfg!(miri) { 20 } else { 200 };
    for id in 0..count {
        let msg = message(id);
        let (first, frags) = tx.try_publish_message(Header::new(id), &msg).unwrap();
        assert_eq!(frags, msg.len().div_ceil(mtu).max(1));
        assert_eq!(first, next);
        next += frags as u64;
        let mut done = None;
        while let Ok(frag) = rx.try_recv() {
            assert_eq!(frag.sig(), id, "every frag of a message carries its header");
            if let Some(m) = reasm.push(frag.meta(), frag.payload()) {
                done = Some(m.to_vec());
            }
        }
        assert_eq!(done.as_deref(), Some(&msg[..]), "message {id}");
    }
    assert_eq!(reasm.counters().messages, count);
    assert_eq!(reasm.counters().dropped(), 0);
}

#[test]
fn a_message_needs_credits_for_all_its_frags_or_nothing_is_published() {
    let (mut tx, mut rx) = Link::builder().depth(8).mtu(4).heap_pair().unwrap();
    assert_eq!(
        tx.try_publish_message(Header::new(0), &[0; 33]),
        Err(PublishError::TooLarge { len: 33, max: 32 })
    );
    assert_eq!(tx.try_publish_message(Header::new(0), &[0; 20]), Ok((0, 5)));
    // 3 credits left: a 4-frag message does not go, and nothing of it is published.
    assert_eq!(
        tx.try_publish_message(Header::new(1), &[0; 16]),
        Err(PublishError::NoCredits)
    );
    assert_eq!(tx.next_seq(), 5);
    assert_eq!(tx.try_publish_message(Header::new(2), &[0; 12]), Ok((5, 3)));
    let mut seen = 0;
    while let Ok(f) = rx.try_recv() {
        assert_ne!(f.sig(), 1);
        seen += 1;
    }
    assert_eq!(seen, 8);
}

#[test]
fn damaged_messages_are_dropped_and_counted() {
    // A lossy consumer that is lapped on purpose loses parts of messages; ERR-marked
    // messages are dropped too; every message is delivered whole, dropped, or lost whole.
    let mtu = 8;
    let Link {
        producer: mut tx,
        mut lossy,
        ..
    } = Link::builder()
        .depth(64)
        .mtu(mtu)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let mut rx = lossy.pop().unwrap();
    let mut frag = [0u8; 8];
    let mut buf = [0u8; 300];
    let mut reasm = Reassembler::new(&mut buf);
    let mut delivered = Vec::new();
    let mut err_sent = 0;
    let count = if cfg!(miri) { 30 } else { 300 };
    for id in 0..count {
        let msg = message(id);
        let ctl = if id % 10 == 3 {
            err_sent += 1;
            Ctl::default() | Ctl::ERR
        } else {
            Ctl::default()
        };
        tx.try_publish_message(Header::new(id).ctl(ctl), &msg)
            .unwrap();
        // Read only every third round, so the ring laps the reader in the middle of
        // messages.
        if id % 3 == 0 {
            loop {
                match rx.try_recv(&mut frag) {
                    Ok(meta) => {
                        if let Some(m) = reasm.push(&meta, &frag[..meta.sz as usize]) {
                            delivered.push((meta.sig, m.to_vec()));
                        }
                    }
                    Err(LossyTryRecvError::Overrun(Overrun { .. })) => {}
                    Err(LossyTryRecvError::Empty) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }
    let c = reasm.counters();
    println!("{c:?}, lossy {:?}", rx.counters());
    assert!(
        c.dropped_lost > 0 && c.dropped_err > 0 && c.messages > 0,
        "{c:?}"
    );
    assert!(c.dropped_err <= err_sent);
    for (id, m) in &delivered {
        assert_eq!(m, &message(*id), "a delivered message is whole");
        assert_ne!(id % 10, 3, "an ERR message is never delivered");
    }
    assert_eq!(c.messages, delivered.len() as u64);
}
