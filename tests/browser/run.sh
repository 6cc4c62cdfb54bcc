#!/usr/bin/env bash
# Browser test of the demo page: installs Debian's chromium (if missing), playwright-core
# (into ./node_modules, from package-lock.json) and trustme (into .venv, for a test certificate
# made at run time), builds target/release/tether, and drives the page in two headless browsers
# on a free 127.0.0.1 port (plus `tether --app echo` on another, for large compressed messages,
# and the demo over TLS on a third). The screenshot goes to
# target/browser/demo.png. Ends with "N passed, N failed"; non-zero on any failure.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/target/browser"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
PID_FILE="$OUT/server.pid"
ECHO_PID_FILE="$OUT/echo-server.pid"
TLS_PID_FILE="$OUT/tls-server.pid"
rm -f "$SUMMARY" "$PID_FILE" "$ECHO_PID_FILE" "$TLS_PID_FILE"
CERTS=$(mktemp -d)

# shellcheck source=../support/lib.sh
source "$ROOT/tests/support/lib.sh"

fail() { echo "browser: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

cleanup() { kill_tether "$PID_FILE"; kill_tether "$ECHO_PID_FILE"; kill_tether "$TLS_PID_FILE"; rm -rf "$CERTS"; }
trap cleanup EXIT

if [[ ! -x /usr/bin/chromium ]]; then
    retry 3 bash -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium' \
        || fail "cannot install chromium"
fi
# Chinese text needs a CJK font, or the screenshot shows empty boxes.
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    retry 3 bash -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-wqy-microhei' \
        || fail "cannot install a CJK font"
fi
if ! (cd "$HERE" && node -e 'require("playwright-core")' 2>/dev/null); then
    (cd "$HERE" && retry 3 npm ci --no-audit --no-fund) || fail "cannot install playwright-core"
fi
make_test_cert "$ROOT/.venv" "$CERTS" || fail "cannot make the test certificate"
(cd "$ROOT" && cargo build --release --bin tether) || fail "cannot build tether"

# Four ports held open together, so no two are the same: the demo, the echo app, its metrics,
# the demo over TLS.
read -r PORT ECHO_PORT METRICS_PORT TLS_PORT < <(node -e '
const ss = [0, 1, 2, 3].map(() => require("net").createServer());
Promise.all(ss.map((s) => new Promise((r) => s.listen(0, "127.0.0.1", r)))).then(() => {
  console.log(ss.map((s) => s.address().port).join(" "));
  ss.forEach((s) => s.close());
});') || fail "cannot pick free ports"
START=$SECONDS
TETHER_BIN="$ROOT/target/release/tether" TETHER_PORT="$PORT" OUT_DIR="$OUT" SUMMARY="$SUMMARY" \
    PID_FILE="$PID_FILE" ECHO_PORT="$ECHO_PORT" METRICS_PORT="$METRICS_PORT" ECHO_PID_FILE="$ECHO_PID_FILE" \
    TLS_PORT="$TLS_PORT" TLS_PID_FILE="$TLS_PID_FILE" TLS_CERT="$CERTS/cert.pem" TLS_KEY="$CERTS/key.pem" \
    TLS_SPKI="$(cat "$CERTS/spki.txt")" timeout -k 10 300 node "$HERE/test.js"
rc=$?
echo "browser test took $((SECONDS - START)) s (server logs: $OUT/server.log, $OUT/echo-server.log, $OUT/tls-server.log)"
cleanup
if [[ ! -s "$SUMMARY" ]]; then
    fail "test.js ended with $rc before reporting"
fi
cat "$SUMMARY"
exit "$rc"
