#!/usr/bin/env bash
# Autobahn conformance, client role: kosoku acts as the fuzzing SERVER on
# 127.0.0.1:PORT and the WebSocket client under test connects to it.
#
#   tests/autobahn/client.sh PORT CLIENT_CMD [ARGS...]
#
# The client is run as `CLIENT_CMD ARGS... ws://127.0.0.1:PORT` (base URL appended
# as the LAST argument) with AUTOBAHN_AGENT exported (default "tether"). It must
# speak the standard Autobahn client protocol:
#   GET /getCaseCount                    server sends the case count as one text message
#   GET /runCase?case=N&agent=AGENT      N = 1..count; echo every text/binary message
#                                        back unchanged until the connection closes
#   GET /updateReports?agent=AGENT       once at the end: kosoku then writes the reports
#                                        and exits (it drops this connection without a
#                                        close frame; the client must tolerate that)
#
# Environment:
#   VENV                      venv holding kosoku (default: .venv under the repo root)
#   AUTOBAHN_AGENT            agent name the client must report (default: tether)
#   AUTOBAHN_OUTDIR           report directory (default: target/autobahn/client under the repo root)
#   AUTOBAHN_TIMEOUT          seconds the client may run (default 600)
#   AUTOBAHN_CASES            case globs to serve (default: sections 1-10 and 12-13; 12/13 = permessage-deflate)
#   AUTOBAHN_EXPECTED         expected-verdict file (default: expected-client.txt beside this script)
# Exit status: the checker's (non-zero on any deviation from the expected file).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

if [[ $# -lt 2 || "$1" == -h || "$1" == --help ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
PORT="$1"; shift
[[ "$PORT" =~ ^[0-9]+$ ]] || { echo "client.sh: PORT must be a number, got '$PORT'" >&2; exit 2; }
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
KOSOKU="$VENV/bin/kosoku"
OUTDIR="${AUTOBAHN_OUTDIR:-$ROOT/target/autobahn/client}"
TIMEOUT="${AUTOBAHN_TIMEOUT:-600}"
# There is no section 8 in the Autobahn suite, and kosoku rejects a pattern that
# matches no case, so "8.*" must not be listed.
CASES="${AUTOBAHN_CASES:-1.* 2.* 3.* 4.* 5.* 6.* 7.* 9.* 10.* 12.* 13.*}"
EXPECTED="${AUTOBAHN_EXPECTED:-$HERE/expected-client.txt}"
export AUTOBAHN_AGENT="${AUTOBAHN_AGENT:-tether}"
URL="ws://127.0.0.1:$PORT"

for f in "$PY" "$KOSOKU"; do
    [[ -x "$f" ]] || { echo "client.sh: $f not found; run: python3 -m venv $VENV && $VENV/bin/pip install kosoku==0.1.0 websockets" >&2; exit 2; }
done

mkdir -p "$OUTDIR"
rm -f "$OUTDIR"/index.json "$OUTDIR"/index.html "$OUTDIR"/*_case_*.json "$OUTDIR"/*_case_*.html
LOG="$OUTDIR/kosoku.log"
: > "$LOG"

args=()
set -f  # keep the globs for kosoku
for c in $CASES; do args+=(-i "$c"); done
set +f

SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true   # `timeout` passes it on to kosoku
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# kosoku gets the client's time plus a margin, so it can never outlive the script.
timeout --kill-after=5 "$((TIMEOUT + 60))" \
    "$KOSOKU" -m fuzzingserver -o "$OUTDIR" "${args[@]}" "127.0.0.1:$PORT" >> "$LOG" 2>&1 &
SERVER_PID=$!

# Wait (bounded) for kosoku's "fuzzingserver listening on ..." line.
for _ in $(seq 100); do
    grep -q "fuzzingserver listening on" "$LOG" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "client.sh: kosoku exited before listening:" >&2; cat "$LOG" >&2; exit 2; }
    sleep 0.1
done
grep -q "fuzzingserver listening on" "$LOG" || { echo "client.sh: kosoku not listening on $URL after 10s" >&2; cat "$LOG" >&2; exit 2; }

echo "client.sh: kosoku fuzzingserver on $URL (cases: $CASES; agent: $AUTOBAHN_AGENT; timeout ${TIMEOUT}s; reports: $OUTDIR)"
echo "client.sh: running: $* $URL"
start=$SECONDS
crc=0
timeout --kill-after=10 "$TIMEOUT" "$@" "$URL" || crc=$?
echo "client.sh: client exited with $crc after $((SECONDS - start))s"
[[ $crc -eq 124 || $crc -eq 137 ]] && echo "client.sh: client TIMED OUT after ${TIMEOUT}s" >&2

# After /updateReports kosoku writes the reports and exits by itself; give it a
# bounded grace period (10s), then stop it (a server killed this way writes no report).
for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "client.sh: kosoku still running 10s after the client ended (no /updateReports?); stopping it" >&2
fi
stop_server
echo "client.sh: kosoku log: $LOG"

rc=0
"$PY" "$HERE/check.py" "$OUTDIR" "$EXPECTED" "$AUTOBAHN_AGENT" || rc=$?
if [[ $rc -eq 0 && $crc -ne 0 ]]; then
    echo "client.sh: all verdicts as expected, but the client exited with $crc" >&2
    rc=1
fi
exit $rc
