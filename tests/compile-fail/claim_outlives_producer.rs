//! A `WriteClaim` cannot outlive the producer it borrows.
use milonga::spsc::{heap, LinkConfig};
use milonga::FlowConfig;

fn main() {
    let (mut tx, _rx) = heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap();
    let claim = tx.try_claim(8).unwrap();
    #[cfg(feature = "violation")]
    drop(tx); //~ E0505
    claim.commit(0).unwrap();
}
