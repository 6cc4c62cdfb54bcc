#!/usr/bin/env bash
# benches/deflate.sh: permessage-deflate (RFC 7692) side by side on loopback: Tether under several parameter sets against Node `ws` and Python `websockets`, compression on, one run; writes benches/deflate-results.md.
#
# Usage: benches/deflate.sh [--quick] [--runs N] [--no-build]
#
# Each server is pinned to CPU 0 and single-threaded (tether --workers 1; Node and Python
# are one thread), the load (tether-load --deflate) to CPU 1. Echo of the live-room JSON
# comment (174 B, 100 connections, one message in flight each) and of a 2 KiB one (10
# connections); then idle memory: N connections that each exchanged one compressed message.
# Installs ws (npm, benches/peers/node) and websockets (pip, .venv) when missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=../tests/support/lib.sh
source tests/support/lib.sh

QUICK=0; RUNS=3; BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --runs) RUNS="$2"; shift ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "deflate.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then DURATION=0.5; WARMUP=0.2; RUNS=1; IDLE_N=200; else DURATION=5; WARMUP=1; IDLE_N=2000; fi
SERVER_CPU=0; LOAD_CPU=1
[ "$(nproc)" -ge 2 ] || LOAD_CPU=0
WORK="$ROOT/target/bench-deflate"; mkdir -p "$WORK"
RESULTS="$WORK/results.jsonl"; : > "$RESULTS"
LOAD="$ROOT/target/release/tether-load"
log() { printf '[deflate %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

VENV="$ROOT/.venv"
[ -x "$VENV/bin/python" ] || retry 3 python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c 'import importlib.metadata as m; assert m.version("websockets") == "15.0.1"' 2>/dev/null; then
    retry 3 "$VENV/bin/pip" install --disable-pip-version-check -q websockets==15.0.1
fi
if [ ! -d benches/peers/node/node_modules/ws ]; then
    (cd benches/peers/node && retry 3 npm ci --no-audit --no-fund --silent)
fi
if [ "$BUILD" = 1 ]; then
    log "building tether and tether-load (release)"
    cargo build --release -p tether -p tether-load
fi

TETHER="$ROOT/target/release/tether --app echo --workers 1 --listen 127.0.0.1:PORT --log-level error --max-connections 20000"
declare -A CMD=(
    [tether]="$TETHER --deflate on"
    [tether-level6]="$TETHER --deflate on --deflate-level 6"
    [tether-takeover]="$TETHER --deflate on --deflate-context-takeover"
    [tether-takeover-w12-m1]="$TETHER --deflate on --deflate-context-takeover --deflate-window-bits 12 --deflate-mem-level 1"
    [ws]="node $ROOT/benches/peers/node/ws-echo.js 127.0.0.1:PORT on"
    [websockets]="$VENV/bin/python $ROOT/benches/peers/websockets-echo.py 127.0.0.1:PORT on"
)
SERVERS="tether tether-level6 tether-takeover tether-takeover-w12-m1 ws websockets"
SCENARIOS=(
    "json174|-c 100 -k 1 --payload json"
    "json2KiB|-c 10 -k 1 --payload json -s 2048"
)

PORT=19500; SERVER_PID=""
start_server() {
    PORT=$((PORT + 1))
    local cmd="${CMD[$1]//PORT/$PORT}"
    # shellcheck disable=SC2086
    taskset -c "$SERVER_CPU" $cmd > "$WORK/server-$1.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then sleep 0.2; return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "server $1 did not start; see $WORK/server-$1.log"; return 1
}
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
trap stop_server EXIT
FAILED=0
run_load() { # server scenario rep flags...
    local server="$1" scenario="$2" rep="$3"; shift 3
    local line
    if line=$(timeout 180 taskset -c "$LOAD_CPU" "$LOAD" --server-pid "$SERVER_PID" --deflate \
            --label "$server|$scenario|$rep" "$@" 2> "$WORK/load.err" | tail -n 1) \
            && [ "${line:0:1}" = "{" ] && [[ "$line" == *'"errors":0,'* ]]; then
        echo "$line" >> "$RESULTS"
        log "  $server $scenario: $(echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(", ".join(f"{k}={d[k]:.1f}" for k in ("msgs_per_s","server_cpu_us_per_msg","wire_in_per_msg","rss_after_message_bytes_per_conn") if k in d))')"
    else
        log "FAILED: $server $scenario rep $rep: $line $(tail -n 2 "$WORK/load.err" | tr '\n' ' ')"
        FAILED=1
    fi
}

log "load: $(uptime)"
for rep in $(seq 1 "$RUNS"); do
    for server in $SERVERS; do
        start_server "$server" || { FAILED=1; continue; }
        for s in "${SCENARIOS[@]}"; do
            # shellcheck disable=SC2086
            run_load "$server" "${s%%|*}" "$rep" --url "ws://127.0.0.1:$PORT/" ${s#*|} \
                --duration "$DURATION" --warmup "$WARMUP"
        done
        stop_server
    done
done
for server in $SERVERS; do
    start_server "$server" || { FAILED=1; continue; }
    run_load "$server" "idle$IDLE_N" 1 --url "ws://127.0.0.1:$PORT/" --idle "$IDLE_N" --hold 2 \
        --payload json --connect-timeout 60
    stop_server
    sleep 1
done

python3 - "$RESULTS" "$RUNS" "$(uptime)" > benches/deflate-results.md <<'PY'
import json, statistics, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
runs, load = sys.argv[2], sys.argv[3]
by = collections.defaultdict(list)
for r in rows:
    server, scenario, _ = r["label"].split("|")
    by[(server, scenario)].append(r)
servers = ["tether", "tether-level6", "tether-takeover", "tether-takeover-w12-m1", "ws", "websockets"]
about = {
    "tether": "default: no context takeover both ways, window 15, mem level 8, level 1",
    "tether-level6": "`--deflate-level 6`: the default otherwise",
    "tether-takeover": "`--deflate-context-takeover`: window 15, mem level 8, level 1",
    "tether-takeover-w12-m1": "`--deflate-context-takeover --deflate-window-bits 12 --deflate-mem-level 1` (level 1)",
    "ws": "Node `ws` 8.23.0, `perMessageDeflate: { threshold: 0 }`: takeover both ways, window 15, memLevel 8",
    "websockets": "Python `websockets` 15.0.1, `compression=\"deflate\"`: takeover both ways, window 12, memLevel 5",
}
med = lambda xs: statistics.median(xs) if xs else float("nan")
print("## permessage-deflate (issue 10)\n")
print("Generated by `benches/deflate.sh`. The same load generator drives every server: `tether-load --deflate` "
      "offers what Chromium offers (`permessage-deflate; client_max_window_bits`), sends every message "
      "compressed and inflates and checks every echo; each server answers with its own parameters. The "
      "payload is a live-room comment in JSON as the demo's `/live` relays it (Chinese text; 174 bytes, or "
      "padded to 2 KiB). **Caveat:** the load sends the same comment with a new id each time, so a server "
      "that keeps its context (context takeover) compresses each echo to about 10 bytes: its best case. "
      "Without context a message compresses alone, and a 174-byte line alone barely does.\n")
print(f"Medians of {runs} run(s); every server on one core (CPU 0), the load on the other; load at start: {load.strip()}.\n")
print("| server | parameters |")
print("|---|---|")
for s in servers:
    print(f"| {s} | {about[s]} |")
for scenario, title in (("json174", "174-byte live-room comment, 100 connections x 1 in flight"), ("json2KiB", "2 KiB live-room comment, 10 connections x 1 in flight")):
    print(f"\n**Echo, {title}.** Ratios of msg/s per server CPU-second against Node `ws` and Python `websockets`; wire bytes per echo from the server against the uncompressed frame.\n")
    print("| server | msg/s | server CPU µs/msg | msg per CPU-s vs ws | vs websockets | wire bytes per echo (server → client) | saved |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    eff = {s: 1e6 / med([r["server_cpu_us_per_msg"] for r in by[(s, scenario)]]) for s in servers if by[(s, scenario)]}
    for s in servers:
        rs = by[(s, scenario)]
        if not rs:
            print(f"| {s} | failed | | | | | |"); continue
        wire = med([r["wire_in_per_msg"] for r in rs]); plain = rs[0]["plain_in_per_msg"]
        print(f"| {s} | {med([r['msgs_per_s'] for r in rs]):,.0f} | {med([r['server_cpu_us_per_msg'] for r in rs]):.2f} | "
              f"{eff[s] / eff.get('ws', float('nan')):.2f}x | {eff[s] / eff.get('websockets', float('nan')):.2f}x | "
              f"{wire:.1f} of {plain:.0f} | {100 * (1 - wire / plain):.0f}% |")
print("\n**Memory per connection** (server RSS growth over N connections, each having exchanged one compressed 174-byte message; peak is the high-water mark over the same start). Per stream, without the rest of a connection, `crates/tether-codec/src/deflate/stream.rs` tabulates every window and memory level: a zlib-rs compressor is 134-371 KiB (its 128 KiB hash table does not shrink with the memory level, unlike C zlib's), an inflater 46.4 KiB.\n")
print("| server | connections | RSS per connection, idle after a message | peak per connection | vs ws |")
print("|---|---:|---:|---:|---:|")
idle = {s: r for (s, sc), rs in by.items() for r in rs if sc.startswith("idle")}
ws_mem = idle.get("ws", {}).get("rss_after_message_bytes_per_conn", float("nan"))
for s in servers:
    r = idle.get(s)
    if not r:
        print(f"| {s} | failed | | | |"); continue
    m = r["rss_after_message_bytes_per_conn"]
    print(f"| {s} | {r['connections']} | {m / 1024:.1f} KiB | {r['peak_bytes_per_conn'] / 1024:.1f} KiB | {m / ws_mem:.3f}x |")
PY
log "wrote benches/deflate-results.md"
exit "$FAILED"
