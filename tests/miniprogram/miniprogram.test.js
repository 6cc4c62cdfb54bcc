// Runs examples/miniprogram unmodified against the real Tether demo server, through the wx shim.
// Environment: TETHER_BIN (the tether binary), TETHER_PORT (a free port), OUT_DIR (server log),
// PID_FILE (the server's pid, for the script's cleanup), MINIPROGRAM_URL (what the pages connect
// to: ws://127.0.0.1:TETHER_PORT, or a proxy in front of it).
// Cluster mode, when REDIS_URL is set (run.sh --cluster): two instances sharing rooms through
// that Redis, `--instance-id a` on TETHER_PORT and `b` on TETHER_PORT_B (pid in PID_FILE_B);
// the live test's viewer page connects to MINIPROGRAM_URL_B (instance B), every other page
// and test to MINIPROGRAM_URL (instance A).
"use strict";
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const fs = require("node:fs");
const WebSocket = require("ws");
const { createWx } = require("./wx-shim");
const { loadApp } = require("./runtime");
const { TetherServer } = require("../support/tether-server");

const EXAMPLE = path.resolve(__dirname, "../../examples/miniprogram");
const PORT = Number(process.env.TETHER_PORT);
const OUT = process.env.OUT_DIR || path.join(__dirname, "out");
const URL = process.env.MINIPROGRAM_URL || `ws://127.0.0.1:${PORT}`;
const APPID = "wxtether0001";
const REDIS_URL = process.env.REDIS_URL || "";
const CLUSTER = REDIS_URL !== "";
const PORT_B = Number(process.env.TETHER_PORT_B);
const URL_B = CLUSTER ? process.env.MINIPROGRAM_URL_B || `ws://127.0.0.1:${PORT_B}` : URL;

let server;
let serverB; // cluster mode only
let runtime;
let control;
// onOpen's {header} of every task opened through the shared shim (the pages' included): the
// examples do not expose it, and a task opens before a test could add its own onOpen.
const openHeaders = new WeakMap();

// Pages left open when a test fails would keep reconnecting: after() closes them.
const openPages = new Set();
function openPage(route, query) {
  const page = runtime.openPage(route, query);
  openPages.add(page);
  return page;
}
function closePage(page) {
  openPages.delete(page);
  runtime.closePage(page);
}
const summary = (p) => p && `${p.route}: ${JSON.stringify({ status: p.data.status, joined: p.data.joined, online: p.data.online, updates: p.data.updates })}`;

function waitFor(what, cond, ms = 5000) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = () => {
      let ok = false;
      try { ok = cond(); } catch (e) { /* not yet */ }
      if (ok) resolve();
      else if (Date.now() > deadline) {
        const pages = [...openPages].map(summary).join("; ");
        reject(new Error(`timed out after ${ms} ms waiting for ${what} (pages: ${pages || "none"})`));
      } else setTimeout(poll, 20);
    };
    poll();
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const comments = (page) => page.data.items.filter((i) => i.kind === "comment").map((i) => i.text);

// A page whose server URL is `url` (the pages read getApp().globalData.serverUrl on load).
function openPageAt(url, route, query) {
  const g = runtime.app.globalData;
  const saved = g.serverUrl;
  g.serverUrl = url;
  try {
    return openPage(route, query);
  } finally {
    g.serverUrl = saved;
  }
}

// ---- Cluster mode: the instances' metrics, and Redis ----

const demoArgs = ["--app", "demo", "--stock-interval", "0.2", "--allowed-appid", APPID, "--log-level", "info"];
function clusterArgs(id) {
  return ["--redis", REDIS_URL, "--instance-id", id, "--metrics-listen", "127.0.0.1:0"];
}

/** Starts `s`; in cluster mode also finds its metrics address in the log and waits for Redis. */
async function startServer(s) {
  const from = fs.existsSync(s.log) ? fs.statSync(s.log).size : 0;
  await s.start();
  if (!CLUSTER) return;
  s.metrics = null;
  await waitFor(`${s.log}: "metrics on http://…"`, () => {
    const m = /metrics on http:\/\/(\S+)\/metrics/.exec(fs.readFileSync(s.log, "utf8").slice(from));
    if (m) s.metrics = m[1];
    return s.metrics !== null;
  }, 10000);
  await waitForAsync(`${s.log}: connected to Redis`, async () => (await metric(s, "tether_broker_connected")) === 1, 10000);
}

async function metric(s, name) {
  const res = await fetch(`http://${s.metrics}/metrics`, { signal: AbortSignal.timeout(2000) });
  const body = await res.text();
  for (const line of body.split("\n")) {
    if (line.startsWith(name + " ")) return Number(line.slice(name.length + 1));
  }
  return 0;
}

async function waitForAsync(what, cond, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    let ok = false;
    try { ok = await cond(); } catch (e) { /* not yet */ }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** One Redis command (RESP over a socket of its own); resolves with the reply line. */
function redis(...args) {
  const u = new globalThis.URL(REDIS_URL);
  return new Promise((resolve, reject) => {
    const sock = require("node:net").connect({ host: u.hostname, port: Number(u.port) });
    sock.setTimeout(3000, () => sock.destroy(new Error("redis: no reply in 3 s")));
    let got = "";
    sock.on("data", (d) => {
      got += d;
      if (got.endsWith("\r\n")) { sock.end(); got.startsWith("-") ? reject(new Error(got.trim())) : resolve(got.trim()); }
    });
    sock.on("error", reject);
    sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join(""));
  });
}

before(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  server = new TetherServer({
    bin: process.env.TETHER_BIN, port: PORT,
    // The appid allowlist is on: every connection below must carry the shim's Referer.
    args: [...demoArgs, ...(CLUSTER ? clusterArgs("a") : [])],
    log: path.join(OUT, "server.log"), pidFile: process.env.PID_FILE,
  });
  await startServer(server);
  if (CLUSTER) {
    serverB = new TetherServer({
      bin: process.env.TETHER_BIN, port: PORT_B, args: [...demoArgs, ...clusterArgs("b")],
      log: path.join(OUT, "server-b.log"), pidFile: process.env.PID_FILE_B,
    });
    await startServer(serverB);
  }
  const shim = createWx({ appid: APPID });
  control = shim.control;
  const connect = shim.wx.connectSocket;
  shim.wx.connectSocket = (opts) => {
    const task = connect(opts);
    if (task) task.onOpen(({ header }) => openHeaders.set(task, header));
    return task;
  };
  runtime = loadApp(EXAMPLE, shim.wx, { serverUrl: URL, heartbeatInterval: 300, heartbeatTimeout: 1500 });
});

after(async () => {
  for (const p of [...openPages]) {
    try { closePage(p); } catch (e) { /* keep cleaning up */ }
  }
  if (control) control.dropAll();
  if (server) await server.stop();
  if (serverB) await serverB.stop();
});

// ---- The shim behaves as MINIPROGRAM.md says ----

test("shim: the Referer names the appid (and header cannot change it); other appids get 403", async () => {
  const events = [];
  const task = wx.connectSocket({ url: URL + "/echo", header: { Referer: "https://evil.example/" } });
  task.onOpen(() => task.send({ data: "你好，小程序" }));
  task.onMessage(({ data }) => { events.push(data); task.close({ code: 1000, reason: "done" }); });
  let closed = null;
  task.onClose((res) => { closed = res; });
  await waitFor("echo and close", () => closed !== null);
  assert.deepEqual(events, ["你好，小程序"]);
  assert.equal(closed.code, 1000);

  const other = createWx({ appid: "wxsomeoneelse" });
  const t2 = other.wx.connectSocket({ url: URL + "/echo" });
  let opened = false;
  let error = null;
  let closed2 = null;
  t2.onOpen(() => { opened = true; });
  t2.onError((e) => { error = e; });
  t2.onClose((res) => { closed2 = res; });
  await waitFor("refusal", () => error !== null && closed2 !== null);
  assert.equal(opened, false);
  assert.match(error.errMsg, /403/);
});

test("shim: send before onOpen fails, close before onOpen does not close, close codes are checked", async () => {
  const task = wx.connectSocket({ url: URL + "/echo" });
  const early = [];
  task.send({ data: "too early", fail: (e) => early.push("send:" + e.errMsg) });
  task.close({ code: 1000, fail: (e) => early.push("close:" + e.errMsg) });
  let opened = false;
  const got = [];
  let closed = null;
  task.onOpen(() => { opened = true; });
  task.onMessage(({ data }) => got.push(data));
  task.onClose((res) => { closed = res; });
  await waitFor("open despite the early close", () => opened);
  assert.equal(early.length, 2, JSON.stringify(early));
  assert.match(early[0], /not connected/);
  const buf = new Uint8Array([1, 2, 250]).buffer;
  task.send({ data: buf });
  await waitFor("binary echo", () => got.length === 1);
  assert.ok(got[0] instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(got[0])], [1, 2, 250]);
  let bad = null;
  task.close({ code: 1001, fail: (e) => { bad = e; } });
  await waitFor("bad code refused", () => bad !== null);
  assert.equal(closed, null);
  task.close({ code: 3001, reason: "bye" });
  await waitFor("close", () => closed !== null);
  assert.equal(closed.code, 3001);
});

test("shim: the global API keeps one socket; connecting again closes the previous one", async () => {
  const { wx: gwx, control: gc } = createWx({ appid: APPID });
  const got = [];
  let opens = 0;
  gwx.onSocketOpen(() => { opens++; gwx.sendSocketMessage({ data: "global " + opens }); });
  gwx.onSocketMessage(({ data }) => got.push(data));
  gwx.connectSocket({ url: URL + "/hello" });
  await waitFor("first reply", () => got.length === 1);
  gwx.connectSocket({ url: URL + "/hello" });
  await waitFor("second reply", () => got.length === 2);
  assert.deepEqual(got, ["hello global 1", "hello global 2"]);
  await waitFor("the first socket closed", () => gc.tasks.size === 1);
  gwx.closeSocket({ code: 1000 });
  await waitFor("all closed", () => gc.tasks.size === 0);
});

test("shim: at most 5 SocketTasks", async () => {
  const { wx: w, control: c } = createWx({ appid: APPID });
  const tasks = [];
  for (let i = 0; i < 5; i++) tasks.push(w.connectSocket({ url: URL + "/echo" }));
  let failure = null;
  const sixth = w.connectSocket({ url: URL + "/echo", fail: (e) => { failure = e; } });
  assert.equal(sixth, undefined);
  await waitFor("fail callback", () => failure !== null);
  assert.match(failure.errMsg, /max task count/);
  c.dropAll();
  await waitFor("all gone", () => c.tasks.size === 0);
});

// ---- The helper ----

test("helper: a link that stops answering the heartbeat is given up and reconnected", async () => {
  const { KeepAliveSocket } = require(path.join(EXAMPLE, "utils/socket.js"));
  // A peer that accepts and then never says a word: what a dead NAT mapping looks like.
  const silent = new WebSocket.Server({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => silent.once("listening", r));
  const heard = [];
  let connections = 0;
  silent.on("connection", (ws, req) => {
    connections++;
    assert.equal(req.headers.referer, `https://servicewechat.com/${APPID}/0/page-frame.html`);
    ws.on("message", (m) => heard.push(String(m)));
  });
  const statuses = [];
  const s = new KeepAliveSocket({
    url: `ws://127.0.0.1:${silent.address().port}/`,
    heartbeat: { message: "ping", isReply: (d) => d === "pong" },
    heartbeatInterval: 100,
    heartbeatTimeout: 400,
    backoff: [50],
    onStatus: (st, detail) => statuses.push(detail && detail.why ? `${st}: ${detail.why}` : st),
  });
  s.send("queued before open");
  s.start();
  try {
    await waitFor("a reconnect after the heartbeat timeout", () => connections >= 2, 5000);
    assert.equal(heard[0], "queued before open");
    assert.ok(heard.filter((m) => m === "ping").length >= 3, JSON.stringify(heard));
    assert.ok(statuses.includes("reconnecting: heartbeat timeout"), JSON.stringify(statuses));
  } finally {
    s.close();
    for (const c of silent.clients) c.terminate();
    await new Promise((r) => silent.close(r));
  }
});

test("helper: offers permessage-deflate by default and the demo server takes it; perMessageDeflate: false leaves it off", async () => {
  const { KeepAliveSocket } = require(path.join(EXAMPLE, "utils/socket.js"));
  // Over both thresholds (the server's 128 bytes, ws's 1 KiB): with compression on, it goes compressed both ways.
  const big = "你好，压缩！".repeat(2000);
  for (const [options, offered] of [[{}, true], [{ perMessageDeflate: false }, false]]) {
    const got = [];
    const s = new KeepAliveSocket({ url: URL + "/echo", onMessage: (d) => got.push(d), ...options });
    s.send(big);
    s.start();
    try {
      await waitFor("the echo", () => got.length === 1);
      assert.equal(got[0], big);
      const header = openHeaders.get(s.task);
      assert.equal(header.upgrade, "websocket", "onOpen's header is the handshake response");
      const ext = header["sec-websocket-extensions"];
      if (offered) assert.match(ext, /^permessage-deflate/);
      else assert.equal(ext, undefined);
    } finally {
      s.close();
    }
  }
});

test("helper: close() before onOpen still closes the task once it opens", async () => {
  const { KeepAliveSocket } = require(path.join(EXAMPLE, "utils/socket.js"));
  await waitFor("earlier tasks gone", () => control.tasks.size === 0);
  const s = new KeepAliveSocket({ url: URL + "/echo" });
  s.start();
  s.close();
  assert.equal(control.tasks.size, 1, "the task exists: close() could not stop it yet");
  await waitFor("the task to open and be closed", () => control.tasks.size === 0, 5000);
});

// ---- The pages ----

test("stock page: subscribes on open and draws every push; unsubscribe stops them", async () => {
  const page = openPage("pages/stock/stock");
  try {
    await waitFor("3 quotes", () => page.data.status === "open" && page.data.updates >= 3);
    assert.equal(page.data.bars.length, 6);
    for (const b of page.data.bars) assert.match(b.amount, /^\d+\.\d\d$/);
    page.unsubscribe();
    await sleep(300);
    const n = page.data.updates;
    await sleep(700);
    assert.ok(page.data.updates <= n + 1, `${page.data.updates} after ${n}`);
    page.subscribe();
    await waitFor("quotes again", () => page.data.updates >= n + 3);
  } finally {
    closePage(page);
  }
  assert.equal(page.data.status, "closed");
});

let anchor, viewer, stock;

const liveTitle = "live pages: numeric and string room ids meet in room 1001 over permessage-deflate; comments, counts, follows" +
  (CLUSTER ? " (anchor on instance A, viewer on B)" : "");
test(liveTitle, async () => {
  anchor = openPage("pages/live/live", { room_id: "1001", name: "主播", anchor: "1" });
  await waitFor("anchor joined", () => anchor.data.joined && anchor.data.online === 1);
  // room_id defaults to the number 1001. In cluster mode this page is on instance B.
  viewer = openPageAt(URL_B, "pages/live/live", { name: "小程序观众" });
  await waitFor("viewer joined", () => viewer.data.joined);
  await waitFor("online 2 on both", () => anchor.data.online === 2 && viewer.data.online === 2);
  assert.equal(viewer.data.roomId, "1001");
  for (const p of [anchor, viewer]) {
    assert.match(openHeaders.get(p.socket.task)["sec-websocket-extensions"], /^permessage-deflate/);
  }

  // 180 characters: its broadcast passes the demo's 128-byte threshold, so it comes compressed.
  const comment = "来自小程序的评论。".repeat(20);
  // Cluster mode: the pages really are on two instances. Each instance counts what it hears
  // from Redis on its room subscription, which it holds only while the room has members there:
  // A hears the viewer's comment and B the anchor's only if each has one of the two pages.
  const heardA = CLUSTER && await metric(server, "tether_broker_received_total");
  viewer.onInput({ detail: { value: comment } });
  const t0 = Date.now();
  viewer.sendComment();
  await waitFor("the comment on the anchor's page", () => comments(anchor).includes(comment), 2000);
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(viewer.data.input, "");
  if (CLUSTER) {
    await waitForAsync("instance A to hear the viewer's comment from Redis",
      async () => (await metric(server, "tether_broker_received_total")) > heardA);
    const heardB = await metric(serverB, "tether_broker_received_total");
    anchor.onInput({ detail: { value: "主播在实例 A 上" } });
    anchor.sendComment();
    await waitFor("the anchor's comment on the viewer's page", () => comments(viewer).includes("主播在实例 A 上"), 2000);
    await waitForAsync("instance B to hear the anchor's comment from Redis",
      async () => (await metric(serverB, "tether_broker_received_total")) > heardB);
    // A late joiner on B gets the comments made on both instances as its history.
    const late = openPageAt(URL_B, "pages/live/live", { name: "后来的观众" });
    try {
      await waitFor("the late joiner in", () => late.data.joined && anchor.data.online === 3 && viewer.data.online === 3);
      assert.deepEqual(comments(late), [comment, "主播在实例 A 上"]);
    } finally {
      closePage(late);
    }
    await waitFor("online 2 again", () => anchor.data.online === 2 && viewer.data.online === 2);
  }

  viewer.follow();
  await waitFor("follow count", () => anchor.data.follows === 1 && viewer.data.follows === 1);

  viewer.shelf({ currentTarget: { dataset: { status: "on" } } });
  await waitFor("the viewer is told off", () => viewer.data.lastError !== "");
  assert.match(viewer.data.lastError, /only the anchor/);
  anchor.shelf({ currentTarget: { dataset: { status: "on" } } });
  await waitFor("the shelf notice", () => viewer.data.items.some((i) => i.kind === "goods" && i.text.includes("上架")));
  viewer.buy();
  await waitFor("the purchase notice", () => anchor.data.items.some((i) => i.kind === "goods" && i.text.includes("购买")));
});

test("live page: the heartbeat keeps a quiet link open, its replies stay out of the page", async () => {
  const tasks = new Set(control.tasks);
  await sleep(2000); // > heartbeatTimeout (1.5 s) with nothing but heartbeats on the wire
  assert.deepEqual(new Set(control.tasks), tasks, "no connection was replaced");
  assert.equal(anchor.data.status, "open");
  assert.ok(!anchor.data.items.some((i) => /pong/.test(i.text)));
});

// The `online` event comes when a room's cluster-wide count changed without a join or leave the
// room was told of: an instance died (its presence stops being rewritten) or Redis came back.
// Cheapest to provoke: a presence field of a made-up instance in the room's Redis hash (the
// layout is in src/apps/live/cluster.rs), which the next presence rewrite (every 5 s) counts,
// then its removal.
test("live pages: an `online` event updates the count (cluster mode: a ghost instance in Redis)", { skip: !CLUSTER && "needs --cluster" }, async () => {
  const key = "tether:live:{1001}:presence";
  const notices = (p) => p.data.items.length;
  const before = [notices(anchor), notices(viewer)];
  await redis("HSET", key, "ghost", `2:${Date.now() + 120000}`);
  try {
    await waitFor("online 4 on both pages", () => anchor.data.online === 4 && viewer.data.online === 4, 15000);
  } finally {
    await redis("HDEL", key, "ghost");
  }
  await waitFor("online 2 on both pages", () => anchor.data.online === 2 && viewer.data.online === 2, 15000);
  assert.deepEqual([notices(anchor), notices(viewer)], before, "an online event adds nothing to the list");
});

test("forced disconnect: every page reconnects by itself and re-joins the room", async () => {
  stock = openPage("pages/stock/stock");
  await waitFor("stock quotes", () => stock.data.updates >= 1);
  control.dropAll(); // abrupt, no Close frame: what the platform does to a backgrounded app
  await waitFor("pages notice the drop", () => anchor.data.status !== "open" && viewer.data.status !== "open", 3000);
  await waitFor("pages back", () => [anchor, viewer, stock].every((p) => p.data.status === "open"), 10000);
  await waitFor("room re-joined, count exact", () => anchor.data.online === 2 && viewer.data.online === 2, 5000);
  const n = stock.data.updates;
  await waitFor("quotes resume", () => stock.data.updates >= n + 2);
  viewer.onInput({ detail: { value: "重连之后" } });
  viewer.sendComment();
  await waitFor("comments flow again", () => comments(anchor).includes("重连之后"), 2000);
});

test("server restart: the pages reconnect with back-off once it is back" + (CLUSTER ? " (instance A; the viewer on B stays)" : ""), async () => {
  const code = await server.stop();
  assert.equal(code, 0, "graceful shutdown");
  const onA = CLUSTER ? [anchor, stock] : [anchor, viewer, stock];
  await waitFor("pages reconnecting", () => onA.every((p) => p.data.status !== "open"), 3000);
  await sleep(1500); // a few tries against the closed port
  if (CLUSTER) assert.equal(viewer.data.status, "open", "the page on instance B kept its connection");
  await startServer(server);
  await waitFor("pages back", () => [anchor, viewer, stock].every((p) => p.data.status === "open"), 15000);
  await waitFor("room re-joined", () => anchor.data.online === 2 && viewer.data.online === 2, 5000);
  const n = stock.data.updates;
  await waitFor("quotes resume", () => stock.data.updates >= n + 2);
});

test("closing a page leaves the room and closes its socket with 1000", async () => {
  closePage(viewer);
  await waitFor("online 1", () => anchor.data.online === 1);
  assert.ok(anchor.data.items.some((i) => i.text === "小程序观众 离开直播间"));
  closePage(anchor);
  closePage(stock);
  await waitFor("every task closed", () => control.tasks.size === 0);
});
