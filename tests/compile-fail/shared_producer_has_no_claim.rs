//! The producer of a link with lossy consumers (`Producer<Shared>`) has no `try_claim`:
//! it never hands out a `&mut [u8]` into a store a lossy reader may be copying. The
//! same call compiles on a link without lossy consumers: the builders differ only in
//! `.lossy(1)`, which changes the producer's type.
use milonga::spsc::Link;

fn main() {
    #[cfg(feature = "violation")]
    let link = Link::builder().depth(4).mtu(64).lossy(1).heap().unwrap();
    #[cfg(not(feature = "violation"))]
    let link = Link::builder().depth(4).mtu(64).heap().unwrap();
    let Link { producer: mut tx, reliable: _reliable, lossy: _lossy, .. } = link;
    let mut claim = tx.try_claim(8).unwrap(); //~ E0599
    claim[0] = 1;
    claim.commit(1).unwrap();
}
