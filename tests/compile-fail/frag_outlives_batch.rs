//! A `Frag` from a batch cannot outlive the batch: here the batch ends with the block
//! while the frag is kept outside it.
use milonga::spsc::{heap, Budget, LinkConfig};
use milonga::{FlowConfig, Header};

fn main() {
    let (mut tx, mut rx) = heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap();
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
