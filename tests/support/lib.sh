# shellcheck shell=bash
# Shell helpers shared by .ci/run and the test scripts under tests/: retried installs and
# cleanup of a tether server started for a test. Source it; it defines functions only.

# retry N CMD...: run CMD up to N times (package installs can fail once and pass on retry).
retry() {
    local n=$1 i
    shift
    for ((i = 1; i <= n; i++)); do
        if "$@"; then return 0; fi
        echo "attempt $i/$n failed: $*" >&2
        sleep $((i * 5))
    done
    return 1
}

# free_ports N: N distinct TCP ports free on 127.0.0.1 now, on one line, picked below the
# kernel's ephemeral range: a burst of outgoing connections (Autobahn's client role leaves
# thousands in TIME_WAIT) cannot take one between the pick and the server's bind, as it could
# a port the kernel handed out from that range.
free_ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
top = max(10_100, min(lo, 65_536) - 1)
held, ports = [], []
for _ in range(2000):
    if len(ports) == n:
        break
    p = random.randint(10_000, top)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    held.append(s)
    ports.append(p)
for s in held:
    s.close()
if len(ports) < n:
    sys.exit("free_ports: no free port found")
print(*ports)
PY
}

# free_port: one such port.
free_port() { free_ports 1; }

# kill_tether PID_FILE: stops the tether server whose pid the file holds, if it still runs.
kill_tether() {
    local pid
    [[ -s "$1" ]] || return 0
    pid=$(cat "$1")
    if kill -0 "$pid" 2>/dev/null && [[ "$(cat /proc/"$pid"/comm 2>/dev/null)" == tether ]]; then
        kill "$pid" 2>/dev/null || true
    fi
}

# pip_pinned VENV NAME VERSION: installs NAME==VERSION into VENV (created if missing), unless
# it is there already.
pip_pinned() {
    [[ -x "$1/bin/python" ]] || retry 3 python3 -m venv "$1" || return 1
    "$1/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$2') != '$3')" 2>/dev/null \
        || retry 3 "$1/bin/pip" install --disable-pip-version-check -q "$2==$3"
}

# make_test_cert VENV OUTDIR: a fresh test CA and a certificate for 127.0.0.1/localhost in
# OUTDIR (ca.pem, cert.pem, key.pem, spki.txt; see make_cert.py), with trustme from VENV.
make_test_cert() {
    pip_pinned "$1" trustme 1.2.1 || return 1
    "$1/bin/python" "$(dirname "${BASH_SOURCE[0]}")/make_cert.py" "$2"
}

# ensure_debs PKG...: installs the Debian packages that are not installed yet (apt-get update
# first, as on a fresh machine).
ensure_debs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' installed$' || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    retry 3 bash -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"' _ "${missing[@]}"
}

# nginx_conf DIR CONTEXT SNIPPET [MODULE...]: writes DIR/nginx.conf, a minimal main
# configuration around SNIPPET (a conf.d-style file), which it includes in an `http` or
# `stream` CONTEXT after loading the dynamic MODULEs (.so paths). Every path nginx writes
# (pid, logs, temp files) is in DIR, so it runs beside any system nginx without touching it:
#   nginx -p DIR -c DIR/nginx.conf -e DIR/error.log -g 'daemon off;'
nginx_conf() {
    local dir=$1 context=$2 snippet=$3 m
    shift 3
    {
        for m in "$@"; do echo "load_module $m;"; done
        echo "pid $dir/nginx.pid;"
        echo "error_log $dir/error.log info;"
        echo "events { worker_connections 1024; }"
        echo "$context {"
        if [[ $context == http ]]; then
            echo "    access_log $dir/access.log;"
            for m in client_body proxy fastcgi uwsgi scgi; do echo "    ${m}_temp_path $dir/$m;"; done
        fi
        echo "    include $snippet;"
        echo "}"
    } > "$dir/nginx.conf"
}
