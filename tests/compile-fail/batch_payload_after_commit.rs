//! A payload borrowed from a `Batch` cannot be used after `commit` (which returns every
//! frag's credit).
use milonga::spsc::{Budget, Link};
use milonga::Header;

fn main() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    let batch = rx.try_batch(Budget::new(4, 256).unwrap()).unwrap();
    let payload = batch.iter().next().unwrap().payload();
    #[cfg(feature = "violation")]
    batch.commit(); //~ E0505
    assert_eq!(payload, b"x");
}
