//! A payload borrowed from a `ReadGuard` cannot be used after the guard is dropped (its
//! credit has gone back to the producer, which may rewrite the bytes).
use milonga::spsc::Link;
use milonga::Header;

fn main() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    let guard = rx.try_recv().unwrap();
    let payload = guard.payload();
    #[cfg(feature = "violation")]
    drop(guard); //~ E0505
    assert_eq!(payload, b"x");
}
