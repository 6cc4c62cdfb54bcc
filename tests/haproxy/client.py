"""tests/haproxy/client.py: one WebSocket echo round trip from a chosen source address, for tests/haproxy/run.sh.

  python client.py URL SOURCE_IP [HEADER:VALUE ...]   exit 0 if the echo came back
  python client.py --raw HOST:PORT SOURCE_IP HEX       sends raw bytes, prints the status line
"""

import asyncio
import socket
import sys

from websockets.asyncio.client import connect


async def echo(url, source, headers):
    extra = [tuple(h.split(":", 1)) for h in headers]
    async with connect(url, local_addr=(source, 0), additional_headers=extra, open_timeout=5) as ws:
        await ws.send("through haproxy")
        got = await asyncio.wait_for(ws.recv(), 5)
        return 0 if got == "through haproxy" else 1


def raw(addr, source, data):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5, source_address=(source, 0))
    s.sendall(data)
    reply = b""
    while b"\r\n" not in reply:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    print(reply.split(b"\r\n", 1)[0].decode("latin-1"))


if __name__ == "__main__":
    if sys.argv[1] == "--raw":
        raw(sys.argv[2], sys.argv[3], bytes.fromhex(sys.argv[4]))
    else:
        sys.exit(asyncio.run(echo(sys.argv[1], sys.argv[2], sys.argv[3:])))
