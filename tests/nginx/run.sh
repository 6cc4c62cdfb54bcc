#!/usr/bin/env bash
# tests/nginx/run.sh: the README's "Behind nginx" recipe, tested as it is written. Takes the
# ```nginx block out of README.md, changes only its ports and certificate paths (sed), and runs
# Debian's nginx on it (pid, logs and temp files in a temp dir) with tether behind it on plain
# ws:// as the README says. Then, through nginx: http:// redirects to https://; the mini-program
# suite runs over wss://; tether (--trusted-proxy 127.0.0.1) sees the client's address through
# X-Forwarded-For; Python websockets, Node ws and tether-client round-trip 0 B, 1 MiB and 16 MiB
# of text and binary over wss:// with permessage-deflate (tests/interop's peers).
#
# Installs nginx (apt), websockets and trustme (.venv) and ws (tests/interop/node_modules) when
# missing, builds what it runs, binds 127.0.0.1 on free ports, makes its test certificate at run
# time. Ends with "N passed, M failed"; non-zero on any failure. Logs: target/nginx/.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/target/nginx"
mkdir -p "$OUT"
# shellcheck source=../support/lib.sh
source "$ROOT/tests/support/lib.sh"

NGX=$(mktemp -d)
PIDS=()
UPSTREAM=""
cleanup() {
    for p in "${PIDS[@]:-}" "$UPSTREAM"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null; done
    rm -rf "$NGX"
}
trap cleanup EXIT
die() { echo "nginx: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

ensure_debs nginx || die "cannot install nginx"
VENV="$ROOT/.venv"
pip_pinned "$VENV" websockets 15.0.1 || die "cannot install websockets"
if ! (cd "$ROOT/tests/interop" && node -e 'require("ws")' 2>/dev/null); then
    (cd "$ROOT/tests/interop" && retry 3 npm ci --no-audit --no-fund) || die "cannot install ws"
fi
CERTS="$NGX/certs"
make_test_cert "$VENV" "$CERTS" || die "cannot make the test certificate"
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
# Three ports held open together, so no two are the same.
read -r TLS_PORT HTTP_PORT UP_PORT < <(free_ports 3) || die "cannot pick free ports"

# The README's block; sed changes only what a test run must (ports, certificate paths), and
# each change must have happened, or the README moved on and this script with it.
awk '/^```nginx$/ { n++; on = 1; next } /^```$/ { on = 0 } on' "$ROOT/README.md" > "$NGX/readme.conf"
[[ $(grep -c '^```nginx$' "$ROOT/README.md") -eq 1 ]] || die "README.md must hold exactly one \`\`\`nginx block"
SUBST=(
    "listen 443 ssl;|listen 127.0.0.1:$TLS_PORT ssl;"
    "listen 80;|listen 127.0.0.1:$HTTP_PORT;"
    "proxy_pass http://127.0.0.1:8080;|proxy_pass http://127.0.0.1:$UP_PORT;"
    "/etc/ssl/ws.example.com/fullchain.pem|$CERTS/cert.pem"
    "/etc/ssl/ws.example.com/privkey.pem|$CERTS/key.pem"
)
cp "$NGX/readme.conf" "$NGX/tether.conf"
for s in "${SUBST[@]}"; do
    grep -qF "${s%%|*}" "$NGX/tether.conf" || die "README's nginx block no longer has '${s%%|*}': update SUBST in $0"
    sed -i "s|${s%%|*}|${s#*|}|g" "$NGX/tether.conf"
done
echo "README.md's nginx block, as run (diff from README):"
diff "$NGX/readme.conf" "$NGX/tether.conf" | sed 's/^/    /'
nginx_conf "$NGX" http "$NGX/tether.conf"
chmod 755 "$NGX" # nginx's workers (user nobody) reach their temp dirs in it
NGINX=(nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log")
"${NGINX[@]}" -t -q || die "nginx refuses the README's configuration"
"${NGINX[@]}" -g 'daemon off;' > "$OUT/nginx.log" 2>&1 &
PIDS+=($!)
wait_port "$TLS_PORT" "${PIDS[-1]}" || { cat "$NGX/error.log" >&2; die "nginx did not start"; }

PASSED=0; FAILED=0
check() { # name log command...
    local name=$1 log=$2; shift 2
    if timeout -k 5 300 "$@" > "$log" 2>&1 && ! grep -q '^FAIL' "$log"; then
        PASSED=$((PASSED + 1)); echo "PASS $name"
    else
        FAILED=$((FAILED + 1)); echo "FAIL $name (see $log)"
    fi
    sed 's/^/    /' "$log"
}
# upstream ARGS...: (re)starts tether behind nginx on UP_PORT, trusting nginx as the README says.
upstream() {
    if [[ -n $UPSTREAM ]]; then kill "$UPSTREAM" 2>/dev/null; wait "$UPSTREAM" 2>/dev/null; fi
    "$ROOT/target/release/tether" --listen "127.0.0.1:$UP_PORT" --trusted-proxy 127.0.0.1 "$@" \
        >> "$OUT/tether.log" 2>&1 &
    UPSTREAM=$!
    wait_port "$UP_PORT" "$UPSTREAM" || die "tether did not start; see $OUT/tether.log"
}
: > "$OUT/tether.log"

check "http:// answers 301 to the same path on https://" "$OUT/redirect.log" python3 - "$HTTP_PORT" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/live?room=1001")
r = c.getresponse()
where = r.getheader("Location")
print(f"{r.status} {where}")
if r.status != 301 or where != "https://127.0.0.1/live?room=1001":
    print("FAIL: expected 301 to https://127.0.0.1/live?room=1001")
PY

# The suite starts (and restarts) its own demo server on UP_PORT; its clients go through nginx.
check "mini-program suite over wss:// through nginx" "$OUT/miniprogram.log" \
    bash "$ROOT/tests/miniprogram/run.sh" --port "$UP_PORT" --url "wss://127.0.0.1:$TLS_PORT" --ca "$CERTS/ca.pem"

# A client on 127.0.0.2: nginx's X-Forwarded-For must carry it to tether's log, at debug.
upstream --app demo --log-level debug
check "tether reads the client address from nginx's X-Forwarded-For" "$OUT/forwarded.log" \
    "$VENV/bin/python" - "wss://127.0.0.1:$TLS_PORT/echo" "$CERTS/ca.pem" "$OUT/tether.log" <<'PY'
import asyncio, ssl, sys, time
from websockets.asyncio.client import connect
url, ca, log = sys.argv[1:]
async def main():
    tls = ssl.create_default_context(cafile=ca)
    async with connect(url, ssl=tls, local_addr=("127.0.0.2", 0), open_timeout=10) as ws:
        await ws.send("你好")
        assert await asyncio.wait_for(ws.recv(), 10) == "你好"
asyncio.run(main())
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    lines = [l for l in open(log, encoding="utf-8") if "from 127.0.0.2 via proxy 127.0.0.1:" in l]
    if lines:
        print(lines[0].strip())
        sys.exit(0)
    time.sleep(0.1)
print("FAIL: tether did not log 'from 127.0.0.2 via proxy 127.0.0.1:...'")
PY

# Large messages: the echo app (16 MiB messages), compression on.
upstream --app echo --deflate on --log-level warn
URL="wss://127.0.0.1:$TLS_PORT/"
check "Python websockets client -> nginx -> tether" "$OUT/py-client.log" \
    "$VENV/bin/python" "$ROOT/tests/interop/peer.py" client "$URL" "$CERTS/ca.pem"
check "Node ws client -> nginx -> tether" "$OUT/node-client.log" \
    node "$ROOT/tests/interop/peer.js" client "$URL" "$CERTS/ca.pem"
check "tether-client -> nginx -> tether" "$OUT/roundtrip.log" \
    "$ROOT/target/release/examples/roundtrip" --ca "$CERTS/ca.pem" "$URL"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
