//! A lossy consumer never lends a borrowed payload: it has no `poll` (nor `batch`), only
//! `try_recv` into the caller's buffer. The same read compiles on a reliable consumer of
//! the same link.
use milonga::spsc::Link;
use milonga::Header;

fn main() {
    let Link { producer: mut tx, mut reliable, mut lossy, .. } =
        Link::builder().depth(4).mtu(64).reliable(1).lossy(1).heap().unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    #[cfg(feature = "violation")]
    let rx = &mut lossy[0];
    #[cfg(not(feature = "violation"))]
    let rx = &mut reliable[0];
    assert_eq!(rx.poll().unwrap().payload(), b"x"); //~ E0599
}
