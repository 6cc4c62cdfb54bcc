#!/usr/bin/env bash
# Autobahn sections 1-10, server role, over wss://: tether terminates TLS itself
# (--tls-cert/--tls-key, a test certificate made at run time) and kosoku, which speaks plain
# TCP only, reaches it through Debian's nginx `stream` module: nginx listens plain and opens TLS
# to tether (proxy_ssl, verifying tether's certificate against the test CA). Verdicts must match
# expected-server.txt for those sections. Prints how long the run took.
#
#   tests/autobahn/server-wss.sh [OUTDIR]   reports: OUTDIR (default target/autobahn/server-wss)
#
# Installs nginx and libnginx-mod-stream (apt), kosoku and trustme (.venv) when missing, builds
# target/release/tether, binds 127.0.0.1 on free ports. Ends with "N passed, M failed";
# non-zero on any failure.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUTDIR=${1:-$ROOT/target/autobahn/server-wss}
mkdir -p "$OUTDIR"
# shellcheck source=../support/lib.sh
source "$ROOT/tests/support/lib.sh"

NGX=$(mktemp -d)
PIDS=()
# shellcheck disable=SC2329 # run by the EXIT trap
cleanup() {
    for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null; done
    rm -rf "$NGX"
}
trap cleanup EXIT
die() { echo "server-wss: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

ensure_debs nginx libnginx-mod-stream || die "cannot install nginx and its stream module"
VENV="$ROOT/.venv"
pip_pinned "$VENV" kosoku 0.1.0 || die "cannot install kosoku"
make_test_cert "$VENV" "$NGX/certs" || die "cannot make the test certificate"
(cd "$ROOT" && cargo build --release --bin tether) || die "cannot build tether"

wait_port() { # port pid
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
# A port picked free can be taken before tether binds it (after Autobahn's client role the
# ephemeral range is full of its connections): pick again, a few times.
for attempt in 1 2 3 4 5; do
    read -r TLS_PORT PLAIN_PORT < <(free_ports 2) || die "cannot pick free ports"
    "$ROOT/target/release/tether" --app echo --deflate on --listen "127.0.0.1:$TLS_PORT" --log-level warn \
        --tls-cert "$NGX/certs/cert.pem" --tls-key "$NGX/certs/key.pem" > "$OUTDIR/tether.log" 2>&1 &
    PIDS+=($!)
    wait_port "$TLS_PORT" "${PIDS[-1]}" && break
    grep -q "Address already in use" "$OUTDIR/tether.log" && [[ $attempt -lt 5 ]] \
        || die "tether did not start; see $OUTDIR/tether.log"
    echo "server-wss: port $TLS_PORT was taken meanwhile; picking again" >&2
done

# The certificate names 127.0.0.1 and localhost; nginx checks DNS names only, so it verifies
# (and sends as SNI) localhost.
cat > "$NGX/autobahn.conf" <<EOF
server {
    listen 127.0.0.1:$PLAIN_PORT;
    proxy_pass 127.0.0.1:$TLS_PORT;
    proxy_ssl on;
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate $NGX/certs/ca.pem;
    proxy_ssl_name localhost;
    proxy_ssl_server_name on;
}
EOF
nginx_conf "$NGX" stream "$NGX/autobahn.conf" /usr/lib/nginx/modules/ngx_stream_module.so
NGINX=(nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log")
"${NGINX[@]}" -t -q || die "nginx refuses $NGX/nginx.conf"
"${NGINX[@]}" -g 'daemon off;' > "$OUTDIR/nginx.log" 2>&1 &
PIDS+=($!)
wait_port "$PLAIN_PORT" "${PIDS[-1]}" || { cat "$NGX/error.log" >&2; die "nginx did not start"; }

# Sections 1-10 of the expected verdicts (12-13, permessage-deflate, are not run here).
grep -E '^([1-9]|10)\.' "$HERE/expected-server.txt" > "$OUTDIR/expected.txt"
START=$SECONDS
AUTOBAHN_CASES="1.* 2.* 3.* 4.* 5.* 6.* 7.* 9.* 10.*" AUTOBAHN_EXPECTED="$OUTDIR/expected.txt" VENV="$VENV" \
    bash "$HERE/server.sh" "ws://127.0.0.1:$PLAIN_PORT" "$OUTDIR" | tee "$OUTDIR/check.log"
rc=${PIPESTATUS[0]}
echo "Autobahn 1-10 over wss:// (kosoku -> nginx stream -> tether TLS) took $((SECONDS - START)) s"
tail -n 1 "$OUTDIR/check.log"
exit "$rc"
