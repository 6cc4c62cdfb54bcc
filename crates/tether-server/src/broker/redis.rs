//! The Redis engine of the [`Broker`] seam: one thread per instance with one subscriber connection (a channel per room with members here) and one connection for `PUBLISH`, reconnecting with back-off and serving local rooms alone while Redis is away.
//!
//! Channels are `tether:room:<room>`, the room id in clear, so `PUBSUB CHANNELS tether:room:*`
//! shows them. Each message is a [`wire`] envelope: origin instance, per-room
//! sequence number, type, payload.
//!
//! # What a Redis outage loses
//! Local members lose nothing: while Redis is unreachable, a message published here goes to
//! this instance's members directly (counted in `tether_broker_delivered_locally_total`), and
//! a message published before the connection broke whose echo had not come back yet is
//! delivered to them then, in order. Other instances lose what was published while they could
//! not hear it: pub/sub keeps no history, and nothing is replayed when Redis returns.
//! Receivers count the gaps they see in other instances' sequences in
//! `tether_broker_gaps_total`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Notify};

use super::wire;
use super::{Broker, BrokerLink, RoomMessage};
use crate::error::SendError;
use crate::log_limit::LogLimit;

/// The prefix of every room channel.
pub const CHANNEL_PREFIX: &str = "tether:room:";
/// Most messages sent in one pipeline of `PUBLISH`es.
const BATCH: usize = 256;
/// A connect or a reply that takes longer is a failure.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The first wait before connecting again; it doubles up to [`RedisConfig::max_backoff`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How often per-room sequence state is swept of rooms unused for that long.
const SWEEP: Duration = Duration::from_secs(60);
/// Appends a history entry (keeping the last `ARGV[3]`) and publishes, in one step: the
/// list's order is the channel's.
const KEEP_AND_PUBLISH: &str = "redis.call('RPUSH', KEYS[1], ARGV[1]) \
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1) \
return redis.call('PUBLISH', ARGV[2], ARGV[4])";
/// Own messages awaiting their echo, at most (past it the oldest are dropped from the list).
const MAX_INFLIGHT: usize = 65_536;

/// Settings of the Redis engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://HOST:PORT/DB`, or `rediss://HOST:PORT/DB` for TLS (the platform's roots, or
    /// `tls_ca`).
    pub url: String,
    /// `rediss://`: the PEM certificate(s) of the CA to trust instead of the platform's roots
    /// (a private deployment, a test).
    pub tls_ca: Option<std::path::PathBuf>,
    /// This instance's id in every envelope (default: host name and pid), at most 255 bytes.
    pub instance_id: String,
    /// Messages waiting to be published, at most; past it a publish is refused and counted.
    pub queue_capacity: usize,
    /// The longest wait between two connection attempts. Default 2 s, so that traffic
    /// resumes within a few seconds of Redis coming back.
    pub max_backoff: Duration,
    /// Received payloads larger than this are dropped (and counted as rejected). Default 16 MiB.
    pub max_payload: usize,
}

impl RedisConfig {
    /// Defaults for `url`: host name and pid as the instance id, a queue of 65,536 messages.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            tls_ca: None,
            instance_id: default_instance_id(),
            queue_capacity: 65_536,
            max_backoff: Duration::from_secs(2),
            max_payload: 16 << 20,
        }
    }

    /// A client for `url` (with `tls_ca` for `rediss://`); no connection is made yet.
    pub fn client(&self) -> Result<redis::Client, String> {
        let bad = |e: &dyn std::fmt::Display| format!("--redis {}: {e}", self.url);
        match &self.tls_ca {
            None => redis::Client::open(self.url.as_str()).map_err(|e| bad(&e)),
            Some(ca) => {
                if !self.url.starts_with("rediss://") {
                    return Err(bad(&"a CA is for rediss:// URLs"));
                }
                let pem = std::fs::read(ca).map_err(|e| bad(&format!("{}: {e}", ca.display())))?;
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(self.url.as_str(), certs).map_err(|e| bad(&e))
            }
        }
    }

    /// Checks the values; the broker refuses to be made on an error.
    pub fn validate(&self) -> Result<(), String> {
        self.client()?;
        if self.instance_id.is_empty() || self.instance_id.len() > 255 {
            return Err("the instance id must be 1 to 255 bytes".into());
        }
        if self.queue_capacity == 0 {
            return Err("the broker queue capacity must be at least 1".into());
        }
        Ok(())
    }
}

/// `HOST:PID`, from `/etc/hostname` or the `HOSTNAME` variable.
pub fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tether".into());
    let mut id = format!("{host}:{}", std::process::id());
    id.truncate(255);
    id
}

/// The Redis engine: plug it in with [`Server::bind_with_broker`](crate::Server::bind_with_broker).
pub struct RedisBroker {
    config: RedisConfig,
    client: redis::Client,
    tx: mpsc::Sender<RoomMessage>,
    rx: Mutex<Option<mpsc::Receiver<RoomMessage>>>,
    /// Set by [`Broker::interest`]: the subscriptions must be brought up to date.
    interest_changed: Arc<Notify>,
    dirty: Arc<AtomicBool>,
    stopping: Arc<AtomicBool>,
    stop: Arc<Notify>,
    link: std::sync::OnceLock<BrokerLink>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("config", &self.config)
            .finish()
    }
}

impl RedisBroker {
    /// An engine for `config` (no connection is made until the server starts it).
    pub fn new(config: RedisConfig) -> Result<RedisBroker, String> {
        config.validate()?;
        let client = config.client()?;
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        Ok(RedisBroker {
            config,
            client,
            tx,
            rx: Mutex::new(Some(rx)),
            interest_changed: Arc::new(Notify::new()),
            dirty: Arc::new(AtomicBool::new(true)),
            stopping: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(Notify::new()),
            link: std::sync::OnceLock::new(),
            thread: Mutex::new(None),
        })
    }

    /// This instance's id.
    pub fn instance_id(&self) -> &str {
        &self.config.instance_id
    }
}

impl Broker for RedisBroker {
    fn start(&self, link: BrokerLink) -> std::io::Result<()> {
        let rx = self
            .rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| std::io::Error::other("the Redis broker was started twice"))?;
        let _ = self.link.set(link.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let engine = Engine {
            config: self.config.clone(),
            client: self.client.clone(),
            link,
            rx,
            interest_changed: self.interest_changed.clone(),
            dirty: self.dirty.clone(),
            stopping: self.stopping.clone(),
            stop: self.stop.clone(),
            seqs: HashMap::new(),
            seen: HashMap::new(),
            subscribed: HashSet::new(),
            inflight: VecDeque::new(),
            last_sweep: Instant::now(),
            keep_script: redis::Script::new(KEEP_AND_PUBLISH),
        };
        let t = std::thread::Builder::new()
            .name("tether-redis".into())
            .spawn(move || runtime.block_on(engine.run()))?;
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
        Ok(())
    }

    fn publish(&self, msg: RoomMessage) -> Result<(), SendError> {
        match self.tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                if let Some(l) = self.link.get() {
                    l.stats().note_queue_full();
                }
                Err(SendError::BrokerBusy)
            }
            Err(TrySendError::Closed(_)) => Err(SendError::WorkerGone),
        }
    }

    fn interest(&self, _room: &Arc<str>, _on: bool) {
        // The engine reads the rooms from the link: one wake-up covers any number of changes.
        self.dirty.store(true, Ordering::SeqCst);
        self.interest_changed.notify_one();
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_one();
        let t = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}

/// Why the connected state ended.
enum Ended {
    Stopped,
    Failed(String),
}

/// The engine's thread state.
struct Engine {
    config: RedisConfig,
    client: redis::Client,
    link: BrokerLink,
    rx: mpsc::Receiver<RoomMessage>,
    interest_changed: Arc<Notify>,
    /// The rooms changed since the subscriptions were last brought up to date.
    dirty: Arc<AtomicBool>,
    stopping: Arc<AtomicBool>,
    stop: Arc<Notify>,
    /// The next sequence number of each room this instance publishes to, and its last use.
    seqs: HashMap<Arc<str>, (u64, Instant)>,
    /// The last sequence number seen per room and origin (rooms subscribed to only), and
    /// when: origins silent for [`SWEEP`] are forgotten (instances come and go).
    seen: HashMap<Arc<str>, HashMap<String, (u64, Instant)>>,
    subscribed: HashSet<Arc<str>>,
    /// Own messages to rooms with members here, published but not yet heard back: local
    /// members get them from here if the connection breaks first.
    inflight: VecDeque<(u64, RoomMessage)>,
    last_sweep: Instant,
    keep_script: redis::Script,
}

static DOWN: LogLimit = LogLimit::new(Duration::from_secs(10));

impl Engine {
    async fn run(mut self) {
        let mut backoff = FIRST_BACKOFF;
        let mut ever_connected = false;
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            match self.connect().await {
                Ok((sink, stream, con)) => {
                    let stats = self.link.stats();
                    stats.set_connected(true);
                    if ever_connected {
                        stats.note_reconnect();
                    }
                    ever_connected = true;
                    backoff = FIRST_BACKOFF;
                    match self.connected(sink, stream, con).await {
                        Ended::Stopped => return,
                        Ended::Failed(e) => {
                            self.link.stats().set_connected(false);
                            let unheard = std::mem::take(&mut self.inflight);
                            self.deliver_locally(unheard.into_iter().map(|(_, m)| m));
                            log::warn!(
                                "redis {}: {e}; serving local rooms alone, reconnecting",
                                self.config.url
                            );
                        }
                    }
                }
                Err(e) => {
                    if let Some(held) = DOWN.check(Instant::now()) {
                        log::warn!(
                            "redis {}: {e}; serving local rooms alone, retrying ({held} more failures since the last report)",
                            self.config.url
                        );
                    }
                }
            }
            if self.down_for(backoff).await {
                return;
            }
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    async fn connect(
        &mut self,
    ) -> Result<
        (
            redis::aio::PubSubSink,
            redis::aio::PubSubStream,
            redis::aio::MultiplexedConnection,
        ),
        String,
    > {
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(IO_TIMEOUT))
            .set_response_timeout(Some(IO_TIMEOUT));
        let mut con = self
            .client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(|e| e.to_string())?;
        let pubsub = tokio::time::timeout(IO_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        // Loaded once per connection (a restarted Redis has forgotten it): EVALSHA after.
        self.keep_script
            .prepare_invoke()
            .load_async(&mut con)
            .await
            .map_err(|e| format!("SCRIPT LOAD: {e}"))?;
        let (sink, stream) = pubsub.split();
        self.subscribed.clear();
        self.seen.clear();
        // A new subscriber connection has no subscriptions: every room is owed one.
        self.dirty.store(true, Ordering::SeqCst);
        Ok((sink, stream, con))
    }

    /// Serves while connected; returns why it stopped.
    async fn connected(
        &mut self,
        mut sink: redis::aio::PubSubSink,
        mut stream: redis::aio::PubSubStream,
        mut con: redis::aio::MultiplexedConnection,
    ) -> Ended {
        if let Err(e) = self.sync_interest(&mut sink).await {
            return Ended::Failed(e);
        }
        log::info!(
            "redis {}: connected as {}, {} room(s) subscribed",
            self.config.url,
            self.config.instance_id,
            self.subscribed.len()
        );
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                biased;
                _ = self.stop.notified() => return Ended::Stopped,
                _ = self.interest_changed.notified() => {
                    if let Err(e) = self.sync_interest(&mut sink).await {
                        return Ended::Failed(e);
                    }
                }
                msg = stream.next() => match msg {
                    Some(m) => self.received(&m),
                    None => return Ended::Failed("the subscriber connection closed".into()),
                },
                n = self.rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        return Ended::Stopped;
                    }
                    // A room that just got its first member here is subscribed before its
                    // messages go out, so they come back to it.
                    let sent = match self.sync_interest(&mut sink).await {
                        Ok(()) => self.publish(&mut con, &batch).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = sent {
                        // Unheard messages first, then these: the order stays.
                        let unheard = std::mem::take(&mut self.inflight);
                        self.deliver_locally(unheard.into_iter().map(|(_, m)| m));
                        self.deliver_locally(batch.drain(..));
                        return Ended::Failed(e);
                    }
                    self.link.stats().note_published(batch.len() as u64);
                    batch.clear();
                }
            }
            if self.stopping.load(Ordering::SeqCst) {
                return Ended::Stopped;
            }
        }
    }

    /// Subscribes to rooms that got members here, unsubscribes from rooms that lost them.
    async fn sync_interest(&mut self, sink: &mut redis::aio::PubSubSink) -> Result<(), String> {
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let wanted: HashSet<Arc<str>> = self.link.rooms().into_iter().collect();
        let add: Vec<String> = wanted
            .difference(&self.subscribed)
            .map(|r| channel(r))
            .collect();
        let remove: Vec<Arc<str>> = self.subscribed.difference(&wanted).cloned().collect();
        if !add.is_empty() {
            tokio::time::timeout(IO_TIMEOUT, sink.subscribe(&add))
                .await
                .map_err(|_| "SUBSCRIBE timed out".to_string())?
                .map_err(|e| format!("SUBSCRIBE: {e}"))
                .inspect_err(|_| self.dirty.store(true, Ordering::SeqCst))?;
        }
        if !remove.is_empty() {
            let chans: Vec<String> = remove.iter().map(|r| channel(r)).collect();
            tokio::time::timeout(IO_TIMEOUT, sink.unsubscribe(&chans))
                .await
                .map_err(|_| "UNSUBSCRIBE timed out".to_string())?
                .map_err(|e| format!("UNSUBSCRIBE: {e}"))?;
            for r in &remove {
                self.seen.remove(r);
            }
        }
        self.subscribed = wanted;
        Ok(())
    }

    /// One pipeline of `PUBLISH`es, each with the room's next sequence number.
    async fn publish(
        &mut self,
        con: &mut redis::aio::MultiplexedConnection,
        batch: &[RoomMessage],
    ) -> Result<(), String> {
        let now = Instant::now();
        let mut pipe = redis::pipe();
        let mut awaited = Vec::new();
        for m in batch {
            let seq = self.seqs.entry(m.room.clone()).or_insert((0, now));
            seq.0 += 1;
            seq.1 = now;
            let seq = seq.0;
            let env = wire::encode(&self.config.instance_id, seq, m);
            if self.subscribed.contains(&m.room) {
                awaited.push((seq, m.clone()));
            }
            match &m.keep {
                None => {
                    pipe.cmd("PUBLISH")
                        .arg(channel(&m.room))
                        .arg(&env[..])
                        .ignore();
                }
                Some(k) => {
                    pipe.cmd("EVALSHA")
                        .arg(self.keep_script.get_hash())
                        .arg(1)
                        .arg(&k.list)
                        .arg(&k.entry[..])
                        .arg(channel(&m.room))
                        .arg(k.max.max(1))
                        .arg(&env[..])
                        .ignore();
                }
            }
        }
        self.sweep(now);
        pipe.query_async::<()>(con)
            .await
            .map_err(|e| format!("PUBLISH: {e}"))?;
        // Their echoes are read by this same task, after this returns.
        for a in awaited {
            if self.inflight.len() == MAX_INFLIGHT {
                self.inflight.pop_front();
            }
            self.inflight.push_back(a);
        }
        Ok(())
    }

    /// Forgets the sequence state of rooms unused for [`SWEEP`], once per [`SWEEP`].
    fn sweep(&mut self, now: Instant) {
        if now.duration_since(self.last_sweep) < SWEEP {
            return;
        }
        self.last_sweep = now;
        self.seqs
            .retain(|_, (_, used)| now.duration_since(*used) < SWEEP);
    }

    /// A message from the subscription: decoded, checked, delivered once.
    fn received(&mut self, msg: &redis::Msg) {
        let now = Instant::now();
        self.sweep(now);
        let stats = self.link.stats();
        let Some(room) = msg.get_channel_name().strip_prefix(CHANNEL_PREFIX) else {
            stats.note_rejected();
            return;
        };
        let payload = msg.get_payload_bytes();
        if payload.len() > self.config.max_payload {
            stats.note_rejected();
            return;
        }
        let env = match wire::decode(Bytes::copy_from_slice(payload)) {
            Ok(e) => e,
            Err(e) => {
                log::debug!("redis: dropped a message in {room}: {e}");
                stats.note_rejected();
                return;
            }
        };
        let Some(room) = self.subscribed.get(room).cloned() else {
            // Sent before our UNSUBSCRIBE took effect: no member here any more.
            return;
        };
        // Sequence 0: published outside the engine (by an application's script), unnumbered.
        if env.seq > 0 {
            let seen = self.seen.entry(room.clone()).or_default();
            let (last, at) = seen.entry(env.origin.clone()).or_insert((0, now));
            if env.seq > *last + 1 && *last > 0 {
                stats.note_gap(env.seq - *last - 1);
            }
            // A lower number means the origin forgot the room (or restarted): start again.
            *last = env.seq;
            *at = now;
        }
        let mine = env.origin == self.config.instance_id;
        if mine && env.seq > 0 {
            // Echoes come back in the order they were published: what is ahead of this one
            // was for a room unsubscribed meanwhile.
            while let Some((seq, m)) = self.inflight.pop_front() {
                if seq == env.seq && m.room == room {
                    break;
                }
            }
        }
        let m = RoomMessage {
            room,
            text: env.text,
            payload: env.payload,
            except: if mine { env.except } else { None },
            keep: None,
        };
        match self.link.deliver(&m) {
            Ok(()) => stats.note_received(),
            Err(e) => {
                log::debug!("redis: delivering in {}: {e}", m.room);
                stats.note_rejected();
            }
        }
    }

    fn deliver_locally(&self, msgs: impl Iterator<Item = RoomMessage>) {
        for m in msgs {
            if self.link.deliver(&m).is_ok() {
                self.link.stats().note_delivered_locally();
            }
        }
    }

    /// Waits `backoff` while disconnected, delivering publishes to local members meanwhile.
    /// Returns whether the server is stopping.
    async fn down_for(&mut self, backoff: Duration) -> bool {
        let until = tokio::time::Instant::now() + backoff;
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                biased;
                _ = self.stop.notified() => return true,
                _ = tokio::time::sleep_until(until) => return self.stopping.load(Ordering::SeqCst),
                n = self.rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        return true;
                    }
                    self.deliver_locally(batch.drain(..));
                }
            }
        }
    }
}

/// The channel of a room.
pub fn channel(room: &str) -> String {
    format!("{CHANNEL_PREFIX}{room}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> RoomMessage {
        RoomMessage::new("r", tether_codec::Outgoing::Text("x"), None).unwrap()
    }

    #[test]
    fn a_full_queue_refuses_at_once() {
        let mut c = RedisConfig::new("redis://127.0.0.1:1/0");
        c.queue_capacity = 2;
        let b = RedisBroker::new(c).unwrap();
        // Not started: nothing drains the queue.
        assert_eq!(b.publish(msg()), Ok(()));
        assert_eq!(b.publish(msg()), Ok(()));
        assert_eq!(b.publish(msg()), Err(SendError::BrokerBusy));
    }

    #[test]
    fn bad_settings_are_refused_when_made() {
        assert!(RedisBroker::new(RedisConfig::new("http://nope")).is_err());
        let mut c = RedisConfig::new("redis://127.0.0.1:6379/0");
        c.instance_id = String::new();
        assert!(RedisBroker::new(c).is_err());
        let mut c = RedisConfig::new("redis://127.0.0.1:6379/0");
        c.tls_ca = Some("/nonexistent/ca.pem".into());
        assert!(c.validate().unwrap_err().contains("rediss://"));
        let mut c = RedisConfig::new("rediss://127.0.0.1:6379/0");
        c.tls_ca = Some("/nonexistent/ca.pem".into());
        assert!(c.validate().unwrap_err().contains("/nonexistent/ca.pem"));
        assert!(default_instance_id().contains(&std::process::id().to_string()));
    }
}
