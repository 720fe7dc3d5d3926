//! A typed producer of a link with lossy consumers (`typed::Producer<T, Shared>`) has no
//! `try_claim`: it never hands out a `&mut T` into a store a lossy reader may be copying.
//! The same call compiles on a link without lossy consumers.
use milonga::spsc::Link;
use milonga::typed;

fn main() {
    #[cfg(feature = "violation")]
    let tx = Link::builder().depth(4).mtu(64).reliable(1).lossy(1).heap().unwrap().producer;
    #[cfg(not(feature = "violation"))]
    let (tx, _rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    let mut tx = typed::Producer::<u64, _>::new(tx).unwrap();
    let mut claim = tx.try_claim().unwrap(); //~ E0599
    *claim = 1;
    claim.commit();
}
