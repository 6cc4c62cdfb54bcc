//! One order per room: members on different workers see a room's messages in the same order while publishers on every worker interleave (the broker module's "Order").

use std::collections::HashSet;

use tether_client::Client;

use crate::util::*;

const CLIENTS: usize = 16;
const EACH: usize = 50;

/// Every client joins `r`, then all publish `EACH` messages at once from their own threads
/// and read every message of the room; returns what each read, in order.
fn interleave(server: &TestServer, except_sender: bool) -> Vec<Vec<String>> {
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| server.connect()).collect();
    for c in clients.iter_mut() {
        c.send_text("join:r").unwrap();
        assert_eq!(c.recv_message().unwrap().as_bytes(), b"joined");
    }
    let workers: HashSet<usize> = server
        .seen
        .lock()
        .unwrap()
        .opened
        .iter()
        .map(|o| o.1)
        .collect();
    assert_eq!(workers.len(), 2, "members on both workers");
    let expect = if except_sender {
        (CLIENTS - 1) * EACH
    } else {
        CLIENTS * EACH
    };
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            std::thread::spawn(move || {
                let verb = if except_sender { "pubx" } else { "pub" };
                for n in 0..EACH {
                    c.send_text(&format!("{verb}:r:{i}-{n}")).unwrap();
                }
                (0..expect)
                    .map(|_| {
                        String::from_utf8(c.recv_message().unwrap().as_bytes().to_vec()).unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn members_on_two_workers_see_one_order() {
    let mut cfg = config();
    cfg.workers = 2;
    let server = TestServer::start(cfg);
    let seen = interleave(&server, false);
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(s, &seen[0], "client {i} saw another order than client 0");
        // Each publisher's own messages stay in the order it sent them.
        for p in 0..CLIENTS {
            let mine: Vec<&String> = s
                .iter()
                .filter(|m| m.starts_with(&format!("{p}-")))
                .collect();
            let sent: Vec<String> = (0..EACH).map(|n| format!("{p}-{n}")).collect();
            assert_eq!(mine.len(), EACH);
            assert!(
                mine.iter().zip(&sent).all(|(a, b)| *a == b),
                "publisher {p} reordered"
            );
        }
    }
}

#[test]
fn publish_except_skips_the_sender_only_and_keeps_the_order() {
    let mut cfg = config();
    cfg.workers = 2;
    let server = TestServer::start(cfg);
    let seen = interleave(&server, true);
    for (i, s) in seen.iter().enumerate() {
        assert!(
            !s.iter().any(|m| m.starts_with(&format!("{i}-"))),
            "client {i} got its own"
        );
        // Any two clients agree on the order of the messages both got.
        for (j, t) in seen.iter().enumerate() {
            let both =
                |m: &&String| !m.starts_with(&format!("{i}-")) && !m.starts_with(&format!("{j}-"));
            let a: Vec<&String> = s.iter().filter(both).collect();
            let b: Vec<&String> = t.iter().filter(both).collect();
            assert_eq!(a, b, "clients {i} and {j} disagree");
        }
    }
}
