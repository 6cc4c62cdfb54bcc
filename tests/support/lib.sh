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

# kill_tether PID_FILE: stops the tether server whose pid the file holds, if it still runs.
kill_tether() {
    local pid
    [[ -s "$1" ]] || return 0
    pid=$(cat "$1")
    if kill -0 "$pid" 2>/dev/null && [[ "$(cat /proc/"$pid"/comm 2>/dev/null)" == tether ]]; then
        kill "$pid" 2>/dev/null || true
    fi
}
