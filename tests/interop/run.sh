#!/usr/bin/env bash
# tests/interop/run.sh: permessage-deflate (RFC 7692) interop with real peers in both roles: Python `websockets` and Node `ws` clients against `tether --app echo --deflate on`, and tether-client (its `roundtrip` example) against their echo servers; 1 MiB and 16 MiB of text and binary each.
#
# Installs websockets into .venv (pip) and ws into tests/interop/node_modules (npm) when
# missing, builds what it runs, binds 127.0.0.1 on free ports. Ends with "N passed, M failed";
# non-zero on any failure. Logs: target/interop/.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/target/interop"
mkdir -p "$OUT"
# shellcheck source=../support/lib.sh
source "$ROOT/tests/support/lib.sh"

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null; done; }
trap cleanup EXIT
die() { echo "interop: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

VENV="$ROOT/.venv"
[[ -x "$VENV/bin/python" ]] || retry 3 python3 -m venv "$VENV" || die "cannot create $VENV"
if ! "$VENV/bin/python" -c 'import importlib.metadata as m; assert m.version("websockets") == "15.0.1"' 2>/dev/null; then
    retry 3 "$VENV/bin/pip" install --disable-pip-version-check -q websockets==15.0.1 || die "cannot install websockets"
fi
if ! (cd "$HERE" && node -e 'require("ws")' 2>/dev/null); then
    (cd "$HERE" && retry 3 npm ci --no-audit --no-fund) || die "cannot install ws"
fi
(cd "$ROOT" && cargo build --release --bin tether && cargo build --release -p tether-client --example roundtrip) \
    || die "cannot build tether and the roundtrip example"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
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

# Server role: tether's echo app, compression on, 16 MiB messages (the echo app's limit).
PORT=$(free_port)
"$ROOT/target/release/tether" --app echo --deflate on --listen "127.0.0.1:$PORT" --log-level warn \
    > "$OUT/tether.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" "${PIDS[-1]}" || die "tether did not start; see $OUT/tether.log"
check "Python websockets client -> tether" "$OUT/py-client.log" "$VENV/bin/python" "$HERE/peer.py" client "ws://127.0.0.1:$PORT/"
check "Node ws client -> tether" "$OUT/node-client.log" node "$HERE/peer.js" client "ws://127.0.0.1:$PORT/"

# Client role: tether-client against each peer's echo server.
ROUNDTRIP="$ROOT/target/release/examples/roundtrip"
PORT=$(free_port)
"$VENV/bin/python" "$HERE/peer.py" server "127.0.0.1:$PORT" > "$OUT/py-server.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" "${PIDS[-1]}" || die "websockets server did not start; see $OUT/py-server.log"
check "tether-client -> Python websockets server" "$OUT/roundtrip-py.log" "$ROUNDTRIP" "ws://127.0.0.1:$PORT/"
PORT=$(free_port)
node "$HERE/peer.js" server "127.0.0.1:$PORT" > "$OUT/node-server.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" "${PIDS[-1]}" || die "ws server did not start; see $OUT/node-server.log"
check "tether-client -> Node ws server" "$OUT/roundtrip-node.log" "$ROUNDTRIP" "ws://127.0.0.1:$PORT/"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
