//! The design: what a link is made of, the protocols between its ends, and the rules that
//! make zero-copy reads sound. Nothing here is code; it is what a user (or a reviewer)
//! needs to trust the API and to size a link.
//!
//! # Vocabulary
//!
//! | word | meaning |
//! | --- | --- |
//! | link | one stream: a metadata ring, a payload store, one progress record per consumer, a command-and-control block |
//! | frag | one published record: 32 bytes of metadata ([`FragMeta`](crate::FragMeta)) plus 0 to mtu payload bytes |
//! | seq | a frag's 64-bit sequence number: consecutive, compared wrap-safely ([`seq`](crate::seq)) |
//! | sig | 64 application bits a consumer can filter on without touching the payload |
//! | ctl | SOM/EOM (start and end of a message split over frags), ERR, and an origin id ([`Ctl`](crate::Ctl)) |
//! | credit | permission for the producer to publish one more frag without overwriting data a reliable consumer has not released |
//! | reliable consumer | gates the producer through credits; never loses a frag ([`Consumer`](crate::spsc::Consumer)) |
//! | lossy consumer | never slows the producer; detects when it was lapped and counts exactly what it lost ([`LossyConsumer`](crate::spsc::LossyConsumer)) |
//! | housekeeping | the rare, amortised work: publishing progress, refreshing credits, beating the heartbeat |
//!
//! # Parts
//!
//! From the bottom up (a lower part never uses a higher one):
//!
//! - the **metadata ring** (`mcache`): `depth` slots of 32 bytes, two per cache line; slot
//!   `seq % depth` holds frag `seq`. Every field is an atomic.
//! - the **payload store** (`dcache`): 64-byte chunks, 64-byte aligned. Payloads are placed
//!   compactly in 8-byte words: one of at most 64 bytes never straddles a chunk, a longer
//!   one starts on a fresh chunk, none straddles the end of the store (it wraps to the
//!   start). So every payload starts on an 8-byte boundary.
//! - a **progress record** (`fseq`) per consumer: the next seq it needs (everything before
//!   it is released), a detached flag, and its counters, each on its own cache line.
//! - **credits** (`fctl`): the producer's view of the slowest reliable consumer.
//! - **command and control** ([`Cnc`](crate::Cnc)): the producer's state
//!   ([`Signal`](crate::Signal)), its heartbeat and counters, the end-of-stream mark, and
//!   whether every consumer is gone.
//! - the handles ([`spsc`](crate::spsc), [`mpsc`](crate::mpsc), [`typed`](crate::typed)),
//!   [`metrics`](crate::metrics), [`wait`](crate::wait) strategies.
//!
//! Storage is owned inline (const generics, built by a `const fn`, so a link can be a
//! `static` without an allocator), on the heap (sized at run time, allocated zeroed), or
//! in shared memory mapped by several processes (see below); all present the same
//! borrowed views, so there is one implementation of every protocol.
//!
//! # Publishing and reading a frag
//!
//! The producer is the only writer of a slot. To publish frag `seq` it writes the payload,
//! then the slot's body with relaxed atomic stores, then the slot's seq with release
//! ordering. On a link with lossy readers it first stores `seq - 1` into the slot's seq
//! and fences (a seqlock: the old frag is marked gone before its body changes), because a
//! lossy reader may read a slot it holds no credit for.
//!
//! A consumer loads the slot's seq with acquire ordering and compares it with the seq it
//! expects (a signed difference): behind means not published yet, ahead means the
//! producer lapped it (possible only for a lossy reader). It then loads the body; a lossy
//! reader fences and re-loads the seq, and throws the read away if it changed.
//!
//! A **batch publish** ([`try_publish_batch`](crate::spsc::Producer::try_publish_batch),
//! [`try_publish_batch_in_place`](crate::spsc::Producer::try_publish_batch_in_place))
//! changes nothing a reader sees: it takes the credits of all its frags at once (all or
//! nothing; a batch longer than `cr_max` is refused), then publishes each frag by the
//! steps above, in seq order, and updates the producer's counters and their published copy
//! once, at its end. Each frag is visible as soon as its seq is stored, so a consumer may
//! read the first frags of a batch while the producer still writes the rest. An in-place
//! batch lends the closure that fills a frag a `&mut [u8]` for that call only, and
//! publishes the frag after the call returned, so no borrow covers published memory; if
//! the closure panics, the frags before it stay published and counted.
//!
//! No `&` or `&mut` to memory another thread may be writing ever exists: every shared
//! field is an atomic, and payload borrows exist only where the protocol forbids writes.
//!
//! # The payload reuse rule
//!
//! Each frag uses at most `ceil(mtu / 64)` fresh chunks, and the store holds `depth + 2`
//! such runs ([`data_chunks`](crate::data_chunks)), so a payload's words are written again
//! only by a frag at least `depth + 1` later, and that frag cannot be published before the
//! slot of the first one was overwritten. Hence:
//!
//! - a **reliable consumer** may borrow a payload as `&[u8]` for as long as it holds the
//!   frag's credit: the producer cannot publish `depth` frags past an unreleased one. The
//!   borrow lives in a [`ReadGuard`](crate::spsc::ReadGuard) or a
//!   [`Batch`](crate::spsc::Batch), and the credit goes back when that guard or batch ends,
//!   so the borrow checker makes a use after release impossible.
//! - a **lossy consumer** never gets a borrow: it copies the payload out with atomic loads,
//!   then re-checks the slot, and discards the copy if the frag was overwritten meanwhile.
//!   Because such a copy may race the producer's rewrite, a producer on a link with lossy
//!   readers writes payloads with atomic word stores too
//!   ([`Shared`](crate::spsc::Shared)), and only a producer whose readers are all reliable
//!   ([`Exclusive`](crate::spsc::Exclusive)) hands out `&mut [u8]` claims.
//! - metadata read by a lossy reader is untrusted: offset and size are checked against the
//!   store before any address is formed.
//!
//! # Credits
//!
//! A reliable consumer publishes its progress every `release_every` frags
//! ([`FlowConfig::release_every`](crate::FlowConfig::release_every)) and whenever it finds
//! nothing to read. The producer keeps a local credit count
//! and reads the consumers' progress only when it runs out: credits are
//! `min over consumers of (cr_max - (tx_seq - rx_seq))`. After running out it waits for
//! `cr_resume` credits (hysteresis), and counts which consumer held it back. So the SPSC
//! hot path has no read-modify-write, and the only lines both ends touch per frag are the
//! slot and the payload. See [`FlowConfig`](crate::FlowConfig).
//!
//! When the last consumer is dropped it marks the link: the producer checks that mark (a
//! line nobody writes while the link runs) on every publish, so the first publish after
//! it returns [`PublishError::Disconnected`](crate::PublishError::Disconnected).
//!
//! # The end of a stream
//!
//! Dropping or halting the producer closes the stream: it stores the seq after its last
//! frag, with a flag saying whether it died (dropped while panicking), and releases it.
//! Consumers drain everything published before that seq and then receive `Closed`, or
//! `Failed` if the producer died ([`RecvError`](crate::RecvError)).
//!
//! # Counting
//!
//! Every counter has one writer (the producer, or one consumer) and is published with
//! relaxed stores on a line of its own. At any quiescent point, for every consumer:
//! published = consumed + filtered + lost, in frags and in bytes
//! ([`ConsumerCounters`](crate::ConsumerCounters)).
//!
//! # Several producers
//!
//! [`mpsc`](crate::mpsc) offers two designs: a **shared ring**, where producers claim seqs
//! with one compare-exchange on a shared cursor (one total order, a read-modify-write per
//! frag), and **fan-in**, one SPSC link per producer read by one consumer in a fair order
//! (no shared write at all, order per producer only).
//!
//! # Admission (the dispatcher)
//!
//! [`dispatch`](crate::dispatch) runs on a shared ring and adds one atomic word: its state
//! (running, shutting down, stopped) and its pending items and bytes. An enqueue *admits*
//! its item with one compare-exchange on it (acquire), only while running and within the
//! limits, then publishes into the ring; the consumer, when a batch ends, releases its
//! slots to the ring, publishes its progress, and only then subtracts the batch from the
//! word (release). Pending items never exceed the ring's depth, so an admitted item always
//! finds a free slot, visibly. A shutdown or stop is a `fetch_or` on the same word, so no
//! item is admitted after it, and "everything accepted was delivered" is exactly "the
//! pending count is zero" once the bit is set. Items carry a time (their batch's interval
//! is measured from it): a clock reading taken by a producer that finds nothing pending,
//! else a recent reading the handles share, which the consumer refreshes as it waits.
//!
//! # Shared memory (across processes)
//!
//! The third storage owner, [`shm`](crate::shm) (std, unix), lays the same parts out in a
//! mapped region: a header (magic, layout version, a hash of every part's size and
//! alignment in this build, the geometry, flags, and every part's offset), then a line per
//! *role*, the cnc, the fseqs, the metadata ring, the ledger and the payload store, each at
//! a multiple of 128 bytes. Offsets, never pointers. A joiner validates every header field
//! against its own computation of the layout and the file's length before it forms a
//! view; everything else it reads from the region (metadata above all) is checked before
//! an address is formed from it, as for lossy reads.
//!
//! Roles (the producer, each consumer) are claimed with one compare-exchange on the
//! role's word, holding a state, the holder's pid and the low bits of its start time.
//! Handles of a shared link carry a liveness hook, called only on slow paths
//! (housekeeping, an empty poll, a producer out of credits, a drop; never per frag): it
//! beats the role's heartbeat (the monotonic clock) and, at most every 10 ms, checks the
//! peers' processes.
//!
//! - A producer that died is *fenced* by the first consumer that notices (compare-exchange
//!   of its role word from live to fenced), which closes the stream on its behalf at the
//!   seq after the last frag it published, then marks the role dead. That seq is found
//!   without trusting anything: the producer counts a frag right after publishing it (a
//!   batch publish counts its frags once, at its end), so the counters are at most one
//!   batch, `cr_max <= depth` frags, behind the ring, and the slots after that point are
//!   read with validated reads. Consumers drain and see the stream failed.
//! - A producer that takes the role over finds the same point, continues after it (its
//!   next payload goes after the last one, whose metadata is bounds-checked), and reopens
//!   the stream. It starts with no credits, so its first publish reads the consumers'
//!   progress.
//! - A consumer role is durable: its fseq keeps gating the producer when nobody holds it,
//!   and a new holder resumes from the progress and counters the last one published, so
//!   counts stay exact and nothing is missed (the frags read after the last publication of
//!   progress are read again). A lossy consumer resumes the same way; its first read
//!   resolves, from the ledger, the bytes it lost meanwhile.
//! - A producer out of credits may evict a reliable consumer whose process is gone (the
//!   link's policy): a compare-exchange of its role word to evicted, then its fseq is
//!   detached, which the credit computation skips from then on.
//!
//! # How it is verified
//!
//! The protocols are model-checked with loom, each model also run with its memory
//! orderings weakened one at a time (every weakened run must fail); the tests run under
//! Miri with several seeds (Stacked and Tree Borrows) and ThreadSanitizer; property tests
//! compare every handle with a simple model; a counting allocator shows that nothing
//! allocates after construction.
