#!/usr/bin/env bash
# Runs milonga's loom models, then shows that each model fails when a protocol ordering it
# checks is weakened.
#
# The models are the tests in loom-tests/tests/ (they drive the public API) and, for
# crate-private internals, the root crate's unit tests in modules named `loom_tests`
# (such as src/mcache/loom_tests.rs), run with `cargo test -p milonga --lib`.
#
#   bash loom-tests/run.sh                  # everything
#   bash loom-tests/run.sh fseq_publish ... # the plain run, then only these weakenings
#
# (a) Every model under `--cfg milonga_loom` must pass.
# (b) For every (weakening, model) pair below, the model built with
#     `--cfg milonga_weaken="<weakening>"` (src/sync.rs turns that ordering into Relaxed)
#     must fail, and fail for the right reason: a loom causality violation or one of the
#     model's own assertions. A failure for any other reason (a build error, a loom limit,
#     loom rejecting a Relaxed fence) does not count.
#
# Each weakening gets its own target dir (target/loom-<weakening>) so the builds do not
# invalidate one another; logs go to target/loom-logs/.
#
# Preemption bounds are set per model, in its file; LOOM_MAX_PREEMPTIONS in the
# environment overrides them (e.g. LOOM_MAX_PREEMPTIONS=2 for a deeper, slower plain run).

set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

base_flags='--cfg milonga_loom'
# loom pulls in tracing-subscriber and regex for its LOOM_LOG output; building them without
# optimisation nearly halves each build and does not slow the models.
cargo_opts=(--release)
for p in regex-automata regex-syntax tracing-subscriber tracing-log matchers sharded-slab \
    nu-ansi-term thread_local smallvec; do
    cargo_opts+=(--config "profile.release.package.$p.opt-level=0")
done
# The root crate's unit-test build (for the models inside the crate) also builds its
# dev-dependencies, which no model runs: the same for the slowest of them.
for p in criterion criterion-plot proptest clap_builder zerocopy serde_core serde_json \
    ciborium ciborium-ll itertools tinytemplate rand chacha20 half num-traits regex; do
    cargo_opts+=(--config "profile.release.package.$p.opt-level=0")
done
logs=target/loom-logs
mkdir -p "$logs"

# Weakening -> the models that must fail under it: test targets in loom-tests/tests/, or
# `lib:<module path>` for the root crate's unit tests under that path.
order=(slot_publish slot_acquire seqlock_fence fseq_publish fseq_acquire cnc_release cnc_acquire credit_take credit_share producer_leave admit_acquire admit_release)
declare -A must_fail=(
    [slot_publish]='publish_read lib:mcache::loom_tests credit_refill batch_commit batch_publish halt_drain lossy_read broadcast_credits mpsc_claim mpsc_abandon mpsc_fan_in'
    [slot_acquire]='publish_read lib:mcache::loom_tests credit_refill batch_commit batch_publish halt_drain lossy_read broadcast_credits mpsc_fan_in'
    [seqlock_fence]='lib:mcache::loom_tests lossy_read'
    [fseq_publish]='credit_refill batch_commit batch_publish broadcast_credits'
    [fseq_acquire]='credit_refill batch_commit batch_publish broadcast_credits'
    [cnc_release]='halt_drain publish_read'
    [cnc_acquire]='halt_drain publish_read'
    [credit_take]='mpsc_claim'
    [credit_share]='mpsc_claim'
    [producer_leave]='mpsc_abandon'
    [admit_acquire]='lib:dispatch::loom_tests::slot'
    [admit_release]='lib:dispatch::loom_tests::slot'
)

if [ $# -gt 0 ]; then
    for w in "$@"; do
        [ -n "${must_fail[$w]+x}" ] || { echo "unknown weakening: $w" >&2; exit 2; }
    done
    order=("$@")
fi

start=$SECONDS
echo "== (a) models without weakening (must pass)"
if ! RUSTFLAGS="$base_flags" CARGO_TARGET_DIR=target/loom \
    cargo test -p milonga-loom-tests "${cargo_opts[@]}" 2>&1 | tee "$logs/plain.log"; then
    echo "FAIL: the loom models fail without any weakening (see $logs/plain.log)"
    exit 1
fi
if ! RUSTFLAGS="$base_flags" CARGO_TARGET_DIR=target/loom \
    cargo test -p milonga --lib "${cargo_opts[@]}" -- loom_tests:: 2>&1 |
    tee "$logs/plain-lib.log"; then
    echo "FAIL: the loom models in the crate fail without any weakening (see $logs/plain-lib.log)"
    exit 1
fi
passed=$(cat "$logs/plain.log" "$logs/plain-lib.log" |
    grep -oE '^test result: ok\. [0-9]+ passed' | awk '{s += $4} END {print s + 0}')
expected=$(grep -rhc --include='*.rs' '^#\[test\]' loom-tests/tests |
    awk '{s += $1} END {print s + 0}')
expected=$((expected + $(grep -rhc --include=loom_tests.rs '^#\[test\]' src |
    awk '{s += $1} END {print s + 0}')))
if [ "$passed" -lt "$expected" ]; then
    echo "FAIL: only $passed loom models passed, expected $expected (see $logs/plain*.log)"
    exit 1
fi
echo "all $passed models pass"

echo "== (b) models under weakened orderings (must fail)"
bad=0
checked=0
# A failed assertion of a model (not of the library, nor a loom limit).
model_panic='panicked at (loom-tests/tests/|src/[^ ]*loom_tests\.rs)[^ ]*'
for w in "${order[@]}"; do
    export RUSTFLAGS="$base_flags --cfg milonga_weaken=\"$w\""
    export CARGO_TARGET_DIR="target/loom-$w"
    built=1
    if ! cargo test -p milonga-loom-tests "${cargo_opts[@]}" --no-run >"$logs/build-$w.log" 2>&1; then
        built=0
    elif [[ " ${must_fail[$w]}" == *" lib:"* ]] &&
        ! cargo test -p milonga --lib "${cargo_opts[@]}" --no-run >>"$logs/build-$w.log" 2>&1; then
        built=0
    fi
    if [ "$built" -eq 0 ]; then
        echo "BAD: weaken $w -> the models do not build (see $logs/build-$w.log)"
        bad=$((bad + 1))
        continue
    fi
    for t in ${must_fail[$w]}; do
        log="$logs/$w-${t//:/_}.log"
        case "$t" in
        lib:*) cargo test -p milonga --lib "${cargo_opts[@]}" -- "${t#lib:}::" >"$log" 2>&1 ;;
        *) cargo test -p milonga-loom-tests "${cargo_opts[@]}" --test "$t" >"$log" 2>&1 ;;
        esac
        rc=$?
        checked=$((checked + 1))
        if [ "$rc" -eq 0 ]; then
            echo "BAD: weaken $w -> $t PASSES (it must fail; see $log)"
            bad=$((bad + 1))
        elif grep -q 'no such thing as a relaxed fence' "$log"; then
            echo "BAD: weaken $w -> $t fails only because loom rejects fence(Relaxed):" \
                "the weakening must drop the fence, not call it with Relaxed (see $log)"
            bad=$((bad + 1))
        elif ! grep -qE "Causality violation|$model_panic" "$log"; then
            echo "BAD: weaken $w -> $t fails, but not by a causality violation or a model" \
                "assertion (see $log)"
            bad=$((bad + 1))
        elif grep -qE '^test result: .* [1-9][0-9]* passed' "$log"; then
            echo "BAD: weaken $w -> $t: some of its tests still pass (see $log)"
            bad=$((bad + 1))
        else
            why=$(grep -m1 -oE "Causality violation[^.]*|$model_panic" "$log")
            echo "weaken $w -> $t fails as expected ($why)"
        fi
    done
done

echo "== $checked weakened runs checked, $bad bad, $((SECONDS - start)) s"
[ "$bad" -eq 0 ]
