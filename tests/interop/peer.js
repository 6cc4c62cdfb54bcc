// tests/interop/peer.js: Node `ws` as an interop partner with permessage-deflate (RFC 7692), either role.
//
//   node peer.js server HOST:PORT [CERT KEY]  echo server, compression on for every message;
//                                             wss:// with the PEM chain and key
//   node peer.js client URL [CA]              round-trips 0 B, 1 MiB and 16 MiB text and binary,
//                                             checks that permessage-deflate was negotiated;
//                                             trusts only CA (PEM) when given; exit 1 on failure
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocket, WebSocketServer } = require('ws');

const MAX = 32 << 20;

// n bytes: repetitive phrases between runs of xorshift noise (printable when text).
function payload(n, text, seed) {
  const phrases = [Buffer.from('{"msg_type":"message","content":"你好，主播！"}'), Buffer.from('deflate interop; ')];
  let x = BigInt(seed) | 1n;
  const M = (1n << 64n) - 1n;
  const parts = [];
  let len = 0;
  while (len < n) {
    x ^= (x << 13n) & M; x ^= x >> 7n; x ^= (x << 17n) & M;
    let part;
    if (x % 3n === 0n) {
      part = Buffer.alloc(64);
      let y = x;
      for (let i = 0; i < 64; i++) { y = (y * 6364136223846793005n + 1442695040888963407n) & M; const b = Number(y >> 56n); part[i] = text ? 32 + (b % 95) : b; }
    } else {
      part = Buffer.concat(Array(1 + Number(x % 8n)).fill(phrases[Number(x % 2n)]));
    }
    parts.push(part);
    len += part.length;
  }
  const data = Buffer.concat(parts).subarray(0, n);
  return text ? data.toString('utf8') : data;
}

function server(addr, cert, key) {
  const at = addr.lastIndexOf(':');
  const [host, port] = [addr.slice(0, at), Number(addr.slice(at + 1))];
  const options = { maxPayload: MAX, perMessageDeflate: { threshold: 0 } };
  let wss;
  if (cert) {
    const tls = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
    wss = new WebSocketServer({ server: tls, ...options });
    tls.listen(port, host); // ws re-emits its 'listening'
  } else {
    wss = new WebSocketServer({ host, port, ...options });
  }
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  wss.on('listening', () => console.log(`listening on ${addr}`));
  process.on('SIGTERM', () => process.exit(0));
}

function client(url, ca) {
  // `ca` replaces Node's bundled roots: the run must not pass on a certificate they trust.
  const ws = new WebSocket(url, { maxPayload: MAX, perMessageDeflate: { threshold: 0 }, ...(ca && { ca: fs.readFileSync(ca) }) });
  const fail = (why) => { console.log(`FAIL: ${why}`); process.exit(1); };
  const timer = setTimeout(() => fail('timed out after 120 s'), 120000);
  const checks = [];
  for (const [n, name] of [[0, '0 B'], [1 << 20, '1 MiB'], [16 << 20, '16 MiB']]) {
    for (const text of [true, false]) checks.push({ name: `${name} ${text ? 'text' : 'binary'}`, sent: payload(n, text, n + (text ? 1 : 0)), text });
  }
  for (let i = 0; i < 20; i++) checks.push({ name: `small message ${i}`, sent: payload(150 + i, true, i), text: true, quiet: true });
  let at = 0;
  let started = 0;
  const next = () => {
    if (at === checks.length) {
      console.log('ok: 20 small messages round trip');
      clearTimeout(timer);
      ws.close(1000, 'done');
      return;
    }
    started = Date.now();
    ws.send(checks[at].sent, { binary: !checks[at].text });
  };
  ws.on('open', () => {
    if (!ws.extensions.startsWith('permessage-deflate')) fail(`permessage-deflate not negotiated: ${JSON.stringify(ws.extensions)}`);
    console.log(`ok: permessage-deflate negotiated: ${ws.extensions}`);
    next();
  });
  ws.on('message', (data, isBinary) => {
    const c = checks[at];
    const same = c.text ? !isBinary && data.toString('utf8') === c.sent : isBinary && Buffer.compare(data, c.sent) === 0;
    if (!same) fail(`${c.name}: the echo differs (${data.length} bytes back)`);
    if (!c.quiet) console.log(`ok: ${c.name} round trip (${Date.now() - started} ms)`);
    at += 1;
    next();
  });
  ws.on('error', (e) => fail(`${url}: ${e.message}`));
  ws.on('close', (code) => { if (at !== checks.length) fail(`closed with ${code} after ${at} checks`); });
}

const [role, where, ...tls] = process.argv.slice(2);
if (role === 'server') server(where, ...tls); else client(where, ...tls);
