//! The typed layer's errors: a type too large for its link, a value handed back when it
//! could not be pushed, and the receive errors with the two cases only a typed read has (a
//! frag that is not a `T`, an abandoned claim).

use core::fmt;

use crate::error::{Overrun, PublishError};
use crate::frag::FragMeta;

/// A typed handle could not be built: a `T` does not fit the link's mtu. The byte handle
/// is handed back unchanged (dropping it would close or detach it).
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::typed;
///
/// let (tx, _rx) = Link::builder().depth(8).mtu(4).heap_pair()?;
/// let err = typed::Producer::<u64>::new(tx).unwrap_err();
/// assert_eq!((err.size, err.mtu), (8, 4));
/// let tx = err.handle; // still open
/// assert_eq!(tx.mtu(), 4);
/// # Ok::<(), milonga::LinkError>(())
/// ```
#[derive(Debug)]
pub struct MtuError<H> {
    /// `size_of::<T>()`.
    pub size: usize,
    /// The link's mtu (for a fan-in, the smallest of its links').
    pub mtu: usize,
    /// The byte handle (or handles) given to the constructor.
    pub handle: H,
}

impl<H> MtuError<H> {
    /// The byte handle back.
    pub fn into_inner(self) -> H {
        self.handle
    }
}

impl<H> fmt::Display for MtuError<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a message of {} bytes does not fit the link's mtu of {} bytes",
            self.size, self.mtu
        )
    }
}

impl<H: fmt::Debug> core::error::Error for MtuError<H> {}

/// A value could not be pushed; it is handed back. Nothing was published.
///
/// A typed value always fits the link (checked when the handle was built), so the only
/// reasons are the link's state: no credits, no consumers, or a wait that gave up.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::typed;
/// use milonga::typed::PushError;
///
/// let (tx, rx) = Link::builder().depth(2).mtu(8).heap_pair()?;
/// let mut tx = typed::Producer::<u64>::new(tx)?;
/// tx.try_push(1)?;
/// tx.try_push(2)?;
/// assert_eq!(tx.try_push(3), Err(PushError::Full(3))); // nobody reads: the window is full
/// drop(rx);
/// assert_eq!(tx.try_push(4).unwrap_err().into_inner(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PushError<T> {
    /// No credits: the slowest reliable consumer is a full window behind
    /// ([`PublishError::NoCredits`]). Only from the non-blocking calls.
    Full(T),
    /// Every consumer is gone ([`PublishError::Disconnected`]).
    Disconnected(T),
    /// The wait gave up before a credit came back ([`PublishError::Timeout`]).
    Timeout(T),
}

impl<T> PushError<T> {
    /// The value that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(v) | PushError::Disconnected(v) | PushError::Timeout(v) => v,
        }
    }

    /// The link was full (no credits).
    pub fn is_full(&self) -> bool {
        matches!(self, PushError::Full(_))
    }

    /// Every consumer is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, PushError::Disconnected(_))
    }

    /// The wait gave up.
    pub fn is_timeout(&self) -> bool {
        matches!(self, PushError::Timeout(_))
    }

    /// The byte layer's error for the same case.
    pub fn publish_error(&self) -> PublishError {
        match self {
            PushError::Full(_) => PublishError::NoCredits,
            PushError::Disconnected(_) => PublishError::Disconnected,
            PushError::Timeout(_) => PublishError::Timeout,
        }
    }

    /// `error`, from a publish of `value`. `TooLarge` cannot happen: a typed value always
    /// fits (the typed handle checked `size_of::<T>() <= mtu` when it was built).
    #[inline]
    pub(crate) fn new(error: PublishError, value: T) -> Self {
        match error {
            PublishError::NoCredits => PushError::Full(value),
            PublishError::Disconnected => PushError::Disconnected(value),
            PublishError::Timeout => PushError::Timeout(value),
            PublishError::TooLarge { .. } => {
                unreachable!("a typed value fits the mtu: checked when the handle was built")
            }
            PublishError::TooManyFrags { .. } | PublishError::Overfilled { .. } => {
                unreachable!("a typed handle publishes one value at a time")
            }
        }
    }
}

/// Shows the case only, like `crossbeam`'s send errors: the value needs no `Debug`.
impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("Full(..)"),
            PushError::Disconnected(_) => f.write_str("Disconnected(..)"),
            PushError::Timeout(_) => f.write_str("Timeout(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.publish_error(), f)
    }
}

impl<T> core::error::Error for PushError<T> {}

/// Why a frag a typed read found is not a `T`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// An empty frag marked ERR: a claim dropped without a commit. Released.
    Abandoned { seq: u64 },
    /// A frag of another size. Not released.
    WrongSize { seq: u64, size: usize, link: usize },
}

impl Mismatch {
    /// What the frag `meta` (of link `link` of a fan-in, else 0) is, if not a `T` of
    /// `size` bytes. The common case, a frag of the size, is one compare when `size` is
    /// not 0 (a constant once inlined).
    #[inline(always)]
    pub(crate) fn of(meta: &FragMeta, size: usize, link: usize) -> Option<Mismatch> {
        if meta.sz as usize == size && (size != 0 || !meta.ctl.err()) {
            None
        } else {
            Some(Self::classify(meta, link))
        }
    }

    /// The frag `meta` is not a `T`: which case.
    #[cold]
    #[inline(never)]
    fn classify(meta: &FragMeta, link: usize) -> Mismatch {
        if meta.sz == 0 && meta.ctl.err() {
            Mismatch::Abandoned { seq: meta.seq }
        } else {
            Mismatch::WrongSize {
                seq: meta.seq,
                size: meta.sz as usize,
                link,
            }
        }
    }
}

/// Defines a typed receive error: the variants given, then the two a typed read adds and
/// the three ends of a stream every receive error shares.
macro_rules! typed_error {
    ($(#[$m:meta])* $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($body)*
            /// The next frag is not a `T`: its payload is `size` bytes, not
            /// `size_of::<T>()` (someone published it through the byte API). It never
            /// becomes a `&T`, and it is **not consumed**: every typed read reports it again
            /// (except a lossy read of a *shorter* frag, which copied it, and so read past
            /// it). Read or skip it through the byte handle (`as_bytes_mut`).
            WrongSize {
                /// The frag's seq.
                seq: u64,
                /// Its payload size, bytes.
                size: usize,
                /// On a [`FanIn`](crate::typed::FanIn): the link it is on
                /// ([`link_mut`](crate::typed::FanIn::link_mut) reaches it); else 0.
                link: usize,
            },
            /// The next frag was an empty frag marked [`ERR`](crate::Ctl::ERR): a claim of a
            /// shared ring dropped without a commit ([`mpsc`](crate::mpsc)). It holds no
            /// message; it was consumed. Not an end: read on. Only the `recv` and batch reads
            /// report it; the `pop` reads and the iterators skip it.
            Abandoned {
                /// The frag's seq.
                seq: u64,
            },
            /// The producer closed the stream cleanly and every frag it published has been
            /// read.
            Closed,
            /// The producer died (dropped while its thread panicked) and every frag it
            /// published has been read.
            Failed,
            /// The link's memory no longer follows the protocol (as in the byte API's
            /// errors). Cannot happen in a link used through this crate's API.
            Corrupt {
                /// The seq the consumer expected.
                seq: u64,
            },
        }

        impl From<Mismatch> for $name {
            fn from(m: Mismatch) -> $name {
                match m {
                    Mismatch::Abandoned { seq } => $name::Abandoned { seq },
                    Mismatch::WrongSize { seq, size, link } => {
                        $name::WrongSize { seq, size, link }
                    }
                }
            }
        }

        impl core::error::Error for $name {}
    };
}

/// The cases every typed receive error shares, for `Display`.
macro_rules! typed_display {
    ($ty:ident, $f:ident, $self:ident, $($extra:tt)*) => {
        match *$self {
            $ty::WrongSize { seq, size, link } => write!(
                $f,
                "the frag at seq {seq} (link {link}) has {size} bytes: not a message of this type"
            ),
            $ty::Abandoned { seq } => write!($f, "the claim of seq {seq} was abandoned"),
            $ty::Closed => $f.write_str("the stream is closed and drained"),
            $ty::Failed => $f.write_str("the producer failed; every frag it published was read"),
            $ty::Corrupt { seq } => write!($f, "link memory is corrupt at seq {seq}"),
            $($extra)*
        }
    };
}

/// The byte layer's ends of a stream (and the cases given) map to the same typed cases.
macro_rules! from_byte_error {
    ($from:ty => $to:ident { $($extra:tt)* }) => {
        impl From<$from> for $to {
            fn from(e: $from) -> $to {
                type E = $from;
                match e {
                    E::Closed => $to::Closed,
                    E::Failed => $to::Failed,
                    E::Corrupt { seq } => $to::Corrupt { seq },
                    $($extra)*
                }
            }
        }
    };
}

typed_error!(
    /// A non-blocking typed read found nothing to deliver
    /// ([`Consumer::try_recv`](crate::typed::Consumer::try_recv),
    /// [`try_pop`](crate::typed::Consumer::try_pop), ...).
    ///
    /// Only [`Empty`](Self::Empty) means "try again" and [`Abandoned`](Self::Abandoned)
    /// "read on"; the others end the stream, or (`WrongSize`) stop it until the frag is dealt
    /// with through the byte handle.
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::{typed, Header};
    /// use milonga::typed::TryRecvError;
    ///
    /// let (mut tx, rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
    /// let mut rx = typed::Consumer::<u32>::new(rx)?;
    /// assert_eq!(rx.try_pop(), Err(TryRecvError::Empty));
    /// tx.try_publish(Header::new(0), b"12345")?; // 5 bytes: not a u32
    /// let err = TryRecvError::WrongSize { seq: 0, size: 5, link: 0 };
    /// assert_eq!(rx.try_pop(), Err(err));
    /// assert_eq!(rx.try_pop(), Err(err)); // not consumed
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    TryRecvError {
    /// Nothing new is published yet; try again.
    Empty,
});

typed_error!(
    /// A blocking typed read ended without a message
    /// ([`Consumer::recv`](crate::typed::Consumer::recv),
    /// [`pop`](crate::typed::Consumer::pop), ...).
    RecvError {});

typed_error!(
    /// A typed read with a deadline (or a wait strategy that may give up) ended without a
    /// message ([`Consumer::recv_timeout`](crate::typed::Consumer::recv_timeout),
    /// [`pop_timeout`](crate::typed::Consumer::pop_timeout), ...).
    RecvTimeoutError {
    /// Nothing arrived before the deadline (or the wait strategy gave up).
    Timeout,
});

typed_error!(
    /// A non-blocking read of a typed [`LossyConsumer`](crate::typed::LossyConsumer)
    /// delivered nothing.
    LossyTryRecvError {
    /// Nothing new is published yet; try again.
    Empty,
    /// The producer lapped this consumer; see [`Overrun`]. Not an end: read on.
    Overrun(Overrun),
});

typed_error!(
    /// A blocking read of a typed [`LossyConsumer`](crate::typed::LossyConsumer) delivered
    /// nothing.
    LossyRecvError {
    /// The producer lapped this consumer; see [`Overrun`]. Not an end: read on.
    Overrun(Overrun),
});

typed_error!(
    /// A read of a typed [`LossyConsumer`](crate::typed::LossyConsumer) with a deadline (or
    /// a wait strategy that may give up) delivered nothing.
    LossyRecvTimeoutError {
    /// Nothing arrived before the deadline (or the wait strategy gave up).
    Timeout,
    /// The producer lapped this consumer; see [`Overrun`]. Not an end: read on.
    Overrun(Overrun),
});

from_byte_error!(crate::error::TryRecvError => TryRecvError { E::Empty => TryRecvError::Empty, });
from_byte_error!(crate::error::RecvError => RecvError {});
from_byte_error!(crate::error::RecvError => TryRecvError {});
from_byte_error!(crate::error::RecvError => RecvTimeoutError {});
from_byte_error!(crate::error::RecvTimeoutError => RecvTimeoutError {
    E::Timeout => RecvTimeoutError::Timeout,
});

/// A blocking read's error is also every other read's error of the same consumer.
macro_rules! widen {
    ($from:ident => $to:ident { $($extra:tt)* }) => {
        impl From<$from> for $to {
            fn from(e: $from) -> $to {
                match e {
                    $from::WrongSize { seq, size, link } => $to::WrongSize { seq, size, link },
                    $from::Abandoned { seq } => $to::Abandoned { seq },
                    $from::Closed => $to::Closed,
                    $from::Failed => $to::Failed,
                    $from::Corrupt { seq } => $to::Corrupt { seq },
                    $($extra)*
                }
            }
        }
    };
}
widen!(RecvError => TryRecvError {});
widen!(RecvError => RecvTimeoutError {});
widen!(LossyRecvError => LossyTryRecvError { LossyRecvError::Overrun(o) => LossyTryRecvError::Overrun(o), });
widen!(LossyRecvError => LossyRecvTimeoutError {
    LossyRecvError::Overrun(o) => LossyRecvTimeoutError::Overrun(o),
});

/// A byte lossy read's error as a typed read reports it. `next_seq` is the consumer's next
/// seq after the read: a `BufferTooSmall` left it at the frag that did not fit (a frag
/// larger than a `T`), which is not consumed.
macro_rules! from_lossy {
    ($name:ident, $to:ident, $from:ty { $($extra:tt)* }) => {
        #[inline]
        pub(crate) fn $name(e: $from, next_seq: u64) -> $to {
            type E = $from;
            match e {
                E::Overrun(o) => $to::Overrun(o),
                E::BufferTooSmall { needed } => $to::WrongSize {
                    seq: next_seq,
                    size: needed,
                    link: 0,
                },
                E::Closed => $to::Closed,
                E::Failed => $to::Failed,
                E::Corrupt { seq } => $to::Corrupt { seq },
                $($extra)*
            }
        }
    };
}
from_lossy!(lossy_try, LossyTryRecvError, crate::error::LossyTryRecvError {
    E::Empty => LossyTryRecvError::Empty,
});
from_lossy!(lossy_recv, LossyRecvError, crate::error::LossyRecvError {});
from_lossy!(lossy_timeout, LossyRecvTimeoutError, crate::error::LossyRecvTimeoutError {
    E::Timeout => LossyRecvTimeoutError::Timeout,
});

impl TryRecvError {
    /// Nothing was published yet: try again.
    pub fn is_empty(&self) -> bool {
        *self == TryRecvError::Empty
    }
}

impl LossyTryRecvError {
    /// Nothing was published yet: try again.
    pub fn is_empty(&self) -> bool {
        *self == LossyTryRecvError::Empty
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        typed_display!(TryRecvError, f, self, TryRecvError::Empty => f.write_str("no frag published yet"),)
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        typed_display!(RecvError, f, self,)
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        typed_display!(RecvTimeoutError, f, self, RecvTimeoutError::Timeout => f.write_str("timed out waiting for a frag"),)
    }
}

impl fmt::Display for LossyTryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        typed_display!(LossyTryRecvError, f, self,
            LossyTryRecvError::Empty => f.write_str("no frag published yet"),
            LossyTryRecvError::Overrun(o) => fmt::Display::fmt(&o, f),
        )
    }
}

impl fmt::Display for LossyRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        typed_display!(LossyRecvError, f, self,
            LossyRecvError::Overrun(o) => fmt::Display::fmt(&o, f),
        )
    }
}

impl fmt::Display for LossyRecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        typed_display!(LossyRecvTimeoutError, f, self,
            LossyRecvTimeoutError::Timeout => f.write_str("timed out waiting for a frag"),
            LossyRecvTimeoutError::Overrun(o) => fmt::Display::fmt(&o, f),
        )
    }
}
