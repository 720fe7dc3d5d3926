//! A heap link with a large payload store is built on the heap, never on the stack: it
//! builds on a thread with a 64 KiB stack, and frags round-trip through all of it.

use std::thread;

use milonga::spsc::Link;
use milonga::TryRecvError;
use milonga::{data_bytes, Header, CHUNK_SZ};

const STORE: usize = if cfg!(miri) { 1 << 20 } else { 64 << 20 };
const SMALL_STACK: usize = 64 << 10;

#[test]
fn large_store_built_on_a_small_stack_round_trips_frags() {
    let worker = thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(|| {
            let (depth, mtu) = (if cfg!(miri) { 256 } else { 1024 }, 1500);
            assert!(STORE > data_bytes(depth, mtu));
            let cfg = Link::builder().depth(depth).mtu(mtu).data_bytes(STORE);
            let (mut tx, mut rx) = cfg.heap_pair().expect("a 64 MiB store");
            let chunks = STORE / CHUNK_SZ;
            let per_frag = mtu.div_ceil(CHUNK_SZ);
            let mut buf = vec![0u8; mtu];
            // Enough frags of the mtu to go through the whole store and wrap once, each
            // read back; under Miri only the first bytes are compared.
            let frags = chunks / per_frag + 2;
            let mut wrapped_at = None;
            for seq in 0..frags as u64 {
                let tag = (seq as u8).wrapping_mul(31).wrapping_add(7);
                buf[0] = tag;
                buf[mtu - 1] = !tag;
                assert_eq!(tx.try_publish(Header::new(seq), &buf), Ok(seq));
                let frag = rx.try_recv().unwrap();
                assert_eq!((frag.seq(), frag.payload().len()), (seq, mtu));
                assert_eq!((frag.payload()[0], frag.payload()[mtu - 1]), (tag, !tag));
                // Longer than a chunk: it starts on one (offsets are in 8-byte words).
                let offset = frag.meta().offset as usize;
                assert_eq!(offset % (CHUNK_SZ / 8), 0);
                let chunk = offset / (CHUNK_SZ / 8);
                assert!(chunk + per_frag <= chunks);
                if seq > 0 && chunk == 0 && wrapped_at.is_none() {
                    wrapped_at = Some(seq);
                }
                if cfg!(miri) && seq % 64 != 0 {
                    continue;
                }
                assert!(frag.payload()[1..mtu - 1].iter().all(|&b| b == 0));
            }
            // Placed back to back: the first wrap comes after the last whole frag fits.
            assert_eq!(wrapped_at, Some((chunks / per_frag) as u64));
            // A frag of the mtu right at the start of a store whose last chunks were used.
            tx.try_publish(Header::new(u64::MAX), &[0xab; 1500])
                .unwrap();
            assert_eq!(rx.try_recv().unwrap().payload(), &[0xab; 1500][..]);
            tx.halt();
            assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
            STORE
        })
        .unwrap();
    assert_eq!(worker.join().unwrap(), STORE);
}

#[test]
fn default_store_for_a_large_mtu_on_a_small_stack() {
    let worker = thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(|| {
            let depth = if cfg!(miri) { 2 } else { 256 };
            let (mut tx, mut rx) = Link::builder().depth(depth).mtu(65535).heap_pair().unwrap();
            let payload = vec![0x5a; 65535];
            tx.try_publish(Header::new(1), &payload).unwrap();
            let frag = rx.try_recv().unwrap();
            assert_eq!(frag.payload().len(), 65535);
            assert!(frag.payload() == &payload[..]);
        })
        .unwrap();
    worker.join().unwrap();
}
