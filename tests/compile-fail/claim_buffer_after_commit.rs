//! The `&mut [u8]` of a claim cannot be written after the claim is committed (the frag is
//! published; a consumer may be reading it).
use milonga::spsc::Link;

fn main() {
    let (mut tx, _rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    let mut claim = tx.try_claim(8).unwrap();
    let buf: &mut [u8] = &mut claim;
    #[cfg(feature = "violation")]
    claim.commit(1).unwrap(); //~ E0505
    buf[0] = 1;
}
