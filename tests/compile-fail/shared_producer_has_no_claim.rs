//! The producer of a link with lossy consumers (`Producer<Shared>`) has no `try_claim`:
//! it never hands out a `&mut [u8]` into a store a lossy reader may be copying. The
//! same call compiles on a link without lossy consumers.
use milonga::spsc::{heap, heap_lossy, LinkConfig};
use milonga::FlowConfig;

fn main() {
    #[cfg(feature = "violation")]
    let (mut tx, _reliable, _lossy) =
        heap_lossy(LinkConfig::new(4, 64), FlowConfig::new(), 1, 1).unwrap();
    #[cfg(not(feature = "violation"))]
    let (mut tx, _rx) = heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap();
    let mut claim = tx.try_claim(8).unwrap(); //~ E0599
    claim[0] = 1;
    claim.commit(1).unwrap();
    let _ = heap_lossy;
}
