// Live-room page on /live: joins a room (room_id from the page query, default 1001), shows
// comments, notices, the online and follow counts; sends comments, follows, purchases and, for
// the anchor, shelf changes. Re-joins by itself after every reconnect.
const { KeepAliveSocket } = require('../../utils/socket.js')

const MAX_ITEMS = 100

Page({
  data: {
    status: 'closed',
    clientId: '',
    roomId: '',
    joined: false,
    online: 0,
    follows: 0,
    items: [],
    input: '',
    goods: '保温杯',
    isAnchor: false,
    lastError: '',
  },

  // Query: room_id (default the number 1001: ids may be numbers or strings), name, anchor=1.
  onLoad(query) {
    const q = query || {}
    this.roomId = q.room_id !== undefined ? q.room_id : 1001
    this.name = q.name || '游客' + Math.floor(1000 + Math.random() * 9000)
    this.uid = 'mp-' + Math.floor(Math.random() * 1e9)
    this.nextItem = 1
    this.setData({ roomId: String(this.roomId), isAnchor: q.anchor === '1' })
    const app = getApp()
    this.socket = new KeepAliveSocket({
      url: app.globalData.serverUrl + '/live',
      heartbeatInterval: app.globalData.heartbeatInterval,
      heartbeatTimeout: app.globalData.heartbeatTimeout,
      heartbeat: {
        message: JSON.stringify({ msg_type: 'ping' }),
        isReply: (data) => data === '{"msg_type":"pong"}',
      },
      onMessage: (data) => this.onServerMessage(data),
      onStatus: (status) => this.setData({ status }),
    })
    this.socket.start()
  },

  onShow() {
    if (this.socket) this.socket.reconnectNow()
  },

  onUnload() {
    this.socket.send(JSON.stringify({ msg_type: 'leave' }))
    this.socket.close()
  },

  onServerMessage(data) {
    let m
    try {
      m = JSON.parse(data)
    } catch (e) {
      return
    }
    switch (m.msg_type) {
      case 'init': // a new connection: (re-)join the room
        this.setData({ clientId: m.client_id })
        this.send({
          msg_type: 'join',
          room_id: this.roomId,
          live_id: this.roomId,
          from_uid: this.uid,
          from_name: this.name,
          is_anchor: this.data.isAnchor,
        })
        break
      case 'join':
        if (Array.isArray(m.message_list)) {
          // Our own join: the room as it is now.
          this.setData({
            joined: true,
            online: m.online_num,
            follows: m.subscribe_num,
            items: m.message_list.map((c) => this.item('comment', c.name, c.content)),
          })
        } else {
          this.setData({ online: m.online_num })
          this.push(this.item('notice', '', m.msg_content))
        }
        break
      case 'leave':
        this.setData({ online: m.online_num })
        this.push(this.item('notice', '', m.msg_content))
        break
      case 'online': // the count changed without a join or leave (several instances: one died)
        this.setData({ online: m.online_num })
        break
      case 'message':
        this.push(this.item('comment', m.from_name, m.content))
        break
      case 'subscribe':
        this.setData({ follows: m.subscribe_num })
        this.push(this.item('notice', '', m.msg_content))
        break
      case 'buy':
      case 'on_off_shelf':
        this.push(this.item('goods', '', m.msg_content))
        break
      case 'error':
        this.setData({ lastError: m.reason })
        break
      default:
        break
    }
  },

  item(kind, name, text) {
    return { id: this.nextItem++, kind, name, text }
  },

  push(item) {
    const items = this.data.items.concat([item])
    this.setData({ items: items.slice(-MAX_ITEMS) })
  },

  send(msg) {
    this.socket.send(JSON.stringify(msg))
  },

  onInput(e) {
    this.setData({ input: e.detail.value })
  },

  onGoodsInput(e) {
    this.setData({ goods: e.detail.value })
  },

  sendComment() {
    const content = this.data.input
    if (!content.trim()) return
    this.send({ msg_type: 'message', content })
    this.setData({ input: '' })
  },

  follow() {
    this.send({ msg_type: 'subscribe' })
  },

  buy() {
    this.send({ msg_type: 'buy', goods_id: 1, goods_name: this.data.goods })
  },

  // bindtap with data-status="on" or "off"
  shelf(e) {
    this.send({
      msg_type: 'on_off_shelf',
      goods_id: 1,
      goods_name: this.data.goods,
      goods_price: '99.00',
      default_image: '',
      status: e.currentTarget.dataset.status,
    })
  },
})
