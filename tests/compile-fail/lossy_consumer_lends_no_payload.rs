//! A lossy consumer never lends a borrowed payload: it has no `poll` (nor `batch`), only
//! `try_recv` into the caller's buffer. The same read compiles on a reliable consumer of
//! the same link.
use milonga::spsc::{heap_lossy, LinkConfig};
use milonga::{FlowConfig, Header};

fn main() {
    let (mut tx, mut reliable, mut lossy) =
        heap_lossy(LinkConfig::new(4, 64), FlowConfig::new(), 1, 1).unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    #[cfg(feature = "violation")]
    let rx = &mut lossy[0];
    #[cfg(not(feature = "violation"))]
    let rx = &mut reliable[0];
    assert_eq!(rx.try_recv().unwrap().payload(), b"x"); //~ E0599
}
