//! A producer hands out one `WriteClaim` at a time: a second claim while the first lives
//! is a second mutable borrow of the producer.
use milonga::spsc::Link;

fn main() {
    let (mut tx, _rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    let first = tx.try_claim(8).unwrap();
    #[cfg(feature = "violation")]
    let _second = tx.try_claim(8).unwrap(); //~ E0499
    first.commit(0).unwrap();
}
