//! The `&mut [u8]` of a claim cannot be written after the claim is committed (the frag is
//! published; a consumer may be reading it).
use milonga::spsc::{heap, LinkConfig};
use milonga::FlowConfig;

fn main() {
    let (mut tx, _rx) = heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap();
    let mut claim = tx.try_claim(8).unwrap();
    let buf: &mut [u8] = &mut claim;
    #[cfg(feature = "violation")]
    claim.commit(1).unwrap(); //~ E0505
    buf[0] = 1;
}
