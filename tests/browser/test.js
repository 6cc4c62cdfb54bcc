// Drives the demo page (GET /) in Debian's Chromium through playwright-core, as a person would:
// two independent browsers in room 1001, comments, online counts, the stock chart, the echo console,
// a server restart under an open page, and 1 MiB and 16 MiB messages compressed both ways through
// `tether --app echo --deflate on`, and the page over https:// from `tether --tls-cert`. Saves a
// screenshot. Prints "N passed, N failed".
//
// Environment: TETHER_BIN (the tether binary), TETHER_PORT (a free port), OUT_DIR (screenshot, logs),
// SUMMARY (file the final line is written to; printed instead when unset), PID_FILE (the server's pid, for cleanup),
// ECHO_PORT and METRICS_PORT (two more free ports: the echo app and its metrics), ECHO_PID_FILE (its pid),
// TLS_PORT, TLS_PID_FILE, TLS_CERT and TLS_KEY (the demo over TLS: port, pid, PEM chain and key),
// TLS_SPKI (base64 SHA-256 of the certificate's public key, the one key Chromium is told to accept).
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");
const { TetherServer } = require("../support/tether-server");

const BIN = process.env.TETHER_BIN;
const PORT = Number(process.env.TETHER_PORT);
const OUT = process.env.OUT_DIR || path.join(__dirname, "out");
const BASE = `http://127.0.0.1:${PORT}/`;
const ECHO_PORT = Number(process.env.ECHO_PORT);
const METRICS_PORT = Number(process.env.METRICS_PORT);
const TLS_PORT = Number(process.env.TLS_PORT);
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const results = [];
async function check(name, fn, ms = 30000) {
  const t0 = Date.now();
  let timer;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms); }),
    ]);
    results.push(true);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push(false);
    console.log(`FAIL ${name} (${Date.now() - t0} ms): ${e && e.stack ? e.stack : e}`);
  } finally {
    clearTimeout(timer);
  }
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }
const text = (page, sel) => page.locator(sel).textContent();
const waitText = (page, sel, want, timeout = 10000) =>
  page.waitForFunction(([s, w]) => document.querySelector(s)?.textContent === w, [sel, want], { timeout });
const allOpen = (page, timeout = 10000) =>
  page.waitForFunction(
    () => ["stock-state", "live-state", "echo-state"].every((id) => document.getElementById(id).dataset.state === "open"),
    null, { timeout });

async function openBrowser(name, extraArgs = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tether-${name}-`));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    viewport: { width: 1440, height: 900 },
    locale: "zh-CN",
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  return { context, page, errors, dir };
}

async function join(page, name) {
  await page.fill("#live-room", "1001");
  await page.fill("#live-name", name);
  await page.click("#live-join");
  await page.waitForFunction(() => document.getElementById("live-current").textContent === "1001", null, { timeout: 5000 });
}

// The echo app's socket byte counters and open connections, from its metrics endpoint.
async function echoMetrics() {
  const body = await (await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`)).text();
  const get = (name) => {
    const m = body.match(new RegExp(`^${name} (\\d+)$`, "m"));
    assert(m, `${name} missing from /metrics`);
    return Number(m[1]);
  };
  return { connections: get("tether_connections"), received: get("tether_bytes_received_total"), sent: get("tether_bytes_sent_total") };
}

// Runs in the page: builds `size` bytes (valid UTF-8 for "text"), sends them as one message on a
// connection of its own, compares the echo there and closes. Only the verdict comes back to node.
async function echoInPage({ url, kind, size, seed }) {
  let x = seed;
  const rand = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; }; // xorshift32
  const enc = new TextEncoder();
  // Repeated JSON-like phrases (compressible) between runs of random bytes (printable ASCII in
  // text), which deflate can hardly shrink.
  const phrases = [
    '{"msg_type":"message","room_id":"1001","from_name":"小明","content":"你好，主播！"}',
    '{"msg_type":"buy","goods_id":7,"goods_name":"保温杯","msg_content":"小明 购买了 保温杯"}',
    '{"msg_type":"pong"}',
  ].map((p) => enc.encode(p));
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size;) {
    const r = rand();
    const p = phrases[r % phrases.length];
    if (r & 0x100 && i + p.length <= size) {
      bytes.set(p, i);
      i += p.length;
    } else {
      const end = Math.min(size, i + 16 + ((r >>> 9) & 63));
      for (; i < end; i++) bytes[i] = kind === "text" ? 0x20 + (rand() % 95) : rand() & 0xff;
    }
  }
  const data = kind === "text" ? new TextDecoder("utf-8", { fatal: true }).decode(bytes) : bytes.buffer;

  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = () => fail(new Error("connection failed")); });
  const closed = new Promise((ok) => { ws.onclose = (e) => ok(e.code); });
  const echoed = new Promise((ok) => { ws.onmessage = (e) => ok(e.data); });
  ws.send(data);
  const echo = await Promise.race([
    echoed,
    closed.then((code) => { throw new Error(`closed with ${code} before the echo`); }),
  ]);
  let same;
  if (kind === "text") {
    same = echo === data;
  } else {
    const got = new Uint8Array(echo);
    same = echo instanceof ArrayBuffer && got.length === size && got.every((v, i) => v === bytes[i]);
  }
  const length = kind === "text" ? enc.encode(echo).length : echo.byteLength;
  ws.close(1000);
  return { extensions: ws.extensions, length, same, closeCode: await closed };
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = new TetherServer({
    bin: BIN, port: PORT, args: ["--app", "demo", "--log-level", "info"],
    log: path.join(OUT, "server.log"), pidFile: process.env.PID_FILE,
  });
  await server.start();
  const echo = new TetherServer({
    bin: BIN, port: ECHO_PORT,
    args: ["--app", "echo", "--deflate", "on", "--metrics-listen", `127.0.0.1:${METRICS_PORT}`, "--log-level", "warn"],
    log: path.join(OUT, "echo-server.log"), pidFile: process.env.ECHO_PID_FILE,
  });
  const tls = new TetherServer({
    bin: BIN, port: TLS_PORT,
    args: ["--app", "demo", "--tls-cert", process.env.TLS_CERT, "--tls-key", process.env.TLS_KEY, "--log-level", "info"],
    log: path.join(OUT, "tls-server.log"), pidFile: process.env.TLS_PID_FILE,
  });
  let a, b, untrusted, pinned;
  try {
    await check("two independent browsers open the page; all three panels connect", async () => {
      a = await openBrowser("a");
      b = await openBrowser("b");
      for (const x of [a, b]) {
        const resp = await x.page.goto(BASE, { waitUntil: "load" });
        assert(resp.status() === 200, `GET / answered ${resp.status()}`);
        await allOpen(x.page);
      }
    });

    await check("both join room 1001 and the online count reads 2 in each", async () => {
      await join(a.page, "甲");
      await join(b.page, "乙");
      await waitText(a.page, "#live-online", "2", 5000);
      await waitText(b.page, "#live-online", "2", 5000);
    });

    await check("a comment posted in one browser shows in the other within 2 s", async () => {
      const comment = "大家好，我是乙 " + Date.now();
      await b.page.fill("#live-input", comment);
      const t0 = Date.now();
      await b.page.click("#live-send");
      await a.page.waitForFunction(
        (c) => [...document.querySelectorAll("#live-list li")].some((li) => li.textContent.includes(c)),
        comment, { timeout: 2000 });
      console.log(`     comment arrived after ${Date.now() - t0} ms`);
    });

    await check("the stock chart receives at least 3 pushes", async () => {
      await a.page.waitForFunction(() => Number(document.getElementById("stock-count").textContent) >= 3, null, { timeout: 10000 });
      const values = await text(a.page, "#stock-values");
      const nums = values.match(/\d+\.\d\d/g) || [];
      assert(nums.length === 6, `expected 6 amounts with two decimals, got ${JSON.stringify(values)}`);
    });

    await check("the echo console round-trips a Chinese string", async () => {
      const s = "你好，世界！回声测试 " + Date.now();
      await a.page.fill("#echo-input", s);
      await a.page.click("#echo-send");
      await a.page.waitForFunction(
        (s) => [...document.querySelectorAll("#echo-log li.in")].some((li) => li.textContent === "← " + s),
        s, { timeout: 3000 });
    });

    await check("Chromium negotiates permessage-deflate and round-trips 60 KB of text and binary (the demo's limit is 64 KiB)", async () => {
      const got = await a.page.evaluate(async (url) => {
        const ws = new WebSocket(url);
        ws.binaryType = "arraybuffer";
        await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
        const next = () => new Promise((ok, fail) => {
          ws.onmessage = (e) => ok(e.data);
          ws.onclose = (e) => fail(new Error(`closed with ${e.code} ${e.reason}`));
        });
        const text = JSON.stringify({ msg_type: "message", msg_content: "hello, live room 1001" }).repeat(2000).slice(0, 60000);
        let p = next(); ws.send(text); const t = await p;
        const bin = new Uint8Array(60000).map((_, i) => (i * 7) % 251);
        p = next(); ws.send(bin); const b = new Uint8Array(await p);
        ws.close();
        return { extensions: ws.extensions, text: t === text, bin: b.length === bin.length && b.every((v, i) => v === bin[i]) };
      }, BASE.replace(/^http/, "ws") + "echo");
      console.log(`     ws.extensions = ${JSON.stringify(got.extensions)}`);
      assert(got.extensions.startsWith("permessage-deflate"), `extensions: ${JSON.stringify(got.extensions)}`);
      assert(got.text && got.bin, `round trip: ${JSON.stringify(got)}`);
    });

    await check("Chromium negotiates permessage-deflate with `tether --app echo --deflate on` and round-trips 1 MiB and 16 MiB of text and of binary, each compressed both ways", async () => {
      await echo.start();
      let before = { received: 0, sent: 0 }; // a fresh server has counted nothing
      for (const [kind, size] of [["text", 1 << 20], ["text", 16 << 20], ["binary", 1 << 20], ["binary", 16 << 20]]) {
        const t0 = Date.now();
        const got = await a.page.evaluate(echoInPage, { url: `ws://127.0.0.1:${ECHO_PORT}/`, kind, size, seed: size + kind.length });
        const what = `${kind} of ${size} bytes`;
        assert(got.extensions.startsWith("permessage-deflate"), `${what}: ws.extensions = ${JSON.stringify(got.extensions)}`);
        assert(got.same && got.length === size && got.closeCode === 1000, `${what}: ${JSON.stringify(got)}`);
        // The gauge falls when the server drops the connection; the worker adds that turn's byte
        // counts right after, so the read after the one that sees 0 has all of them.
        let m;
        do {
          if (m) await new Promise((r) => setTimeout(r, 50));
          m = await echoMetrics();
        } while (m.connections !== 0);
        m = await echoMetrics();
        const up = m.received - before.received;
        const down = m.sent - before.sent;
        before = m;
        console.log(`     ${what}: ${Date.now() - t0} ms, on the wire ${(up / size).toFixed(2)} of it up, ${(down / size).toFixed(2)} down`);
        // About 40% of each message is noise: compressed, it takes under half its size on the wire;
        // uncompressed, more than its size.
        assert(up < 0.8 * size, `${what}: ${up} bytes from Chromium: not compressed`);
        assert(down < 0.8 * size, `${what}: ${down} bytes from the server: not compressed`);
      }
    }, 60000);

    await check("over https:// from `tether --tls-cert`: a browser that does not know the test CA refuses the page; one that pins the certificate's key loads it and all three panels connect over wss://", async () => {
      await tls.start();
      const base = `https://127.0.0.1:${TLS_PORT}/`;
      untrusted = await openBrowser("untrusted");
      const refused = await untrusted.page.goto(base).then(() => null, (e) => e);
      assert(refused && /ERR_CERT_AUTHORITY_INVALID/.test(refused.message), `without the pin: ${refused ? refused.message : "the page loaded"}`);
      await untrusted.context.close();
      // The test CA is trusted for this browser only, and only for this key: the flag accepts a
      // certificate whose public key hashes to TLS_SPKI (Chromium honours it with a user data dir,
      // which a persistent context has). No NSS database or system store is touched.
      pinned = await openBrowser("pinned", [`--ignore-certificate-errors-spki-list=${process.env.TLS_SPKI}`]);
      // Record every WebSocket URL the page opens, to see the panels chose wss://.
      await pinned.context.addInitScript(() => {
        const Native = window.WebSocket;
        window.__wsUrls = [];
        window.WebSocket = class extends Native {
          constructor(...args) { super(...args); window.__wsUrls.push(this.url); }
        };
      });
      const resp = await pinned.page.goto(base, { waitUntil: "load" });
      assert(resp.status() === 200, `GET / answered ${resp.status()}`);
      await allOpen(pinned.page);
      const urls = await pinned.page.evaluate(() => window.__wsUrls);
      console.log(`     the panels opened ${JSON.stringify(urls)}`);
      assert(urls.length >= 3 && urls.every((u) => u.startsWith(`wss://127.0.0.1:${TLS_PORT}/`)), `WebSocket URLs: ${JSON.stringify(urls)}`);
      const s = "你好，wss！" + Date.now();
      await pinned.page.fill("#echo-input", s);
      await pinned.page.click("#echo-send");
      await pinned.page.waitForFunction(
        (s) => [...document.querySelectorAll("#echo-log li.in")].some((li) => li.textContent === "← " + s),
        s, { timeout: 3000 });
      assert(pinned.errors.length === 0, `page errors: ${pinned.errors.join("; ")}`);
    });

    await check("the online count drops to 1 when one leaves", async () => {
      await b.page.click("#live-leave");
      await waitText(a.page, "#live-online", "1", 5000);
      await b.context.close();
      b = null;
    });

    await check("the page reconnects by itself after a server restart", async () => {
      const before = Number(await text(a.page, "#stock-count"));
      const code = await server.stop();
      assert(code === 0, `graceful shutdown exited ${code}`);
      await a.page.waitForFunction(() => document.getElementById("stock-state").dataset.state !== "open", null, { timeout: 5000 });
      await new Promise((r) => setTimeout(r, 1500)); // the page retries against a closed port meanwhile
      await server.start();
      await allOpen(a.page, 20000);
      // The stock subscription and the room membership come back without a click.
      await a.page.waitForFunction((n) => Number(document.getElementById("stock-count").textContent) >= n + 2, before, { timeout: 10000 });
      await waitText(a.page, "#live-current", "1001", 5000);
      await waitText(a.page, "#live-online", "1", 5000);
      const s = "重连后 " + Date.now();
      await a.page.fill("#echo-input", s);
      await a.page.click("#echo-send");
      await a.page.waitForFunction(
        (s) => [...document.querySelectorAll("#echo-log li.in")].some((li) => li.textContent === "← " + s),
        s, { timeout: 3000 });
    });

    await check("screenshot saved; no uncaught page errors", async () => {
      await a.page.fill("#live-input", "截图前的一条评论");
      await a.page.click("#live-send");
      await a.page.click("#live-follow");
      await a.page.click("#live-buy");
      await waitText(a.page, "#live-subs", "1", 3000);
      await a.page.waitForTimeout(300);
      const file = path.join(OUT, "demo.png");
      await a.page.screenshot({ path: file, fullPage: true });
      assert(fs.statSync(file).size > 10000, "screenshot is suspiciously small");
      console.log(`     screenshot: ${file}`);
      assert(a.errors.length === 0, `page errors: ${a.errors.join("; ")}`);
    });
  } finally {
    for (const x of [a, b, untrusted, pinned]) {
      if (!x) continue;
      await x.context.close().catch(() => {});
      fs.rmSync(x.dir, { recursive: true, force: true });
    }
    await server.stop();
    await echo.stop();
    await tls.stop();
  }
}

main()
  .catch((e) => { results.push(false); console.log(`FAIL setup: ${e && e.stack ? e.stack : e}`); })
  .finally(() => {
    const passed = results.filter(Boolean).length;
    const line = `${passed} passed, ${results.length - passed} failed`;
    if (process.env.SUMMARY) fs.writeFileSync(process.env.SUMMARY, line + "\n"); // run.sh prints it last
    else console.log(line);
    process.exitCode = passed === results.length && results.length > 0 ? 0 : 1;
  });
