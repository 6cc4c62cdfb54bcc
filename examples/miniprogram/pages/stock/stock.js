// Stock ticker page: sends `stock` to /stock, draws each pushed array of six trading amounts
// (万元, two decimals) as bars, and sends `unsubscribe` to stop.
const { KeepAliveSocket } = require('../../utils/socket.js')

const SLOTS = ['09:30', '10:30', '11:30', '13:00', '14:00', '15:00']

Page({
  data: {
    status: 'closed',
    subscribed: true,
    updates: 0,
    bars: SLOTS.map((slot) => ({ slot, amount: '--', height: 0 })),
  },

  onLoad() {
    const app = getApp()
    this.socket = new KeepAliveSocket({
      url: app.globalData.serverUrl + '/stock',
      heartbeatInterval: app.globalData.heartbeatInterval,
      heartbeatTimeout: app.globalData.heartbeatTimeout,
      heartbeat: { message: 'ping', isReply: (data) => data === 'pong' },
      // After every (re)connect: subscribe again if the user wants quotes.
      onOpen: () => {
        if (this.data.subscribed) this.socket.send('stock')
      },
      onMessage: (data) => this.onQuote(data),
      onStatus: (status) => this.setData({ status }),
    })
    this.socket.start()
  },

  onShow() {
    if (this.socket) this.socket.reconnectNow()
  },

  onUnload() {
    this.socket.close()
  },

  onQuote(data) {
    if (typeof data !== 'string') return
    let amounts
    try {
      amounts = JSON.parse(data)
    } catch (e) {
      return // not a quote (e.g. a hint)
    }
    if (!Array.isArray(amounts) || amounts.length !== SLOTS.length) return
    const max = Math.max.apply(null, amounts.concat([1]))
    this.setData({
      updates: this.data.updates + 1,
      bars: amounts.map((n, i) => ({
        slot: SLOTS[i],
        amount: Number(n).toFixed(2),
        height: Math.round((n / max) * 100),
      })),
    })
  },

  subscribe() {
    this.setData({ subscribed: true })
    this.socket.send('stock')
  },

  unsubscribe() {
    this.setData({ subscribed: false })
    this.socket.send('unsubscribe')
  },
})
