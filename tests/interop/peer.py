"""tests/interop/peer.py: Python `websockets` as an interop partner with permessage-deflate (RFC 7692), either role.

  python peer.py server HOST:PORT [CERT KEY]  echo server, compression on (the library's
                                              default); wss:// with the PEM chain and key
  python peer.py client URL [CA]              round-trips 0 B, 1 MiB and 16 MiB text and
                                              binary, checks that permessage-deflate was
                                              negotiated; trusts only CA (PEM) when given;
                                              exit 1 on failure
"""

import asyncio
import signal
import ssl
import sys
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import PerMessageDeflate

MAX = 32 << 20


def payload(n, text, seed):
    """n bytes, repetitive phrases between runs of xorshift noise (printable when text)."""
    phrases = ['{"msg_type":"message","content":"你好，主播！"}'.encode(), b"deflate interop; "]
    x = seed | 1
    out = bytearray()
    while len(out) < n:
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        if x % 3 == 0:
            noise = x.to_bytes(8, "little") * 8
            out += bytes(32 + b % 95 for b in noise) if text else noise
        else:
            out += phrases[x % 2] * (1 + x % 8)
    data = bytes(out[:n])
    return data.decode("utf-8", "ignore") if text else data


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def server(addr, cert=None, key=None):
    host, port = addr.rsplit(":", 1)
    tls = None
    if cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(echo, host, int(port), max_size=MAX, compression="deflate", ssl=tls):
        print(f"listening on {addr}", flush=True)
        await stop


async def client(url, ca=None):
    # With a CA, trust it alone: the run must not pass on a certificate the platform trusts.
    tls = ssl.create_default_context(cafile=ca) if ca else None
    async with connect(url, max_size=MAX, compression="deflate", open_timeout=10, ssl=tls) as ws:
        deflate = [e for e in ws.protocol.extensions if isinstance(e, PerMessageDeflate)]
        if not deflate:
            print(f"FAIL: permessage-deflate not negotiated with {url}")
            return 1
        print(f"ok: permessage-deflate negotiated: {deflate[0]!r}")
        for n, name in ((0, "0 B"), (1 << 20, "1 MiB"), (16 << 20, "16 MiB")):
            for text in (True, False):
                sent = payload(n, text, n + text)
                t = time.monotonic()
                await ws.send(sent)
                got = await asyncio.wait_for(ws.recv(), 60)
                kind = "text" if text else "binary"
                if got != sent:
                    print(f"FAIL: {name} {kind}: the echo differs ({len(got)} for {len(sent)})")
                    return 1
                print(f"ok: {name} {kind} round trip ({(time.monotonic() - t) * 1e3:.0f} ms)")
        for i in range(20):
            sent = payload(150 + i, True, i)
            await ws.send(sent)
            if await asyncio.wait_for(ws.recv(), 10) != sent:
                print(f"FAIL: small message {i}: the echo differs")
                return 1
        print("ok: 20 small messages round trip")
    return 0


if __name__ == "__main__":
    role, where, tls_files = sys.argv[1], sys.argv[2], sys.argv[3:]
    if role == "server":
        asyncio.run(server(where, *tls_files))
    else:
        sys.exit(asyncio.run(client(where, *tls_files)))
