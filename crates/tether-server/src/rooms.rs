//! Named groups of connections on one worker (rooms); publishing to a room reaches every worker's members.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::id::ConnId;

/// Room membership of the connections one worker holds.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    members: HashMap<Arc<str>, HashSet<ConnId>>,
}

impl Rooms {
    /// Adds `conn`; returns the shared name when it was not a member yet, and whether it is
    /// the room's first member here.
    pub(crate) fn join(&mut self, room: &str, conn: ConnId) -> Option<(Arc<str>, bool)> {
        if let Some((name, set)) = self.members.get_key_value(room) {
            let name = name.clone();
            if set.contains(&conn) {
                return None;
            }
            self.members.get_mut(room)?.insert(conn);
            return Some((name, false));
        }
        let name: Arc<str> = Arc::from(room);
        self.members.insert(name.clone(), HashSet::from([conn]));
        Some((name, true))
    }

    /// Removes `conn`; returns `None` when it was not a member, else whether it was the
    /// room's last member here.
    pub(crate) fn leave(&mut self, room: &str, conn: ConnId) -> Option<bool> {
        let set = self.members.get_mut(room)?;
        if !set.remove(&conn) {
            return None;
        }
        let last = set.is_empty();
        if last {
            self.members.remove(room);
        }
        Some(last)
    }

    /// The local members of `room`, copied into `out` (so the caller may mutate connections).
    pub(crate) fn members_into(&self, room: &str, out: &mut Vec<ConnId>) {
        out.clear();
        if let Some(set) = self.members.get(room) {
            out.extend(set.iter().copied());
        }
    }

    /// Local member count of `room`.
    pub(crate) fn len(&self, room: &str) -> usize {
        self.members.get(room).map_or(0, HashSet::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_leave_members() {
        let mut r = Rooms::default();
        let a = ConnId::new(1, 1);
        let b = ConnId::new(2, 2);
        assert_eq!(r.join("1001", a).map(|j| j.1), Some(true));
        assert!(r.join("1001", a).is_none());
        assert_eq!(r.join("1001", b).map(|j| j.1), Some(false));
        assert_eq!(r.len("1001"), 2);
        let mut out = Vec::new();
        r.members_into("1001", &mut out);
        out.sort();
        assert_eq!(out, [a, b]);
        assert_eq!(r.leave("1001", a), Some(false));
        assert_eq!(r.leave("1001", a), None);
        assert_eq!(r.leave("1001", b), Some(true));
        assert_eq!(r.len("1001"), 0);
        assert!(r.members.is_empty());
    }
}
