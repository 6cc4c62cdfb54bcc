#!/usr/bin/env bash
# tests/interop/run.sh: permessage-deflate (RFC 7692) interop with real peers in both roles: Python `websockets` and Node `ws` clients against `tether --app echo --deflate on`, and tether-client (its `roundtrip` example) against their echo servers; 0 B, 1 MiB and 16 MiB of text and binary each.
# Then the same again over wss://: tether with --tls-cert/--tls-key, the peers' servers with
# the same certificate, every client trusting only the test CA made for this run.
#
# Installs websockets and trustme into .venv (pip) and ws into tests/interop/node_modules (npm)
# when missing, builds what it runs, binds 127.0.0.1 on free ports. Ends with "N passed, M
# failed"; non-zero on any failure. Logs: target/interop/.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/target/interop"
mkdir -p "$OUT"
# shellcheck source=../support/lib.sh
source "$ROOT/tests/support/lib.sh"

CERTS=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null; done
    rm -rf "$CERTS"
}
trap cleanup EXIT
die() { echo "interop: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

VENV="$ROOT/.venv"
pip_pinned "$VENV" websockets 15.0.1 || die "cannot install websockets"
make_test_cert "$VENV" "$CERTS" || die "cannot make the test certificate"
if ! (cd "$HERE" && node -e 'require("ws")' 2>/dev/null); then
    (cd "$HERE" && retry 3 npm ci --no-audit --no-fund) || die "cannot install ws"
fi
(cd "$ROOT" && cargo build --release --bin tether && cargo build --release -p tether-client --example roundtrip) \
    || die "cannot build tether and the roundtrip example"

wait_port() { # port pid
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

PASSED=0; FAILED=0
check() { # name log command...
    local name=$1 log=$2; shift 2
    if timeout -k 5 180 "$@" > "$log" 2>&1 && ! grep -q '^FAIL' "$log"; then
        PASSED=$((PASSED + 1)); echo "PASS $name"
    else
        FAILED=$((FAILED + 1)); echo "FAIL $name (see $log)"
    fi
    sed 's/^/    /' "$log"
}

ROUNDTRIP="$ROOT/target/release/examples/roundtrip"
# pass SCHEME: both roles once, over ws:// or wss://. Over wss:// the servers present
# cert.pem and every client gets ca.pem as its only trust anchor.
pass() {
    local scheme=$1 sfx="" serve=() trust=() ca=() tls=() port
    if [[ $scheme == wss ]]; then
        sfx=-tls serve=("$CERTS/cert.pem" "$CERTS/key.pem") trust=("$CERTS/ca.pem") ca=(--ca "$CERTS/ca.pem")
        tls=(--tls-cert "$CERTS/cert.pem" --tls-key "$CERTS/key.pem")
    fi
    # Server role: tether's echo app, compression on, 16 MiB messages (the echo app's limit).
    port=$(free_port)
    "$ROOT/target/release/tether" --app echo --deflate on --listen "127.0.0.1:$port" --log-level warn \
        "${tls[@]}" > "$OUT/tether$sfx.log" 2>&1 &
    PIDS+=($!)
    wait_port "$port" "${PIDS[-1]}" || die "tether did not start; see $OUT/tether$sfx.log"
    check "Python websockets client -> tether ($scheme)" "$OUT/py-client$sfx.log" \
        "$VENV/bin/python" "$HERE/peer.py" client "$scheme://127.0.0.1:$port/" "${trust[@]}"
    check "Node ws client -> tether ($scheme)" "$OUT/node-client$sfx.log" \
        node "$HERE/peer.js" client "$scheme://127.0.0.1:$port/" "${trust[@]}"

    # Client role: tether-client against each peer's echo server.
    port=$(free_port)
    "$VENV/bin/python" "$HERE/peer.py" server "127.0.0.1:$port" "${serve[@]}" > "$OUT/py-server$sfx.log" 2>&1 &
    PIDS+=($!)
    wait_port "$port" "${PIDS[-1]}" || die "websockets server did not start; see $OUT/py-server$sfx.log"
    check "tether-client -> Python websockets server ($scheme)" "$OUT/roundtrip-py$sfx.log" \
        "$ROUNDTRIP" "${ca[@]}" "$scheme://127.0.0.1:$port/"
    port=$(free_port)
    node "$HERE/peer.js" server "127.0.0.1:$port" "${serve[@]}" > "$OUT/node-server$sfx.log" 2>&1 &
    PIDS+=($!)
    wait_port "$port" "${PIDS[-1]}" || die "ws server did not start; see $OUT/node-server$sfx.log"
    check "tether-client -> Node ws server ($scheme)" "$OUT/roundtrip-node$sfx.log" \
        "$ROUNDTRIP" "${ca[@]}" "$scheme://127.0.0.1:$port/"
}
pass ws
pass wss

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
