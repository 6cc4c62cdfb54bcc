#!/usr/bin/env bash
# Mini-program test: runs examples/miniprogram unmodified against the real demo server through a
# `wx` shim on the npm `ws` package (installed into ./node_modules from package-lock.json), with
# node's built-in test runner. Builds target/release/tether and serves it on a free 127.0.0.1
# port. Ends with "N passed, N failed"; non-zero on any failure.
#
#   tests/miniprogram/run.sh [--port PORT] [--url URL] [--ca FILE]
#   tests/miniprogram/run.sh --cluster
#     --port     where the test's tether listens (default: a free port)
#     --url      what the mini-program connects to (default ws://127.0.0.1:PORT); e.g. a TLS
#                proxy in front of PORT, as tests/nginx/run.sh does
#     --ca       a CA (PEM) the clients trust besides Node's own roots (NODE_EXTRA_CA_CERTS)
#     --cluster  two instances sharing rooms through Redis: starts a redis-server (no
#                persistence) on a free port, and the test runs `tether --redis ...
#                --instance-id a` and `... b` on free ports; the live test's anchor page is on
#                A and its viewer page on B, every other test as in the default mode (on A).
#                Output in target/miniprogram/cluster. Not with --url or --ca.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

# shellcheck source=../support/lib.sh
source "$ROOT/tests/support/lib.sh"

fail() { echo "miniprogram: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

PORT="" URL="" CA="" CLUSTER=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --cluster) CLUSTER=1; shift; continue ;;
        --port) PORT=${2:-} ;;
        --url) URL=${2:-} ;;
        --ca) CA=${2:-} ;;
        *) fail "unknown argument $1 (see the head of $0)" ;;
    esac
    shift 2 || fail "$1 needs a value"
done
[[ -z $CLUSTER || ( -z $URL && -z $CA ) ]] || fail "--cluster does not go with --url or --ca"

OUT="$ROOT/target/miniprogram"
[[ -z $CLUSTER ]] || OUT="$OUT/cluster"
mkdir -p "$OUT"
TAP="$OUT/results.tap"
PID_FILE="$OUT/server.pid"
PID_FILE_B="$OUT/server-b.pid"
REDIS_PID=""
rm -f "$TAP" "$PID_FILE" "$PID_FILE_B"

cleanup() {
    kill_tether "$PID_FILE"
    kill_tether "$PID_FILE_B"
    if [[ -n $REDIS_PID ]]; then
        kill "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
        REDIS_PID=""
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! (cd "$HERE" && node -e 'require("ws")' 2>/dev/null); then
    (cd "$HERE" && retry 3 npm ci --no-audit --no-fund) || fail "cannot install ws"
fi
(cd "$ROOT" && cargo build --release --bin tether) || fail "cannot build tether"

TRUST=()
[[ -z $CA ]] || TRUST=(NODE_EXTRA_CA_CERTS="$CA")
[[ -n $PORT ]] || PORT=$(free_port)
CLUSTER_ENV=()
LIMIT=240   # seconds for the whole node run
if [[ -n $CLUSTER ]]; then
    command -v redis-server >/dev/null || fail "redis-server is not installed (Debian: apt-get install redis-server)"
    # A free port, and again when redis-server lost it to someone else before binding.
    for try in 1 2 3; do
        REDIS_PORT=$(free_port)
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
            --protected-mode no --dir "$OUT" --logfile "$OUT/redis.log" &
        REDIS_PID=$!
        for _ in $(seq 100); do   # 10 s
            kill -0 "$REDIS_PID" 2>/dev/null || break
            [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && break 2
            sleep 0.1
        done
        kill "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
        REDIS_PID=""
        echo "redis-server did not start on port $REDIS_PORT (try $try of 3; see $OUT/redis.log)" >&2
    done
    [[ -n $REDIS_PID ]] || fail "cannot start redis-server"
    PORT_B=$(free_port)
    while [[ $PORT_B == "$PORT" ]]; do PORT_B=$(free_port); done
    CLUSTER_ENV=(REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" TETHER_PORT_B="$PORT_B"
        PID_FILE_B="$PID_FILE_B" MINIPROGRAM_URL_B="ws://127.0.0.1:$PORT_B")
    LIMIT=300
    echo "cluster mode: redis-server on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID), instance a on $PORT, b on $PORT_B"
fi
START=$SECONDS
(cd "$HERE" && TETHER_BIN="$ROOT/target/release/tether" TETHER_PORT="$PORT" OUT_DIR="$OUT" \
    PID_FILE="$PID_FILE" MINIPROGRAM_URL="${URL:-ws://127.0.0.1:$PORT}" env "${TRUST[@]}" "${CLUSTER_ENV[@]}" \
    timeout -k 10 "$LIMIT" node --test \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$TAP" \
    miniprogram.test.js)
rc=$?
if [[ -n $CLUSTER ]]; then
    echo "mini-program test (cluster) took $((SECONDS - START)) s (server logs: $OUT/server.log, $OUT/server-b.log, $OUT/redis.log)"
else
    echo "mini-program test took $((SECONDS - START)) s (server log: $OUT/server.log)"
fi
cleanup
pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$TAP" 2>/dev/null | tail -1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$TAP" 2>/dev/null | tail -1)
if [[ -z "$pass" || -z "$failed" ]]; then
    fail "the test run ended with $rc before reporting"
fi
if [[ $rc -ne 0 && $failed -eq 0 ]]; then
    failed=1   # the runner failed outside any test (a hook, a timeout)
fi
skipped=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$TAP" 2>/dev/null | tail -1)
[[ ${skipped:-0} -eq 0 ]] || echo "($skipped skipped)"
echo "$pass passed, $failed failed"
[[ $rc -eq 0 && $failed -eq 0 ]]
