//! The same for an inline link split with lossy consumers: `split_lossy` gives a
//! `Producer<Shared>`, which has no blocking `claim` either; `split` on a link without
//! lossy consumers gives an `Exclusive` one, which has.
use milonga::data_chunks;
use milonga::spsc::InlineLink;
use milonga::wait::BusySpin;

const LOSSY: usize = if cfg!(feature = "violation") { 1 } else { 0 };

fn main() {
    let link = InlineLink::<4, 64, { data_chunks(4, 64) }, 1, LOSSY>::new();
    #[cfg(feature = "violation")]
    let mut handles = link.split_lossy().unwrap();
    #[cfg(not(feature = "violation"))]
    let mut handles = link.split().unwrap();
    let claim = handles.producer.claim_with(8, BusySpin).unwrap(); //~ E0599
    claim.commit(0).unwrap();
}
