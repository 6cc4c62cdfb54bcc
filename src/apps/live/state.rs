//! `/live` room state shared by every worker: the rooms (online and follow counts, comment history), the members, and who follows what.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;
use tether_server::ConnId;

use super::Id;

/// A comment as kept in a room's history and sent in `message_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Comment {
    pub(super) name: String,
    pub(super) content: String,
}

/// One room: its counts and its recent comments.
#[derive(Debug, Default)]
pub(super) struct Room {
    pub(super) online: usize,
    /// Follows this room has counted, including those of connections since closed.
    pub(super) subscribe_num: u64,
    /// The open connections that follow this room: each is counted once, whether or not it
    /// is still a member (leaving and joining again does not let it follow twice).
    pub(super) followers: HashSet<ConnId>,
    pub(super) history: VecDeque<Comment>,
}

/// What a joined connection said about itself.
#[derive(Debug, Clone)]
pub(super) struct Member {
    pub(super) room: Id,
    pub(super) live_id: Option<Id>,
    pub(super) uid: Id,
    pub(super) name: String,
    pub(super) is_anchor: bool,
}

/// Everything the live rooms know, behind [`Live`](super::Live)'s one mutex.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) rooms: HashMap<Id, Room>,
    pub(super) members: HashMap<ConnId, Member>,
    /// The live rooms each open connection follows: the reverse of [`Room::followers`], so
    /// that a closing connection or a closing room forgets its follows in time proportional
    /// to them (memory stays bounded by open connections and live rooms).
    pub(super) follows: HashMap<ConnId, HashSet<Id>>,
}

impl State {
    /// Forgets the follows of a closed connection (the counts they made stay).
    pub(super) fn forget_follower(&mut self, conn: ConnId) {
        for id in self.follows.remove(&conn).unwrap_or_default() {
            if let Some(room) = self.rooms.get_mut(&id) {
                room.followers.remove(&conn);
            }
        }
    }

    /// Removes an empty room, and its followers' memory of it.
    pub(super) fn remove_room(&mut self, id: &Id) {
        let Some(room) = self.rooms.remove(id) else {
            return;
        };
        for conn in room.followers {
            if let Some(ids) = self.follows.get_mut(&conn) {
                ids.remove(id);
                if ids.is_empty() {
                    self.follows.remove(&conn);
                }
            }
        }
    }
}
