//! `/live`: the live-room handler: the greeting, the dispatch of each JSON request by its `msg_type`, and the room events it publishes (request fields in `fields`, the shared room state in `state`).
//!
//! The protocol is documented as a table in `docs/live-protocol.md`. In short: the server
//! greets with `init`; a client `join`s a room, then sends `message` (comments), `subscribe`
//! (follow), `buy`, `on_off_shelf` (anchors only), `leave` and `ping`. Room events reach every
//! member through the server's rooms, whatever worker holds them; the counts and the history
//! live behind one mutex shared by the workers, so they are exact across threads. Bad input
//! gets `{"msg_type":"error","reason":…}` and changes nothing; the connection stays open.
//!
//! Ids (`room_id`, `live_id`, `from_uid`, `goods_id`) may be strings or integers, as
//! JavaScript clients send either: `1001` and `"1001"` are the same room, and ids are
//! always sent back as strings.
//!
//! A connection follows a room at most once (`subscribe` again is an error), for as long as
//! both live. A room exists while someone is in it: when its last member leaves, its follow
//! count, followers and history go too, so memory is bounded by the connections.
//!
//! # Order
//! The server gives every room one order on every worker (see `tether_server::broker`). The
//! room lock here adds what the server cannot know: the joiner's reply, its entering and
//! leaving the server room, and the counts and history in the reply are queued (through
//! [`ServerHandle`], like the room events) while the lock is held, so a joiner sees exactly the
//! events after the snapshot in its reply: none twice, none missed, counts never going back.
//! With several instances (`--redis`, see [`cluster`]) counts and history live in Redis.

pub mod cluster;
mod fields;
mod state;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tether_server::{ConnId, Ctx, Keep, LogLimit, MessageRef, Outgoing, ServerHandle};

use super::excerpt;
use cluster::{Cluster, Job};
use fields::{checked_goods_name, flag, price, shelf_status, text, Fields};
pub use fields::{Id, MAX_GOODS_NAME_CHARS, MAX_ID_CHARS, MAX_IMAGE_CHARS, MAX_NAME_CHARS};
use state::{Comment, Member, State};

/// The live-room limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveConfig {
    /// Comments a room keeps and sends to joiners as `message_list`. Default 50.
    pub history_len: usize,
    /// Longest comment, in characters (not bytes: `你好` is 2). Default 200.
    pub max_comment_chars: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            history_len: 50,
            max_comment_chars: 200,
        }
    }
}

const NOT_JOINED: &str = "join a room first";
const ALREADY_FOLLOWING: &str = "already following this room";

/// The live rooms, shared by every worker's handler (behind an `Arc`).
#[derive(Debug, Default)]
pub struct Live {
    config: LiveConfig,
    state: Mutex<State>,
    /// With `--redis`: counts and history over every instance.
    cluster: Option<Cluster>,
}

impl Live {
    /// No rooms yet.
    pub fn new(config: LiveConfig) -> Live {
        Live {
            config,
            state: Mutex::default(),
            cluster: None,
        }
    }

    /// Rooms shared with other instances through Redis (see [`cluster`]).
    pub fn with_cluster(config: LiveConfig, cluster: Cluster) -> Live {
        Live {
            config,
            state: Mutex::default(),
            cluster: Some(cluster),
        }
    }

    /// A `/live` connection opened: greet it with its `client_id`.
    pub fn on_open(&self, ctx: &mut Ctx<'_>, conn: ConnId) {
        send(
            ctx,
            conn,
            &json!({"msg_type": "init", "client_id": client_id(conn)}),
        );
    }

    /// A `/live` connection closed: it leaves its room, with a notice to the others.
    pub fn on_close(&self, ctx: &mut Ctx<'_>, conn: ConnId) {
        let mut st = self.lock();
        self.leave(&mut st, ctx, conn, false);
        st.forget_follower(conn);
    }

    /// A message from a `/live` client. Anything wrong is answered with an `error` to the
    /// sender alone.
    pub fn on_message(&self, ctx: &mut Ctx<'_>, conn: ConnId, msg: MessageRef<'_>) {
        if let Err(reason) = self.dispatch(ctx, conn, msg) {
            send(ctx, conn, &json!({"msg_type": "error", "reason": reason}));
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the rooms down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dispatch(&self, ctx: &mut Ctx<'_>, conn: ConnId, msg: MessageRef<'_>) -> Result<(), String> {
        let Some(text) = msg.as_text() else {
            return Err("binary messages are not part of the protocol: send JSON text".into());
        };
        let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let Some(obj) = value.as_object() else {
            return Err("expected a JSON object with a msg_type".into());
        };
        let msg_type = match obj.get("msg_type") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => return Err("msg_type must be a string".into()),
            None => return Err("missing msg_type".into()),
        };
        let fields = |msg_type| Fields { msg_type, obj };
        match msg_type {
            "ping" => {
                send(ctx, conn, &json!({"msg_type": "pong"}));
                Ok(())
            }
            "pong" => Ok(()),
            "join" => self.join(ctx, conn, &fields("join")),
            "message" => self.comment(ctx, conn, &fields("message")),
            "subscribe" => self.subscribe(ctx, conn),
            "leave" => {
                let mut st = self.lock();
                if self.leave(&mut st, ctx, conn, true) {
                    Ok(())
                } else {
                    Err("not in a room".into())
                }
            }
            "buy" => self.buy(ctx, conn, &fields("buy")),
            "on_off_shelf" => self.shelf(ctx, conn, &fields("on_off_shelf")),
            other => Err(format!("unknown msg_type {:?}", excerpt(other, 32))),
        }
    }

    fn join(&self, ctx: &mut Ctx<'_>, conn: ConnId, f: &Fields<'_>) -> Result<(), String> {
        let room = f.required("room_id", Id::from_value)?;
        let live_id = f.optional("live_id", Id::from_value)?;
        let uid = f.optional("from_uid", Id::from_value)?;
        let name = f.required("from_name", text)?.trim().to_owned();
        let is_anchor = f.optional("is_anchor", flag)?.unwrap_or(false);
        if name.is_empty() {
            return Err("from_name must not be empty".into());
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "from_name is longer than {MAX_NAME_CHARS} characters"
            ));
        }
        let member = Member {
            room,
            live_id,
            uid: uid.unwrap_or_else(|| Id(client_id(conn))),
            name,
            is_anchor,
        };
        let mut st = self.lock();
        // One room at a time: joining again moves the connection.
        self.leave(&mut st, ctx, conn, true);
        let room = st.rooms.entry(member.room.clone()).or_default();
        room.online += 1;
        let online = room.online;
        let subscribe_num = room.subscribe_num;
        let message_list: Vec<&Comment> = room.history.iter().collect();
        let msg_content = format!("{} 进入直播间", member.name);
        let reply = json!({
            "msg_type": "join",
            "client_id": client_id(conn),
            "room_id": member.room,
            "live_id": member.live_id,
            "from_uid": member.uid,
            "from_name": member.name,
            "is_anchor": member.is_anchor,
            "online_num": online,
            "subscribe_num": subscribe_num,
            "message_list": message_list,
            "msg_content": msg_content,
        });
        let notice = json!({
            "msg_type": "join",
            "room_id": member.room,
            "from_uid": member.uid,
            "from_name": member.name,
            "is_anchor": member.is_anchor,
            "online_num": online,
            "msg_content": msg_content,
        });
        if let Some(cluster) = &self.cluster {
            // The counts and history of every instance are filled in off the event loop.
            let (Value::Object(reply), Value::Object(notice)) = (reply, notice) else {
                return Err("internal error".into());
            };
            let history = room.history.iter().cloned().collect();
            if let Err(e) = cluster.queue(Job::Join {
                handle: ctx.handle(),
                conn,
                room: member.room.clone(),
                local_online: online as u64,
                local_subs: subscribe_num,
                local_history: history,
                reply,
                notice,
            }) {
                room.online -= 1;
                if room.online == 0 {
                    st.remove_room(&member.room);
                }
                return Err(e);
            }
            st.members.insert(conn, member);
            return Ok(());
        }
        let key = room_key(&member.room);
        // In queue order: the others hear of it, then the joiner enters the room and gets its
        // reply (with the history) rather than the notice.
        let handle = ctx.handle();
        publish(&handle, &key, &notice);
        if let Err(e) = handle.join(conn, &key) {
            // The worker's queue is full: the server is overloaded; the client may retry.
            return Err(format!("server busy, join again: {e}"));
        }
        if let Err(e) = handle.send(conn, Outgoing::Text(&reply.to_string())) {
            log::debug!("live join reply to {conn}: {e}");
        }
        st.members.insert(conn, member);
        Ok(())
    }

    fn comment(&self, ctx: &mut Ctx<'_>, conn: ConnId, f: &Fields<'_>) -> Result<(), String> {
        let mut st = self.lock();
        let member = st.members.get(&conn).ok_or(NOT_JOINED)?.clone();
        let content = f.required("content", text)?;
        if content.trim().is_empty() {
            return Err("content must not be empty".into());
        }
        let max = self.config.max_comment_chars;
        if content.chars().count() > max {
            return Err(format!("content is longer than {max} characters"));
        }
        let comment = Comment {
            name: member.name.clone(),
            content: content.clone(),
        };
        if let Some(room) = st.rooms.get_mut(&member.room) {
            room.history.push_back(comment.clone());
            while room.history.len() > self.config.history_len {
                room.history.pop_front();
            }
        }
        let kept = self
            .cluster
            .as_ref()
            .map(|c| c.history_entry(&member.room, &comment));
        let out = json!({
            "msg_type": "message",
            "room_id": member.room,
            "from_uid": member.uid,
            "from_name": member.name,
            "is_anchor": member.is_anchor,
            "content": content,
        });
        match kept {
            // With Redis the history is appended in the same step as the publish.
            Some(keep) => publish_kept(&ctx.handle(), &room_key(&member.room), &out, keep),
            None => publish(&ctx.handle(), &room_key(&member.room), &out),
        }
        Ok(())
    }

    fn subscribe(&self, ctx: &mut Ctx<'_>, conn: ConnId) -> Result<(), String> {
        let mut st = self.lock();
        let member = st.members.get(&conn).ok_or(NOT_JOINED)?.clone();
        let Some(room) = st.rooms.get_mut(&member.room) else {
            return Err(NOT_JOINED.into());
        };
        if !room.followers.insert(conn) {
            return Err(ALREADY_FOLLOWING.into());
        }
        room.subscribe_num += 1;
        let out = json!({
            "msg_type": "subscribe",
            "room_id": member.room,
            "from_uid": member.uid,
            "from_name": member.name,
            "subscribe_num": room.subscribe_num,
            "msg_content": format!("{} 关注了主播", member.name),
        });
        let subs = room.subscribe_num;
        st.follows
            .entry(conn)
            .or_default()
            .insert(member.room.clone());
        if let (Some(cluster), Value::Object(notice)) = (&self.cluster, &out) {
            return cluster.queue(Job::Subscribe {
                handle: ctx.handle(),
                room: member.room.clone(),
                local_subs: subs,
                notice: notice.clone(),
            });
        }
        publish(&ctx.handle(), &room_key(&member.room), &out);
        Ok(())
    }

    fn buy(&self, ctx: &mut Ctx<'_>, conn: ConnId, f: &Fields<'_>) -> Result<(), String> {
        let st = self.lock();
        let member = st.members.get(&conn).ok_or(NOT_JOINED)?;
        let goods_id = f.optional("goods_id", Id::from_value)?;
        let goods_name = f.required("goods_name", text)?;
        let goods_name = checked_goods_name(&goods_name)?;
        let out = json!({
            "msg_type": "buy",
            "room_id": member.room,
            "from_uid": member.uid,
            "from_name": member.name,
            "goods_id": goods_id,
            "goods_name": goods_name,
            "msg_content": format!("{} 购买了 {goods_name}", member.name),
        });
        publish(&ctx.handle(), &room_key(&member.room), &out);
        Ok(())
    }

    fn shelf(&self, ctx: &mut Ctx<'_>, conn: ConnId, f: &Fields<'_>) -> Result<(), String> {
        let st = self.lock();
        let member = st.members.get(&conn).ok_or(NOT_JOINED)?;
        if !member.is_anchor {
            return Err("only the anchor may put goods on or off the shelf".into());
        }
        let goods_id = f.required("goods_id", Id::from_value)?;
        let goods_name = f.required("goods_name", text)?;
        let goods_name = checked_goods_name(&goods_name)?;
        let goods_price = f.required("goods_price", price)?;
        let on = f.required("status", shelf_status)?;
        let image = f.optional("default_image", text)?.unwrap_or_default();
        if image.chars().count() > MAX_IMAGE_CHARS {
            return Err(format!(
                "default_image is longer than {MAX_IMAGE_CHARS} characters"
            ));
        }
        let (status, verb) = if on {
            ("on", "上架了")
        } else {
            ("off", "下架了")
        };
        let out = json!({
            "msg_type": "on_off_shelf",
            "room_id": member.room,
            "live_id": member.live_id,
            "from_uid": member.uid,
            "from_name": member.name,
            "goods_id": goods_id,
            "goods_name": goods_name,
            "goods_price": goods_price,
            "default_image": image,
            "status": status,
            "msg_content": format!("主播{verb} {goods_name}"),
        });
        publish(&ctx.handle(), &room_key(&member.room), &out);
        Ok(())
    }
}

impl Live {
    /// Takes `conn` out of its room, if it is in one, and tells the room (the leaver too, when
    /// `connected`: its confirmation). Returns whether it was in a room.
    fn leave(&self, st: &mut State, ctx: &mut Ctx<'_>, conn: ConnId, connected: bool) -> bool {
        let Some(member) = st.members.remove(&conn) else {
            return false;
        };
        let mut online = 0;
        if let Some(room) = st.rooms.get_mut(&member.room) {
            room.online = room.online.saturating_sub(1);
            online = room.online;
            if online == 0 {
                st.remove_room(&member.room);
            }
        }
        let key = room_key(&member.room);
        let notice = json!({
            "msg_type": "leave",
            "room_id": member.room,
            "from_uid": member.uid,
            "from_name": member.name,
            "online_num": online,
            "msg_content": format!("{} 离开直播间", member.name),
        });
        let handle = ctx.handle();
        if let (Some(cluster), Value::Object(notice)) = (&self.cluster, notice.clone()) {
            let leaver = connected.then_some(conn);
            let job = Job::Leave {
                handle,
                room: member.room,
                local_online: online as u64,
                leaver,
                notice,
            };
            if let Err(e) = cluster.queue(job) {
                log::warn!("live leave of {conn}: {e}");
            }
            return true;
        }
        publish(&handle, &key, &notice);
        if connected {
            if let Err(e) = handle.leave(conn, &key) {
                log::debug!("live leave of {conn}: {e}");
            }
        }
        true
    }
}

/// The server room (see [`Ctx::join`]) of a live room.
fn room_key(room: &Id) -> String {
    format!("live:{}", room.as_str())
}

/// The `client_id` the server gives a connection.
fn client_id(conn: ConnId) -> String {
    conn.as_u64().to_string()
}

fn send(ctx: &mut Ctx<'_>, conn: ConnId, v: &Value) {
    if let Err(e) = ctx.send(conn, Outgoing::Text(&v.to_string())) {
        log::debug!("live to {conn}: {e}");
    }
}

/// Publishes a room event through every worker's queue (see "Order" in the module doc).
/// A failure is warned about at most every 10 s, since every peer message can cause one.
fn publish(handle: &ServerHandle, room: &str, v: &Value) {
    published(room, handle.publish(room, Outgoing::Text(&v.to_string())));
}

/// Publishes a comment and appends it to the cluster's history in one step.
fn publish_kept(handle: &ServerHandle, room: &str, v: &Value, keep: Keep) {
    published(
        room,
        handle.publish_and_keep(room, Outgoing::Text(&v.to_string()), keep),
    );
}

fn published(room: &str, r: Result<(), tether_server::SendError>) {
    static FAILED: LogLimit = LogLimit::new(Duration::from_secs(10));
    if let Err(e) = r {
        match FAILED.check(Instant::now()) {
            Some(held_back) => log::warn!(
                "live publish to {room}: {e} ({held_back} more failures since the last report)"
            ),
            None => log::debug!("live publish to {room}: {e}"),
        }
    }
}
