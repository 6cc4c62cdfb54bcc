// benches/peers/node/ws-echo.js: a Node `ws` echo server for benches/deflate.sh (RFC 6455 §5.6 echo, RFC 7692 permessage-deflate).
//
// Usage: node ws-echo.js HOST:PORT [on|off]
// Compression on: ws's own defaults (context takeover both ways, window 15, memLevel 8,
// level 6, at most 10 zlib jobs at once) except the threshold, 0 instead of 1024, so that
// every message is compressed as with the other servers measured.
'use strict';
const { WebSocketServer } = require('ws');

const [hostPort, deflate = 'on'] = process.argv.slice(2);
const at = hostPort.lastIndexOf(':');
const wss = new WebSocketServer({
  host: hostPort.slice(0, at),
  port: Number(hostPort.slice(at + 1)),
  maxPayload: 64 << 20,
  perMessageDeflate: deflate === 'on' ? { threshold: 0 } : false,
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
process.on('SIGTERM', () => process.exit(0));
