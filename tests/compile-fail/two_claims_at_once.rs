//! A producer hands out one `WriteClaim` at a time: a second claim while the first lives
//! is a second mutable borrow of the producer.
use milonga::spsc::{heap, LinkConfig};
use milonga::FlowConfig;

fn main() {
    let (mut tx, _rx) = heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap();
    let first = tx.try_claim(8).unwrap();
    #[cfg(feature = "violation")]
    let _second = tx.try_claim(8).unwrap(); //~ E0499
    first.commit(0).unwrap();
}
