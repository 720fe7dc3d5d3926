//! A reliable consumer is never overrun, so its errors have no such case: asking for one
//! does not compile (only a lossy consumer's errors carry an `Overrun`).
use milonga::spsc::Link;
use milonga::{LossyTryRecvError, Overrun, TryRecvError};

fn main() {
    let (_tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    match rx.try_recv() {
        Ok(frag) => drop(frag),
        Err(TryRecvError::Empty) => {}
        #[cfg(feature = "violation")]
        Err(TryRecvError::Overrun(_)) => {} //~ E0599
        Err(e) => panic!("{e}"),
    }
    // The lossy form has it.
    let lossy: Result<(), LossyTryRecvError> = Err(LossyTryRecvError::Overrun(Overrun {
        lost: 1,
        kind: milonga::OverrunKind::Lapped,
    }));
    assert!(matches!(lossy, Err(LossyTryRecvError::Overrun(_))));
}
