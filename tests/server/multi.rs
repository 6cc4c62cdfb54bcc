//! Several workers: broadcast and room messages reach 1,000 clients whatever thread holds them; graceful shutdown sends 1001.

use std::time::Duration;

use tether_client::{Client, ClientError};
use tether_codec::CloseCode;

use crate::util::*;

fn connect_many(server: &TestServer, n: usize) -> Vec<Client> {
    (0..n).map(|_| server.connect()).collect()
}

#[test]
fn broadcast_and_room_reach_1000_clients_on_2_workers() {
    let mut cfg = config();
    cfg.workers = 2;
    let server = TestServer::start(cfg);
    let mut clients = connect_many(&server, 1000);
    for c in clients.iter_mut() {
        c.send_text("join:g").unwrap();
    }
    for c in clients.iter_mut() {
        assert_eq!(c.recv_message().unwrap().as_bytes(), b"joined");
    }
    let workers: std::collections::HashSet<usize> = server
        .seen
        .lock()
        .unwrap()
        .opened
        .iter()
        .map(|o| o.1)
        .collect();
    assert_eq!(
        workers.len(),
        2,
        "connections should be spread over both workers"
    );

    clients[0].send_text("bcast:to everyone").unwrap();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(
            c.recv_message().unwrap().as_bytes(),
            b"to everyone",
            "client {i}"
        );
    }
    clients[999].send_text("pub:g:to the room").unwrap();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(
            c.recv_message().unwrap().as_bytes(),
            b"to the room",
            "client {i}"
        );
    }
}

#[test]
fn room_messages_skip_non_members_and_leavers() {
    let mut cfg = config();
    cfg.workers = 2;
    let server = TestServer::start(cfg);
    let mut clients = connect_many(&server, 6);
    for c in clients.iter_mut().take(3) {
        c.send_text("join:r").unwrap();
        assert_eq!(c.recv_message().unwrap().as_bytes(), b"joined");
    }
    clients[2].close(CloseCode::NORMAL, "").unwrap(); // a member that left
    clients[5].send_text("pub:r:hi").unwrap();
    for c in clients.iter_mut().take(2) {
        assert_eq!(c.recv_message().unwrap().as_bytes(), b"hi");
    }
    for c in clients.iter_mut().skip(3) {
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert!(c.recv_message().unwrap_err().is_timeout());
    }
}

#[test]
fn graceful_shutdown_sends_1001_to_every_client() {
    let mut cfg = config();
    cfg.workers = 2;
    let server = TestServer::start(cfg);
    let mut clients = connect_many(&server, 50);
    for c in clients.iter_mut() {
        c.send_text("x").unwrap();
        assert_eq!(c.recv_message().unwrap().as_bytes(), b"x");
    }
    let handle = server.handle.clone();
    let stopper = std::thread::spawn(move || server.stop());
    for c in clients.iter_mut() {
        match c.recv_message() {
            Err(ClientError::Closed { code, .. }) => assert_eq!(code, CloseCode::GOING_AWAY),
            other => panic!("{other:?}"),
        }
    }
    // Clients answered (the client replies to Close automatically): run() returns Ok.
    assert!(stopper.join().unwrap().is_ok());
    assert!(handle.is_shutting_down());
    // New connections are refused after shutdown.
    assert!(std::net::TcpStream::connect_timeout(
        &"127.0.0.1:1".parse().unwrap(),
        Duration::from_millis(100)
    )
    .is_err());
}
