//! `heap_pair` exists only while a link builder has its starting shape (one reliable
//! consumer, no lossy one): after `reliable(n)` (even `n = 1`) or `lossy(n)` the consumers
//! come as a `Vec` from `heap`, so a pair can never silently drop or miss a consumer.
use milonga::spsc::Link;

fn main() {
    let builder = Link::builder().depth(4).mtu(64);
    #[cfg(feature = "violation")]
    let builder = builder.reliable(1);
    let (_tx, _rx) = builder.heap_pair().unwrap(); //~ E0599
}
