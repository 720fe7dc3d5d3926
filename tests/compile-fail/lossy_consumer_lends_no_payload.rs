//! A lossy consumer never lends a borrowed payload: it has no `try_batch` (and its
//! `try_recv` copies into the caller's buffer). The same read compiles on a reliable
//! consumer of the same link.
use milonga::spsc::{Budget, Link};
use milonga::Header;

fn main() {
    let Link { producer: mut tx, mut reliable, mut lossy, .. } =
        Link::builder().depth(4).mtu(64).reliable(1).lossy(1).heap().unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    #[cfg(feature = "violation")]
    let rx = &mut lossy[0];
    #[cfg(not(feature = "violation"))]
    let rx = &mut reliable[0];
    let batch = rx.try_batch(Budget::default()).unwrap(); //~ E0599
    assert_eq!(batch.iter().next().unwrap().payload(), b"x");
}
