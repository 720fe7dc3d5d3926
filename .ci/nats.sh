#!/usr/bin/env bash
# The telemetry pipeline's NATS sink, tested for real: a local nats-server on a free port,
# the exactly-once checker subscribed to telemetry.>, the pipeline publishing a fixed number
# of events; fails unless the pipeline's books balance and the checker saw every accepted
# event exactly once. Called from .ci/run; runs from any directory.
#
# Environment: NATS_EVENTS (events to send, default 2000000), NATS_POLICY (default block).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
events=${NATS_EVENTS:-2000000}
policy=${NATS_POLICY:-block}

if ! command -v nats-server > /dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server > /dev/null
fi
# The Debian package puts it in /usr/sbin, which a non-login PATH may lack.
nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)

work=$(mktemp -d)
server_pid=""
checker_pid=""
cleanup() {
    [ -n "$checker_pid" ] && kill "$checker_pid" 2> /dev/null || true
    [ -n "$server_pid" ] && kill "$server_pid" 2> /dev/null || true
    wait 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Build first (the cost of this step), so that the timed part only runs.
cargo build --release --manifest-path examples/telemetry-nats/Cargo.toml
bin="$root/examples/telemetry-nats/target/release"

# A free port on the loopback: ask the kernel for one.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="nats://127.0.0.1:$port"
# Room for a checker that falls behind on 2 busy cores: the server drops messages for a
# subscriber whose pending bytes pass max_pending (64 MB by default) or whose socket stays
# full past write_deadline (a slow consumer). Both are raised; a drop would fail the check.
printf 'listen: 127.0.0.1:%s\nmax_pending: 1073741824\nwrite_deadline: "60s"\n' "$port" \
    > "$work/nats.conf"
"$nats_server" -c "$work/nats.conf" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then break; fi
    sleep 0.1
done
echo "nats-server $("$nats_server" --version | awk '{print $2}') on $url"

"$bin/nats_check" --url "$url" --accepted "$work/counts.json" --ready "$work/ready" \
    --quiet-secs 20 --timeout-secs 150 &
checker_pid=$!
for _ in $(seq 100); do
    [ -f "$work/ready" ] && break
    sleep 0.1
done
[ -f "$work/ready" ] || { echo "the checker did not subscribe"; exit 1; }

# The pipeline: exits nonzero if its own books do not balance.
timeout 150 "$bin/telemetry_nats" --sink "nats:$url" --events "$events" --policy "$policy" \
    --accepted-out "$work/counts.json"

# The checker: exits nonzero unless every accepted event arrived exactly once.
if ! wait "$checker_pid"; then
    checker_pid=""
    echo "the server's log:"
    tail -20 "$work/server.log"
    exit 1
fi
checker_pid=""
