//! A consumer's filter cannot change while a batch it lent is alive (the batch's frags
//! were chosen, and will be counted, with the filter it had).
use milonga::spsc::Link;
use milonga::Header;

fn main() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    let batch = rx.batch(4, 256).unwrap();
    #[cfg(feature = "violation")]
    rx.set_filter(Some(|sig| sig != 1)); //~ E0499
    batch.commit();
}
