#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target (tether-codec, tether-server's PROXY header parser)
# for a bounded time each.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]      (default 30)
#
# Each target starts from its committed seeds (fuzz/corpus/<target>/seed-*), copied into a
# scratch corpus so the committed directory is never polluted. Prints the number of executions
# per target and exits non-zero if cargo-fuzz cannot be installed, a target fails to build, or
# a target crashes (the input is saved under fuzz/artifacts/<target>/).
#
# Environment: FUZZ_TOOLCHAIN (default nightly), FUZZ_SANITIZER (address, none, ...; default
# address), CARGO_BUILD_JOBS to cap build parallelism.
set -uo pipefail

secs="${1:-30}"
case "$secs" in
'' | *[!0-9]* | 0)
    echo "usage: $0 [SECONDS_PER_TARGET]  (a positive integer, default 30)" >&2
    exit 2
    ;;
esac
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
sanitizer="${FUZZ_SANITIZER:-address}"
start=$SECONDS

# cargo fuzz finds ./fuzz from the repository root.
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

# ---- cargo-fuzz ------------------------------------------------------------------------------
if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
    for attempt in 1 2 3; do
        echo "== installing cargo-fuzz (attempt $attempt of 3)"
        if timeout 1200 cargo install cargo-fuzz --locked; then
            break
        fi
        [ "$attempt" -lt 3 ] && sleep $((attempt * 10))
    done
    if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
        echo "error: cargo-fuzz is not available" >&2
        exit 1
    fi
fi

# Debug assertions (and with them overflow checks) on: an overflow is a bug worth a crash.
fuzz_flags=(--debug-assertions --sanitizer "$sanitizer")

# ---- build -----------------------------------------------------------------------------------
echo "== building all targets ($(cargo "+$toolchain" fuzz --version), sanitizer $sanitizer)"
if ! timeout 1800 cargo "+$toolchain" fuzz build "${fuzz_flags[@]}"; then
    echo "error: the fuzz targets failed to build" >&2
    exit 1
fi
mapfile -t targets < <(cargo "+$toolchain" fuzz list)
if [ "${#targets[@]}" -eq 0 ]; then
    echo "error: no fuzz targets found" >&2
    exit 1
fi

# ---- run -------------------------------------------------------------------------------------
scratch="$(mktemp -d "${TMPDIR:-/tmp}/tether-fuzz.XXXXXX")" || exit 1
trap 'rm -rf "$scratch"' EXIT

failed=()
summary=()
for t in "${targets[@]}"; do
    corpus="$scratch/corpus/$t"
    log="$scratch/$t.log"
    mkdir -p "$corpus"
    if compgen -G "fuzz/corpus/$t/seed-*" >/dev/null; then
        cp fuzz/corpus/"$t"/seed-* "$corpus"/
    fi
    echo "== $t: ${secs}s from $(ls "$corpus" | wc -l) seeds"
    # The outer timeout only guards against a hang of libFuzzer itself.
    timeout --kill-after=10 $((secs + 300)) \
        cargo "+$toolchain" fuzz run "${fuzz_flags[@]}" "$t" "$corpus" -- \
        -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        >"$log" 2>&1
    rc=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
    execs="${execs:-?}"
    if [ "$rc" -eq 0 ]; then
        status="ok"
    else
        status="FAILED (exit $rc)"
        failed+=("$t")
        echo "---- $t:"
        if grep -q 'panicked at' "$log"; then
            # The panic message and where the input went, without libFuzzer's hex dump.
            grep -A 2 -m 1 'panicked at' "$log"
            grep -E '^(SUMMARY|artifact_prefix)' "$log"
            grep -m 1 -E '^\s+cargo fuzz run' "$log" | sed 's/^\s*/reproduce: /'
        else
            grep -v '^stat::' "$log" | cut -c 1-300 | tail -n 40
        fi
        echo "----"
    fi
    line="$(printf '%-20s %12s executions  %s' "$t" "$execs" "$status")"
    echo "$line"
    summary+=("$line")
done

echo
echo "== summary (${secs}s per target, $((SECONDS - start))s in all including the build)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "crashing targets: ${failed[*]}; inputs are in fuzz/artifacts/<target>/" >&2
    exit 1
fi
