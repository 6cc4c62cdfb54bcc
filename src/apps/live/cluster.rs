//! `/live` over several instances (with `--redis`): cluster-wide `online_num` and `subscribe_num`, and one comment history per room, kept in Redis by a thread of its own so no event loop waits on Redis.
//!
//! Keys of room `R` (the `{R}` hash tag keeps a room's keys on one Redis Cluster node):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `tether:live:{R}:presence` | hash | per instance id: `COUNT:EXPIRES_MS`, its members and when its word runs out |
//! | `tether:live:{R}:history` | list | the last comments, JSON `{"name","content"}`, oldest first |
//! | `tether:live:{R}:subs` | string | the room's follow count |
//! | `tether:live:{R}:online` | string | the last `online_num` the room was told |
//!
//! Each instance rewrites its presence fields every [`HEARTBEAT`]; a field not refreshed for
//! [`PRESENCE_TTL`] (an instance killed with `kill -9`) no longer counts, and the survivors
//! announce the corrected count with an `online` event. A room whose count reaches 0 loses its
//! keys, as a local room does; all three keys also expire a minute after the last refresh, so a
//! room whose instances all died does not linger.
//!
//! While Redis is unreachable the counts, follow count and history fall back to this
//! instance's own, and the thread reconnects on its next piece of work (at most once a second).

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tether_server::broker::redis::{channel, RedisConfig};
use tether_server::broker::{wire, RoomMessage};
use tether_server::{ConnId, Keep, LogLimit, Outgoing, ServerHandle};

use super::fields::Id;
use super::state::Comment;

/// How often an instance rewrites its presence.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a presence field counts without a rewrite: three missed heartbeats.
pub const PRESENCE_TTL: Duration = Duration::from_secs(15);
/// Work waiting for the thread, at most; past it a request is refused with "server busy".
const QUEUE: usize = 65_536;
/// A Redis call that takes longer has failed.
const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// The least time between two connection attempts.
const RETRY: Duration = Duration::from_secs(1);

/// Replaces `"NAME":-1` in an envelope with `"NAME":N`: a notice's count is filled in by the
/// script that computed it, and published by that script, so notices reach the room in the
/// order their counts were taken (a count never goes back). The pattern cannot match inside
/// a JSON string value: a quote there is escaped.
const FILL: &str = r#"
local function fill(env, name, n)
  local pat = '"' .. name .. '":-1'
  local i, j = string.find(env, pat, 1, true)
  if not i then return env end
  return string.sub(env, 1, i - 1) .. '"' .. name .. '":' .. string.format('%d', n) .. string.sub(env, j + 1)
end
"#;

/// Sets this instance's count of a room (0 deletes it), drops expired fields, and returns the
/// total and whether it differs from the last count announced to the room (`KEYS[4]`), which
/// it then records. With `ARGV[4]` `always` (or `changed`, when it changed) it publishes the
/// envelope `ARGV[6]` to channel `ARGV[5]` with the total filled in. A room left empty loses
/// its keys. `TIME` is Redis's own clock, so instances need no synchronized clocks.
const PRESENCE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = tonumber(ARGV[2])
if count > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], count .. ':' .. (now + tonumber(ARGV[3])))
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local total = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local c, exp = string.match(all[i + 1], '^(%d+):(%d+)$')
  if c and tonumber(exp) > now then
    total = total + tonumber(c)
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
local changed = 0
if total == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
else
  if redis.call('GET', KEYS[4]) ~= tostring(total) then changed = 1 end
  redis.call('SET', KEYS[4], total)
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], 60000) end
end
if ARGV[4] == 'always' or (ARGV[4] == 'changed' and changed == 1) then
  redis.call('PUBLISH', ARGV[5], fill(ARGV[6], 'online_num', total))
end
return {total, changed}
";

/// The presence script, hashed once.
fn presence_script() -> &'static redis::Script {
    static S: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    S.get_or_init(|| redis::Script::new(&format!("{FILL}{PRESENCE}")))
}

/// The follow script, hashed once.
fn follow_script() -> &'static redis::Script {
    static S: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    S.get_or_init(|| redis::Script::new(&format!("{FILL}{FOLLOW}")))
}

/// Counts a follow (`INCR KEYS[1]`) and publishes the envelope `ARGV[2]` to channel `ARGV[1]`
/// with the count filled in.
const FOLLOW: &str = r"
local n = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], fill(ARGV[2], 'subscribe_num', n))
return n
";

/// The room state of other instances that a piece of work needs, and what to do with it.
pub(super) enum Job {
    /// A member joined: its reply and the others' notice get the cluster's counts (and the
    /// reply the cluster's history), then it enters the server room.
    Join {
        handle: ServerHandle,
        conn: ConnId,
        room: Id,
        local_online: u64,
        local_subs: u64,
        local_history: Vec<Comment>,
        reply: Map<String, Value>,
        notice: Map<String, Value>,
    },
    /// A member left (`leaver` when it is still connected and gets its confirmation).
    Leave {
        handle: ServerHandle,
        room: Id,
        local_online: u64,
        leaver: Option<ConnId>,
        notice: Map<String, Value>,
    },
    /// A follow: the notice gets the cluster's follow count.
    Subscribe {
        handle: ServerHandle,
        room: Id,
        local_subs: u64,
        notice: Map<String, Value>,
    },
}

/// The handle the `/live` handlers queue cluster work to.
#[derive(Debug)]
pub struct Cluster {
    tx: SyncSender<Job>,
    history_len: usize,
}

impl Cluster {
    /// Starts the thread for the Redis of `config` (it connects on its first piece of
    /// work); this instance's presence fields are named by `config.instance_id`.
    pub fn start(config: &RedisConfig, history_len: usize) -> Result<Cluster, String> {
        let client = config.client()?;
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let worker = Worker {
            client,
            instance: config.instance_id.clone(),
            con: None,
            retry_at: Instant::now(),
            rooms: HashMap::new(),
        };
        std::thread::Builder::new()
            .name("tether-live-redis".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| format!("starting the live-room Redis thread: {e}"))?;
        Ok(Cluster { tx, history_len })
    }

    /// Queues work for the thread; a full queue refuses it ("server busy").
    pub(super) fn queue(&self, job: Job) -> Result<(), String> {
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err("server busy, try again".into()),
            Err(TrySendError::Disconnected(_)) => Err("the live-room service has stopped".into()),
        }
    }

    /// A comment's entry in the room's Redis history, appended by the broker in the same
    /// step as the comment's publish (so the history's order is the one viewers saw).
    pub(super) fn history_entry(&self, room: &Id, comment: &Comment) -> Keep {
        let [_, list, _, _] = keys(room);
        Keep {
            list,
            entry: serde_json::to_vec(comment).unwrap_or_default().into(),
            max: self.history_len,
        }
    }
}

struct Worker {
    client: redis::Client,
    instance: String,
    con: Option<redis::Connection>,
    retry_at: Instant,
    /// This instance's members of each room with members here.
    rooms: HashMap<Id, u64>,
}

static REDIS_DOWN: LogLimit = LogLimit::new(Duration::from_secs(10));
static SEND_FAILED: LogLimit = LogLimit::new(Duration::from_secs(10));

fn keys(room: &Id) -> [String; 4] {
    let r = room.as_str();
    [
        format!("tether:live:{{{r}}}:presence"),
        format!("tether:live:{{{r}}}:history"),
        format!("tether:live:{{{r}}}:subs"),
        format!("tether:live:{{{r}}}:online"),
    ]
}

/// The server room of a live room (as the local mode names it).
fn room_key(room: &Id) -> String {
    format!("live:{}", room.as_str())
}

impl Worker {
    fn run(mut self, rx: Receiver<Job>) {
        let mut next_beat = Instant::now() + HEARTBEAT;
        loop {
            match rx.recv_timeout(next_beat.saturating_duration_since(Instant::now())) {
                Ok(job) => self.job(job),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if Instant::now() >= next_beat {
                self.heartbeat();
                next_beat = Instant::now() + HEARTBEAT;
            }
        }
    }

    /// The connection, made again when it was lost (at most once per [`RETRY`]).
    fn con(&mut self) -> Option<&mut redis::Connection> {
        if self.con.is_none() && Instant::now() >= self.retry_at {
            self.retry_at = Instant::now() + RETRY;
            match self.client.get_connection_with_timeout(IO_TIMEOUT) {
                Ok(mut c) => {
                    let _ = c.set_read_timeout(Some(IO_TIMEOUT));
                    let _ = c.set_write_timeout(Some(IO_TIMEOUT));
                    // The heartbeat's pipeline calls the script by its hash: a Redis that
                    // restarted has forgotten it.
                    match presence_script().prepare_invoke().load(&mut c) {
                        Ok(_) => {
                            log::info!("live rooms: connected to Redis");
                            self.con = Some(c);
                        }
                        Err(e) => self.failed(&e),
                    }
                }
                Err(e) => self.failed(&e),
            }
        }
        self.con.as_mut()
    }

    fn failed(&mut self, e: &redis::RedisError) {
        self.con = None;
        if let Some(held) = REDIS_DOWN.check(Instant::now()) {
            log::warn!(
                "live rooms: Redis: {e}; counts and history are this instance's own until it is back ({held} more since the last report)"
            );
        }
    }

    /// Runs `f` on the connection; `None` when Redis is unreachable or the call failed.
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        let con = self.con()?;
        match f(con) {
            Ok(v) => Some(v),
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    /// Sets this instance's count of `room`; returns the cluster's, and whether the room was
    /// last told another (now recorded as told). `announce` (`always` or `changed`) publishes
    /// `notice`, its `online_num` the total, in the same step.
    fn presence(
        &mut self,
        room: &Id,
        local: u64,
        announce: &str,
        notice: Option<(&Value, Option<ConnId>)>,
    ) -> Option<(u64, bool)> {
        let [p, h, s, o] = keys(room);
        let me = self.instance.clone();
        let env = notice.map(|(v, except)| self.envelope(room, v, except));
        self.with(|c| {
            presence_script()
                .key(p)
                .key(h)
                .key(s)
                .key(o)
                .arg(me)
                .arg(local)
                .arg(PRESENCE_TTL.as_millis() as u64)
                .arg(if env.is_some() { announce } else { "never" })
                .arg(channel(&room_key(room)))
                .arg(env.as_deref().unwrap_or_default())
                .invoke::<(u64, u8)>(c)
                .map(|(total, changed)| (total, changed == 1))
        })
    }

    /// `v` as the broker's envelope from this instance (sequence 0: outside the broker's
    /// own numbering), for a script to publish.
    fn envelope(&self, room: &Id, v: &Value, except: Option<ConnId>) -> Vec<u8> {
        let mut m = match RoomMessage::new(&room_key(room), Outgoing::Text(&v.to_string()), None) {
            Ok(m) => m,
            Err(_) => return Vec::new(),
        };
        m.except = except;
        wire::encode(&self.instance, 0, &m).to_vec()
    }

    fn job(&mut self, job: Job) {
        match job {
            Job::Join {
                handle,
                conn,
                room,
                local_online,
                local_subs,
                local_history,
                mut reply,
                mut notice,
            } => {
                notice.insert("online_num".into(), json!(-1));
                let notice = Value::Object(notice);
                let total = self
                    .presence(&room, local_online, "always", Some((&notice, Some(conn))))
                    .map(|t| t.0);
                let [_, h, s, _] = keys(&room);
                let (subs, history) = match total {
                    Some(_) => self
                        .with(|c| {
                            redis::pipe()
                                .get(&s)
                                .lrange(&h, 0, -1)
                                .query::<(Option<u64>, Vec<String>)>(c)
                        })
                        .map(|(subs, list)| {
                            let list: Vec<Value> = list
                                .iter()
                                .filter_map(|j| serde_json::from_str(j).ok())
                                .collect();
                            (subs.unwrap_or(0), Value::Array(list))
                        })
                        .unwrap_or((local_subs, json!(local_history))),
                    None => (local_subs, json!(local_history)),
                };
                let online = total.unwrap_or(local_online);
                self.rooms.insert(room.clone(), local_online);
                reply.insert("online_num".into(), json!(online));
                reply.insert("subscribe_num".into(), json!(subs));
                reply.insert("message_list".into(), history);
                let key = room_key(&room);
                // It enters the room first: what is published after its reply reaches it.
                if let Err(e) = handle.join(conn, &key) {
                    send_failed("join", &e);
                }
                if let Err(e) = handle.send(conn, Outgoing::Text(&Value::Object(reply).to_string()))
                {
                    send_failed("join reply", &e);
                }
                if total.is_none() {
                    // Redis is away: the script did not publish; this instance's room hears it.
                    let mut notice = notice;
                    notice["online_num"] = json!(online);
                    publish(&handle, &key, &notice, Some(conn));
                }
            }
            Job::Leave {
                handle,
                room,
                local_online,
                leaver,
                mut notice,
            } => {
                notice.insert("online_num".into(), json!(-1));
                let template = Value::Object(notice);
                let total = self
                    .presence(&room, local_online, "always", Some((&template, None)))
                    .map(|t| t.0);
                let online = total.unwrap_or(local_online);
                if local_online == 0 {
                    self.rooms.remove(&room);
                } else {
                    self.rooms.insert(room.clone(), local_online);
                }
                let mut notice = template;
                notice["online_num"] = json!(online);
                let key = room_key(&room);
                if let Some(conn) = leaver {
                    // Out of the room first, so the published notice does not reach it twice.
                    if let Err(e) = handle.leave(conn, &key) {
                        send_failed("leave", &e);
                    }
                    if let Err(e) = handle.send(conn, Outgoing::Text(&notice.to_string())) {
                        send_failed("leave confirmation", &e);
                    }
                }
                if total.is_none() {
                    publish(&handle, &key, &notice, None);
                }
            }
            Job::Subscribe {
                handle,
                room,
                local_subs,
                mut notice,
            } => {
                let [_, _, s, _] = keys(&room);
                notice.insert("subscribe_num".into(), json!(-1));
                let mut notice = Value::Object(notice);
                let env = self.envelope(&room, &notice, None);
                let chan = channel(&room_key(&room));
                let counted = self.with(|c| {
                    follow_script()
                        .key(&s)
                        .arg(&chan)
                        .arg(&env)
                        .invoke::<u64>(c)
                });
                if counted.is_none() {
                    notice["subscribe_num"] = json!(local_subs);
                    publish(&handle, &room_key(&room), &notice, None);
                }
            }
        }
    }

    /// Rewrites this instance's presence in every room it has members in, and announces a
    /// count that changed without a join or leave here (another instance died, or Redis
    /// came back).
    ///
    /// One pipeline for all the rooms: a heartbeat costs one round trip to Redis, not one per
    /// room.
    fn heartbeat(&mut self) {
        if self.rooms.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for (room, local) in &self.rooms {
            let event = json!({
                "msg_type": "online",
                "room_id": room,
                "online_num": -1,
            });
            // Published by the script when the count changed: one instance tells the room.
            let [p, h, s, o] = keys(room);
            pipe.cmd("EVALSHA")
                .arg(presence_script().get_hash())
                .arg(4)
                .arg(p)
                .arg(h)
                .arg(s)
                .arg(o)
                .arg(&self.instance)
                .arg(*local)
                .arg(PRESENCE_TTL.as_millis() as u64)
                .arg("changed")
                .arg(channel(&room_key(room)))
                .arg(self.envelope(room, &event, None))
                .ignore();
        }
        self.with(|c| pipe.query::<()>(c));
    }
}

fn send_failed(what: &str, e: &tether_server::SendError) {
    if let Some(held) = SEND_FAILED.check(Instant::now()) {
        log::warn!("live rooms: {what}: {e} ({held} more since the last report)");
    }
}

fn publish(handle: &ServerHandle, key: &str, v: &Value, except: Option<ConnId>) {
    let text = v.to_string();
    let r = match except {
        Some(c) => handle.publish_except(key, Outgoing::Text(&text), c),
        None => handle.publish(key, Outgoing::Text(&text)),
    };
    if let Err(e) = r {
        send_failed("publish", &e);
    }
}
