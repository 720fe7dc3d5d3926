//! A consumer's filter cannot change while a batch it lent is alive (the batch's frags
//! were chosen, and will be counted, with the filter it had).
use milonga::spsc::{heap, Budget, LinkConfig, SigFilter};
use milonga::{FlowConfig, Header};

fn main() {
    let (mut tx, mut rx) = heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    let batch = rx.try_batch(Budget::new(4, 256).unwrap()).unwrap();
    #[cfg(feature = "violation")]
    rx.set_filter(Some(SigFilter::func(|sig| sig != 1))); //~ E0499
    batch.commit();
}
