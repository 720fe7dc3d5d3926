//! The `Frag` view of a `ReadGuard` (and its payload) cannot outlive the guard either.
use milonga::spsc::Link;
use milonga::Header;

fn main() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    let guard = rx.try_recv().unwrap();
    let frag = guard.frag();
    #[cfg(feature = "violation")]
    drop(guard); //~ E0505
    assert_eq!(frag.payload(), b"x");
}
