#!/usr/bin/env python3
"""benches/report.py: turns compare.sh results (JSON lines) and criterion estimates into BENCHMARKS.md and hand-written SVG charts.

Standard library only; no network. Run by benches/compare.sh; can be re-run on saved results:
    python3 benches/report.py --results target/bench-compare/results.jsonl --criterion target/criterion \
        --out BENCHMARKS.md --charts benches/charts
"""

import argparse
import html
import json
import os
import statistics

ECHO_SERVERS = ["tether-1w", "tether-2w", "tokio-tungstenite", "fastwebsockets"]
SCENARIOS = ["100x20B", "10x1KiB", "200x16KiB", "1x64inflightx20B", "1x1MiB"]
SCENARIO_TEXT = {
    "100x20B": "100 connections × 20 B, 1 in flight",
    "10x1KiB": "10 connections × 1 KiB, 1 in flight",
    "200x16KiB": "200 connections × 16 KiB, 1 in flight",
    "1x64inflightx20B": "1 connection × 64 in flight × 20 B",
    "1x1MiB": "1 connection × 1 MiB, 1 in flight",
}
CODEC_LIBS = ["tether", "tungstenite", "fastwebsockets"]
SIZES = ["16", "125", "1024", "65536", "1048576"]
COLORS = {
    "tether-1w": "#2b6cb0",
    "tether-2w": "#63b3ed",
    "tokio-tungstenite": "#dd6b20",
    "fastwebsockets": "#38a169",
    "tether": "#2b6cb0",
    "tungstenite": "#dd6b20",
    "reference": "#a0aec0",
    "tether-bench": "#2b6cb0",
}
# The baseline tether build (compare.sh --baseline), in every chart it appears in.
BASELINE_COLOR = "#805ad5"
BASELINE_SHADES = ["#d6bcfa", "#805ad5", "#44337a"]  # broadcast p50, p99, max


def load_results(path):
    """Results grouped as {(server, scenario): [record, ...]} (failed runs kept apart)."""
    runs, failed = {}, []
    if not os.path.exists(path):
        return runs, failed
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            parts = d.get("label", "").split("|")
            if len(parts) != 3:
                continue
            if d.get("failed"):
                failed.append(d["label"])
                continue
            runs.setdefault((parts[0], parts[1]), []).append(d)
    return runs, failed


NOISY_PCT = 15.0


def clean(records):
    """Runs where other processes used under NOISY_PCT % of a CPU, if any; else all runs."""
    quiet = [r for r in records if (r.get("other_cpu_pct") or 0) < NOISY_PCT]
    return quiet or records


def med(records, key):
    vals = [r[key] for r in records if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def rep_of(record):
    """The rep number of a record (the label's last field)."""
    return record.get("label", "").split("|")[-1]


def rep_ratios(num, den, key):
    """Per-rep ratios num[key] / den[key] of two servers' records from the same reps of one
    run, and how many reps were paired: (median of the ratios or None, ratios used, reps paired).
    Reps where either run was noisy (see `clean`) are left out unless every rep was."""
    n_by, d_by = {}, {}
    for r in num:
        n_by.setdefault(rep_of(r), r)
    for r in den:
        d_by.setdefault(rep_of(r), r)
    pairs = []
    for rep in n_by.keys() & d_by.keys():
        a, b = n_by[rep].get(key), d_by[rep].get(key)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
            quiet = all((x.get("other_cpu_pct") or 0) < NOISY_PCT for x in (n_by[rep], d_by[rep]))
            pairs.append((a / b, quiet))
    used = [r for r, q in pairs if q] or [r for r, _ in pairs]
    return (statistics.median(used) if used else None), len(used), len(pairs)


def criterion_ns(root, *parts):
    """Median time in ns of one criterion benchmark, or None."""
    p = os.path.join(root, *parts, "new", "estimates.json")
    try:
        with open(p) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def crit_median(roots, *parts):
    """Median over runs of one benchmark's median time, or None."""
    ts = [t for t in (criterion_ns(r, *parts) for r in roots) if t is not None]
    return statistics.median(ts) if ts else None


def crit_ratio(roots, peer_parts, tether_parts):
    """Median over runs of peer time / tether time, each ratio taken within one run (the
    machine drifts between runs more than between two neighbouring benchmarks)."""
    rs = []
    for r in roots:
        p, t = criterion_ns(r, *peer_parts), criterion_ns(r, *tether_parts)
        if p is not None and t:
            rs.append(p / t)
    return statistics.median(rs) if rs else None


def crit_vs(roots, group, lib, *rest):
    """A library's median time in `group` and its ratio to tether's (see `crit_ratio`)."""
    return (
        crit_median(roots, group, lib, *rest),
        crit_ratio(roots, (group, lib, *rest), (group, "tether", *rest)),
    )


def xfmt(r):
    """A ratio as text, or a dash."""
    return "–" if r is None else f"{r:.2f}×"


def fmt(v, digits=1):
    if v is None:
        return "–"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f} M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.0f} k"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def ratio(a, b):
    """a / b as text, or a dash."""
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def human_size(s):
    n = int(s)
    if n >= 1 << 20:
        return f"{n >> 20} MiB"
    if n >= 1024:
        return f"{n >> 10} KiB"
    return f"{n} B"


def bar_chart(path, title, unit, bars, note=""):
    """A horizontal bar chart: bars = [(label, value, annotation, color)]."""
    bars = [b for b in bars if b[1] is not None]
    width, left, right, row = 760, 190, 150, 30
    top = 48
    height = top + row * max(len(bars), 1) + 40
    vmax = max([b[1] for b in bars] + [1e-12])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
        f"{html.escape(title)}</text>",
        f'<text x="{width / 2}" y="40" text-anchor="middle" fill="#555">{html.escape(unit)}</text>',
    ]
    span = width - left - right
    for i, (label, value, annotation, color) in enumerate(bars):
        y = top + i * row
        w = max(1.0, span * value / vmax)
        out.append(
            f'<text x="{left - 8}" y="{y + 19}" text-anchor="end">{html.escape(label)}</text>'
        )
        out.append(
            f'<rect x="{left}" y="{y + 5}" width="{w:.1f}" height="{row - 10}" fill="{color}"/>'
        )
        out.append(
            f'<text x="{left + w + 6:.1f}" y="{y + 19}">{html.escape(fmt(value, 2))} '
            f"{html.escape(annotation)}</text>"
        )
    if note:
        out.append(
            f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle" fill="#777" '
            f'font-size="11">{html.escape(note)}</text>'
        )
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", default="target/bench-compare/results.jsonl")
    ap.add_argument("--codec-ab", default="", help="JSON lines of benches/codec_ab.rs")
    ap.add_argument(
        "--criterion",
        action="append",
        help="a criterion output directory; repeat it for several runs (medians are reported)",
    )
    ap.add_argument("--sizes", default="{}", help="JSON from `tether-load --sizes`")
    ap.add_argument("--machine", default="")
    ap.add_argument("--load", default="")
    ap.add_argument("--runs", default="3")
    ap.add_argument("--notes", default="benches/analysis.md")
    ap.add_argument("--out", default="BENCHMARKS.md")
    ap.add_argument("--charts", default="benches/charts")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--note", default="", help="a line shown under the title")
    ap.add_argument(
        "--baseline-name",
        default="",
        help="server name of the baseline tether build (compare.sh --baseline); its broadcast "
        "server is NAME-bench",
    )
    ap.add_argument("--baseline-dir", default="", help="where the baseline binaries are (shown only)")
    a = ap.parse_args()
    base_name = a.baseline_name
    base_bench = f"{base_name}-bench" if base_name else ""
    echo_servers = list(ECHO_SERVERS)
    if base_name:
        echo_servers.insert(1, base_name)
        COLORS[base_name] = BASELINE_COLOR
        COLORS[base_bench] = BASELINE_COLOR

    os.makedirs(a.charts, exist_ok=True)
    charts_rel = os.path.relpath(a.charts, os.path.dirname(os.path.abspath(a.out)) or ".")
    runs, failed = load_results(a.results)
    md = []
    targets = []  # (target, measured, ok)

    md.append("# Tether benchmarks\n")
    md.append(
        "Generated by `benches/compare.sh` (see the end of this file for the exact commands). "
        "Loopback only; the server is pinned to CPU 0 and the load generator to CPU 1 "
        "(`taskset`). Figures are medians of "
        f"{a.runs} run(s). **CPU µs per message** is the server's user+system time from "
        "`/proc/PID/stat` over the measured window divided by the echoes: steadier than "
        "throughput on a shared machine.\n"
    )
    if a.note:
        md.append(f"> **{a.note}**\n")
    if a.quick:
        md.append(
            "> **`--quick` run: every step ran for a fraction of a second. These numbers only "
            "show that the script works.**\n"
        )
    md.append(f"- Machine: {a.machine}\n- Load average at start: `{a.load.strip()}`\n")

    # ---- echo ----
    md.append("## Echo\n")
    md.append(
        "Messages/s (ratio to tether with 1 worker) · server CPU µs per message (ratio, and "
        "the kernel's share of it from `/proc/PID/stat`) · p99 latency. `tether-2w` runs 2 workers on the same single pinned core: it shows the "
        "cost of sharding, not scaling.\n"
    )
    if base_name:
        where = f" (`{a.baseline_dir}`)" if a.baseline_dir else ""
        md.append(
            f"`{base_name}` is an older tether build{where} run as a peer with tether-1w's flags "
            "(`--workers 1`), right after tether-1w in every rep.\n"
        )
    header = "| scenario | " + " | ".join(echo_servers) + " |"
    md.append(header)
    md.append("|---|" + "---|" * len(echo_servers))
    echo = {}
    noisy = []
    for sc in SCENARIOS:
        cells = []
        base = clean(runs.get(("tether-1w", sc), []))
        b_rate, b_cpu = med(base, "msgs_per_s"), med(base, "server_cpu_us_per_msg")
        for srv in echo_servers:
            all_rs = runs.get((srv, sc), [])
            rs = clean(all_rs)
            if len(rs) < len(all_rs):
                noisy.append(f"{srv} {sc}: {len(all_rs) - len(rs)} of {len(all_rs)}")
            rate, cpu, p99 = (
                med(rs, "msgs_per_s"),
                med(rs, "server_cpu_us_per_msg"),
                med(rs, "p99_us"),
            )
            echo[(srv, sc)] = (rate, cpu, p99, med(rs, "load_cpu_pct"))
            if rate is None:
                cells.append("–")
                continue
            sys_pct = med(rs, "server_sys_pct")
            kernel = f", {fmt(sys_pct, 0)}% kernel" if sys_pct is not None else ""
            cells.append(
                f"{fmt(rate)} msg/s ({ratio(rate, b_rate)})<br>{fmt(cpu, 2)} µs CPU "
                f"({ratio(cpu, b_cpu)}{kernel})<br>p99 {fmt(p99)} µs"
            )
        md.append(f"| {SCENARIO_TEXT[sc]} | " + " | ".join(cells) + " |")
        bar_chart(
            os.path.join(a.charts, f"echo-{sc}.svg"),
            f"Echo: {SCENARIO_TEXT[sc]}",
            "messages per second (higher is better); server CPU µs per message in brackets",
            [
                (
                    srv,
                    echo[(srv, sc)][0],
                    f"msg/s  ({fmt(echo[(srv, sc)][1], 2)} µs CPU)",
                    COLORS[srv],
                )
                for srv in echo_servers
            ],
            note=f"medians of {a.runs} run(s); server on CPU 0, load on CPU 1",
        )
    md.append("")
    if noisy:
        md.append(
            f"Runs left out because other processes used ≥ {NOISY_PCT:.0f}% of a CPU meanwhile "
            "(`other_cpu_pct` from `/proc/stat`): " + "; ".join(noisy) + ".\n"
        )
    md.append(
        "Load-generator CPU (median % of its core), to show when the client rather than "
        "the server was the limit: "
        + "; ".join(
            f"{sc}: "
            + ", ".join(
                f"{srv} {fmt(echo[(srv, sc)][3], 0)}%"
                for srv in echo_servers
                if echo[(srv, sc)][3] is not None
            )
            for sc in SCENARIOS
        )
        + ".\n"
    )
    for sc in SCENARIOS:
        md.append(f"![{SCENARIO_TEXT[sc]}]({charts_rel}/echo-{sc}.svg)")
    md.append("")

    def echo_target(sc, peer, want):
        t, p = echo.get(("tether-1w", sc)), echo.get((peer, sc))
        if not t or not p or t[0] is None or p[0] is None:
            targets.append((f"echo {sc}: ≥ {want}× {peer}", "not measured", False))
            return
        r = t[0] / p[0]
        targets.append((f"echo {sc}: msg/s ≥ {want}× {peer}", f"{r:.2f}×", r >= want))

    for sc in ["100x20B", "10x1KiB", "200x16KiB", "1x1MiB"]:
        echo_target(sc, "fastwebsockets", 1.4 if sc == "200x16KiB" else 1.1)
        echo_target(sc, "tokio-tungstenite", 1.5)
        t = echo.get(("tether-1w", sc))
        for peer in ["fastwebsockets", "tokio-tungstenite"]:
            p = echo.get((peer, sc))
            if t and p and t[1] is not None and p[1] is not None:
                targets.append(
                    (
                        f"echo {sc}: CPU/msg below {peer}",
                        f"{t[1]:.2f} vs {p[1]:.2f} µs",
                        t[1] < p[1],
                    )
                )
    echo_target("1x64inflightx20B", "fastwebsockets", 8)
    echo_target("1x64inflightx20B", "tokio-tungstenite", 1.5)

    # ---- idle ----
    md.append("## Idle memory\n")
    md.append(
        "Server RSS growth per open connection (`/proc/PID/status` VmRSS after all "
        "connections are open, minus before), one run per size. The kernel's share "
        "(socket buffers, `struct tcp_sock`, epoll items) is not in RSS: the last column is "
        "the system-wide `Slab` growth per connection, both ends together.\n"
    )
    idle_sizes = sorted(
        {int(sc[4:]) for (_, sc) in runs if sc.startswith("idle")}
    )
    md.append("| server | " + " | ".join(f"{n} conns: B/conn" for n in idle_sizes) + " | kernel slab B/conn pair |")
    md.append("|---|" + "---|" * (len(idle_sizes) + 1))
    idle = {}
    for srv in echo_servers:
        cells, slab = [], None
        for n in idle_sizes:
            rs = runs.get((srv, f"idle{n}"), [])
            v = med(rs, "rss_bytes_per_conn")
            idle[(srv, n)] = v
            s = med(rs, "kernel_slab_bytes_per_conn_pair")
            slab = s if s is not None else slab
            cells.append(fmt(v, 0) if v is not None else "–")
        md.append(f"| {srv} | " + " | ".join(cells) + f" | {fmt(slab, 0)} |")
    md.append("")
    if idle_sizes:
        n_max = idle_sizes[-1]
        bar_chart(
            os.path.join(a.charts, "idle.svg"),
            f"Idle server RSS per connection at {n_max} connections",
            "bytes per connection (lower is better)",
            [(s, idle.get((s, n_max)), "B", COLORS[s]) for s in echo_servers],
        )
        md.append(f"![idle memory]({charts_rel}/idle.svg)\n")
        t = idle.get(("tether-1w", n_max))
        targets.append(
            (
                f"idle: ≤ 1 KiB server RSS per connection at {n_max}",
                f"{fmt(t, 0)} B" if t is not None else "not measured",
                t is not None and t <= 1024,
            )
        )
        try:
            sizes = json.loads(a.sizes)
        except ValueError:
            sizes = {}
        slope = t
        if slope is not None:
            md.append("### What 100k and 1M connections need\n")
            conn = sizes.get("tether_codec::Connection")
            md.append(
                "Per-connection structures of an idle open connection (no buffers held): "
                f"`tether_codec::Connection` = {conn} B (`tether-load --sizes`: a shared "
                "`Arc<Config>`, the box of buffers and frames in flight, absent while quiet, "
                "the box of masks, deflate and error, absent on a plaintext server "
                "connection, state bytes), inside the server's 128-byte `Conn` (socket, "
                "peer address 32 B, three millisecond times 24 B, the handshake's box, "
                "freed once answered, and the rooms-and-TLS box, absent without either); "
                "its slab entry adds the serial (136 B); one armed timer heap entry 16 B: "
                "152 B on paper (field by field in `benches/idle-layout.md`). Slab and heap "
                "growth by doubling adds up to 2× on top between resizes (touched pages "
                f"only). Measured slope at {n_max}: **{slope:.0f} B**.\n"
            )
            md.append("| connections | server user-space RSS (slope × N) | kernel (slab, server side ≈ half the pair) |")
            md.append("|---|---|---|")
            slab_pair = None
            for srv in ["tether-1w"]:
                for n in idle_sizes:
                    v = med(runs.get((srv, f"idle{n}"), []), "kernel_slab_bytes_per_conn_pair")
                    slab_pair = v if v is not None else slab_pair
            for n in [100_000, 1_000_000]:
                k = f"{slab_pair / 2 * n / 2**20:.0f} MiB" if slab_pair else "–"
                md.append(f"| {n:,} | {slope * n / 2**20:.0f} MiB | {k} |")
            md.append(
                "\nBeyond 20k a process needs a larger `RLIMIT_NOFILE`, and beyond ~28k "
                "connections from one client address more source addresses "
                "(`tether-load --sources`) or more ephemeral ports.\n"
            )

    # ---- broadcast ----
    md.append("## Broadcast\n")
    bc = [(k, v) for k, v in runs.items() if k[1].startswith("broadcast")]
    bc_sc = None  # the broadcast scenario, for the targets of issue 13
    if bc:
        main = (
            [kv for kv in bc if kv[0][0] == "tether-bench"]
            or [kv for kv in bc if kv[0][0] != base_bench]
            or bc
        )
        (srv, sc), rs = main[0]
        bc_sc = sc

        def bstats(records):
            rs = clean(records)
            if not rs:
                return None
            ms = lambda k: (lambda v: v / 1000 if v else None)(med(rs, k))
            return {
                "p50": ms("p50_us"), "p99": ms("p99_us"), "max": ms("max_us"), "fan": ms("fanout_p50_us"),
                "fps": med(rs, "frames_per_s"), "cpu_fps": med(rs, "server_frames_per_cpu_s"),
                "sys": med(rs, "server_sys_pct"),
            }

        def brow(st):
            return (
                f"{fmt(st['p50'], 2)} ms | {fmt(st['p99'], 2)} ms | {fmt(st['max'], 2)} ms | "
                f"{fmt(st['fan'], 2)} ms | {fmt(st['fps'])} | {fmt(st['cpu_fps'])} | {fmt(st['sys'], 0)} % |"
            )

        rs = clean(rs)
        n = rs[0]["connections"]
        main_st = bstats(rs)
        p99, cpu_fps = med(rs, "p99_us"), main_st["cpu_fps"]
        md.append(
            f"`tether-bench-server --workers 1` (`/broadcast` calls `Ctx::broadcast`), {n} "
            f"subscribers, {rs[0]['messages']} messages of {rs[0]['size']} B, one at a time.\n"
        )
        base_st = bstats(runs.get((base_bench, sc), [])) if base_name else None
        if base_name:
            md.append(
                f"`{base_bench}` is the baseline build's `tether-bench-server --workers 1`, run "
                "right after `tether-bench` in every rep.\n"
            )
        spin = " The load generator busy-polls (`--spin`), so the server's sends do not pay to wake it, as on a real network." if rs[0].get("spin") else ""
        md.append(spin.strip() + ("\n" if spin else ""))
        cols = "delivery p50 | p99 | max | fan-out to all (p50) | frames/s while fanning out | frames per server CPU second | kernel share of server CPU |"
        if base_name:
            md.append("| server | " + cols)
            md.append("|---|---|---|---|---|---|---|---|")
            md.append("| tether-bench | " + brow(main_st))
            md.append(f"| {base_bench} | " + (brow(base_st) if base_st else "– | – | – | – | – | – | – |"))
            md.append("")
        else:
            md.append("| " + cols)
            md.append("|---|---|---|---|---|---|---|")
            md.append("| " + brow(main_st) + "\n")
        bars = [
            ("p50", main_st["p50"], "ms", "#63b3ed"),
            ("p99", main_st["p99"], "ms", "#2b6cb0"),
            ("max", main_st["max"], "ms", "#1a365d"),
        ]
        title = f"Broadcast of {rs[0]['size']} B to {n} clients (tether, 1 worker)"
        note = f"{fmt(cpu_fps)} frames per server CPU second"
        if base_name:
            bars = [(f"tether {lbl}", v, u, c) for lbl, v, u, c in bars]
            if base_st:
                bars += [
                    (f"{base_name} {k}", base_st[k], "ms", c)
                    for k, c in zip(["p50", "p99", "max"], BASELINE_SHADES)
                ]
            title = f"Broadcast of {rs[0]['size']} B to {n} clients (1 worker)"
            note = (
                f"frames per server CPU second: tether {fmt(cpu_fps)}, {base_name} "
                f"{fmt(base_st['cpu_fps'] if base_st else None)}"
            )
        bar_chart(
            os.path.join(a.charts, "broadcast.svg"),
            title,
            "delivery latency, ms (lower is better)",
            bars,
            note=note,
        )
        md.append(f"![broadcast]({charts_rel}/broadcast.svg)\n")
        targets.append(
            (f"broadcast to {n}: p99 ≤ 20 ms", f"{p99 / 1000:.1f} ms" if p99 else "–", bool(p99 and p99 <= 20_000))
        )
        targets.append(
            ("broadcast: one worker ≥ 1M frames/s (per server CPU second)", fmt(cpu_fps), bool(cpu_fps and cpu_fps >= 1e6))
        )

    # ---- codec ----
    ab = []
    if a.codec_ab and os.path.exists(a.codec_ab):
        with open(a.codec_ab) as f:
            lines = [json.loads(l) for l in f if l.startswith("{")]
        # One row per size: the median of each figure over the runs.
        for size in sorted({r["size"] for r in lines}):
            rs = [r for r in lines if r["size"] == size]
            row = {"size": size, "rounds": rs[0].get("rounds"), "runs": len(rs)}
            for k in rs[0]:
                if k.endswith("_ns") or k.startswith("vs_"):
                    row[k] = med(rs, k)
            ab.append(row)
    if ab:
        md.append("## Codec decode, interleaved (the targets' measure)\n")
        md.append(
            "`cargo bench --bench codec_ab`: the `decode_api` workload below, but each round "
            "times one short batch of every library back to back (order rotating) and takes the "
            "ratios within the round; the figures are medians over "
            f"{ab[0].get('rounds', '?')} rounds, then over {ab[0]['runs']} run(s). On this shared VM speed drifts by tens of "
            "percent over the minutes a criterion group takes, so the criterion ratios below can "
            "swing by ±20 % between runs; these swing less (about ±10 %).\n"
        )
        rows = [
            ("tether `receive` + `poll_event` (owned `Message`)", "tether"),
            ("tether `receive` + `poll_event_ref` (borrowed)", "tether_ref"),
        ]
        md.append("| size | tungstenite | fastwebsockets | " + " | ".join(
            f"{label}: ns, vs tungstenite, vs fastwebsockets" for label, key in rows if f"{key}_ns" in ab[0]) + " |")
        md.append("|---|---|---|" + "---|" * sum(1 for _, key in rows if f"{key}_ns" in ab[0]))
        for r in ab:
            cells = [human_size(str(r["size"])), f"{fmt(r['tungstenite_ns'])} ns", f"{fmt(r['fastwebsockets_ns'])} ns"]
            for _, key in rows:
                if f"{key}_ns" not in r:
                    continue
                sfx = "" if key == "tether" else "_ref"
                cells.append(
                    f"{fmt(r[key + '_ns'])} ns · {xfmt(r.get('vs_tungstenite' + sfx))} · "
                    f"{xfmt(r.get('vs_fastwebsockets' + sfx))}"
                )
            md.append("| " + " | ".join(cells) + " |")
            size = human_size(str(r["size"]))
            best_tu = max(v for v in (r.get("vs_tungstenite"), r.get("vs_tungstenite_ref")) if v is not None)
            best_fw = max(v for v in (r.get("vs_fastwebsockets"), r.get("vs_fastwebsockets_ref")) if v is not None)
            targets.append((f"codec decode {size}: ≥ 2× tungstenite (owned / borrowed)",
                            f"{xfmt(r.get('vs_tungstenite'))} / {xfmt(r.get('vs_tungstenite_ref'))}", best_tu >= 2))
            targets.append((f"codec decode {size}: ≥ 1.2× fastwebsockets (owned / borrowed)",
                            f"{xfmt(r.get('vs_fastwebsockets'))} / {xfmt(r.get('vs_fastwebsockets_ref'))}", best_fw >= 1.2))
        md.append("")
    md.append("## Codec (criterion)\n")
    crit = a.criterion or ["target/criterion"]
    md.append(
        f"Median time per operation from `target/criterion/**/new/estimates.json`, median of "
        f"{len(crit)} run(s) of `cargo bench --bench codec`; the ratio is the peer's time over "
        "tether's within each run, median over the runs (above 1 means tether is faster). `decode_api` is "
        "each library's server read path on one masked binary frame held in memory "
        "(tether `Connection::receive` + `poll_event`; tungstenite `WebSocket::read`; "
        "fastwebsockets `WebSocket::read_frame`), one copy in included; `decode_raw` is "
        "tether's `FrameHeader::decode` + `apply_mask` without the state machine.\n"
    )
    md.append("| group | size | tether | tungstenite | fastwebsockets | vs tungstenite | vs fastwebsockets |")
    md.append("|---|---|---|---|---|---|---|")
    for group in ["decode_api", "decode_raw", "encode_api", "encode_raw"]:
        for s in SIZES:
            t = crit_median(crit, group, "tether", s)
            if t is None:
                continue
            tu, r_tu = crit_vs(crit, group, "tungstenite", s)
            fw, r_fw = crit_vs(crit, group, "fastwebsockets", s)
            md.append(
                f"| {group} | {human_size(s)} | {fmt(t)} ns | {fmt(tu)} ns | {fmt(fw)} ns | "
                f"{xfmt(r_tu)} | {xfmt(r_fw)} |"
            )
            if group == "decode_api" and not ab:
                targets.append((f"codec decode {human_size(s)}: ≥ 2× tungstenite", xfmt(r_tu), bool(r_tu and r_tu >= 2)))
                targets.append((f"codec decode {human_size(s)}: ≥ 1.2× fastwebsockets", xfmt(r_fw), bool(r_fw and r_fw >= 1.2)))
    for lib_dir in ["1000x20B"]:
        t = crit_median(crit, "stream_small", "tether", lib_dir)
        tu, r_tu = crit_vs(crit, "stream_small", "tungstenite", lib_dir)
        fw, r_fw = crit_vs(crit, "stream_small", "fastwebsockets", lib_dir)
        if t is not None:
            md.append(
                f"| stream_small | 1000 × 20 B | {fmt(t)} ns | {fmt(tu)} ns | {fmt(fw)} ns | "
                f"{xfmt(r_tu)} | {xfmt(r_fw)} |"
            )
    t = crit_median(crit, "handshake", "tether")
    tu, r_tu = crit_vs(crit, "handshake", "tungstenite")
    if t is not None:
        md.append(f"| handshake | parse+accept | {fmt(t)} ns | {fmt(tu)} ns | n/a (needs hyper) | {xfmt(r_tu)} | – |")
    md.append("")
    md.append("| unmask | tether `apply_mask` | byte-loop reference | fastwebsockets `unmask` | vs reference | vs fastwebsockets |")
    md.append("|---|---|---|---|---|---|")
    for s in SIZES:
        t = crit_median(crit, "unmask", "tether", s)
        if t is None:
            continue
        r, r_ref = crit_vs(crit, "unmask", "reference", s)
        fw, r_fw = crit_vs(crit, "unmask", "fastwebsockets", s)
        md.append(f"| {human_size(s)} | {fmt(t)} ns | {fmt(r)} ns | {fmt(fw)} ns | {xfmt(r_ref)} | {xfmt(r_fw)} |")
        if s == "65536":
            targets.append(("unmask 64 KiB: ≥ 8× byte loop", xfmt(r_ref), bool(r_ref and r_ref >= 8)))
    md.append("")
    for group in ["decode_api", "encode_api"]:
        bars = []
        for sz in SIZES:
            for lib in ["tungstenite", "fastwebsockets"]:
                _, r = crit_vs(crit, group, lib, sz)
                if r is not None:
                    bars.append((f"vs {lib} {human_size(sz)}", r, "×", COLORS[lib]))
        if bars:
            bar_chart(
                os.path.join(a.charts, f"codec-{group}.svg"),
                f"Codec {group}: tether's speed relative to each peer",
                "peer time ÷ tether time (above 1: tether is faster)",
                bars,
            )
            md.append(f"![codec {group}]({charts_rel}/codec-{group}.svg)")
    md.append("")

    # ---- targets ----
    md.append("## Targets of issue 5\n")
    md.append("| target | measured | met |")
    md.append("|---|---|---|")
    for name, value, ok in targets:
        md.append(f"| {name} | {value} | {'yes' if ok else '**no**'} |")
    md.append("")

    # ---- targets of issue 13 ----
    md.append("## Targets of issue 13\n")
    md.append(
        "Every ratio of two servers is taken within one rep of this run (the servers of a rep "
        "run back to back), then the median over the reps is reported: this machine's speed "
        "drifts between reps more than between neighbours. Reps where either server's run was "
        f"noisy (other processes ≥ {NOISY_PCT:.0f}% of a CPU) are left out unless all were. "
        "CPU per message is the server's user+system time per echo.\n"
    )
    t13 = []  # (target, measured, ok)

    def cpu_vs(sc, peer, limit, strict):
        """tether-1w's server CPU per message over `peer`'s in scenario `sc`, per rep."""
        t_rs, p_rs = runs.get(("tether-1w", sc), []), runs.get((peer, sc), [])
        r, used, paired = rep_ratios(t_rs, p_rs, "server_cpu_us_per_msg")
        if r is None:
            return "not measured", False
        t_m, p_m = med(clean(t_rs), "server_cpu_us_per_msg"), med(clean(p_rs), "server_cpu_us_per_msg")
        ok = r < limit if strict else r <= limit
        reps = f"{used} rep{'s' if used != 1 else ''}" + (f" of {paired}" if used != paired else "")
        return f"{r:.2f}× ({reps}; medians {fmt(t_m, 2)} vs {fmt(p_m, 2)} µs)", ok

    for sc, limit in [("1x64inflightx20B", 0.80), ("100x20B", 0.90), ("10x1KiB", 0.90)]:
        name = f"{SCENARIO_TEXT[sc]}: server CPU per message ≤ {limit:.2f}× "
        if base_name:
            value, ok = cpu_vs(sc, base_name, limit, strict=False)
            t13.append((name + f"`{base_name}`", value, ok))
        else:
            t13.append((name + "the baseline", "not measured (no `--baseline`)", False))

    n_idle = idle_sizes[-1] if idle_sizes else None
    if n_idle is not None:
        t_idle = med(runs.get(("tether-1w", f"idle{n_idle}"), []), "rss_bytes_per_conn")
        b_idle = med(runs.get((base_name, f"idle{n_idle}"), []), "rss_bytes_per_conn") if base_name else None
        value = f"{fmt(t_idle, 0)} B" if t_idle is not None else "not measured"
        if base_name:
            value += f" (`{base_name}`: {fmt(b_idle, 0)} B)"
        t13.append(
            (
                f"idle: ≤ 0.27 KiB (276 B) server RSS per connection at {n_idle:,}",
                value,
                t_idle is not None and t_idle <= 276,
            )
        )
    else:
        t13.append(("idle: ≤ 0.27 KiB (276 B) server RSS per connection at 19,900", "not measured", False))

    bc_name = "broadcast: frames per server CPU second ≥ 1.10× "
    if base_name and bc_sc:
        t_rs, b_rs = runs.get(("tether-bench", bc_sc), []), runs.get((base_bench, bc_sc), [])
        r, used, paired = rep_ratios(t_rs, b_rs, "server_frames_per_cpu_s")
        if r is None:
            t13.append((bc_name + f"`{base_bench}`", "not measured", False))
        else:
            reps = f"{used} rep{'s' if used != 1 else ''}" + (f" of {paired}" if used != paired else "")
            t13.append(
                (
                    bc_name + f"`{base_bench}` (io_uring did not land)",
                    f"{r:.2f}× ({reps}; medians {fmt(med(clean(t_rs), 'server_frames_per_cpu_s'))} vs "
                    f"{fmt(med(clean(b_rs), 'server_frames_per_cpu_s'))})",
                    r >= 1.10,
                )
            )
    else:
        t13.append((bc_name + "the baseline", "not measured" + ("" if base_name else " (no `--baseline`)"), False))

    for sc in SCENARIOS:
        for peer in ["fastwebsockets", "tokio-tungstenite"]:
            value, ok = cpu_vs(sc, peer, 1.0, strict=True)
            t13.append((f"echo {sc}: server CPU per message < 1.00× {peer}", value, ok))

    by_size = {int(r["size"]): r for r in ab}
    for size, key, peer, limit in [
        (16, "vs_fastwebsockets", "fastwebsockets", 1.2),
        (125, "vs_fastwebsockets", "fastwebsockets", 1.2),
        (1048576, "vs_tungstenite", "tungstenite", 2.0),
    ]:
        r = by_size.get(size, {}).get(key)
        runs_n = by_size.get(size, {}).get("runs")
        t13.append(
            (
                f"codec decode {human_size(str(size))}, owned `poll_event` (`codec_ab`): ≥ {limit:.1f}× {peer}",
                f"{xfmt(r)} (median of {runs_n} run(s))" if r is not None else "not measured",
                r is not None and r >= limit,
            )
        )

    md.append("| target | measured | met |")
    md.append("|---|---|---|")
    for name, value, ok in t13:
        md.append(f"| {name} | {value} | {'yes' if ok else '**no**'} |")
    md.append("")
    if failed:
        md.append("Failed runs: " + ", ".join(f"`{f}`" for f in failed) + "\n")

    if a.notes and os.path.exists(a.notes):
        with open(a.notes) as f:
            md.append(f.read().rstrip() + "\n")
    # The sections benches/deflate.sh, tls.sh and scale-out.sh write (and the hardening A/B), kept across runs of this script.
    for own in ("hardening-results.md", "deflate-results.md", "tls-results.md", "scale-out-results.md"):
        path = os.path.join(os.path.dirname(a.notes or "benches/x"), own)
        if os.path.exists(path):
            with open(path) as f:
                md.append(f.read().rstrip() + "\n")

    md.append("## How to reproduce\n")
    md.append(
        "```sh\n"
        "benches/compare.sh            # everything: builds, codec benches, echo, idle, broadcast (~35 min)\n"
        "benches/compare.sh --quick    # a fast smoke run of the same steps\n"
        "cargo bench --bench codec     # codec benches alone\n"
        "cargo bench --bench codec_ab  # decode ratios, the libraries interleaved\n"
        "target/release/tether --app echo --workers 1 --listen 127.0.0.1:9001 &\n"
        "target/release/tether-load --url ws://127.0.0.1:9001/ -c 100 -s 20 -k 1 -d 5 --server-pid $!\n"
        "```\n"
    )
    if base_name:
        md.append(
            f"This run had the baseline `{base_name}` as a peer: `benches/compare.sh --baseline "
            f"{a.baseline_dir or 'DIR'} --baseline-name {base_name}` (DIR holds that build's "
            "`tether` and `tether-bench-server`; build it in its own worktree first).\n"
        )
    with open(a.out, "w") as f:
        f.write("\n".join(md))
    # The summary for the terminal: the echo table and the targets.
    print("\n".join(l for l in md if l.startswith("|")))


if __name__ == "__main__":
    main()
