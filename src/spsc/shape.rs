//! The shapes of a link under construction: typestate markers of
//! [`LinkBuilder`](crate::spsc::LinkBuilder), set by its consumer setters. They are never
//! values; they decide which methods a builder offers and what type its producer has.
//!
//! | shape | reached by | [`heap`](crate::spsc::LinkBuilder::heap) returns | `heap_pair` |
//! | --- | --- | --- | --- |
//! | [`Pair`] | [`Link::builder()`](crate::spsc::Link::builder) | [`Link<Exclusive>`](crate::spsc::Link) | yes |
//! | [`Broadcast`] | `.reliable(n)` | [`Link<Exclusive>`](crate::spsc::Link) | no |
//! | [`WithLossy`] | `.lossy(n)` | [`Link<Shared>`](crate::spsc::Link) | no |
//!
//! ```
//! use milonga::spsc::shape::{Broadcast, Pair, WithLossy};
//! use milonga::spsc::{Link, LinkBuilder, Shared};
//!
//! let pair: LinkBuilder<Pair> = Link::builder().depth(8).mtu(8);
//! let broadcast: LinkBuilder<Broadcast> = pair.reliable(2);
//! let with_lossy: LinkBuilder<WithLossy> = pair.lossy(1);
//! let (_tx, _rx) = pair.heap_pair()?; // only a `Pair` has `heap_pair`
//! assert_eq!(broadcast.heap()?.reliable.len(), 2);
//! let link: Link<Shared> = with_lossy.heap()?;
//! assert_eq!((link.reliable.len(), link.lossy.len()), (1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// One reliable consumer, no lossy one: the builder's starting shape. Its producer is a
/// [`Producer<Exclusive>`](crate::spsc::Exclusive).
#[derive(Debug)]
pub enum Pair {}

/// Reliable consumers only, counted by
/// [`reliable`](crate::spsc::LinkBuilder::reliable). Its producer is a
/// [`Producer<Exclusive>`](crate::spsc::Exclusive).
#[derive(Debug)]
pub enum Broadcast {}

/// Lossy consumers counted by [`lossy`](crate::spsc::LinkBuilder::lossy) (and reliable
/// ones, 1 unless set). Its producer is a [`Producer<Shared>`](crate::spsc::Shared).
#[derive(Debug)]
pub enum WithLossy {}
