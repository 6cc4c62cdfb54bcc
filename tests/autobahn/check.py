#!/usr/bin/env python3
"""Check a kosoku (Autobahn-format) report against an expected-verdict file.

Usage: check.py REPORT_DIR_OR_INDEX EXPECTED_FILE AGENT

  REPORT_DIR_OR_INDEX  kosoku's -o directory, or the index.json inside it
  EXPECTED_FILE        one case per line: `CASE_ID VERDICT [CLOSE_VERDICT]`
                       (`#` comments and blank lines ignored). VERDICT is the
                       expected "behavior"; CLOSE_VERDICT the expected
                       "behaviorClose", which defaults to VERDICT.
  AGENT                agent key in index.json (client role: the agent the client
                       reported; server role: the server's `Server` header, or
                       host:port). `*` or "" = the only agent in the report.

Exits non-zero if any case's verdicts differ from the expected file, if any case
is FAILED/ERROR/UNIMPLEMENTED/NON-STRICT (or its close is FAILED/WRONG CODE/
UNCLEAN/FAILED BY CLIENT) even where the expected file says so, if no case ran,
or if the set of cases run differs from the expected file.
The last line printed is always `N passed, N failed` (cases matching / not
matching the expectation).
"""
from __future__ import annotations

import json
import os
import sys
from collections import Counter

FORBIDDEN_BEHAVIOR = {"FAILED", "ERROR", "UNIMPLEMENTED", "NON-STRICT"}
FORBIDDEN_CLOSE = {"FAILED", "ERROR", "WRONG CODE", "UNCLEAN", "FAILED BY CLIENT", "NO_CLOSE"}


def case_key(case_id: str) -> list[int]:
    try:
        return [int(p) for p in case_id.split(".")]
    except ValueError:
        return [1 << 30]


def load_expected(path: str) -> dict[str, tuple[str, str]]:
    expected: dict[str, tuple[str, str]] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) < 2:
                raise SystemExit(f"{path}:{lineno}: expected `CASE_ID VERDICT [CLOSE_VERDICT]`")
            case_id, behavior = parts[0], parts[1].upper()
            close = " ".join(parts[2:]).upper() or behavior
            if case_id in expected:
                raise SystemExit(f"{path}:{lineno}: duplicate case {case_id}")
            expected[case_id] = (behavior, close)
    return expected


def load_report(path: str, agent: str) -> tuple[str, dict[str, dict], str]:
    index_path = os.path.join(path, "index.json") if os.path.isdir(path) else path
    with open(index_path, encoding="utf-8") as f:
        index = json.load(f)
    if not isinstance(index, dict):
        raise ValueError(f"{index_path}: not an Autobahn index (expected an object keyed by agent)")
    if agent in ("", "*"):
        if len(index) != 1:
            raise ValueError(f"{index_path}: {len(index)} agents {sorted(index)}; name one")
        agent = next(iter(index))
    if agent not in index:
        raise ValueError(f"{index_path}: agent {agent!r} not in report (agents: {sorted(index)})")
    return agent, index[agent], os.path.dirname(index_path)


def detail(report_dir: str, entry: dict) -> str:
    """The case's result prose from its per-case JSON, for diagnostics."""
    try:
        with open(os.path.join(report_dir, entry["reportfile"]), encoding="utf-8") as f:
            case = json.load(f)
        text = f"{case.get('result', '')} / {case.get('resultClose', '')}"
        if case.get("remoteCloseCode") is not None:
            text += f" (peer close code {case['remoteCloseCode']})"
        return text.replace("\n", " ")[:200]
    except Exception:
        return ""


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    report_path, expected_path, agent = argv[1:]
    expected = load_expected(expected_path)
    try:
        agent, cases, report_dir = load_report(report_path, agent)
    except (OSError, ValueError) as exc:
        print(f"check.py: cannot read report: {exc}", file=sys.stderr)
        print(f"0 passed, {max(len(expected), 1)} failed")
        return 1

    has_close = any("behaviorClose" in v for v in cases.values())
    print(f"agent: {agent}; {len(cases)} cases in report, {len(expected)} expected")
    for field in ("behavior", "behaviorClose") if has_close else ("behavior",):
        counts = Counter(v.get(field, "<missing>") for v in cases.values())
        print(f"{field}: " + ", ".join(f"{k}={n}" for k, n in sorted(counts.items())))

    warnings = [cid for cid, (b, c) in expected.items()
                if b in FORBIDDEN_BEHAVIOR or c in FORBIDDEN_CLOSE]
    if warnings:
        print(f"note: expected file lists forbidden verdicts for {', '.join(warnings)}; "
              "those cases always fail")

    passed = failed = 0
    problems: list[str] = []
    for cid in sorted(set(expected) | set(cases), key=case_key):
        if cid not in cases:
            problems.append(f"{cid}: not run (expected {expected[cid][0]})")
            failed += 1
            continue
        entry = cases[cid]
        behavior = entry.get("behavior", "<missing>")
        close = entry.get("behaviorClose", "<missing>") if has_close else None
        if cid not in expected:
            problems.append(f"{cid}: not in expected file (got {behavior}/{close})")
            failed += 1
            continue
        exp_b, exp_c = expected[cid]
        reasons = []
        if behavior != exp_b:
            reasons.append(f"behavior {behavior}, expected {exp_b}")
        if has_close and close != exp_c:
            reasons.append(f"behaviorClose {close}, expected {exp_c}")
        if behavior in FORBIDDEN_BEHAVIOR and behavior == exp_b:
            reasons.append(f"behavior {behavior} is never acceptable")
        if has_close and close in FORBIDDEN_CLOSE and close == exp_c:
            reasons.append(f"behaviorClose {close} is never acceptable")
        if reasons:
            why = detail(report_dir, entry)
            problems.append(f"{cid}: " + "; ".join(reasons) + (f" -- {why}" if why else ""))
            failed += 1
        else:
            passed += 1

    if problems:
        print(f"{len(problems)} case(s) deviate:")
        for p in problems:
            print("  " + p)
    if not cases:
        print("FAIL: no case was run")
    if len(cases) != len(expected):
        print(f"FAIL: {len(cases)} cases run, {len(expected)} expected")
    ok = not problems and cases and len(cases) == len(expected)
    print("OK: all cases match the expected verdicts" if ok else "FAIL")
    print(f"{passed} passed, {failed} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
