//! The last handle of a heap link frees its storage, however it goes: dropped by a call
//! that takes it by value (`drop`, `halt`), at the end of a function or thread that owns
//! it.
//!
//! Miri found that this was undefined behaviour while the handles held `&'a` references
//! into the heap storage next to the `Arc` that owns it: passed by value to a function
//! (`drop`, `halt`), the last handle's references were protected for the whole call while
//! its drop freed the storage under them. The handles now hold pointers (`sync::Ref`) that
//! become references only while in use; these tests run under Miri to keep it that way.

use std::thread;

use milonga::spsc::{Consumer, Link, Producer};
use milonga::TryRecvError;
use milonga::{Header, PublishError};

fn link() -> (Producer<'static>, Consumer<'static>) {
    Link::builder().depth(4).mtu(64).heap_pair().unwrap()
}

#[test]
fn consumer_dropped_then_producer_dropped() {
    let (mut tx, rx) = link();
    tx.try_publish(Header::new(0), b"x").unwrap();
    drop(rx);
    drop(tx);
}

#[test]
fn producer_dropped_then_consumer_dropped() {
    let (mut tx, mut rx) = link();
    tx.try_publish(Header::new(0), b"x").unwrap();
    drop(tx);
    assert_eq!(rx.try_recv().unwrap().payload(), b"x");
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
    drop(rx);
}

#[test]
fn producer_halts_after_the_consumer_is_gone() {
    let (tx, rx) = link();
    drop(rx);
    tx.halt();
}

#[test]
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
    assert_eq!(rx.try_recv().unwrap().payload(), b"y");
}

#[test]
fn handles_owned_by_a_function() {
    let (tx, rx) = link();
    use_and_drop(tx, rx);
}

#[test]
fn handles_dropped_as_locals() {
    let (mut tx, mut rx) = link();
    tx.try_publish(Header::new(1), b"z").unwrap();
    assert_eq!(rx.try_recv().unwrap().payload(), b"z");
}
