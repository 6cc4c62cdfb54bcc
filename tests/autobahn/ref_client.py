#!/usr/bin/env python3
"""Reference Autobahn client (Python `websockets`) used to validate client.sh.

Usage: ref_client.py [--agent NAME] BASE_URL
  BASE_URL  e.g. ws://127.0.0.1:9002 (client.sh passes it as the last argument)
  agent     --agent, else $AUTOBAHN_AGENT, else "websockets-ref"

Implements the standard Autobahn fuzzingserver client protocol:
  GET BASE/getCaseCount               -> one text message with the case count
  GET BASE/runCase?case=N&agent=A     -> echo every message until closed (N = 1..count)
  GET BASE/updateReports?agent=A      -> tell the server to write the reports
"""
import argparse
import asyncio
import os
import sys
from urllib.parse import quote

# websockets refuses messages of more than 4096 fragments by default; 9.3.1/9.4.1
# send 4 MiB in 64-byte fragments, so lift that limit for the reference run.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

OPTS = dict(max_size=16 * 1024 * 1024, compression=None, ping_interval=None,
            open_timeout=30, close_timeout=10)


async def run(base: str, agent: str) -> int:
    a = quote(agent, safe="")
    async with connect(f"{base}/getCaseCount", **OPTS) as ws:
        count = int(await ws.recv())
    print(f"ref_client: {count} cases, agent {agent!r}", file=sys.stderr, flush=True)
    for n in range(1, count + 1):
        try:
            async with connect(f"{base}/runCase?case={n}&agent={a}", **OPTS) as ws:
                async for msg in ws:
                    await ws.send(msg)
        except ConnectionClosed:
            pass
        except Exception as exc:  # keep going: the server records the verdict
            print(f"ref_client: case {n}: {type(exc).__name__}: {exc}", file=sys.stderr)
    async with connect(f"{base}/updateReports?agent={a}", **OPTS) as ws:
        try:
            await ws.recv()
        except ConnectionClosed:
            pass
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default=os.environ.get("AUTOBAHN_AGENT", "websockets-ref"))
    ap.add_argument("url")
    args = ap.parse_args()
    return asyncio.run(run(args.url.rstrip("/"), args.agent))


if __name__ == "__main__":
    sys.exit(main())
