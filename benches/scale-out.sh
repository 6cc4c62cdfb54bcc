#!/usr/bin/env bash
# benches/scale-out.sh: one room of N viewers (default 10,000) on one tether instance against the same room spread over two instances sharing it through a real redis-server; writes benches/scale-out-results.md.
#
# Usage: benches/scale-out.sh [--quick] [--runs N] [--viewers N] [--no-build]
#
# The server is tether-bench-server: every /room connection joins room `bench`, and a message
# received on /room is published to it; tether-load --broadcast connects the viewers
# (round-robin over the instances with --also-url; the publisher is on the first) and sends
# one 64-byte message at a time, each after the previous reached every viewer. Reported:
# delivery latency p50/p99, frames per second while fanning out, server CPU per delivered
# frame (all instances together), and redis-server's CPU per published message.
#
# Configurations, each with one worker per instance:
#   one          one instance, no Redis (today's single process)
#   one+redis    one instance through Redis (what the round trip to Redis costs)
#   two+redis    two instances, half the viewers on each, through Redis
#   room-2w      one instance with two workers, no Redis, publishing to the room: ordered
#                through the workers' queues (the room's one order)
#   bcast-2w     the same, with the unordered direct broadcast (what the order costs locally)
# The machine has 2 cores: every instance is pinned to CPU 0, the load and redis-server to
# CPU 1, so two instances share one core here (a real deployment gives each its own machine).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=../tests/support/lib.sh
source tests/support/lib.sh

QUICK=0; RUNS=3; BUILD=1; VIEWERS=10000
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --runs) RUNS="$2"; shift ;;
        --viewers) VIEWERS="$2"; shift ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "scale-out.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
MESSAGES=50
if [ "$QUICK" = 1 ]; then RUNS=1; VIEWERS=1000; MESSAGES=10; fi
SERVER_CPU=0; LOAD_CPU=1
[ "$(nproc)" -ge 2 ] || LOAD_CPU=0
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$TARGET/bench-scale-out"; mkdir -p "$WORK"
RESULTS="$WORK/results.jsonl"; : > "$RESULTS"
LOAD="$TARGET/release/tether-load"
BENCH="$TARGET/release/tether-bench-server"
log() { printf '[scale-out %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

command -v redis-server >/dev/null || { echo "scale-out.sh: needs redis-server (Debian's redis-server)" >&2; exit 1; }
if [ "$BUILD" = 1 ]; then
    log "building tether-load and tether-bench-server (release)"
    cargo build --release -p tether-load
fi

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; PIDS=(); }
trap cleanup EXIT

wait_port() { # port
    for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done
    echo "nothing listens on $1" >&2; return 1
}

# start_redis: sets REDIS_PORT, REDIS_PID.
start_redis() {
    REDIS_PORT=$(free_port)
    taskset -c "$LOAD_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
        --appendonly no --protected-mode no --loglevel warning > "$WORK/redis.log" 2>&1 &
    REDIS_PID=$!; PIDS+=("$REDIS_PID")
    wait_port "$REDIS_PORT"
}

# instance WORKERS [REDIS_URL ID]: starts one tether-bench-server; sets PORT, PID.
instance() {
    PORT=$(free_port)
    local extra=()
    [ $# -ge 3 ] && extra=(--redis "$2" --instance-id "$3")
    taskset -c "$SERVER_CPU" "$BENCH" --listen "127.0.0.1:$PORT" --workers "$1" "${extra[@]}" \
        > "$WORK/server-$PORT.log" 2>&1 &
    PID=$!; PIDS+=("$PID")
    wait_port "$PORT"
}

# load LABEL PATH PORT PID [also args...]
load() {
    local label=$1 path=$2 port=$3 pid=$4; shift 4
    sleep 0.5 # a Redis-backed instance connects and subscribes on its first member
    taskset -c "$LOAD_CPU" "$LOAD" --url "ws://127.0.0.1:$port$path" --broadcast "${N:-$VIEWERS}" \
        --messages "${M:-$MESSAGES}" --size 64 --interval-ms "${GAP:-20}" --server-pid "$pid" \
        --label "$label" "$@" \
        | tee -a "$WORK/$label.txt" | tail -1 >> "$RESULTS"
}

for run in $(seq "$RUNS"); do
    log "run $run of $RUNS: $VIEWERS viewers, $MESSAGES messages"

    instance 1; log "one"; load one /room "$PORT" "$PID"; cleanup

    start_redis
    instance 1 "redis://127.0.0.1:$REDIS_PORT/0" a
    log "one+redis"; load one+redis /room "$PORT" "$PID" --broker-pid "$REDIS_PID"; cleanup

    start_redis
    instance 1 "redis://127.0.0.1:$REDIS_PORT/0" a; A_PORT=$PORT; A_PID=$PID
    instance 1 "redis://127.0.0.1:$REDIS_PORT/0" b
    log "two+redis"
    load two+redis /room "$A_PORT" "$A_PID" --also-url "ws://127.0.0.1:$PORT/room" \
        --also-pid "$PID" --broker-pid "$REDIS_PID"
    cleanup

    instance 2; log "room-2w"; load room-2w /room "$PORT" "$PID"; cleanup
    instance 2; log "bcast-2w"; load bcast-2w /broadcast "$PORT" "$PID"; cleanup

    # Redis's own cost per message, where it can be read off /proc (10 ms ticks): many
    # messages back to back, to 2 viewers on each of two instances.
    start_redis
    instance 1 "redis://127.0.0.1:$REDIS_PORT/0" a; A_PORT=$PORT; A_PID=$PID
    instance 1 "redis://127.0.0.1:$REDIS_PORT/0" b
    log "redis-cost"
    N=4 M=$((MESSAGES * 100)) GAP=0 load redis-cost /room "$A_PORT" "$A_PID" \
        --also-url "ws://127.0.0.1:$PORT/room" --also-pid "$PID" --broker-pid "$REDIS_PID"
    cleanup
done

python3 - "$RESULTS" "$ROOT/benches/scale-out-results.md" "$VIEWERS" "$MESSAGES" "$RUNS" <<'PY'
import json, statistics, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
viewers, messages, runs = sys.argv[3], sys.argv[4], sys.argv[5]
by = {}
for r in rows:
    by.setdefault(r["label"], []).append(r)
def med(label, key):
    v = [r[key] for r in by.get(label, []) if isinstance(r.get(key), (int, float)) and r[key] == r[key]]
    return statistics.median(v) if v else float("nan")
order = ["one", "one+redis", "two+redis", "room-2w", "bcast-2w"]
what = {
    "one": "1 instance, no Redis",
    "one+redis": "1 instance through Redis",
    "two+redis": "2 instances through Redis, half the viewers on each",
    "room-2w": "1 instance, 2 workers, room publish (ordered)",
    "bcast-2w": "1 instance, 2 workers, direct broadcast (unordered)",
}
out = [f"## Scale-out on Redis (issue 12): one room of {int(viewers):,} viewers",
       "",
       f"`benches/scale-out.sh` on {datetime.date.today()}: {messages} messages of 64 B, one at a time, "
       f"medians of {runs} run(s); instances pinned to CPU 0, tether-load and redis-server to CPU 1 "
       "(2 cores: two instances share one here).",
       "",
       "| configuration | delivery p50 ms | p99 ms | frames/s while fanning out | server CPU µs/frame (all instances) | missing |",
       "|---|---|---|---|---|---|"]
for l in order:
    if l not in by:
        continue
    out.append(f"| {what[l]} | {med(l,'p50_us')/1000:.2f} | {med(l,'p99_us')/1000:.2f} | {med(l,'frames_per_s'):,.0f} | "
               f"{med(l,'server_cpu_us_per_frame'):.3f} | {med(l,'missing'):.0f} |")
rc = med("redis-cost", "broker_cpu_us_per_msg")
rs = med("redis-cost", "broker_sys_pct")
out += ["",
        f"redis-server's CPU per published message, read over {int(messages) * 100:,} messages sent back to back "
        f"to 4 viewers on two instances: **{rc:.1f} µs** (median; {rs:.0f}% of it in the kernel: one message "
        "back to back is one read and three writes on loopback TCP, each running the receiver's TCP path too), "
        f"i.e. about {1e6 / rc:,.0f} room messages per second per Redis core at this batch size of one, whatever the "
        "number of viewers: Redis carries each message once per subscribed instance, and the instances fan it out." if rc == rc else "",
        "",
        "In the fan-out runs above Redis's CPU over 50 messages is below /proc's 10 ms resolution, hence read here. "
        "With pipelining (what the engine does under load) Redis costs 1.3–1.9 µs per message: see docs/scale-out.md, "
        "which also extrapolates these figures to 20 instances and names their limits."]
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
