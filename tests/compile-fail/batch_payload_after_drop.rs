//! A payload borrowed from a `Batch` cannot be used after the batch is dropped (which
//! returns the credits of the frags its iterators reached).
use milonga::spsc::{heap, Budget, LinkConfig};
use milonga::{FlowConfig, Header};

fn main() {
    let (mut tx, mut rx) = heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    let batch = rx.try_batch(Budget::new(4, 256).unwrap()).unwrap();
    let payload = batch.iter().next().unwrap().payload();
    #[cfg(feature = "violation")]
    drop(batch); //~ E0505
    assert_eq!(payload, b"x");
}
