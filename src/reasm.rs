//! Reassembly of multi-frag messages into a caller's buffer.
//!
//! A message longer than the mtu is published as consecutive frags, the first marked SOM
//! and the last EOM ([`Producer::try_publish_message`](crate::spsc::Producer::try_publish_message)).
//! A [`Reassembler`] takes the frags a consumer reads, in order, and yields each whole
//! message; a message that cannot be delivered whole is dropped and counted:
//! - `lost`: some of its frags never arrived (a lossy consumer was overrun, or a filter
//!   skipped them): a gap in the seqs inside the message, or frags without their start.
//!   Frags without a start that follow a gap are taken as the rest of the message the gap
//!   was found in (a message whose start and the gap's whole extent were lost together is
//!   indistinguishable from it and counted once);
//! - `err`: one of its frags is marked [`Ctl::ERR`](crate::Ctl::ERR);
//! - `too_large`: it does not fit the buffer.
//!
//! Messages lost entirely are not seen here; the consumer's own counters have them.
//!
//! ```
//! use milonga::reasm::Reassembler;
//! use milonga::spsc::Link;
//! use milonga::{FlowConfig, Header};
//!
//! let (mut tx, mut rx) = Link::builder().depth(16).mtu(4).heap_pair().unwrap();
//! tx.try_publish_message(Header::new(0), b"a message of 27 bytes, long").unwrap();
//! let mut buf = [0u8; 64];
//! let mut reasm = Reassembler::new(&mut buf);
//! let mut got = Vec::new();
//! while let Ok(frag) = rx.try_recv() {
//!     if let Some(msg) = reasm.push(frag.meta(), frag.payload()) {
//!         got.extend_from_slice(msg);
//!     }
//! }
//! assert_eq!(got, b"a message of 27 bytes, long");
//! ```

use crate::frag::FragMeta;
use crate::seq;

/// Messages a [`Reassembler`] delivered and dropped.
///
/// ```
/// use milonga::reasm::Reassembler;
/// use milonga::{Ctl, FragMeta};
///
/// let whole = |seq| FragMeta { seq, ..FragMeta::default() }; // SOM | EOM
/// let mut buf = [0u8; 4];
/// let mut reasm = Reassembler::new(&mut buf);
/// assert!(reasm.push(&whole(0), b"12345").is_none()); // longer than the buffer
/// let marked = FragMeta { ctl: Ctl::default() | Ctl::ERR, ..whole(1) };
/// assert!(reasm.push(&marked, b"ab").is_none());
/// assert!(reasm.push(&whole(2), b"ok").is_some());
/// let c = reasm.counters();
/// assert_eq!((c.messages, c.bytes), (1, 2));
/// assert_eq!((c.dropped_too_large, c.dropped_err, c.dropped()), (1, 1, 2));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReasmCounters {
    /// Whole messages delivered.
    pub messages: u64,
    /// Bytes in the delivered messages.
    pub bytes: u64,
    /// Messages dropped because some of their frags were lost.
    pub dropped_lost: u64,
    /// Messages dropped because a frag was marked ERR.
    pub dropped_err: u64,
    /// Messages dropped because they did not fit the buffer.
    pub dropped_too_large: u64,
}

impl ReasmCounters {
    /// Messages dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_lost + self.dropped_err + self.dropped_too_large
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between messages.
    Idle,
    /// Inside a message; `err` or `too_large` mark it for dropping at its end.
    Open { err: bool, too_large: bool },
    /// Inside a message whose start was lost (already counted), waiting for its end.
    Skipping,
}

/// Rebuilds messages from their frags into a caller's buffer, without allocating.
///
/// Frags are pushed in the order read; a message with a gap in its seqs is dropped:
///
/// ```
/// use milonga::reasm::Reassembler;
/// use milonga::{Ctl, FragMeta};
///
/// let frag = |seq: u64, ctl: Ctl| FragMeta { seq, ctl, ..FragMeta::default() };
/// let mut buf = [0u8; 16];
/// let mut reasm = Reassembler::new(&mut buf);
/// assert_eq!(reasm.push(&frag(0, Ctl::SOM), b"hel"), None);
/// assert_eq!(reasm.push(&frag(1, Ctl::EOM), b"lo"), Some(&b"hello"[..]));
/// assert_eq!(reasm.push(&frag(2, Ctl::SOM), b"ab"), None);
/// assert_eq!(reasm.push(&frag(4, Ctl::EOM), b"ef"), None); // seq 3 never came
/// assert_eq!(reasm.push(&frag(5, Ctl::default()), b"one"), Some(&b"one"[..]));
/// assert_eq!(reasm.counters().dropped_lost, 1);
/// ```
pub struct Reassembler<'b> {
    buf: &'b mut [u8],
    len: usize,
    next_seq: Option<u64>,
    state: State,
    counters: ReasmCounters,
}

impl<'b> Reassembler<'b> {
    /// A reassembler for messages of up to `buf.len()` bytes.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Reassembler {
            buf,
            len: 0,
            next_seq: None,
            state: State::Idle,
            counters: ReasmCounters::default(),
        }
    }

    /// What was delivered and dropped so far.
    pub fn counters(&self) -> ReasmCounters {
        self.counters
    }

    /// Takes the next frag read (in seq order); returns the message it completes, if it
    /// completes one that can be delivered.
    pub fn push(&mut self, meta: &FragMeta, payload: &[u8]) -> Option<&[u8]> {
        let gap = self.next_seq.is_some_and(|s| s != meta.seq);
        self.next_seq = Some(seq::inc(meta.seq, 1));
        if gap && matches!(self.state, State::Open { .. }) {
            // Frags without a start that follow are taken as the rest of this message.
            self.counters.dropped_lost += 1;
            self.state = State::Skipping;
        }
        if meta.ctl.som() {
            if matches!(self.state, State::Open { .. }) {
                // A new start before the old message ended: the old one's end was lost.
                self.counters.dropped_lost += 1;
            }
            self.state = State::Open {
                err: false,
                too_large: false,
            };
            self.len = 0;
        } else if self.state == State::Idle {
            self.counters.dropped_lost += 1;
            self.state = State::Skipping;
        }
        let State::Open { err, too_large } = &mut self.state else {
            if meta.ctl.eom() {
                self.state = State::Idle;
            }
            return None;
        };
        *err |= meta.ctl.err();
        if !*too_large {
            match self.buf.get_mut(self.len..self.len + payload.len()) {
                Some(dst) => {
                    dst.copy_from_slice(payload);
                    self.len += payload.len();
                }
                None => *too_large = true,
            }
        }
        if !meta.ctl.eom() {
            return None;
        }
        let (err, too_large) = (*err, *too_large);
        self.state = State::Idle;
        if err {
            self.counters.dropped_err += 1;
            None
        } else if too_large {
            self.counters.dropped_too_large += 1;
            None
        } else {
            self.counters.messages += 1;
            self.counters.bytes += self.len as u64;
            Some(&self.buf[..self.len])
        }
    }
}

impl core::fmt::Debug for Reassembler<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reassembler")
            .field("capacity", &self.buf.len())
            .field("len", &self.len)
            .field("counters", &self.counters)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frag::Ctl;

    fn frag(seq: u64, ctl: Ctl) -> FragMeta {
        FragMeta {
            seq,
            ctl,
            ..FragMeta::default()
        }
    }

    #[test]
    fn whole_messages_pass_and_every_kind_of_damage_is_counted() {
        let mut buf = [0u8; 6];
        let mut r = Reassembler::new(&mut buf);
        let (som, eom, mid) = (Ctl::SOM, Ctl::EOM, Ctl::NONE);
        // seq 0..3: a whole message "abcd"
        assert_eq!(r.push(&frag(0, som), b"ab"), None);
        assert_eq!(r.push(&frag(1, eom), b"cd"), Some(&b"abcd"[..]));
        // seq 2, 4: gap inside a message (seq 3 lost)
        assert_eq!(r.push(&frag(2, som), b"x"), None);
        assert_eq!(r.push(&frag(4, eom), b"y"), None);
        assert_eq!(r.counters().dropped_lost, 1);
        // seq 5, 6: a message whose start was lost
        assert_eq!(r.push(&frag(5, mid), b"m"), None);
        assert_eq!(r.push(&frag(6, eom), b"n"), None);
        assert_eq!(r.counters().dropped_lost, 2);
        // seq 7..9: an ERR frag
        assert_eq!(r.push(&frag(7, som), b"e"), None);
        assert_eq!(r.push(&frag(8, Ctl::ERR), b"e"), None);
        assert_eq!(r.push(&frag(9, eom), b"e"), None);
        assert_eq!(r.counters().dropped_err, 1);
        // seq 10, 11: too large for 6 bytes
        assert_eq!(r.push(&frag(10, som), b"1234"), None);
        assert_eq!(r.push(&frag(11, eom), b"567"), None);
        assert_eq!(r.counters().dropped_too_large, 1);
        // seq 12: a one-frag message, then one cut short by a new start
        assert_eq!(r.push(&frag(12, som | eom), b"ok"), Some(&b"ok"[..]));
        assert_eq!(r.push(&frag(13, som), b"cut"), None);
        assert_eq!(r.push(&frag(14, som | eom), b""), Some(&b""[..]));
        let c = r.counters();
        assert_eq!(
            (c.messages, c.bytes, c.dropped_lost, c.dropped()),
            (3, 6, 3, 5)
        );
    }
}
