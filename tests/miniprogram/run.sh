#!/usr/bin/env bash
# Mini-program test: runs examples/miniprogram unmodified against the real demo server through a
# `wx` shim on the npm `ws` package (installed into ./node_modules from package-lock.json), with
# node's built-in test runner. Builds target/release/tether and serves it on a free 127.0.0.1
# port. Ends with "N passed, N failed"; non-zero on any failure.
#
#   tests/miniprogram/run.sh [--port PORT] [--url URL] [--ca FILE]
#     --port  where the test's tether listens (default: a free port)
#     --url   what the mini-program connects to (default ws://127.0.0.1:PORT); e.g. a TLS
#             proxy in front of PORT, as tests/nginx/run.sh does
#     --ca    a CA (PEM) the clients trust besides Node's own roots (NODE_EXTRA_CA_CERTS)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/target/miniprogram"
mkdir -p "$OUT"
TAP="$OUT/results.tap"
PID_FILE="$OUT/server.pid"
rm -f "$TAP" "$PID_FILE"

# shellcheck source=../support/lib.sh
source "$ROOT/tests/support/lib.sh"

fail() { echo "miniprogram: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

PORT="" URL="" CA=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --port) PORT=${2:-} ;;
        --url) URL=${2:-} ;;
        --ca) CA=${2:-} ;;
        *) fail "unknown argument $1 (see the head of $0)" ;;
    esac
    shift 2 || fail "$1 needs a value"
done

cleanup() { kill_tether "$PID_FILE"; }
trap cleanup EXIT

if ! (cd "$HERE" && node -e 'require("ws")' 2>/dev/null); then
    (cd "$HERE" && retry 3 npm ci --no-audit --no-fund) || fail "cannot install ws"
fi
(cd "$ROOT" && cargo build --release --bin tether) || fail "cannot build tether"

TRUST=()
[[ -z $CA ]] || TRUST=(NODE_EXTRA_CA_CERTS="$CA")
[[ -n $PORT ]] || PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
START=$SECONDS
(cd "$HERE" && TETHER_BIN="$ROOT/target/release/tether" TETHER_PORT="$PORT" OUT_DIR="$OUT" \
    PID_FILE="$PID_FILE" MINIPROGRAM_URL="${URL:-ws://127.0.0.1:$PORT}" env "${TRUST[@]}" \
    timeout -k 10 240 node --test \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$TAP" \
    miniprogram.test.js)
rc=$?
echo "mini-program test took $((SECONDS - START)) s (server log: $OUT/server.log)"
cleanup
pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$TAP" 2>/dev/null | tail -1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$TAP" 2>/dev/null | tail -1)
if [[ -z "$pass" || -z "$failed" ]]; then
    fail "the test run ended with $rc before reporting"
fi
if [[ $rc -ne 0 && $failed -eq 0 ]]; then
    failed=1   # the runner failed outside any test (a hook, a timeout)
fi
echo "$pass passed, $failed failed"
[[ $rc -eq 0 && $failed -eq 0 ]]
