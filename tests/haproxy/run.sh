#!/usr/bin/env bash
# tests/haproxy/run.sh: Debian's HAProxy in TCP mode with `send-proxy-v2` (and `send-proxy`, v1, on a second front) in front of `tether --proxy-protocol`: the client's true address (a client on 127.0.0.2) reaches the application and the logs, a spoofed X-Forwarded-For from it is ignored, and a PROXY header sent straight to tether by an untrusted peer gets 400.
#
# Installs haproxy (apt-get) and Python websockets (.venv) when missing; binds 127.0.0.1 and
# 127.0.0.2 on free ports. Ends with "N passed, M failed"; non-zero on any failure. Logs in
# target/haproxy/.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/target/haproxy"
mkdir -p "$OUT"
# shellcheck source=../support/lib.sh
source "$ROOT/tests/support/lib.sh"

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null; done; }
trap cleanup EXIT
die() { echo "haproxy: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

if ! command -v haproxy >/dev/null; then
    retry 3 bash -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy' \
        || die "cannot install haproxy"
fi
VENV="$ROOT/.venv"
[[ -x "$VENV/bin/python" ]] || retry 3 python3 -m venv "$VENV" || die "cannot create $VENV"
if ! "$VENV/bin/python" -c 'import importlib.metadata as m; assert m.version("websockets") == "15.0.1"' 2>/dev/null; then
    retry 3 "$VENV/bin/pip" install --disable-pip-version-check -q websockets==15.0.1 || die "cannot install websockets"
fi
(cd "$ROOT" && cargo build --release --bin tether) || die "cannot build tether"

wait_port() { # port pid
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

read -r TETHER_PORT FRONT_PORT FRONT_V1_PORT < <(free_ports 3) || die "cannot pick free ports"
LOG="$OUT/tether.log"
"$ROOT/target/release/tether" --listen "127.0.0.1:$TETHER_PORT" --proxy-protocol \
    --trusted-proxy 127.0.0.1 --log-level debug > "$LOG" 2>&1 &
PIDS+=($!)
wait_port "$TETHER_PORT" "${PIDS[-1]}" || die "tether did not start; see $LOG"

cat > "$OUT/haproxy.cfg" <<CFG
global
    log stderr format short local0 info
defaults
    mode tcp
    log global
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend ws
    bind 127.0.0.1:$FRONT_PORT
    default_backend tether
backend tether
    server tether 127.0.0.1:$TETHER_PORT send-proxy-v2
frontend ws_v1
    bind 127.0.0.1:$FRONT_V1_PORT
    default_backend tether_v1
backend tether_v1
    server tether 127.0.0.1:$TETHER_PORT send-proxy
CFG
haproxy -c -f "$OUT/haproxy.cfg" > "$OUT/haproxy-check.log" 2>&1 || die "bad config: $(cat "$OUT/haproxy-check.log")"
haproxy -db -f "$OUT/haproxy.cfg" > "$OUT/haproxy.log" 2>&1 &
PIDS+=($!)
wait_port "$FRONT_PORT" "${PIDS[-1]}" || die "haproxy did not start; see $OUT/haproxy.log"

PASSED=0; FAILED=0
check() { # name command...
    local name=$1; shift
    if "$@"; then PASSED=$((PASSED + 1)); echo "PASS $name"; else FAILED=$((FAILED + 1)); echo "FAIL $name"; fi
}
PY="$VENV/bin/python $HERE/client.py"

# Through HAProxy, from 127.0.0.2, with a spoofed X-Forwarded-For.
# shellcheck disable=SC2086
check "echo through haproxy from 127.0.0.2" \
    $PY "ws://127.0.0.1:$FRONT_PORT/echo" 127.0.0.2 "X-Forwarded-For:6.6.6.6"
sleep 0.3
check "the log names the client 127.0.0.2 via the proxy" \
    grep -q "from 127.0.0.2 via proxy 127.0.0.1:[0-9]*: /echo" "$LOG"
check "the spoofed X-Forwarded-For is not believed" bash -c "! grep -q 6.6.6.6 '$LOG'"
# The same through PROXY v1, from 127.0.0.3.
# shellcheck disable=SC2086
check "echo through haproxy's PROXY v1 from 127.0.0.3" \
    $PY "ws://127.0.0.1:$FRONT_V1_PORT/echo" 127.0.0.3
sleep 0.3
check "the log names the client 127.0.0.3 via the proxy" \
    grep -q "from 127.0.0.3 via proxy 127.0.0.1:[0-9]*: /echo" "$LOG"
# Straight to tether from an untrusted peer: its PROXY header gets 400 ...
HDR=$(printf 'PROXY TCP4 6.6.6.6 127.0.0.1 1 80\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n' | od -An -tx1 | tr -d ' \n')
# shellcheck disable=SC2086
check "a PROXY header from an untrusted peer gets 400" \
    bash -c "$PY --raw 127.0.0.1:$TETHER_PORT 127.0.0.2 $HDR | grep -q '^HTTP/1.1 400'"
# ... and its plain WebSocket is served under its own address.
# shellcheck disable=SC2086
check "a direct client from an untrusted peer is served" $PY "ws://127.0.0.1:$TETHER_PORT/echo" 127.0.0.2

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
