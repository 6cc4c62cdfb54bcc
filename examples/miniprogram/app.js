// The Tether demo mini-program: a stock ticker page and a live-room page over WebSocket.
App({
  globalData: {
    // wss:// on a domain whitelisted in the mini-program admin console (socket legal domains).
    // The developer tool also accepts ws://127.0.0.1:8080 with domain checks turned off.
    serverUrl: 'wss://tether.example.com',
    // Application heartbeat: scripts cannot send protocol pings.
    heartbeatInterval: 10000,
    heartbeatTimeout: 25000,
  },
})
