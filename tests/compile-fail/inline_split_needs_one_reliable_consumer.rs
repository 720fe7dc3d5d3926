//! `split` (and `split_with`, which give an `Exclusive` producer with `&mut` claims) exist
//! only on inline links without lossy consumers; a link with lossy consumers is split with
//! `split_lossy`. (Splitting twice is not a compile-time error: `split` takes `&self`, and
//! a second call returns `LinkError::AlreadySplit` at run time.)
use milonga::spsc::InlineLink;
use milonga::{data_chunks, LinkError};

const LOSSY: usize = if cfg!(feature = "violation") { 1 } else { 0 };

fn main() {
    let link = InlineLink::<4, 64, { data_chunks(4, 64) }, 1, LOSSY>::new();
    let _handles = link.split().unwrap(); //~ E0599
    assert_eq!(link.split_lossy().err(), Some(LinkError::AlreadySplit));
}
