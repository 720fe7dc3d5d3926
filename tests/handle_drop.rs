//! The last handle of a heap link frees its storage, however it goes: dropped by a call
//! that takes it by value (`drop`, `halt`), at the end of a function or thread that owns
//! it.
//!
//! Known bug, found by Miri (Stacked Borrows and Tree Borrows alike): `Producer` and
//! `Consumer` hold `&'a` references into the heap storage (cnc, fseq, slots, chunks)
//! next to the `Arc` that owns it. When a handle is a by-value argument of a function,
//! those references are protected for the whole call; if the handle is the last one, its
//! drop frees the storage under them, which is undefined behaviour. Until the handles
//! hold raw pointers instead of references, these tests are skipped under Miri. Dropping
//! the last handle as a local variable (at the end of its scope) is fine.

use std::thread;

use milonga::spsc::{heap, Consumer, LinkConfig, Producer};
use milonga::{FlowConfig, Header, PublishError, RecvError};

fn link() -> (Producer<'static>, Consumer<'static>) {
    heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap()
}

#[test]
#[cfg_attr(miri, ignore = "UB under Miri: see the module docs")]
fn consumer_dropped_then_producer_dropped() {
    let (mut tx, rx) = link();
    tx.try_publish(Header::new(0), b"x").unwrap();
    drop(rx);
    drop(tx);
}

#[test]
#[cfg_attr(miri, ignore = "UB under Miri: see the module docs")]
fn producer_dropped_then_consumer_dropped() {
    let (mut tx, mut rx) = link();
    tx.try_publish(Header::new(0), b"x").unwrap();
    drop(tx);
    assert_eq!(rx.poll().unwrap().payload(), b"x");
    assert_eq!(rx.poll().err(), Some(RecvError::Closed));
    drop(rx);
}

#[test]
#[cfg_attr(miri, ignore = "UB under Miri: see the module docs")]
fn producer_halts_after_the_consumer_is_gone() {
    let (tx, rx) = link();
    drop(rx);
    tx.halt();
}

#[test]
#[cfg_attr(miri, ignore = "UB under Miri: see the module docs")]
fn last_handle_ends_with_its_thread() {
    let (mut tx, rx) = link();
    drop(rx);
    let producer = thread::spawn(move || loop {
        match tx.try_publish(Header::new(0), b"x") {
            Ok(_) => {}
            Err(PublishError::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    });
    producer.join().unwrap();
}

fn use_and_drop(mut tx: Producer<'_>, mut rx: Consumer<'_>) {
    tx.try_publish(Header::new(1), b"y").unwrap();
    assert_eq!(rx.poll().unwrap().payload(), b"y");
}

#[test]
#[cfg_attr(miri, ignore = "UB under Miri: see the module docs")]
fn handles_owned_by_a_function() {
    let (tx, rx) = link();
    use_and_drop(tx, rx);
}

#[test]
fn handles_dropped_as_locals() {
    // Sound today: locals are not protected.
    let (mut tx, mut rx) = link();
    tx.try_publish(Header::new(1), b"z").unwrap();
    assert_eq!(rx.poll().unwrap().payload(), b"z");
}
