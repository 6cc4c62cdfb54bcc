#!/usr/bin/env bash
# benches/compare.sh: side-by-side WebSocket benchmarks on loopback: codec (criterion), echo, idle memory, broadcast; writes BENCHMARKS.md and benches/charts/*.svg.
#
# Usage: benches/compare.sh [--quick] [--runs N] [--only STEPS] [--no-codec] [--no-build] [--out FILE]
#                           [--baseline DIR [--baseline-name NAME]]
#
#   --quick      every step very briefly (to test the script; numbers are meaningless)
#   --runs N     repetitions of the codec benches and of each echo/broadcast scenario
#                (default 3; medians are reported)
#   --only STEPS comma list of codec,echo,idle,broadcast (default all); the report reuses the
#                saved results of the other steps (target/bench-compare/*.jsonl)
#   --no-codec   same as leaving codec out of --only (reuse target/criterion if present)
#   --no-build   use the binaries already in target/
#   --out FILE   report path (default BENCHMARKS.md)
#   --baseline DIR
#                another tether build as a peer: DIR holds its `tether` and `tether-bench-server`
#                (e.g. a worktree's target/release, built there; --no-build does not build it).
#                Echo and idle also run server NAME (`DIR/tether --app echo --workers 1`, the
#                flags of tether-1w) right after tether-1w in every rep; broadcast runs
#                tether-bench and NAME-bench (`DIR/tether-bench-server --workers 1`) in every rep.
#                The report adds it to every table and checks the targets of issue 13 against it.
#   --baseline-name NAME
#                its name in the report (default tether-<short commit of DIR/../..>, or
#                tether-baseline if that is not a git worktree)
#
# Servers, one at a time, pinned to CPU 0 (`taskset -c 0`), load pinned to CPU 1:
#   tether --app echo --workers 1 | --workers 2, tokio-tungstenite and fastwebsockets echo
#   servers from benches/peers (own cargo workspace), tether-bench-server for broadcast;
#   with --baseline also the baseline's tether and tether-bench-server, same flags.
# Every run is bounded in time and talks to 127.0.0.1 only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=0
RUNS=3
CODEC=1
BUILD=1
OUT="BENCHMARKS.md"
ONLY=",codec,echo,idle,broadcast,"
BASELINE=""
BASELINE_NAME=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --runs) RUNS="$2"; shift ;;
        --no-codec) CODEC=0 ;;
        --no-build) BUILD=0 ;;
        --out) OUT="$2"; shift ;;
        --only) ONLY=",$2,"; shift ;;
        --baseline) BASELINE="$2"; shift ;;
        --baseline-name) BASELINE_NAME="$2"; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

if [ -n "$BASELINE_NAME" ] && [ -z "$BASELINE" ]; then
    echo "compare.sh: --baseline-name needs --baseline DIR" >&2; exit 2
fi
if [ -n "$BASELINE" ]; then
    [ -d "$BASELINE" ] || { echo "compare.sh: --baseline $BASELINE is not a directory" >&2; exit 2; }
    BASELINE="$(cd "$BASELINE" && pwd)"
    for bin in tether tether-bench-server; do
        if [ ! -x "$BASELINE/$bin" ]; then
            echo "compare.sh: --baseline $BASELINE has no executable $bin" >&2; exit 2
        fi
    done
    if [ -z "$BASELINE_NAME" ]; then
        if commit=$(git -C "$BASELINE/../.." rev-parse --short HEAD 2>/dev/null); then
            BASELINE_NAME="tether-$commit"
        else
            BASELINE_NAME="tether-baseline"
        fi
    fi
    case "$BASELINE_NAME" in
        tether-1w|tether-2w|tokio-tungstenite|fastwebsockets|tether-bench|*'|'*|*' '*|'')
            echo "compare.sh: --baseline-name '$BASELINE_NAME' is taken or has a space or |" >&2; exit 2 ;;
    esac
fi

if [ "$QUICK" = 1 ]; then
    DURATION=0.5; WARMUP=0.2; RUNS=1
    IDLE_SIZES="500 1000"; HOLD=1
    BCAST_N=500; BCAST_MSGS=5
    CODEC_ARGS=(--warm-up-time 0.05 --measurement-time 0.1 --sample-size 10)
else
    DURATION=5; WARMUP=1
    IDLE_SIZES="10000 19900"; HOLD=3
    BCAST_N=10000; BCAST_MSGS=50
    CODEC_ARGS=()
fi

SERVER_CPU=0
LOAD_CPU=1
if [ "$(nproc)" -lt 2 ]; then SERVER_CPU=0; LOAD_CPU=0; fi

WORK="$ROOT/target/bench-compare"
mkdir -p "$WORK"
want() { [[ "$ONLY" == *",$1,"* ]]; }
[ "$CODEC" = 1 ] || ONLY="${ONLY//,codec,/,}"
LOAD="$ROOT/target/release/tether-load"
PEERS="$ROOT/target/peers/release"

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ "$BUILD" = 1 ]; then
    log "building tether, tether-load, tether-bench-server (release)"
    cargo build --release -p tether -p tether-load
    log "building peer servers (benches/peers, own workspace)"
    cargo build --release --manifest-path benches/peers/Cargo.toml --target-dir target/peers
fi

# Codec: RUNS runs of the criterion benches; each run's estimates are kept in
# $WORK/criterion-N so the report can take every ratio within one run, then the median.
if want codec; then
    rm -rf "$WORK"/criterion-*
    for rep in $(seq 1 "$RUNS"); do
        log "codec benchmarks, run $rep/$RUNS: cargo bench --bench codec ${CODEC_ARGS[*]:-}"
        cargo bench --bench codec -- --noplot "${CODEC_ARGS[@]}" 2>&1 | tee "$WORK/codec-$rep.txt" \
            | grep -E '^[a-z_]+/|time:' >&2 || true
        mkdir -p "$WORK/criterion-$rep"
        (cd target/criterion && find . -path '*/new/estimates.json' -exec cp --parents {} "$WORK/criterion-$rep/" \;)
    done
    # The decode ratios the targets are judged on: libraries interleaved in short batches.
    AB_ARGS=()
    [ "$QUICK" = 1 ] && AB_ARGS=(--rounds 5 --batch-ms 0.5)
    : > "$WORK/codec-ab.jsonl"
    for rep in $(seq 1 "$RUNS"); do
        log "codec decode ratios, interleaved, run $rep/$RUNS: cargo bench --bench codec_ab"
        taskset -c "$LOAD_CPU" cargo bench --bench codec_ab -- "${AB_ARGS[@]}" 2>&1 \
            | tee "$WORK/codec-ab-$rep.txt" | grep -v '^{' >&2 || true
        grep '^{' "$WORK/codec-ab-$rep.txt" >> "$WORK/codec-ab.jsonl" || true
    done
fi
CRITERION_ARGS=()
for d in "$WORK"/criterion-*; do
    [ -d "$d" ] && CRITERION_ARGS+=(--criterion "$d")
done
[ ${#CRITERION_ARGS[@]} -gt 0 ] || CRITERION_ARGS=(--criterion target/criterion)

# Servers: name and command (PORT is substituted).
declare -A CMD=(
    [tether-1w]="$ROOT/target/release/tether --app echo --workers 1 --listen 127.0.0.1:PORT --log-level error --max-connections 20000"
    [tether-2w]="$ROOT/target/release/tether --app echo --workers 2 --listen 127.0.0.1:PORT --log-level error --max-connections 20000"
    [tokio-tungstenite]="$PEERS/tungstenite-echo --listen 127.0.0.1:PORT"
    [fastwebsockets]="$PEERS/fastwebsockets-echo --listen 127.0.0.1:PORT"
    [tether-bench]="$ROOT/target/release/tether-bench-server --workers 1 --listen 127.0.0.1:PORT"
)
ECHO_SERVERS="tether-1w tether-2w tokio-tungstenite fastwebsockets"
BCAST_SERVERS="tether-bench"
if [ -n "$BASELINE" ]; then
    CMD[$BASELINE_NAME]="$BASELINE/tether --app echo --workers 1 --listen 127.0.0.1:PORT --log-level error --max-connections 20000"
    CMD[$BASELINE_NAME-bench]="$BASELINE/tether-bench-server --workers 1 --listen 127.0.0.1:PORT"
    ECHO_SERVERS="tether-1w $BASELINE_NAME tether-2w tokio-tungstenite fastwebsockets"
    BCAST_SERVERS="tether-bench $BASELINE_NAME-bench"
    log "baseline $BASELINE_NAME: $BASELINE"
fi

# Scenario name and tether-load flags.
SCENARIOS=(
    "100x20B|-c 100 -s 20 -k 1"
    "10x1KiB|-c 10 -s 1024 -k 1"
    "200x16KiB|-c 200 -s 16384 -k 1"
    "1x64inflightx20B|-c 1 -s 20 -k 64"
    "1x1MiB|-c 1 -s 1048576 -k 1"
)

PORT=19000
SERVER_PID=""

start_server() { # name
    PORT=$((PORT + 1))
    local cmd="${CMD[$1]//PORT/$PORT}"
    # shellcheck disable=SC2086
    taskset -c "$SERVER_CPU" $cmd > "$WORK/server-$1.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.05
    done
    log "server $1 did not start; see $WORK/server-$1.log"
    return 1
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || { wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; return 0; }
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
trap stop_server EXIT

run_load() { # server scenario rep flags...
    local server="$1" scenario="$2" rep="$3"; shift 3
    local line
    if line=$(timeout 120 taskset -c "$LOAD_CPU" "$LOAD" --server-pid "$SERVER_PID" \
            --label "$server|$scenario|$rep" "$@" 2> "$WORK/load.err" | tail -n 1) \
            && [ "${line:0:1}" = "{" ]; then
        echo "$line" >> "$RESULTS"
        echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  " + d["label"] + ": " + ", ".join(f"{k}={d[k]}" for k in ("msgs_per_s","server_cpu_us_per_msg","p99_us","load_cpu_pct","rss_bytes_per_conn","server_frames_per_cpu_s","errors") if k in d))' >&2
    else
        log "FAILED: $server $scenario rep $rep: $(tail -n 2 "$WORK/load.err" | tr '\n' ' ')"
        echo "{\"label\":\"$server|$scenario|$rep\",\"failed\":true}" >> "$RESULTS"
    fi
}

log "load: $(uptime)"
if want echo; then
RESULTS="$WORK/echo.jsonl"; : > "$RESULTS"
for rep in $(seq 1 "$RUNS"); do
    for server in $ECHO_SERVERS; do
        log "echo rep $rep/$RUNS on $server"
        start_server "$server" || continue
        for s in "${SCENARIOS[@]}"; do
            name="${s%%|*}"; flags="${s#*|}"
            # shellcheck disable=SC2086
            run_load "$server" "$name" "$rep" --url "ws://127.0.0.1:$PORT/" $flags \
                --duration "$DURATION" --warmup "$WARMUP"
        done
        stop_server
    done
done
fi

if want idle; then
RESULTS="$WORK/idle.jsonl"; : > "$RESULTS"
for n in $IDLE_SIZES; do
    for server in $ECHO_SERVERS; do
        log "idle $n on $server"
        start_server "$server" || continue
        run_load "$server" "idle$n" 1 --url "ws://127.0.0.1:$PORT/" --idle "$n" --hold "$HOLD" \
            --connect-timeout 120
        stop_server
        sleep 1
    done
done
fi

if want broadcast; then
RESULTS="$WORK/broadcast.jsonl"; : > "$RESULTS"
for rep in $(seq 1 "$RUNS"); do
    for server in $BCAST_SERVERS; do
        log "broadcast rep $rep/$RUNS on $server: $BCAST_N subscribers x $BCAST_MSGS messages of 100 B"
        start_server "$server" || continue
        run_load "$server" "broadcast$BCAST_N" "$rep" --url "ws://127.0.0.1:$PORT/broadcast" \
            --broadcast "$BCAST_N" --messages "$BCAST_MSGS" --size 100 --connect-timeout 120 --spin
        stop_server
        sleep 1
    done
done
fi

SIZES_JSON=$("$LOAD" --sizes)
MACHINE="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r), $(rustc --version)"
QUICK_FLAG=""
[ "$QUICK" = 1 ] && QUICK_FLAG="--quick"
BASELINE_ARGS=()
[ -n "$BASELINE" ] && BASELINE_ARGS=(--baseline-name "$BASELINE_NAME" --baseline-dir "$BASELINE")
log "writing $OUT and benches/charts/"
cat "$WORK"/echo.jsonl "$WORK"/idle.jsonl "$WORK"/broadcast.jsonl > "$WORK/results.jsonl" 2>/dev/null || true
python3 benches/report.py --results "$WORK/results.jsonl" "${CRITERION_ARGS[@]}" --codec-ab "$WORK/codec-ab.jsonl" \
    --sizes "$SIZES_JSON" --machine "$MACHINE" --load "$(uptime)" --runs "$RUNS" \
    --notes benches/analysis.md --out "$OUT" --charts benches/charts $QUICK_FLAG ${BASELINE_ARGS[@]+"${BASELINE_ARGS[@]}"}
