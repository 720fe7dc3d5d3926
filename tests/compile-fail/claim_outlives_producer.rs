//! A `WriteClaim` cannot outlive the producer it borrows.
use milonga::spsc::Link;

fn main() {
    let (mut tx, _rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    let claim = tx.try_claim(8).unwrap();
    #[cfg(feature = "violation")]
    drop(tx); //~ E0505
    claim.commit(0).unwrap();
}
