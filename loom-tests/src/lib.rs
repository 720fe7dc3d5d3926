//! Loom models live in `tests/`; this crate holds only the helpers they share.
//!
//! Run them with `RUSTFLAGS="--cfg milonga_loom" cargo test -p milonga-loom-tests --release`
//! (or `bash loom-tests/run.sh`, which also checks that each model fails when the
//! ordering it covers is weakened with `--cfg milonga_weaken="<step>"`).

#[cfg(milonga_loom)]
pub use helpers::*;

#[cfg(milonga_loom)]
mod helpers {
    /// Runs `f` under loom, exploring every interleaving with at most `preemptions`
    /// preemptions per execution (`LOOM_MAX_PREEMPTIONS`, if set, takes precedence;
    /// `None` means unbounded).
    pub fn model<F>(preemptions: Option<usize>, f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = preemptions;
        }
        builder.check(f);
    }

    /// A wait strategy that yields up to `n` times, then gives up: loom spends its branch
    /// budget on unbounded spin loops, so models bound their waits with it.
    #[derive(Debug)]
    pub struct Bounded(pub u32);

    impl milonga::wait::Wait for Bounded {
        fn reset(&mut self) {}
        fn wait(&mut self) -> bool {
            if self.0 == 0 {
                return false;
            }
            self.0 -= 1;
            loom::thread::yield_now();
            true
        }
    }

    /// The payload of frag `seq` in the models: `len` copies of a byte derived from `seq`
    /// (never 0, so a zeroed store never passes for a payload).
    pub fn payload(seq: u64, len: usize) -> Vec<u8> {
        vec![seq as u8 + 1; len]
    }
}
