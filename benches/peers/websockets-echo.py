"""benches/peers/websockets-echo.py: a Python `websockets` echo server for benches/deflate.sh (RFC 6455 §5.6 echo, RFC 7692 permessage-deflate).

Usage: python websockets-echo.py HOST:PORT [on|off]
Compression on is the library's default (``compression="deflate"``: context takeover both
ways, server window 12, memLevel 5, level 6); every message is compressed.
"""

import asyncio
import signal
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass  # the load generator drops its connections at the end of a run


async def main():
    host, port = sys.argv[1].rsplit(":", 1)
    compression = "deflate" if (sys.argv[2:] or ["on"])[0] == "on" else None
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(echo, host, int(port), compression=compression, max_size=64 << 20,
                     ping_interval=None):
        await stop


asyncio.run(main())
