#!/usr/bin/env bash
# Autobahn conformance, server role: kosoku acts as the fuzzing CLIENT and drives
# a WebSocket echo server that is already listening at URL.
#
#   tests/autobahn/server.sh URL [OUTDIR]
#     URL     e.g. ws://127.0.0.1:9001 (the server must echo every message back)
#     OUTDIR  report directory (default: target/autobahn/server under the repo root)
#
# Environment:
#   VENV                      venv holding kosoku (default: .venv under the repo root)
#   AUTOBAHN_TIMEOUT          seconds for the whole kosoku run (default 600)
#   AUTOBAHN_WAIT             seconds to wait for URL to accept TCP (default 10)
#   AUTOBAHN_PARALLELISM      kosoku -p (default 1; keep 1, the 6.4.x/9.x cases time things)
#   AUTOBAHN_CASES            case globs to run (default: sections 1-10 and 12-13; 12/13 = permessage-deflate)
#   AUTOBAHN_EXPECTED         expected-verdict file (default: expected-server.txt beside this script)
#   AUTOBAHN_AGENT            agent name in the report (= the server's `Server` header, or
#                             host:port without one); default "*" = the only agent in the report
# Exit status: the checker's (non-zero on any deviation from the expected file).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

if [[ $# -lt 1 || $# -gt 2 || "$1" == -h || "$1" == --help ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
URL="$1"
OUTDIR="${2:-$ROOT/target/autobahn/server}"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
KOSOKU="$VENV/bin/kosoku"
TIMEOUT="${AUTOBAHN_TIMEOUT:-600}"
WAIT="${AUTOBAHN_WAIT:-10}"
PAR="${AUTOBAHN_PARALLELISM:-1}"
# There is no section 8 in the Autobahn suite, and kosoku rejects a pattern that
# matches no case, so "8.*" must not be listed.
CASES="${AUTOBAHN_CASES:-1.* 2.* 3.* 4.* 5.* 6.* 7.* 9.* 10.* 12.* 13.*}"
EXPECTED="${AUTOBAHN_EXPECTED:-$HERE/expected-server.txt}"
AGENT="${AUTOBAHN_AGENT:-*}"

for f in "$PY" "$KOSOKU"; do
    [[ -x "$f" ]] || { echo "server.sh: $f not found; run: python3 -m venv $VENV && $VENV/bin/pip install kosoku==0.1.0 websockets" >&2; exit 2; }
done

# Wait (bounded) until the server under test accepts TCP connections.
"$PY" - "$URL" "$WAIT" <<'PYEOF' || exit 2
import socket, sys, time
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
host, port = u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "wss" else 80)
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        socket.create_connection((host, port), timeout=1).close()
        break
    except OSError as exc:
        if time.monotonic() > deadline:
            sys.exit(f"server.sh: nothing accepts connections at {host}:{port}: {exc}")
        time.sleep(0.2)
PYEOF

# Remove the previous run's reports so a crashed or timed-out run can never be
# judged on a stale index.json.
mkdir -p "$OUTDIR"
rm -f "$OUTDIR"/index.json "$OUTDIR"/index.html "$OUTDIR"/*_case_*.json "$OUTDIR"/*_case_*.html

args=()
set -f  # keep the globs for kosoku
for c in $CASES; do args+=(-i "$c"); done
set +f

echo "server.sh: kosoku fuzzingclient -> $URL (cases: $CASES; timeout ${TIMEOUT}s; reports: $OUTDIR)"
start=$SECONDS
rc=0
timeout --kill-after=10 "$TIMEOUT" "$KOSOKU" -m fuzzingclient -p "$PAR" -o "$OUTDIR" "${args[@]}" "$URL" \
    > "$OUTDIR/kosoku.log" 2>&1 || rc=$?
echo "server.sh: kosoku exited with $rc after $((SECONDS - start))s (log: $OUTDIR/kosoku.log)"
[[ $rc -eq 124 || $rc -eq 137 ]] && echo "server.sh: kosoku TIMED OUT after ${TIMEOUT}s" >&2
# kosoku exits 1 when a case is not OK/NON-STRICT/INFORMATIONAL; the checker is
# stricter and is the verdict of this script.
exec "$PY" "$HERE/check.py" "$OUTDIR" "$EXPECTED" "$AGENT"
