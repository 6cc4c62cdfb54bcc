//! Rooms across instances over a real `redis-server`: one order everywhere, interest-based subscriptions, and a Redis outage under traffic (the Redis broker engine).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tether_client::Client;
use tether_server::broker::redis::{RedisBroker, RedisConfig};

use crate::redis_server::RedisServer;
use crate::util::*;

fn instance(redis: &RedisServer, id: &str, workers: usize) -> TestServer {
    let mut rc = RedisConfig::new(redis.url());
    rc.instance_id = id.into();
    rc.tls_ca = redis.ca();
    rc.max_backoff = Duration::from_millis(500);
    let mut cfg = config();
    cfg.workers = workers;
    let server = TestServer::start_with_broker(cfg, Arc::new(RedisBroker::new(rc).unwrap()));
    assert!(
        wait_until(Duration::from_secs(10), || server
            .metric("tether_broker_connected")
            == 1.0),
        "{id} did not connect to redis"
    );
    server
}

/// Four members of `r` on `server`, two on each of its two workers (the kernel spreads
/// connections by a hash: extra ones are closed).
fn two_per_worker(server: &TestServer) -> Vec<Client> {
    let mut kept = Vec::new();
    let mut per = [0; 2];
    for n in 1..=64 {
        let mut c = server.connect();
        assert!(wait_until(Duration::from_secs(5), || server
            .seen
            .lock()
            .unwrap()
            .opened
            .len()
            >= n));
        let w = server.seen.lock().unwrap().opened[n - 1].1;
        if per[w] < 2 {
            per[w] += 1;
            join(&mut c, "r");
            kept.push(c);
        }
        if kept.len() == 4 {
            return kept;
        }
    }
    panic!("64 connections and still not two on each worker: {per:?}");
}

fn join(c: &mut Client, room: &str) {
    c.send_text(&format!("join:{room}")).unwrap();
    assert_eq!(c.recv_message().unwrap().as_bytes(), b"joined");
}

fn text(c: &mut Client) -> String {
    String::from_utf8(c.recv_message().unwrap().as_bytes().to_vec()).unwrap()
}

/// The subscribers of a room's channel, as Redis counts them.
fn numsub(redis: &RedisServer, room: &str) -> i64 {
    let v: Vec<(String, i64)> = redis.query(
        redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(format!("tether:room:{room}")),
    );
    v[0].1
}

#[test]
fn members_on_two_instances_and_four_workers_see_one_order() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = instance(&redis, "a", 2);
    let b = instance(&redis, "b", 2);
    const EACH: usize = 50;
    let mut clients = Vec::new();
    for s in [&a, &b] {
        clients.extend(two_per_worker(s));
    }
    assert!(wait_until(Duration::from_secs(5), || numsub(&redis, "r") == 2));
    let n = clients.len();
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            std::thread::spawn(move || {
                for k in 0..EACH {
                    c.send_text(&format!("pub:r:{i}-{k}")).unwrap();
                }
                (0..n * EACH).map(|_| text(&mut c)).collect::<Vec<_>>()
            })
        })
        .collect();
    let seen: Vec<Vec<String>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(s, &seen[0], "client {i} saw another order than client 0");
        let distinct: HashSet<&String> = s.iter().collect();
        assert_eq!(distinct.len(), n * EACH, "each message exactly once");
    }
    // Each instance heard its own messages back once, from Redis, and nothing was lost.
    for s in [&a, &b] {
        assert_eq!(s.metric("tether_broker_received_total"), (n * EACH) as f64);
        assert_eq!(s.metric("tether_broker_gaps_total"), 0.0);
        assert_eq!(s.metric("tether_broker_delivered_locally_total"), 0.0);
    }
}

#[test]
fn a_room_on_one_instance_is_never_sent_to_the_others() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let servers: Vec<TestServer> = ["a", "b", "c"]
        .iter()
        .map(|id| instance(&redis, id, 1))
        .collect();
    let mut member = servers[0].connect();
    join(&mut member, "solo");
    assert!(wait_until(Duration::from_secs(5), || numsub(
        &redis, "solo"
    ) == 1));
    let channels: Vec<String> =
        redis.query(redis::cmd("PUBSUB").arg("CHANNELS").arg("tether:room:*"));
    assert_eq!(
        channels,
        ["tether:room:solo"],
        "the room id in clear, one subscriber instance"
    );
    // Published on A and on C (where nobody is in the room): only A's member gets them.
    let mut pub_c = servers[2].connect();
    for k in 0..20 {
        member.send_text(&format!("pub:solo:a{k}")).unwrap();
        pub_c.send_text(&format!("pub:solo:c{k}")).unwrap();
    }
    let mut got: Vec<String> = (0..40).map(|_| text(&mut member)).collect();
    got.sort();
    assert_eq!(got.len(), 40);
    assert_eq!(servers[0].metric("tether_broker_received_total"), 40.0);
    for s in &servers[1..] {
        assert_eq!(
            s.metric("tether_broker_received_total"),
            0.0,
            "a non-member instance got room traffic"
        );
    }
    // The last member leaves: the instance unsubscribes.
    drop(member);
    assert!(wait_until(Duration::from_secs(5), || numsub(
        &redis, "solo"
    ) == 0));
}

#[test]
fn a_redis_restart_under_traffic_loses_no_local_delivery_and_cross_traffic_returns() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let a = instance(&redis, "a", 2);
    let b = instance(&redis, "b", 1);
    let mut on_a = a.connect();
    let mut on_b = b.connect();
    join(&mut on_a, "r");
    join(&mut on_b, "r");
    assert!(wait_until(Duration::from_secs(5), || numsub(&redis, "r") == 2));
    let mut publisher = a.connect();
    // Traffic from A throughout: every message must reach A's member, Redis or not.
    let sender = std::thread::spawn(move || {
        for k in 0..300 {
            publisher.send_text(&format!("pub:r:{k}")).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        publisher
    });
    std::thread::sleep(Duration::from_millis(300));
    redis.kill();
    assert!(wait_until(Duration::from_secs(5), || a
        .metric("tether_broker_connected")
        == 0.0));
    std::thread::sleep(Duration::from_millis(300));
    redis.restart();
    let back = Instant::now();
    let _publisher = sender.join().unwrap();
    let got: Vec<String> = (0..300).map(|_| text(&mut on_a)).collect();
    let want: Vec<String> = (0..300).map(|k| k.to_string()).collect();
    assert_eq!(
        got, want,
        "A's member lost or reordered messages during the outage"
    );
    assert!(
        a.metric("tether_broker_delivered_locally_total") > 0.0,
        "the outage was not noticed"
    );
    // Both instances reconnect and resubscribe: a message from B reaches A within 10 s.
    assert!(
        wait_until(Duration::from_secs(10), || numsub(&redis, "r") == 2),
        "not resubscribed within 10 s of Redis coming back"
    );
    on_b.send_text("pub:r:from-b").unwrap();
    let mut from_b = false;
    while !from_b {
        from_b = text(&mut on_a) == "from-b";
    }
    let took = back.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "cross-instance traffic took {took:?} to return"
    );
    assert!(a.metric("tether_broker_reconnects_total") >= 1.0);
    eprintln!("cross-instance delivery returned {took:?} after redis-server restarted");
}

#[test]
fn rooms_cross_instances_over_rediss_with_a_private_ca() {
    let pki = crate::tls::Pki::new("redis");
    let dir = std::env::temp_dir().join(format!("tether-rediss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), &pki.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &pki.key_pem).unwrap();
    std::fs::write(dir.join("ca.pem"), pki.ca.cert.pem()).unwrap();
    let Some(redis) = RedisServer::start_tls(&dir) else {
        return;
    };
    let a = instance(&redis, "a", 1);
    let b = instance(&redis, "b", 1);
    let mut on_a = a.connect();
    let mut on_b = b.connect();
    join(&mut on_a, "r");
    join(&mut on_b, "r");
    assert!(wait_until(Duration::from_secs(5), || numsub(&redis, "r") == 2));
    on_a.send_text("pub:r:over tls").unwrap();
    assert_eq!(text(&mut on_b), "over tls");
    assert_eq!(text(&mut on_a), "over tls");
    // Without the CA (the platform's roots) the certificate is refused: no connection, and
    // the room still works locally.
    let mut rc = RedisConfig::new(redis.url());
    rc.instance_id = "untrusting".into();
    let c = TestServer::start_with_broker(config(), Arc::new(RedisBroker::new(rc).unwrap()));
    let mut on_c = c.connect();
    join(&mut on_c, "r");
    on_c.send_text("pub:r:local only").unwrap();
    assert_eq!(text(&mut on_c), "local only");
    assert_eq!(c.metric("tether_broker_connected"), 0.0);
    // (Counted just after it is queued to the worker: wait for the count.)
    assert!(wait_until(Duration::from_secs(5), || c
        .metric("tether_broker_delivered_locally_total")
        >= 1.0));
    let _ = std::fs::remove_dir_all(&dir);
}
