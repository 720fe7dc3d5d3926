//! A typed producer of a link with lossy consumers (`typed::Producer<T, Shared>`) has no
//! `try_claim`: it never hands out a `&mut T` into a store a lossy reader may be copying.
//! The same call compiles on a link without lossy consumers.
use milonga::spsc::{heap, heap_lossy, LinkConfig};
use milonga::{typed, FlowConfig};

fn main() {
    #[cfg(feature = "violation")]
    let (tx, _reliable, _lossy) =
        heap_lossy(LinkConfig::new(4, 64), FlowConfig::new(), 1, 1).unwrap();
    #[cfg(not(feature = "violation"))]
    let (tx, _rx) = heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap();
    let mut tx = typed::Producer::<u64, _>::new(tx).unwrap();
    let mut claim = tx.try_claim().unwrap(); //~ E0599
    *claim = 1;
    claim.commit();
    let _ = heap_lossy;
}
