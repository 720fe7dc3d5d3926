//! A consumer cannot be polled while a guard it lent is alive (each guard holds the
//! consumer mutably until its credit goes back).
use milonga::spsc::Link;
use milonga::Header;

fn main() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    tx.try_publish(Header::new(2), b"y").unwrap();
    let guard = rx.try_recv().unwrap();
    #[cfg(feature = "violation")]
    let _next = rx.try_recv(); //~ E0499
    assert_eq!(guard.payload(), b"x");
}
