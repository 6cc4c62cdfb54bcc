//! Which rooms have members on this instance: per-room counts of the workers holding members, and the first-member and last-leave calls to the broker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Broker;

/// Per room, how many workers of this instance hold members of it.
#[derive(Default)]
pub(crate) struct Interest {
    rooms: Mutex<HashMap<Arc<str>, u32>>,
}

impl Interest {
    /// A worker got its first member of `room`: the broker hears of the room's first.
    pub(crate) fn add(&self, room: &Arc<str>, broker: &dyn Broker) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let n = rooms.entry(room.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            // Under the lock, so that the broker hears one room's changes in order.
            broker.interest(room, true);
        }
    }

    /// A worker lost its last member of `room`: the broker hears of the room's last.
    pub(crate) fn remove(&self, room: &Arc<str>, broker: &dyn Broker) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let Some(n) = rooms.get_mut(room) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            rooms.remove(room);
            broker.interest(room, false);
        }
    }

    /// The rooms with members now.
    pub(crate) fn rooms(&self) -> Vec<Arc<str>> {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{BrokerLink, RoomMessage};
    use crate::error::SendError;

    #[derive(Default)]
    struct Log(Mutex<Vec<(String, bool)>>);

    impl Broker for Log {
        fn start(&self, _: BrokerLink) -> std::io::Result<()> {
            Ok(())
        }
        fn publish(&self, _: RoomMessage) -> Result<(), SendError> {
            Ok(())
        }
        fn interest(&self, room: &Arc<str>, on: bool) {
            self.0.lock().unwrap().push((room.to_string(), on));
        }
        fn stop(&self) {}
    }

    #[test]
    fn the_broker_hears_the_first_and_the_last_only() {
        let (i, log) = (Interest::default(), Log::default());
        let a: Arc<str> = Arc::from("1001");
        i.add(&a, &log);
        i.add(&a, &log);
        assert_eq!(i.rooms(), vec![a.clone()]);
        i.remove(&a, &log);
        i.remove(&a, &log);
        i.remove(&a, &log); // an extra leave changes nothing
        i.add(&a, &log);
        assert_eq!(
            *log.0.lock().unwrap(),
            [
                ("1001".into(), true),
                ("1001".into(), false),
                ("1001".into(), true)
            ]
        );
    }
}
