//! Bad input to joiners of links in shared memory: random and mutated headers, and region
//! files with random bytes flipped, words overwritten, cut short or made of garbage.
//!
//! - [`validate_header`] (pure: runs under Miri too) on random headers and file lengths
//!   never panics; it accepts only headers that are self-consistent (the region holds
//!   every part, in order, each on 128 bytes), and names the first thing wrong: a foreign
//!   magic is `NotALink`, another version `Version`, another layout hash
//!   `LayoutMismatch`, a short file `Truncated`.
//! - Valid headers (read from link files this build created) with fields mutated (random
//!   values, off by one, bit flips) and random file lengths: accepted exactly when the
//!   mutated header is the one a creator of that geometry writes and the file is long
//!   enough (an oracle: the header of a link created with that geometry).
//! - [`ShmLink::open`] on region files damaged in every way: a link or a named error,
//!   never a panic; a link that opens lets roles be taken, frags be published and read,
//!   its status and metrics be read, each either working or failing with a named error.
#![cfg(all(unix, feature = "shm"))]

use milonga::shm::{validate_header, HeaderValues, ShmError, LAYOUT_HASH, LAYOUT_VERSION};
use proptest::prelude::*;

/// The first 8 bytes of every region (checked against a created file below).
const MAGIC: u64 = u64::from_le_bytes(*b"MILONGA\x01");
/// The header: 18 little-endian words.
const HEADER_WORDS: usize = 18;
const HEADER_BYTES: usize = HEADER_WORDS * 8;

/// Cases per property: `PROPTEST_CASES` if set, else `native` (`miri` under Miri, which
/// sees the variable only with `-Zmiri-env-forward=PROPTEST_CASES`).
fn config(native: u32, miri: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if cfg!(miri) { miri } else { native }),
        // No regressions file in the repository: a failure prints its minimal case.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[cfg(not(miri))]
fn to_words(v: &HeaderValues) -> [u64; HEADER_WORDS] {
    let mut w = [0u64; HEADER_WORDS];
    w[..11].copy_from_slice(&[
        v.magic,
        v.version,
        v.layout_hash,
        v.size,
        v.depth,
        v.mtu,
        v.chunks,
        v.reliable,
        v.lossy,
        v.seq0,
        v.flags,
    ]);
    w[11..].copy_from_slice(&v.offsets);
    w
}

fn from_words(w: &[u64; HEADER_WORDS]) -> HeaderValues {
    HeaderValues {
        magic: w[0],
        version: w[1],
        layout_hash: w[2],
        size: w[3],
        depth: w[4],
        mtu: w[5],
        chunks: w[6],
        reliable: w[7],
        lossy: w[8],
        seq0: w[9],
        flags: w[10],
        offsets: w[11..].try_into().unwrap(),
    }
}

/// The header at the start of a region file's bytes.
#[cfg(not(miri))]
fn header_of(bytes: &[u8]) -> HeaderValues {
    let mut w = [0u64; HEADER_WORDS];
    for (i, word) in w.iter_mut().enumerate() {
        *word = u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
    }
    from_words(&w)
}

std::thread_local! {
    static EVENTS: std::cell::RefCell<std::collections::BTreeMap<String, u64>> =
        Default::default();
}

/// Counts a condition the generated cases should reach.
fn note(event: impl Into<String>) {
    EVENTS.with(|e| *e.borrow_mut().entry(event.into()).or_default() += 1);
}

/// The name of an error's variant.
fn variant(e: &impl std::fmt::Debug) -> String {
    let name = format!("{e:?}");
    name.split([' ', '(', '{']).next().unwrap().to_owned()
}

/// Runs `cases` cases of `strategy` with a fixed seed (the same on every run), and checks
/// that together they reached every event in `want` (the generators do force the
/// conditions the properties are about).
#[cfg(not(miri))]
fn seeded<S: Strategy>(
    strategy: S,
    cases: usize,
    run: impl Fn(S::Value) -> Result<(), TestCaseError>,
    want: &[&str],
) {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    EVENTS.with(|e| e.borrow_mut().clear());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[0x5e; 32]);
    let mut runner = TestRunner::new_with_rng(ProptestConfig::default(), rng);
    for _ in 0..cases {
        run(strategy.new_tree(&mut runner).unwrap().current()).unwrap();
    }
    let seen = EVENTS.with(|e| e.borrow().clone());
    println!("{seen:?}");
    for w in want {
        assert!(seen.contains_key(*w), "no case reached {w:?}: {seen:?}");
    }
}

/// What a header `validate_header` accepted for a file of `len` bytes must be, checked
/// from the header alone (not with the crate's layout code): this build's magic, version
/// and hash, a geometry a link may have, and a region of at most `len` bytes that holds
/// every part, in order, each at a multiple of 128 bytes.
fn check_accepted(v: &HeaderValues, len: u64) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        (v.magic, v.version, v.layout_hash),
        (MAGIC, LAYOUT_VERSION, LAYOUT_HASH)
    );
    prop_assert!(v.size <= len, "accepted a region longer than its file");
    prop_assert_eq!(v.size % 4096, 0);
    prop_assert!(v.depth >= 2 && v.depth.is_power_of_two());
    prop_assert!(v.mtu <= u64::from(u16::MAX));
    let consumers = v.reliable + v.lossy;
    prop_assert!((1..=32).contains(&consumers));
    prop_assert!(v.flags & !3 == 0 && (v.flags & 1 != 0) == (v.lossy > 0));
    // The store holds `depth + 2` payloads of the mtu.
    prop_assert!(v.chunks >= v.mtu.div_ceil(64) * (v.depth + 2));
    let o = v.offsets;
    prop_assert!(o.iter().all(|x| x % 128 == 0), "unaligned parts: {o:?}");
    prop_assert!(o[0] >= HEADER_BYTES as u64);
    // The least each part takes: role lines (three words each), the cnc (a word at
    // least), fseqs (a word each at least), slots (32 bytes each), the ledger of a link
    // with lossy consumers (a word per slot), the store. Each part ends before the next
    // begins; only an empty part shares its offset with the next.
    let ledger = if v.lossy > 0 { v.depth * 8 } else { 0 };
    let least = [
        (1 + consumers) * 24,
        8,
        v.reliable * 8,
        v.lossy * 8,
        v.depth * 32,
        ledger,
        v.chunks * 64,
    ];
    let ends = [o[1], o[2], o[3], o[4], o[5], o[6], v.size];
    for i in 0..7 {
        prop_assert!(
            o[i] + least[i] <= ends[i],
            "part {i} overlaps the next: {o:?}"
        );
        prop_assert!(least[i] == 0 || o[i] < ends[i]);
    }
    Ok(())
}

/// Checks `validate_header` on `v` and `len`: no panic (a failing case), a
/// self-consistent header when accepted, and the named error of the first field that is
/// off when the magic, version or hash is.
fn check_validate(v: &HeaderValues, len: u64) -> Result<Result<(), ShmError>, TestCaseError> {
    let got = validate_header(v, len);
    note(match &got {
        Ok(()) => "validate: accepted".to_owned(),
        Err(e) => format!("validate: {}", variant(e)),
    });
    match &got {
        Ok(()) => check_accepted(v, len)?,
        Err(e) => {
            if v.magic != MAGIC {
                prop_assert_eq!(e, &ShmError::NotALink { magic: v.magic });
            } else if v.version != LAYOUT_VERSION {
                let want = ShmError::Version {
                    found: v.version,
                    expected: LAYOUT_VERSION,
                };
                prop_assert_eq!(e, &want);
            } else if v.layout_hash != LAYOUT_HASH {
                let want = ShmError::LayoutMismatch {
                    found: v.layout_hash,
                    expected: LAYOUT_HASH,
                };
                prop_assert_eq!(e, &want);
            } else {
                let named = matches!(
                    e,
                    ShmError::Corrupt { .. }
                        | ShmError::Geometry(_)
                        | ShmError::TooLarge
                        | ShmError::Truncated { .. }
                );
                prop_assert!(named, "{e:?}");
                // The display of every error is printable (no panic there either).
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
    Ok(got)
}

/// Header words: mostly plausible values (small, powers of two, multiples of 128 and
/// 4096), some random.
fn word() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..40,
        (0u32..64).prop_map(|k| 1u64 << k),
        (0u64..64).prop_map(|k| k * 128),
        (0u64..64).prop_map(|k| k * 4096),
        Just(u64::MAX),
    ]
}

fn file_len(size: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(size),
        Just(size.saturating_sub(1)),
        (0..=size).boxed(),
        (size..=size.saturating_add(1 << 20)).boxed(),
        any::<u64>(),
        Just(0u64),
    ]
}

fn random_header() -> impl Strategy<Value = (HeaderValues, u64)> {
    (
        prop_oneof![Just(MAGIC), any::<u64>()],
        prop_oneof![Just(LAYOUT_VERSION), any::<u64>()],
        prop_oneof![Just(LAYOUT_HASH), any::<u64>()],
        prop::array::uniform8(word()),
        prop::array::uniform7(word()),
    )
        .prop_flat_map(|(magic, version, hash, w, offsets)| {
            let v = from_words(&[
                magic, version, hash, w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], offsets[0],
                offsets[1], offsets[2], offsets[3], offsets[4], offsets[5], offsets[6],
            ]);
            (Just(v), file_len(v.size))
        })
}

proptest! {
    // Under Miri (which interprets the case generation too: a few seconds a case) a
    // handful of cases, for undefined behaviour on the paths they take.
    #![proptest_config(config(2048, 6))]

    /// Random headers: never a panic; accepted only if self-consistent; the first wrong
    /// identity word named.
    #[test]
    fn random_headers_are_named_errors((v, len) in random_header()) {
        let _ = check_validate(&v, len)?;
    }
}

#[cfg(not(miri))]
mod files {
    //! Headers of real link files, mutated; and damaged region files joined.

    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, OnceLock};

    use milonga::shm::{DeadConsumer, ShmLink};
    use milonga::spsc::Budget;
    use milonga::Header;

    use super::*;

    /// A directory for this binary's files, removed at the end of each test that made it.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let d = std::env::temp_dir()
                .join(format!("milonga-prop-shm-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
        fn path(&self, f: &str) -> PathBuf {
            self.0.join(f)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The geometry of a link to create.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    struct Shape {
        depth: u64,
        mtu: u64,
        chunks: u64,
        reliable: u64,
        lossy: u64,
        evict: bool,
    }

    impl Shape {
        fn of(v: &HeaderValues) -> Shape {
            Shape {
                depth: v.depth,
                mtu: v.mtu,
                chunks: v.chunks,
                reliable: v.reliable,
                lossy: v.lossy,
                evict: v.flags & 2 != 0,
            }
        }

        /// Small enough to create a file of (the rest is never created).
        fn small(&self) -> bool {
            self.depth <= 1 << 12
                && self.mtu <= 1 << 16
                && self.chunks <= 1 << 14
                && self.reliable <= 64
                && self.lossy <= 64
        }

        /// Creates a link of this shape at `path` and returns its file's bytes (`None` if
        /// the builder refuses the shape).
        fn create(&self, path: &Path, seq0: u64) -> Option<Vec<u8>> {
            let link = ShmLink::builder()
                .depth(self.depth as usize)
                .mtu(self.mtu as usize)
                .data_bytes(self.chunks as usize * 64)
                .reliable(self.reliable as usize)
                .lossy(self.lossy as usize)
                .first_seq(seq0)
                .on_dead_consumer(if self.evict {
                    DeadConsumer::Evict
                } else {
                    DeadConsumer::Wait
                })
                .replace(true)
                .create(path)
                .ok()?;
            drop(link);
            let bytes = std::fs::read(path).unwrap();
            std::fs::remove_file(path).unwrap();
            Some(bytes)
        }
    }

    /// The header a creator writes for the geometry of `v` (its seq0 and flags
    /// included), if that geometry is one a link may have; cached by shape.
    fn oracle(v: &HeaderValues) -> Option<HeaderValues> {
        static CACHE: OnceLock<Mutex<HashMap<Shape, Option<HeaderValues>>>> = OnceLock::new();
        let shape = Shape::of(v);
        let cache = CACHE.get_or_init(Default::default);
        let made = *cache.lock().unwrap().entry(shape).or_insert_with(|| {
            let dir = Dir::new(&format!("oracle-{:?}", std::thread::current().id()));
            shape
                .create(&dir.path("l"), 0)
                .map(|bytes| header_of(&bytes))
        });
        made.map(|h| HeaderValues { seq0: v.seq0, ..h })
    }

    /// The shapes of valid headers to mutate.
    const SHAPES: [(u64, u64, u64, u64, bool); 8] = [
        (2, 0, 0, 1, false),
        (2, 1, 0, 1, true),
        (8, 64, 1, 0, false),
        (8, 64, 0, 1, false),
        (64, 1500, 2, 1, true),
        (1024, 128, 3, 2, false),
        (16, 65535, 1, 0, false),
        (4, 100, 0, 32, true),
    ];

    fn valid_headers() -> &'static [HeaderValues] {
        static HEADERS: OnceLock<Vec<HeaderValues>> = OnceLock::new();
        HEADERS.get_or_init(|| {
            let dir = Dir::new("valid");
            SHAPES
                .iter()
                .map(|&(depth, mtu, reliable, lossy, evict)| {
                    let shape = Shape {
                        depth,
                        mtu,
                        chunks: milonga::data_chunks(depth as usize, mtu as usize) as u64,
                        reliable,
                        lossy,
                        evict,
                    };
                    let bytes = shape.create(&dir.path("l"), depth * 7).unwrap();
                    let h = header_of(&bytes);
                    assert_eq!(h.magic, MAGIC, "the magic this test assumes");
                    assert_eq!(h.size, bytes.len() as u64);
                    h
                })
                .collect()
        })
    }

    #[derive(Clone, Copy, Debug)]
    enum Mutation {
        Set(u64),
        Add(i8),
        Flip(u8),
    }

    fn mutation() -> impl Strategy<Value = (usize, Mutation)> {
        let m = prop_oneof![
            any::<u64>().prop_map(Mutation::Set),
            prop_oneof![Just(0u64), Just(u64::MAX), (0u64..64).prop_map(|k| k * 128)]
                .prop_map(Mutation::Set),
            prop_oneof![Just(1i8), Just(-1), any::<i8>()].prop_map(Mutation::Add),
            (0u8..64).prop_map(Mutation::Flip),
        ];
        // Identity words less often: a mutated magic hides every other field.
        let field = prop_oneof![1 => 0usize..3, 8 => 3usize..HEADER_WORDS];
        (field, m)
    }

    fn mutated_header() -> impl Strategy<Value = (HeaderValues, HeaderValues, u64)> {
        (0..SHAPES.len(), prop::collection::vec(mutation(), 0..4)).prop_flat_map(|(i, muts)| {
            let good = valid_headers()[i];
            let mut w = to_words(&good);
            for (f, m) in muts {
                w[f] = match m {
                    Mutation::Set(x) => x,
                    Mutation::Add(d) => w[f].wrapping_add(d as i64 as u64),
                    Mutation::Flip(b) => w[f] ^ (1 << b),
                };
            }
            let v = from_words(&w);
            (Just(good), Just(v), file_len(good.size))
        })
    }

    proptest! {
        #![proptest_config(config(1024, 0))]

        /// Valid headers with fields mutated: accepted exactly when the header is the one
        /// a creator of its geometry writes and the file holds it; else a named error.
        #[test]
        fn mutated_headers_are_accepted_only_as_created((good, v, len) in mutated_header()) {
            run_mutated(good, v, len)?;
        }
    }

    /// Checks a mutated header: accepted exactly when it is the one a creator of its
    /// geometry writes and the file holds it.
    fn run_mutated(good: HeaderValues, v: HeaderValues, len: u64) -> Result<(), TestCaseError> {
        let got = check_validate(&v, len)?;
        if v == good {
            if len >= good.size {
                prop_assert_eq!(got, Ok(()));
            } else {
                let want = ShmError::Truncated {
                    len,
                    needed: good.size,
                };
                prop_assert_eq!(got, Err(want));
            }
        } else if (v.magic, v.version, v.layout_hash) == (MAGIC, LAYOUT_VERSION, LAYOUT_HASH)
            && Shape::of(&v).small()
        {
            let created = oracle(&v);
            let accepted = created == Some(v) && len >= v.size;
            if accepted {
                note("mutated: accepted as created");
            }
            prop_assert_eq!(got.is_ok(), accepted, "{:?}, created as {:?}", got, created);
        }
        Ok(())
    }

    /// What the header properties must reach in a fixed set of cases.
    const WANT_HEADERS: &[&str] = &[
        "validate: accepted",
        "mutated: accepted as created",
        "validate: NotALink",
        "validate: Version",
        "validate: LayoutMismatch",
        "validate: Corrupt",
        "validate: Geometry",
        "validate: Truncated",
    ];

    /// The header properties on a fixed set of generated cases, which together reach
    /// every outcome in `WANT_HEADERS`.
    #[test]
    fn seeded_headers_reach_every_outcome() {
        let both = (random_header(), mutated_header());
        seeded(
            both,
            1000,
            |((v, len), (good, m, mlen))| {
                let _ = check_validate(&v, len)?;
                run_mutated(good, m, mlen)
            },
            WANT_HEADERS,
        );
    }

    /// How a region file is damaged.
    #[derive(Clone, Debug)]
    enum Damage {
        /// Bytes of the header and role lines xor-ed with non-zero masks.
        Flips(Vec<(usize, u8)>),
        /// Words anywhere in the region (counters, fseqs, slots, payloads) overwritten.
        Words(Vec<(usize, u64)>),
        /// Cut to this many bytes.
        Truncate(usize),
        /// Random bytes appended.
        Extend(usize),
        /// Not a region at all.
        Garbage(Vec<u8>),
        /// Flips and words together.
        Both(Vec<(usize, u8)>, Vec<(usize, u64)>),
        /// Role words (of the producer, then each consumer) overwritten: a state (known
        /// or not), a start time and a pid (random, this process's, or init's).
        Roles(Vec<(usize, u64)>),
    }

    /// Link files to damage: without and with lossy consumers (depth 8, mtu 64), with a
    /// few frags published and read, so the counters, fseqs and slots hold values.
    fn images() -> &'static [Vec<u8>; 2] {
        static IMAGES: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
        IMAGES.get_or_init(|| {
            let dir = Dir::new("images");
            [0usize, 1].map(|lossy| {
                let path = dir.path("l");
                let link = ShmLink::builder()
                    .depth(8)
                    .mtu(64)
                    .lossy(lossy)
                    .replace(true)
                    .create(&path)
                    .unwrap();
                {
                    let mut rx = link.consumer(0).unwrap();
                    let publish = |i: u64| {
                        let payload = [i as u8; 24];
                        if lossy > 0 {
                            let mut tx = link.shared_producer().unwrap();
                            tx.try_publish(Header::new(i), &payload).unwrap();
                        } else {
                            let mut tx = link.producer().unwrap();
                            tx.try_publish(Header::new(i), &payload).unwrap();
                        }
                    };
                    for i in 0..5 {
                        publish(i);
                    }
                    for _ in 0..3 {
                        drop(rx.try_recv().unwrap());
                    }
                }
                drop(link);
                std::fs::read(&path).unwrap()
            })
        })
    }

    fn word_value() -> impl Strategy<Value = u64> + Clone {
        prop_oneof![
            any::<u64>(),
            Just(u64::MAX),
            Just(0u64),
            0u64..64,
            (0u32..64).prop_map(|k| 1u64 << k),
        ]
    }

    fn role_word() -> impl Strategy<Value = u64> {
        let pid = prop_oneof![any::<u32>(), Just(std::process::id()), Just(1u32)];
        (0u64..8, 0u64..1 << 29, pid)
            .prop_map(|(state, start, pid)| state << 61 | start << 32 | u64::from(pid))
    }

    fn damage(len: usize, roles_end: usize) -> impl Strategy<Value = Damage> {
        let roles = prop::collection::vec((0usize..3, role_word()), 1..3).prop_map(Damage::Roles);
        let flips = prop::collection::vec((0..roles_end, 1u8..=255), 1..6);
        let words = prop::collection::vec((0..len / 8, word_value()), 1..6);
        prop_oneof![
            3 => flips.clone().prop_map(Damage::Flips),
            3 => words.clone().prop_map(Damage::Words),
            1 => (0..len).prop_map(Damage::Truncate),
            1 => (1..2 * 4096usize).prop_map(Damage::Extend),
            1 => prop::collection::vec(any::<u8>(), 0..3 * 4096).prop_map(Damage::Garbage),
            1 => (flips, words).prop_map(|(f, w)| Damage::Both(f, w)),
            2 => roles,
        ]
    }

    fn damaged() -> impl Strategy<Value = (usize, Damage)> {
        (0usize..2).prop_flat_map(|i| {
            let image = &images()[i];
            // The header and the role lines: everything before the cnc.
            let roles_end = header_of(image).offsets[1] as usize;
            (Just(i), damage(image.len(), roles_end))
        })
    }

    fn apply(image: &[u8], d: &Damage) -> Vec<u8> {
        let mut bytes = image.to_vec();
        let flip = |bytes: &mut Vec<u8>, f: &[(usize, u8)]| {
            for &(i, x) in f {
                bytes[i] ^= x;
            }
        };
        let words = |bytes: &mut Vec<u8>, w: &[(usize, u64)]| {
            for &(i, v) in w {
                bytes[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
            }
        };
        match d {
            Damage::Flips(f) => flip(&mut bytes, f),
            Damage::Words(w) => words(&mut bytes, w),
            Damage::Truncate(n) => bytes.truncate(*n),
            Damage::Extend(n) => bytes.extend((0..*n).map(|i| (i * 131) as u8)),
            Damage::Garbage(g) => bytes.clone_from(g),
            Damage::Both(f, w) => {
                flip(&mut bytes, f);
                words(&mut bytes, w);
            }
            Damage::Roles(r) => {
                // Role lines are 128 bytes, from the roles offset; the word comes first.
                let o = header_of(image).offsets;
                let (roles, lines) = (o[0] as usize, (o[1] - o[0]) as usize / 128);
                for &(k, v) in r {
                    let at = roles + (k % lines) * 128;
                    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        bytes
    }

    /// Notes how taking a role went, and gives the handle.
    fn took<T>(role: &str, got: Result<T, ShmError>) -> Option<T> {
        match got {
            Ok(h) => {
                note(format!("{role}: taken"));
                Some(h)
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                note(format!("{role}: {}", variant(&e)));
                None
            }
        }
    }

    /// Reads what the consumers can: every payload within the mtu.
    fn read(
        mtu: usize,
        rx: &mut Option<milonga::spsc::Consumer<'static>>,
        lossy: &mut Option<milonga::spsc::LossyConsumer<'static>>,
    ) {
        if let Some(rx) = rx {
            for _ in 0..3 {
                match rx.try_recv() {
                    Ok(f) => {
                        assert!(f.payload().len() <= mtu);
                        note("consumer: frag read");
                    }
                    Err(e) => note(format!("consumer: {}", variant(&e))),
                }
            }
            if let Ok(batch) = rx.try_batch(Budget::frags(4).unwrap()) {
                for f in &batch {
                    assert!(f.payload().len() <= mtu);
                }
                note("consumer: batch read");
                batch.commit();
            }
        }
        if let Some(lossy) = lossy {
            let mut buf = vec![0u8; mtu];
            for _ in 0..3 {
                match lossy.try_recv(&mut buf) {
                    Ok(meta) => {
                        assert!(meta.sz as usize <= mtu);
                        note("lossy: frag read");
                    }
                    Err(e) => note(format!("lossy: {}", variant(&e))),
                }
            }
        }
    }

    /// Uses a link that opened from a damaged file: every call returns (a value or a
    /// named error); none panics.
    fn exercise(link: &ShmLink) {
        let _ = link.status();
        let _ = link.metrics().snapshot();
        let g = link.geometry();
        let mut rx = took("consumer", link.consumer(0));
        let mut lossy = if g.lossy > 0 {
            took("lossy", link.lossy_consumer(0))
        } else {
            None
        };
        read(g.mtu, &mut rx, &mut lossy);
        let payload = [0x5au8; 64];
        let publish = |r: Result<u64, milonga::PublishError>| match r {
            Ok(_) => note("producer: published"),
            Err(e) => note(format!("producer: {e:?}")),
        };
        if g.lossy > 0 {
            if let Some(mut tx) = took("producer", link.shared_producer()) {
                for i in 0..4 {
                    publish(tx.try_publish(Header::new(i), &payload[..(i as usize * 20) % 65]));
                }
            }
        } else if let Some(mut tx) = took("producer", link.producer()) {
            for i in 0..4 {
                publish(tx.try_publish(Header::new(i), &payload[..(i as usize * 20) % 65]));
            }
        }
        read(g.mtu, &mut rx, &mut lossy);
        let _ = link.status();
        let _ = link.metrics().snapshot();
    }

    fn run_damaged(i: usize, d: &Damage) -> Result<(), TestCaseError> {
        let dir = Dir::new(&format!("damaged-{:?}", std::thread::current().id()));
        let path = dir.path("l");
        std::fs::write(&path, apply(&images()[i], d)).unwrap();
        match ShmLink::open(&path) {
            Ok(link) => {
                note("open: a link");
                exercise(&link);
            }
            Err(e) => {
                note(format!("open: {}", variant(&e)));
                prop_assert!(!matches!(e, ShmError::Io { .. }), "{e}");
                prop_assert!(!e.to_string().is_empty());
            }
        }
        match ShmLink::open_read_only(&path) {
            Ok(link) => {
                let _ = link.status();
                let _ = link.metrics().snapshot();
                prop_assert_eq!(link.consumer(0).err(), Some(ShmError::ReadOnly));
            }
            Err(e) => prop_assert!(!matches!(e, ShmError::Io { .. }), "{e}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config(512, 0))]

        /// Damaged region files: `open` gives a link or a named error; a link that opens
        /// can be used (each call a value or a named error); nothing panics.
        #[test]
        fn damaged_files_open_as_links_or_named_errors((i, d) in damaged()) {
            run_damaged(i, &d)?;
        }
    }

    /// What the damaged files must lead to in a fixed set of cases.
    const WANT: &[&str] = &[
        "open: a link",
        "open: Truncated",
        "open: NotALink",
        "open: Corrupt",
        "open: Version",
        "open: LayoutMismatch",
        "producer: taken",
        "producer: CorruptRole",
        "producer: HolderDied",
        "producer: StreamCorrupt",
        "producer: published",
        "consumer: taken",
        "consumer: CorruptRole",
        "consumer: HolderDied",
        "consumer: Evicted",
        "consumer: frag read",
        "consumer: batch read",
        "consumer: Corrupt",
        "lossy: taken",
        "lossy: frag read",
    ];

    /// The damaged-file property on a fixed set of generated cases, which together reach
    /// every outcome in `WANT`: links that open and roles that are taken, as well as
    /// every kind of refusal.
    #[test]
    fn seeded_damage_reaches_every_outcome() {
        seeded(damaged(), 600, |(i, d)| run_damaged(i, &d), WANT);
    }

    /// The undamaged images open, and the identity words name their errors through
    /// `open` as through `validate_header`.
    #[test]
    fn identity_words_name_their_errors_through_open() {
        let dir = Dir::new("identity");
        let path = dir.path("l");
        let image = &images()[0];
        std::fs::write(&path, image).unwrap();
        assert!(ShmLink::open(&path).is_ok());
        let with = |word: usize, value: u64| {
            let mut bytes = image.clone();
            bytes[word * 8..word * 8 + 8].copy_from_slice(&value.to_le_bytes());
            std::fs::write(&path, &bytes).unwrap();
            ShmLink::open(&path).err()
        };
        assert_eq!(with(0, 7), Some(ShmError::NotALink { magic: 7 }));
        assert_eq!(
            with(1, LAYOUT_VERSION + 1),
            Some(ShmError::Version {
                found: LAYOUT_VERSION + 1,
                expected: LAYOUT_VERSION
            })
        );
        assert_eq!(
            with(2, !LAYOUT_HASH),
            Some(ShmError::LayoutMismatch {
                found: !LAYOUT_HASH,
                expected: LAYOUT_HASH
            })
        );
        std::fs::write(&path, &image[..image.len() - 4096]).unwrap();
        assert_eq!(
            ShmLink::open(&path).err(),
            Some(ShmError::Truncated {
                len: image.len() as u64 - 4096,
                needed: image.len() as u64
            })
        );
    }
}
