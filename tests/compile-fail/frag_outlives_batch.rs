//! A `Frag` from a batch cannot outlive the batch: here the batch ends with the block
//! while the frag is kept outside it.
use milonga::spsc::{Budget, Link};
use milonga::Header;

fn main() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    #[cfg(not(feature = "violation"))]
    let batch = rx.try_batch(Budget::new(4, 256).unwrap()).unwrap();
    let frag = {
        #[cfg(feature = "violation")]
        let batch = rx.try_batch(Budget::new(4, 256).unwrap()).unwrap();
        batch.iter().next().unwrap() //~ E0597
    };
    assert_eq!(frag.payload(), b"x");
}
