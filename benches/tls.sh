#!/usr/bin/env bash
# benches/tls.sh: wss:// side by side on loopback: Tether against tokio-tungstenite on tokio-rustls and Node `ws` on `https`, same certificate, same load generator, no compression; and rustls's two crypto providers; writes benches/tls-results.md.
#
# Usage: benches/tls.sh [--quick] [--runs N] [--no-build] [--no-provider-build]
#
# Each server is pinned to CPU 0 and single-threaded (tether --workers 1, the tokio peer on
# a current-thread runtime as in benches/compare.sh, Node one thread), the load (tether-load)
# to CPU 1. A throwaway CA and an ECDSA P-256 certificate for 127.0.0.1 are made at the start
# (benches/peers gen-cert). Echo of 20 B over 100 connections and of 1 KiB over 10, one
# message in flight each, with tether over plain ws:// as a baseline; full handshakes (TCP,
# TLS, upgrade, close) per server CPU-second; idle memory per TLS connection. Then the crypto
# providers: clean build time of a minimal rustls crate on ring and on aws-lc-rs (skipped by
# --quick and --no-provider-build), and in-memory handshakes per second on each.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=../tests/support/lib.sh
source tests/support/lib.sh

QUICK=0; RUNS=3; BUILD=1; PROVIDER_BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --runs) RUNS="$2"; shift ;;
        --no-build) BUILD=0 ;;
        --no-provider-build) PROVIDER_BUILD=0 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "tls.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then
    DURATION=0.5; WARMUP=0.2; RUNS=1; IDLE_N=200; HANDSHAKES=200; PROVIDER_BUILD=0
    PROVIDER_ARGS=(--rounds 2 --batch 10)
else
    DURATION=5; WARMUP=1; IDLE_N=2000; HANDSHAKES=3000
    PROVIDER_ARGS=(--rounds 15 --batch 100)
fi
SERVER_CPU=0; LOAD_CPU=1
[ "$(nproc)" -ge 2 ] || LOAD_CPU=0
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$TARGET/bench-tls"; mkdir -p "$WORK"
RESULTS="$WORK/results.jsonl"; : > "$RESULTS"
LOAD="$TARGET/release/tether-load"
PEERS="$TARGET/peers/release"
PKI="$WORK/pki"
log() { printf '[tls %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ ! -d benches/peers/node/node_modules/ws ]; then
    (cd benches/peers/node && retry 3 npm ci --no-audit --no-fund --silent)
fi
if [ "$BUILD" = 1 ]; then
    log "building tether and tether-load (release)"
    cargo build --release -p tether -p tether-load
    log "building the peers (benches/peers, own workspace), with aws-lc-rs for the provider bench"
    cargo build --release --manifest-path benches/peers/Cargo.toml --target-dir "$TARGET/peers"
    cargo build --release --manifest-path benches/peers/Cargo.toml --target-dir "$TARGET/peers" \
        --features aws-lc --bin tls-provider-bench
fi
rm -rf "$PKI"
"$PEERS/gen-cert" "$PKI"

TETHER="$TARGET/release/tether --app echo --workers 1 --listen 127.0.0.1:PORT --log-level error --max-connections 20000"
declare -A CMD=(
    [tether]="$TETHER --tls-cert $PKI/cert.pem --tls-key $PKI/key.pem"
    [tokio-tungstenite]="$PEERS/tungstenite-tls-echo --listen 127.0.0.1:PORT --cert $PKI/cert.pem --key $PKI/key.pem"
    [ws]="node $ROOT/benches/peers/node/ws-echo.js 127.0.0.1:PORT off $PKI/cert.pem $PKI/key.pem"
    [tether-plaintext]="$TETHER"
)
SERVERS="tether tokio-tungstenite ws tether-plaintext"
url() { # server port
    if [ "$1" = tether-plaintext ]; then echo "--url ws://127.0.0.1:$2/"; else echo "--url wss://127.0.0.1:$2/ --tls-ca $PKI/ca.pem"; fi
}
SCENARIOS=(
    "100x20B|-c 100 -s 20 -k 1"
    "10x1KiB|-c 10 -s 1024 -k 1"
)

PORT=19600; SERVER_PID=""
start_server() {
    PORT=$((PORT + 1))
    local cmd="${CMD[$1]//PORT/$PORT}"
    # shellcheck disable=SC2086
    taskset -c "$SERVER_CPU" $cmd > "$WORK/server-$1.log" 2>&1 &
    SERVER_PID=$!
    # Node can take seconds to start on a busy machine.
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then sleep 0.2; return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "server $1 did not start; see $WORK/server-$1.log"
    stop_server; return 1
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
    if line=$(timeout 180 taskset -c "$LOAD_CPU" "$LOAD" --server-pid "$SERVER_PID" \
            --label "$server|$scenario|$rep" "$@" 2> "$WORK/load.err" | tail -n 1) \
            && [ "${line:0:1}" = "{" ] && [[ "$line" != *'"errors":'[1-9]* ]]; then
        echo "$line" >> "$RESULTS"
        log "  $server $scenario: $(echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(", ".join(f"{k}={d[k]:.1f}" for k in ("msgs_per_s","server_cpu_us_per_msg","load_cpu_pct","handshakes_per_s","handshakes_per_server_cpu_s","rss_bytes_per_conn","other_cpu_pct") if isinstance(d.get(k), (int, float))))')"
    else
        log "FAILED: $server $scenario rep $rep: $line $(tail -n 2 "$WORK/load.err" | tr '\n' ' ')"
        FAILED=1
    fi
}

LOAD_AT_START="$(uptime)"
log "load: $LOAD_AT_START"
for rep in $(seq 1 "$RUNS"); do
    for server in $SERVERS; do
        start_server "$server" || { FAILED=1; continue; }
        for s in "${SCENARIOS[@]}"; do
            # shellcheck disable=SC2046,SC2086
            run_load "$server" "${s%%|*}" "$rep" $(url "$server" "$PORT") ${s#*|} \
                --duration "$DURATION" --warmup "$WARMUP"
        done
        # Plain handshakes are ~10x cheaper: more of them, for as long a CPU window.
        n=$HANDSHAKES; [ "$server" != tether-plaintext ] || n=$((HANDSHAKES * 5))
        # shellcheck disable=SC2046
        run_load "$server" handshakes "$rep" $(url "$server" "$PORT") --handshakes "$n"
        stop_server
    done
done
for server in $SERVERS; do
    start_server "$server" || { FAILED=1; continue; }
    # shellcheck disable=SC2046
    run_load "$server" "idle$IDLE_N" 1 $(url "$server" "$PORT") --idle "$IDLE_N" --hold 2 \
        --connect-timeout 60
    stop_server
    sleep 1
done

# Crypto providers. Build time: a minimal crate (a client and a server configuration) on
# each provider, dependencies fetched first, each built from clean in its own target dir.
PROVIDERS="$WORK/providers.jsonl"; : > "$PROVIDERS"
if [ "$PROVIDER_BUILD" = 1 ]; then
    for p in ring aws_lc_rs; do
        dir="$WORK/provider-build/$p"; mkdir -p "$dir/src"
        cat > "$dir/Cargo.toml" <<EOF
[package]
name = "provider-build-$p"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
rustls = { version = "0.23", default-features = false, features = ["$p", "std", "tls12", "logging"] }
EOF
        cat > "$dir/src/main.rs" <<EOF
use std::sync::Arc;
fn main() {
    let provider = Arc::new(rustls::crypto::$p::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth();
    println!("{:?} {}", client.alpn_protocols, std::mem::size_of_val(&server));
}
EOF
        (cd "$dir" && cargo fetch -q)
        rm -rf "$dir/target"
        log "clean release build of a minimal rustls crate on $p"
        t0=$(date +%s.%N)
        if (cd "$dir" && cargo build --release -q --target-dir "$dir/target" 2> "$dir/build.err"); then
            t1=$(date +%s.%N)
            python3 -c "import json,sys; print(json.dumps({'build': sys.argv[1], 'seconds': float(sys.argv[3]) - float(sys.argv[2])}))" \
                "$p" "$t0" "$t1" >> "$PROVIDERS"
        else
            log "FAILED: build on $p: $(tail -n 3 "$dir/build.err" | tr '\n' ' ')"; FAILED=1
        fi
    done
fi
log "in-memory handshakes on each provider (tls-provider-bench ${PROVIDER_ARGS[*]})"
if ! taskset -c "$SERVER_CPU" "$PEERS/tls-provider-bench" "${PROVIDER_ARGS[@]}" >> "$PROVIDERS" 2> "$WORK/provider-bench.err"; then
    log "FAILED: tls-provider-bench: $(tail -n 3 "$WORK/provider-bench.err" | tr '\n' ' ')"; FAILED=1
fi
cat "$WORK/provider-bench.err" >&2

TOOLS="cmake $(command -v cmake > /dev/null && echo found || echo absent), nasm $(command -v nasm > /dev/null && echo found || echo absent)"
VERSIONS="rustls $(grep -A1 '^name = "rustls"$' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p'), tokio-rustls $(grep -A1 '^name = "tokio-rustls"$' benches/peers/Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p'), tokio-tungstenite $(grep -A1 '^name = "tokio-tungstenite"$' benches/peers/Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p'), aws-lc-rs $(grep -A1 '^name = "aws-lc-rs"$' benches/peers/Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p'), Node $(node --version) with OpenSSL $(node -p process.versions.openssl), ws $(node -p "require('$ROOT/benches/peers/node/node_modules/ws/package.json').version")"
python3 - "$RESULTS" "$PROVIDERS" "$RUNS" "$LOAD_AT_START" "$TOOLS" "$VERSIONS" > benches/tls-results.md <<'PY'
import json, statistics, sys, collections
results, providers, runs, load, tools, versions = sys.argv[1:7]
rows = [json.loads(l) for l in open(results) if l.startswith("{")]
prov = [json.loads(l) for l in open(providers) if l.startswith("{")]
by = collections.defaultdict(list)
for r in rows:
    server, scenario, _ = r["label"].split("|")
    by[(server, scenario)].append(r)
servers = ["tether", "tokio-tungstenite", "ws", "tether-plaintext"]
about = {
    "tether": "`tether --app echo --workers 1 --tls-cert --tls-key`: rustls on its mio loop",
    "tokio-tungstenite": "`benches/peers` `tungstenite-tls-echo`: tokio-rustls `TlsAcceptor`, then `accept_async`, current-thread runtime",
    "ws": "Node `ws` on `https.createServer` (Node's TLS defaults), `perMessageDeflate: false`",
    "tether-plaintext": "the same tether over `ws://`: the baseline, what TLS adds",
}
med = lambda xs: statistics.median(xs) if xs else float("nan")
x = lambda r: "–" if r != r else f"{r:.2f}x"  # a ratio, or a dash where a run failed
def m(server, scenario, key):
    return med([r[key] for r in by[(server, scenario)] if isinstance(r.get(key), (int, float))])
others = [r["other_cpu_pct"] for r in rows if isinstance(r.get("other_cpu_pct"), (int, float))]
print("## TLS (issue 11)\n")
print("Generated by `benches/tls.sh`. Every server terminates TLS itself with the same certificate: a "
      "throwaway CA and an ECDSA P-256 leaf for `127.0.0.1` made at the start of the run (`benches/peers` "
      "`gen-cert`; no key is committed). The same load generator drives all of them: `tether-load` over "
      "`wss://` runs a rustls client (ring) per connection on its mio loop, makes full handshakes only "
      "(no resumption), offers ALPN `http/1.1`, and checks every echoed byte. No compression anywhere. "
      "Tether and the tokio peer configure rustls alike (ring, TLS 1.3 and 1.2, ALPN `http/1.1`, rustls's "
      "defaults otherwise, which send two session tickets); Node uses OpenSSL's defaults. **Server CPU** is "
      "the server's user+system time from `/proc` over the measured window: messages or handshakes per "
      "server CPU-second are the figures to compare; throughput on this 2-core machine also depends on "
      "the load generator, which does the client's half of the same cryptography on the other core.\n")
print(f"Medians of {runs} run(s); every server on one core (CPU 0), the load on the other; load at start: "
      f"{load.strip()}; other processes used {med(others):.0f}% of a CPU during a measurement (median; at most "
      f"{max(others or [float('nan')]):.0f}%). "
      f"Versions: {versions}.\n")
print("| server | what runs |")
print("|---|---|")
for s in servers:
    print(f"| {s} | {about[s]} |")
tt = "tokio-tungstenite"
for scenario, title in (("100x20B", "20 B, 100 connections x 1 in flight"), ("10x1KiB", "1 KiB, 10 connections x 1 in flight")):
    print(f"\n**Echo over wss://, {title}.** Messages per server CPU-second against tokio-tungstenite on "
          "tokio-rustls and against Node `ws`; the last column is the server CPU per message against tether's "
          "own over plain `ws://`.\n")
    print("| server | msg/s | server CPU µs/msg | msg per server CPU-s | vs tokio-tungstenite | vs ws | CPU vs tether plaintext | load CPU |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    cpu = {s: m(s, scenario, "server_cpu_us_per_msg") for s in servers}
    for s in servers:
        if not by[(s, scenario)]:
            print(f"| {s} | failed | | | | | | |"); continue
        print(f"| {s} | {m(s, scenario, 'msgs_per_s'):,.0f} | {cpu[s]:.2f} | {1e6 / cpu[s]:,.0f} | "
              f"{x(cpu[tt] / cpu[s])} | {x(cpu['ws'] / cpu[s])} | {x(cpu[s] / cpu['tether-plaintext'])} | "
              f"{m(s, scenario, 'load_cpu_pct'):.0f}% |")
print("\n**Target of issue 11: tether ≥ 1.5× tokio-tungstenite on tokio-rustls in messages per server CPU-second.**\n")
print("| scenario | tether vs tokio-tungstenite | met |")
print("|---|---:|---|")
for scenario, title in (("100x20B", "20 B, 100 connections"), ("10x1KiB", "1 KiB, 10 connections")):
    r = m(tt, scenario, "server_cpu_us_per_msg") / m("tether", scenario, "server_cpu_us_per_msg")
    print(f"| {title} | {x(r)} | {'yes' if r >= 1.5 else '**no**'} |")
print(f"\n**Handshakes.** Connections opened 256 at a time, each through TCP, a full TLS "
      "handshake and the WebSocket upgrade, then closed (FIN) with its batch. Handshakes per second depend "
      "on the load generator, which verifies two ECDSA signatures per handshake on its one core, and on "
      "each batch waiting for its slowest; per server CPU-second is the server's capacity per core.\n")
print("| server | per run | handshakes/s | server CPU µs per handshake | handshakes per server CPU-second | vs tokio-tungstenite | vs ws | load CPU | agreed |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
hs = {s: m(s, "handshakes", "server_cpu_us_per_handshake") for s in servers}
for s in servers:
    rs = by[(s, "handshakes")]
    if not rs:
        print(f"| {s} | failed | | | | | | | |"); continue
    print(f"| {s} | {rs[0]['handshakes']:,} | {m(s, 'handshakes', 'handshakes_per_s'):,.0f} | {hs[s]:.0f} | {1e6 / hs[s]:,.0f} | "
          f"{x(hs[tt] / hs[s])} | {x(hs['ws'] / hs[s])} | {m(s, 'handshakes', 'load_cpu_pct'):.0f}% | `{rs[0]['tls']}` |")
print("\n**Idle memory per connection** (server RSS growth over N open connections after the handshake, "
      "rustls or OpenSSL buffers included; one run).\n")
print("| server | connections | RSS per connection | vs tether plaintext | kernel slab per connection pair |")
print("|---|---:|---:|---:|---:|")
idle = {s: r for (s, sc), rs in by.items() for r in rs if sc.startswith("idle")}
plain = idle.get("tether-plaintext", {}).get("rss_bytes_per_conn", float("nan"))
for s in servers:
    r = idle.get(s)
    if not r:
        print(f"| {s} | failed | | | |"); continue
    b = r["rss_bytes_per_conn"]
    print(f"| {s} | {r['connections']} | {b / 1024:.2f} KiB | {x(b / plain)} | {r['kernel_slab_bytes_per_conn_pair'] / 1024:.1f} KiB |")
print("\n**Crypto provider: ring or aws-lc-rs.**\n")
builds = {p["build"]: p["seconds"] for p in prov if "build" in p}
if builds:
    print(f"Clean `cargo build --release` of a minimal crate that makes a rustls client and server "
          f"configuration (rustls 0.23, `default-features = false`, the provider, `std`, `tls12`, `logging`), "
          f"dependencies downloaded beforehand, each in its own target directory, on this machine (2 cores; "
          f"{tools}: aws-lc-sys built its C with the `cc` crate alone).\n")
    print("| provider | clean release build |")
    print("|---|---:|")
    for p, label in (("ring", "ring"), ("aws_lc_rs", "aws-lc-rs")):
        print(f"| {label} | {builds[p]:.1f} s |" if p in builds else f"| {label} | failed |")
    print()
else:
    print("Build times: not measured in this run (`--quick` or `--no-provider-build`).\n")
hsb = [p for p in prov if "provider" in p]
if hsb:
    print(f"Full TLS 1.3 handshakes between an in-memory rustls client and server on one core "
          f"(`benches/peers` `tls-provider-bench`, {hsb[0]['rounds']} rounds of {hsb[0]['batch']} per "
          "combination, interleaved; medians). Both providers agree on "
          f"`{hsb[0]['agreed'].replace('Some(', '').replace(')', '')}` (rustls's defaults without "
          "`prefer-post-quantum`); the server's share is timed apart.\n")
    print("| certificate | provider | server handshakes per CPU-second | client + server handshakes/s | vs ring |")
    print("|---|---|---:|---:|---:|")
    ring = {p["key"]: p for p in hsb if p["provider"] == "ring"}
    for p in sorted(hsb, key=lambda p: (p["key"], p["provider"] != "ring")):
        base = ring.get(p["key"], {}).get("server_per_s", float("nan"))
        print(f"| {p['key']} | {p['provider']} | {p['server_per_s']:,.0f} | {p['pair_per_s']:,.0f} | {x(p['server_per_s'] / base)} |")
    aws = {p["key"]: p["server_per_s"] / ring[p["key"]]["server_per_s"] for p in hsb if p["provider"] == "aws-lc-rs" and p["key"] in ring}
    verdict = "; ".join(f"{k} {v:.2f}x" for k, v in sorted(aws.items()))
    print(f"\nHandshakes favour {'aws-lc-rs' if min(aws.values()) > 1 else 'ring' if max(aws.values()) < 1 else 'neither throughout'} "
          f"(aws-lc-rs against ring, server side: {verdict})", end="")
    if "ring" in builds and "aws_lc_rs" in builds:
        faster = "ring" if builds["ring"] < builds["aws_lc_rs"] else "aws-lc-rs"
        print(f"; build time favours {faster} ({builds['ring']:.0f} s on ring against {builds['aws_lc_rs']:.0f} s on aws-lc-rs).")
    else:
        print(".")
PY
log "wrote benches/tls-results.md"
exit "$FAILED"
