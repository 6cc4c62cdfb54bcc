// A `wx` object with just the WebSocket API of the mini-program runtime, as MINIPROGRAM.md
// describes it, built on the npm `ws` client. Anything else the example code touched would be
// missing here and fail the test.
//
//   const { wx, control } = createWx({ appid: 'wx123' })
//
// Behaviour kept from the platform:
// - every handshake carries `Referer: https://servicewechat.com/{appid}/0/page-frame.html`
//   (version 0: the development build); `header` cannot set or change it;
// - connectSocket's success/fail/complete say whether the request was issued, not whether the
//   socket opened; at most 5 SocketTasks at a time; `timeout` defaults to and is capped at 60 s;
// - onOpen gets {header}: the handshake's HTTP response headers (names in lower case, as Node
//   gives them), e.g. `sec-websocket-extensions` when `perMessageDeflate` was accepted;
// - send before onOpen fails; close takes 1000 or 3000-4999 only, and before onOpen it does not
//   close the connection;
// - onMessage gets {data}: a string for text frames, an ArrayBuffer for binary ones;
//   onClose gets {code, reason};
// - the global API (onSocketOpen, sendSocketMessage, closeSocket, ...) acts on one socket at a
//   time: connecting again closes the previous one.
//
// `control` is for tests only: the live tasks, and dropAll() to cut every connection abruptly
// (what the platform does to a backgrounded app).
"use strict";
const WebSocket = require("ws");

const MAX_TASKS = 5;
const MAX_TIMEOUT = 60000;

function call(opts, name, res) {
  if (opts && typeof opts[name] === "function") opts[name](res);
}

// success/fail then complete, a turn later (the runtime answers asynchronously).
function answer(opts, ok, res) {
  setImmediate(() => {
    call(opts, ok ? "success" : "fail", res);
    call(opts, "complete", res);
  });
}

function createWx({ appid }) {
  const tasks = new Set();
  const global = { task: null, used: false, handlers: { open: [], message: [], error: [], close: [] } };

  class SocketTask {
    constructor(ws) {
      this._ws = ws;
      this._opened = false;
      this._handlers = { open: [], message: [], error: [], close: [] };
    }
    onOpen(cb) { this._handlers.open.push(cb); }
    onMessage(cb) { this._handlers.message.push(cb); }
    onError(cb) { this._handlers.error.push(cb); }
    onClose(cb) { this._handlers.close.push(cb); }
    _emit(kind, res) {
      const extra = global.task === this ? global.handlers[kind] : [];
      for (const cb of [...this._handlers[kind], ...extra]) cb(res);
    }

    send(opts) {
      const data = opts && opts.data;
      if (!this._opened || this._ws.readyState !== WebSocket.OPEN) {
        return answer(opts, false, { errMsg: "sendSocketMessage:fail WebSocket is not connected" });
      }
      let payload;
      if (typeof data === "string") payload = data;
      else if (data instanceof ArrayBuffer) payload = Buffer.from(data);
      else return answer(opts, false, { errMsg: "sendSocketMessage:fail data must be a string or an ArrayBuffer" });
      this._ws.send(payload, { binary: typeof data !== "string" }, (err) =>
        answer(opts, !err, { errMsg: err ? "sendSocketMessage:fail " + err.message : "sendSocketMessage:ok" }));
    }

    close(opts) {
      const code = opts && opts.code !== undefined ? opts.code : 1000;
      if (!(code === 1000 || (code >= 3000 && code <= 4999))) {
        return answer(opts, false, { errMsg: "closeSocket:fail code must be 1000 or 3000-4999" });
      }
      if (!this._opened) {
        // The known ordering trap: before onOpen this does not close the connection.
        return answer(opts, false, { errMsg: "closeSocket:fail WebSocket is not connected" });
      }
      this._ws.close(code, (opts && opts.reason) || "");
      answer(opts, true, { errMsg: "closeSocket:ok" });
    }
  }

  function connectSocket(opts) {
    opts = opts || {};
    const url = opts.url;
    if (typeof url !== "string" || !/^wss?:\/\//.test(url)) {
      answer(opts, false, { errMsg: "connectSocket:fail invalid url" });
      return undefined;
    }
    if (global.used && global.task) {
      global.task.close({ code: 1000, reason: "replaced" });
    }
    if (tasks.size >= MAX_TASKS) {
      answer(opts, false, { errMsg: `connectSocket:fail exceed max task count ${MAX_TASKS}` });
      return undefined;
    }
    const headers = {};
    for (const [k, v] of Object.entries(opts.header || {})) {
      if (k.toLowerCase() !== "referer") headers[k] = String(v); // Referer cannot be set
    }
    headers.Referer = `https://servicewechat.com/${appid}/0/page-frame.html`;
    const timeout = Math.min(Number(opts.timeout) > 0 ? Number(opts.timeout) : MAX_TIMEOUT, MAX_TIMEOUT);
    const ws = new WebSocket(url, opts.protocols || [], {
      headers,
      handshakeTimeout: timeout,
      perMessageDeflate: Boolean(opts.perMessageDeflate),
    });
    ws.binaryType = "arraybuffer";
    const task = new SocketTask(ws);
    tasks.add(task);
    global.task = task;

    let header; // 'upgrade' comes before 'open'
    ws.on("upgrade", (res) => {
      res.socket.setNoDelay(opts.tcpNoDelay !== false);
      header = res.headers;
    });
    ws.on("open", () => {
      task._opened = true;
      task._emit("open", { header });
    });
    ws.on("message", (data, isBinary) => {
      task._emit("message", { data: isBinary ? data : Buffer.from(data).toString("utf8") });
    });
    let ended = false;
    const end = (code, reason) => {
      if (ended) return;
      ended = true;
      tasks.delete(task);
      if (global.task === task) global.task = null;
      task._opened = false;
      task._emit("close", { code, reason });
    };
    ws.on("unexpected-response", (req, res) => {
      // A refused handshake (e.g. 403): an error, then the close, as the runtime reports it.
      task._emit("error", { errMsg: `Unexpected response code: ${res.statusCode}` });
      req.destroy();
      res.resume();
      end(1006, "");
    });
    ws.on("error", (err) => { if (!ended) task._emit("error", { errMsg: err.message }); });
    ws.on("close", (code, reason) => end(code, reason.toString()));
    answer(opts, true, { errMsg: "connectSocket:ok" });
    return task;
  }

  const onGlobal = (kind) => (cb) => { global.used = true; global.handlers[kind].push(cb); };
  const wx = {
    connectSocket,
    onSocketOpen: onGlobal("open"),
    onSocketMessage: onGlobal("message"),
    onSocketError: onGlobal("error"),
    onSocketClose: onGlobal("close"),
    sendSocketMessage(opts) {
      global.used = true;
      if (!global.task) return answer(opts, false, { errMsg: "sendSocketMessage:fail WebSocket is not connected" });
      global.task.send(opts);
    },
    closeSocket(opts) {
      global.used = true;
      if (!global.task) return answer(opts, false, { errMsg: "closeSocket:fail WebSocket is not connected" });
      global.task.close(opts);
    },
  };

  const control = {
    tasks,
    /** Cuts every connection without a Close frame (the app went to the background). */
    dropAll() {
      for (const t of tasks) t._ws.terminate();
    },
  };
  return { wx, control };
}

module.exports = { createWx };
