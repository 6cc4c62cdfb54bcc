// benches/peers/node/ws-echo.js: a Node `ws` echo server for benches/deflate.sh and benches/tls.sh (RFC 6455 §5.6 echo, RFC 7692 permessage-deflate, wss:// on Node's https).
//
// Usage: node ws-echo.js HOST:PORT [on|off] [CERT.pem KEY.pem]
// Compression on: ws's own defaults (context takeover both ways, window 15, memLevel 8,
// level 6, at most 10 zlib jobs at once) except the threshold, 0 instead of 1024, so that
// every message is compressed as with the other servers measured.
// With a certificate and key: wss://, as ws's documentation serves it (an https server with
// Node's TLS defaults, the WebSocket server on top).
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const [hostPort, deflate = 'on', cert, key] = process.argv.slice(2);
const at = hostPort.lastIndexOf(':');
const host = hostPort.slice(0, at);
const port = Number(hostPort.slice(at + 1));
const options = {
  maxPayload: 64 << 20,
  perMessageDeflate: deflate === 'on' ? { threshold: 0 } : false,
};
let wss;
if (cert) {
  const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
  wss = new WebSocketServer({ server, ...options });
  server.listen(port, host);
} else {
  wss = new WebSocketServer({ host, port, ...options });
}
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
process.on('SIGTERM', () => process.exit(0));
