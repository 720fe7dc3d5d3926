//! The handles of an inline link borrow it: a local link cannot be moved (or dropped)
//! while they live.
use milonga::spsc::InlineLink;
use milonga::{data_chunks, Header};

fn main() {
    let link = InlineLink::<4, 64, { data_chunks(4, 64) }>::new();
    let (mut tx, mut rx) = link.split().unwrap().into_pair();
    #[cfg(feature = "violation")]
    let _moved = link; //~ E0505
    tx.try_publish(Header::new(1), b"x").unwrap();
    assert_eq!(rx.try_recv().unwrap().payload(), b"x");
}
