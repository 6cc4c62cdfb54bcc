// A WebSocket that stays connected, for mini-program pages: wx.connectSocket / SocketTask with
// an application heartbeat (scripts cannot send protocol pings) and reconnection with back-off.
//
//   const { KeepAliveSocket } = require('../../utils/socket.js')
//   const socket = new KeepAliveSocket({
//     url: 'wss://example.com/live',
//     heartbeat: { message: '{"msg_type":"ping"}', isReply: (data) => data === '{"msg_type":"pong"}' },
//     onOpen() {}, onMessage(data) {}, onStatus(status, detail) {},
//   })
//   socket.start(); socket.send('…'); socket.close()
//
// What it handles for you (see the platform facts in the project's MINIPROGRAM.md):
// - SocketTask.send fails before onOpen: messages are queued (at most `maxQueue`) and sent on open.
// - SocketTask.close before onOpen does not close: a task that opens after it was given up is
//   closed right away in its onOpen.
// - close codes are 1000 or 3000-4999 only: 1000 when the page closes, 4000 for a dead link.
// - No message for `heartbeatTimeout` (the heartbeat's reply included) means the link is dead
//   (the app went to the background, NAT dropped it): give up on it at once and reconnect.
// - Reconnect delays: a few seconds for the first tries, then longer waits, then a long pause
//   between tries (each ±20%, so clients dropped together do not return together);
//   `reconnectNow()` (call it from onShow) skips the wait.
// - Compression: `perMessageDeflate` (default true) offers permessage-deflate (RFC 7692), which
//   the Tether demo server accepts; a server without it just answers without the extension.
//   Pass false not to offer it.
'use strict'

const DEFAULTS = {
  heartbeatInterval: 10000,
  heartbeatTimeout: 25000,
  backoff: [1000, 2000, 3000, 10000, 20000, 60000],
  maxQueue: 100,
  connectTimeout: 10000,
  perMessageDeflate: true,
}

class KeepAliveSocket {
  constructor(options) {
    this.options = Object.assign({}, DEFAULTS, options)
    this.task = null
    this.isOpen = false
    this.stopped = true
    this.attempt = 0
    this.queue = []
    this.retryTimer = null
    this.beatTimer = null
    this.lastHeard = 0
    this.beatsOut = 0
  }

  /** Connects, and keeps connecting until close(). */
  start() {
    this.stopped = false
    if (!this.task && !this.retryTimer) this._connect()
  }

  /** Sends text (or an ArrayBuffer) now, or as soon as the socket is open. */
  send(data) {
    if (this.isOpen && this.task) {
      const task = this.task
      task.send({
        data,
        fail: () => this._enqueue(data), // the link died under us: resend after reconnecting
      })
    } else {
      this._enqueue(data)
    }
  }

  /** Closes for good (code 1000); no more reconnects. */
  close() {
    this.stopped = true
    this.queue = []
    clearTimeout(this.retryTimer)
    this.retryTimer = null
    const task = this.task
    const wasOpen = this.isOpen
    this._forget()
    // Before onOpen a close would be ignored: that task is closed in its onOpen instead.
    if (task && wasOpen) task.close({ code: 1000, reason: 'page closed' })
    this._status('closed')
  }

  /** Skips a pending back-off wait (e.g. in onShow, when the app comes back). */
  reconnectNow() {
    if (!this.stopped && this.retryTimer) {
      clearTimeout(this.retryTimer)
      this.retryTimer = null
      this._connect()
    }
  }

  _enqueue(data) {
    if (this.queue.length < this.options.maxQueue) this.queue.push(data)
  }

  _connect() {
    this.retryTimer = null
    this._status('connecting')
    const o = this.options
    let task = null
    task = wx.connectSocket({
      url: o.url,
      header: o.header,
      protocols: o.protocols,
      timeout: o.connectTimeout,
      perMessageDeflate: o.perMessageDeflate,
      // May come before connectSocket returns: look at `task` a turn later.
      fail: (err) => setTimeout(() => this._dropped(task, 'connect failed: ' + (err && err.errMsg)), 0),
    })
    this.task = task
    this.isOpen = false
    task.onOpen(() => {
      if (this.task !== task) {
        // Given up on (close() or a timeout came first): it can be closed only now.
        task.close({ code: 1000, reason: 'stale' })
        return
      }
      this.isOpen = true
      this.attempt = 0
      this.lastHeard = Date.now()
      this.beatsOut = 0
      this.beatTimer = setInterval(() => this._beat(), o.heartbeatInterval)
      this._status('open')
      const queued = this.queue
      this.queue = []
      queued.forEach((data) => this.send(data))
      if (o.onOpen) o.onOpen()
    })
    task.onMessage((res) => {
      if (this.task !== task) return
      this.lastHeard = Date.now()
      const hb = o.heartbeat
      if (hb && this.beatsOut > 0 && hb.isReply(res.data)) {
        this.beatsOut--
        return
      }
      if (o.onMessage) o.onMessage(res.data)
    })
    task.onError((err) => this._dropped(task, 'error: ' + (err && err.errMsg)))
    task.onClose((res) => this._dropped(task, 'closed: ' + (res && res.code)))
  }

  _beat() {
    const task = this.task
    if (!task || !this.isOpen) return
    if (Date.now() - this.lastHeard > this.options.heartbeatTimeout) {
      // A dead link may never report its close: give up on it now.
      this._forget()
      task.close({ code: 4000, reason: 'heartbeat timeout' })
      this._retry('heartbeat timeout')
      return
    }
    const hb = this.options.heartbeat
    if (hb) {
      this.beatsOut++
      task.send({ data: hb.message })
    }
  }

  _dropped(task, why) {
    if (this.task !== task) return // an old task's late news
    this._forget()
    this._retry(why)
  }

  _forget() {
    clearInterval(this.beatTimer)
    this.beatTimer = null
    this.task = null
    this.isOpen = false
  }

  _retry(why) {
    if (this.stopped) {
      this._status('closed', why)
      return
    }
    const b = this.options.backoff
    const delay = Math.round(b[Math.min(this.attempt, b.length - 1)] * (0.8 + Math.random() * 0.4))
    this.attempt++
    this._status('reconnecting', { why, delay, attempt: this.attempt })
    this.retryTimer = setTimeout(() => this._connect(), delay)
  }

  _status(status, detail) {
    if (this.options.onStatus) this.options.onStatus(status, detail)
  }
}

module.exports = { KeepAliveSocket, DEFAULTS }
