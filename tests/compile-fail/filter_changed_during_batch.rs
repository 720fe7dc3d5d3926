//! A consumer's filter cannot change while a batch it lent is alive (the batch's frags
//! were chosen, and will be counted, with the filter it had).
use milonga::spsc::{Budget, Link, SigFilter};
use milonga::Header;

fn main() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    let batch = rx.try_batch(Budget::new(4, 256).unwrap()).unwrap();
    #[cfg(feature = "violation")]
    rx.set_filter(Some(SigFilter::func(|sig| sig != 1))); //~ E0499
    batch.commit();
}
