//! A consumer's sig filter: which frags it receives.

use core::fmt;

/// A consumer's filter: it receives only the frags whose `sig` the filter accepts; the
/// others are skipped without touching their payload and counted as filtered.
///
/// A filter is a plain function ([`SigFilter::func`], also `From<fn(u64) -> bool>`), a
/// closure borrowed for the link's lifetime ([`SigFilter::by_ref`]), or, with `alloc`, a
/// closure the consumer owns ([`SigFilter::new`]; shared with [`SigFilter::shared`]), so a
/// filter can capture a value chosen at run time (a subscription set, a shard id). A frag
/// costs one call of it; the closure is allocated once, when the filter is made.
///
/// A filter should be a pure function of the sig. The consumer asks it once per frag
/// wherever it can: a batch asks while it scans and keeps the answers, so iterating a
/// batch (any number of times) and ending it never call the filter; a fan-in asks once to
/// pick a ready link and once more when it reads from it. If a filter does change its
/// answer, or panics, nothing breaks: each frag is still delivered or counted as filtered
/// exactly once, by the answer given when it was read, and a panic leaves the consumer
/// holding only the frags of the batch or guard being built (released as usual when it
/// ends).
///
/// ```
/// use milonga::spsc::SigFilter;
///
/// let even = SigFilter::func(|sig| sig % 2 == 0);
/// assert!(even.accepts(4) && !even.accepts(5));
/// let wanted = [3u64, 7];
/// let subscribed = |sig: u64| wanted.contains(&sig);
/// let by_ref = SigFilter::by_ref(&subscribed);
/// assert!(by_ref.accepts(7) && !by_ref.accepts(4));
/// ```
#[derive(Clone)]
pub struct SigFilter<'a>(Kind<'a>);

#[derive(Clone)]
enum Kind<'a> {
    Func(fn(u64) -> bool),
    Borrowed(&'a (dyn Fn(u64) -> bool + Sync)),
    #[cfg(feature = "alloc")]
    Owned(alloc::sync::Arc<dyn Fn(u64) -> bool + Send + Sync>),
}

impl<'a> SigFilter<'a> {
    /// A filter that is a plain function (or a closure that captures nothing).
    pub const fn func(f: fn(u64) -> bool) -> Self {
        SigFilter(Kind::Func(f))
    }

    /// A filter borrowed for the link's lifetime `'a` (for a heap link, `'static`: a
    /// `static` or a leaked closure; see [`new`](Self::new) for one the consumer owns).
    pub fn by_ref<F: Fn(u64) -> bool + Sync>(f: &'a F) -> Self {
        SigFilter(Kind::Borrowed(f))
    }

    /// A filter that owns `f` (allocated once, here).
    #[cfg(feature = "alloc")]
    pub fn new<F: Fn(u64) -> bool + Send + Sync + 'static>(f: F) -> Self {
        SigFilter(Kind::Owned(alloc::sync::Arc::new(f)))
    }

    /// A filter sharing `f` with other consumers.
    #[cfg(feature = "alloc")]
    pub fn shared(f: alloc::sync::Arc<dyn Fn(u64) -> bool + Send + Sync>) -> Self {
        SigFilter(Kind::Owned(f))
    }

    /// The filter accepts a frag with this `sig`.
    #[inline(always)]
    pub fn accepts(&self, sig: u64) -> bool {
        match &self.0 {
            Kind::Func(f) => f(sig),
            Kind::Borrowed(f) => f(sig),
            #[cfg(feature = "alloc")]
            Kind::Owned(f) => f(sig),
        }
    }
}

impl From<fn(u64) -> bool> for SigFilter<'_> {
    fn from(f: fn(u64) -> bool) -> Self {
        SigFilter::func(f)
    }
}

impl fmt::Debug for SigFilter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Kind::Func(_) => "SigFilter::func",
            Kind::Borrowed(_) => "SigFilter::by_ref",
            #[cfg(feature = "alloc")]
            Kind::Owned(_) => "SigFilter::new",
        })
    }
}
