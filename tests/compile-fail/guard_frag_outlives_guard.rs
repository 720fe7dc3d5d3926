//! The `Frag` view of a `ReadGuard` (and its payload) cannot outlive the guard either.
use milonga::spsc::{heap, LinkConfig};
use milonga::{FlowConfig, Header};

fn main() {
    let (mut tx, mut rx) = heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    let guard = rx.try_recv().unwrap();
    let frag = guard.frag();
    #[cfg(feature = "violation")]
    drop(guard); //~ E0505
    assert_eq!(frag.payload(), b"x");
}
