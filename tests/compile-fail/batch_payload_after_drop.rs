//! A payload borrowed from a `Batch` cannot be used after the batch is dropped (which
//! returns the credits of the frags its iterators reached).
use milonga::spsc::{Budget, Link};
use milonga::Header;

fn main() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    let batch = rx.try_batch(Budget::new(4, 256).unwrap()).unwrap();
    let payload = batch.iter().next().unwrap().payload();
    #[cfg(feature = "violation")]
    drop(batch); //~ E0505
    assert_eq!(payload, b"x");
}
