#!/usr/bin/env python3
"""Reference echo server (Python `websockets`) used to validate the Autobahn harness.

Usage: ref_echo_server.py [PORT]   (default 9001, binds 127.0.0.1 only)
Echoes every text/binary message back unchanged; no compression.
"""
import asyncio
import os
import sys

# websockets refuses messages of more than 4096 fragments by default; 9.3.1/9.4.1
# send 4 MiB in 64-byte fragments, so lift that limit for the reference run.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

from websockets.asyncio.server import serve


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except Exception:
        pass


async def main(port: int) -> None:
    async with serve(echo, "127.0.0.1", port, max_size=16 * 1024 * 1024,
                     compression=None, ping_interval=None) as server:
        print(f"ref_echo_server listening on ws://127.0.0.1:{port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 9001))
