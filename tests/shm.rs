//! Links in shared memory within one process: roles, resumption, validation of regions
//! that are not links, read-only observers. Crashes across processes: `shm_crash.rs`.
#![cfg(all(unix, feature = "shm", not(miri)))]

use std::path::PathBuf;

use milonga::shm::{Geometry, RoleState, ShmError, ShmLink};
use milonga::{Header, Signal, TryRecvError};

/// A fresh directory for one test's links, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("milonga-shm-{}-{name}", std::process::id()));
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

#[test]
fn a_link_created_in_a_file_is_joined_through_it() {
    let dir = Dir::new("join");
    let path = dir.path("l");
    let link = ShmLink::builder()
        .depth(8)
        .mtu(64)
        .first_seq(100)
        .create(&path)
        .unwrap();
    assert_eq!(
        link.geometry(),
        Geometry {
            depth: 8,
            mtu: 64,
            data_bytes: milonga::data_bytes(8, 64),
            reliable: 1,
            lossy: 0,
            seq0: 100
        }
    );
    let mut tx = link.producer().unwrap();
    let other = ShmLink::open(&path).unwrap();
    let mut rx = other.consumer(0).unwrap();
    for i in 0..20u64 {
        tx.try_publish(Header::new(i), &i.to_le_bytes()).unwrap();
        let f = rx.try_recv().unwrap();
        assert_eq!(
            (f.seq(), f.sig(), f.payload()),
            (100 + i, i, &i.to_le_bytes()[..])
        );
    }
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    assert_eq!(
        other.consumer(0).err(),
        Some(ShmError::RoleHeld {
            role: milonga::shm::Role::Reliable(0),
            pid: std::process::id()
        })
    );
    assert!(matches!(link.producer(), Err(ShmError::RoleHeld { .. })));
    assert_eq!(
        other.consumer(1).err(),
        Some(ShmError::NoSuchRole(milonga::shm::Role::Reliable(1)))
    );
    let status = link.status();
    assert_eq!(
        (
            status.signal,
            status.producer.state,
            status.reliable[0].state
        ),
        (Signal::Run, RoleState::Live, RoleState::Live)
    );
    drop(tx);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
    assert_eq!(link.status().producer.state, RoleState::Free);
    let snap = other.metrics().snapshot();
    assert_eq!(snap.producer.published_frags, 20);
}

#[test]
fn roles_resume_where_their_last_holders_left() {
    let dir = Dir::new("resume");
    let link = ShmLink::builder()
        .depth(8)
        .mtu(64)
        .create(dir.path("l"))
        .unwrap();
    let mut tx = link.producer().unwrap();
    for i in 0..5u64 {
        tx.try_publish(Header::new(i), &[i as u8; 9]).unwrap();
    }
    drop(tx); // closes the stream at 5
    let mut rx = link.consumer(0).unwrap();
    for i in 0..3u64 {
        assert_eq!(rx.try_recv().unwrap().sig(), i);
    }
    drop(rx); // publishes its progress (3) and leaves the role
    let mut tx = link.producer().unwrap(); // reopens the stream after seq 4
    assert_eq!(tx.next_seq(), 5);
    assert_eq!(tx.counters().published_frags, 5);
    for i in 5..9u64 {
        tx.try_publish(Header::new(i), &[i as u8; 100 % 64])
            .unwrap();
    }
    let mut rx = link.consumer(0).unwrap();
    assert_eq!(rx.counters().consumed_frags, 3);
    for i in 3..9u64 {
        let f = rx.try_recv().unwrap();
        assert_eq!(f.sig(), i);
        assert!(f.payload().iter().all(|&b| b == i as u8));
    }
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
}

#[test]
fn a_memfd_link_is_joined_through_its_descriptor() {
    let (link, fd) = ShmLink::builder()
        .depth(4)
        .mtu(16)
        .lossy(1)
        .create_memfd("t")
        .unwrap();
    let joined = ShmLink::from_fd(fd).unwrap();
    let mut tx = link.shared_producer().unwrap();
    assert_eq!(
        link.producer().err(),
        Some(ShmError::WriteMode { lossy: 1 })
    );
    let mut lossy = joined.lossy_consumer(0).unwrap();
    tx.try_publish(Header::new(1), b"x").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(lossy.try_recv(&mut buf).unwrap().sz, 1);
}

#[test]
fn regions_that_are_not_links_are_named_errors() {
    let dir = Dir::new("bad");
    let p = dir.path("f");
    std::fs::write(&p, [0u8; 10]).unwrap();
    assert!(matches!(
        ShmLink::open(&p),
        Err(ShmError::Truncated { len: 10, .. })
    ));
    std::fs::write(&p, vec![0x7fu8; 1 << 16]).unwrap();
    assert!(matches!(ShmLink::open(&p), Err(ShmError::NotALink { .. })));
    let l = dir.path("l");
    let link = ShmLink::builder().depth(4).mtu(16).create(&l).unwrap();
    assert_eq!(
        ShmLink::builder().create(&l).err(),
        Some(ShmError::AlreadyExists)
    );
    drop(link);
    let mut bytes = std::fs::read(&l).unwrap();
    let good = bytes.clone();
    bytes[8] = 9; // the version
    std::fs::write(&l, &bytes).unwrap();
    assert!(matches!(
        ShmLink::open(&l),
        Err(ShmError::Version { found: 9, .. })
    ));
    std::fs::write(&l, &good[..good.len() - 1]).unwrap();
    assert!(matches!(ShmLink::open(&l), Err(ShmError::Truncated { .. })));
    std::fs::write(&l, &good).unwrap();
    assert!(ShmLink::open(&l).is_ok());
    use std::os::unix::fs::PermissionsExt;
    let made = ShmLink::builder().create(dir.path("m")).unwrap();
    assert_eq!(
        std::fs::metadata(made.path().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
fn a_read_only_observer_takes_no_role() {
    let dir = Dir::new("ro");
    let link = ShmLink::builder()
        .depth(4)
        .mtu(16)
        .create(dir.path("l"))
        .unwrap();
    let ro = ShmLink::open_read_only(dir.path("l")).unwrap();
    assert_eq!(ro.producer().err(), Some(ShmError::ReadOnly));
    assert_eq!(ro.consumer(0).err(), Some(ShmError::ReadOnly));
    let mut tx = link.producer().unwrap();
    tx.try_publish(Header::new(1), b"abc").unwrap();
    let snap = ro.metrics().snapshot();
    assert_eq!(
        (snap.producer.published_frags, snap.producer.published_bytes),
        (1, 3)
    );
    assert_eq!(ro.status().producer.pid, Some(std::process::id()));
}

#[test]
fn the_typed_layer_and_batches_work_on_shared_links() {
    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Quote {
        px: u64,
        qty: u32,
        side: u32,
    }
    let dir = Dir::new("typed");
    let link = ShmLink::builder()
        .depth(16)
        .mtu(64)
        .create(dir.path("l"))
        .unwrap();
    let mut tx = milonga::typed::Producer::<Quote>::new(link.producer().unwrap()).unwrap();
    let joined = ShmLink::open(dir.path("l")).unwrap();
    let mut rx = milonga::typed::Consumer::<Quote>::new(joined.consumer(0).unwrap()).unwrap();
    for i in 0..10u64 {
        tx.try_publish(
            Header::new(i),
            Quote {
                px: 100 + i,
                qty: i as u32,
                side: 1,
            },
        )
        .unwrap();
    }
    assert_eq!(
        *rx.try_recv().unwrap(),
        Quote {
            px: 100,
            qty: 0,
            side: 1
        }
    );
    let batch = rx
        .try_batch(milonga::spsc::Budget::frags(64).unwrap())
        .unwrap();
    let pxs: Vec<u64> = batch.iter().map(|q| q.px).collect();
    assert_eq!(pxs, (101..110).collect::<Vec<_>>());
}
