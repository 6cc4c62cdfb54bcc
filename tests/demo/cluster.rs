//! `/live` over several `tether --redis` processes and a real `redis-server`: one order and one count for a room spread over instances, cluster-wide history, a killed instance leaving the counts, a Redis restart under traffic, and no traffic to instances without members.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tether_client::{Client, ClientConfig};

use crate::redis_server::RedisServer;
use crate::util::{recv_json, recv_type, send_json};

/// A `tether` process serving the demo as one instance of a cluster.
struct Instance {
    child: Child,
    addr: SocketAddr,
    metrics: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

/// The address a log line says a server listens on, after `marker`.
fn addr_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(marker)? + marker.len()..];
    rest.split(['/', ' ']).next()?.parse().ok()
}

impl Instance {
    fn start(redis: &RedisServer, id: &str) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "2",
                "--redis",
                &redis.url(),
            ])
            .args(["--instance-id", id, "--metrics-listen", "127.0.0.1:0"])
            .args(["--log-level", "info"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tether");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                keep.lock().unwrap().push(line);
            }
        });
        let (mut addr, mut metrics) = (None, None);
        let end = Instant::now() + Duration::from_secs(20);
        while addr.is_none() || metrics.is_none() {
            let line = rx
                .recv_timeout(end.saturating_duration_since(Instant::now()))
                .expect("tether did not say where it listens");
            addr = addr.or_else(|| addr_after(&line, "on ws://"));
            metrics = metrics.or_else(|| addr_after(&line, "metrics on http://"));
        }
        let i = Instance {
            child,
            addr: addr.unwrap(),
            metrics: metrics.unwrap(),
            log,
        };
        assert!(
            wait(Duration::from_secs(10), || i
                .metric("tether_broker_connected")
                == 1.0),
            "{id} did not connect to Redis"
        );
        i
    }

    fn metric(&self, name: &str) -> f64 {
        let (_, _, body) = crate::util::http_get(self.metrics, "/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// A `/live` client past its `init`.
    fn open(&self) -> Client {
        let cfg = ClientConfig {
            read_timeout: Some(Duration::from_secs(40)),
            ..ClientConfig::default()
        };
        let mut c = Client::connect_with(&format!("ws://{}/live", self.addr), cfg).unwrap();
        assert_eq!(recv_json(&mut c)["msg_type"], "init");
        c
    }

    /// A client in room 1001 as `name`; returns it with its join reply.
    fn viewer(&self, name: &str) -> (Client, Value) {
        let mut c = self.open();
        send_json(
            &mut c,
            &json!({"msg_type": "join", "room_id": 1001, "from_name": name}),
        );
        let reply = recv_json(&mut c);
        assert_eq!(reply["msg_type"], "join", "{reply}");
        assert!(
            reply["message_list"].is_array(),
            "the joiner's own reply: {reply}"
        );
        (c, reply)
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn comment(c: &mut Client, text: &str) {
    send_json(c, &json!({"msg_type": "message", "content": text}));
}

/// The next `n` comments' contents.
fn comments(c: &mut Client, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            recv_type(c, "message")["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn a_room_over_two_instances_is_one_room() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Instance::start(&redis, "a");
    let b = Instance::start(&redis, "b");
    let (mut on_a, r1) = a.viewer("甲");
    assert_eq!(r1["online_num"], 1);
    let (mut on_b, r2) = b.viewer("乙");
    assert_eq!(r2["online_num"], 2, "the count covers both instances: {r2}");
    let notice = recv_type(&mut on_a, "join");
    assert_eq!(notice["from_name"], "乙");
    assert_eq!(notice["online_num"], 2);
    // Both post at once; both see the same order of all 40.
    let ta = std::thread::spawn(move || {
        for k in 0..20 {
            comment(&mut on_a, &format!("a{k}"));
        }
        let got = comments(&mut on_a, 40);
        (on_a, got)
    });
    for k in 0..20 {
        comment(&mut on_b, &format!("b{k}"));
    }
    let seen_b = comments(&mut on_b, 40);
    let (mut on_a, seen_a) = ta.join().unwrap();
    assert_eq!(seen_a, seen_b, "the two instances saw different orders");
    // A joiner on B gets the comments posted on A (and B) as its history, last 40 of them.
    let (mut late, r3) = b.viewer("丙");
    assert_eq!(r3["online_num"], 3);
    let history: Vec<String> = r3["message_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        history, seen_a,
        "the joiner's message_list is the room's history"
    );
    // A follow counts once for the whole cluster.
    send_json(&mut late, &json!({"msg_type": "subscribe"}));
    assert_eq!(recv_type(&mut on_a, "subscribe")["subscribe_num"], 1);
    assert_eq!(recv_type(&mut late, "subscribe")["subscribe_num"], 1);
    // Leaving is counted everywhere.
    send_json(&mut late, &json!({"msg_type": "leave"}));
    assert_eq!(recv_type(&mut on_a, "leave")["online_num"], 2);
    // Redis names the room in clear.
    let chans: Vec<String> = redis.query(redis::cmd("PUBSUB").arg("CHANNELS").arg("tether:room:*"));
    assert_eq!(chans, ["tether:room:live:1001"]);
}

#[test]
fn a_killed_instance_leaves_the_counts_within_30_s() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Instance::start(&redis, "a");
    let mut b = Instance::start(&redis, "b");
    let (mut on_a, _) = a.viewer("甲");
    let (_b1, _) = b.viewer("乙");
    let (_b2, r) = b.viewer("丙");
    assert_eq!(r["online_num"], 3);
    let killed = Instant::now();
    b.kill9();
    // The survivor announces the corrected count.
    loop {
        let v = recv_json(&mut on_a);
        if v["msg_type"] == "online" {
            assert_eq!(v["online_num"], 1, "{v}");
            break;
        }
    }
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(30), "took {took:?}");
    eprintln!("the killed instance's viewers left the count after {took:?}");
    // And a new joiner is told the true count.
    let (_c, r) = a.viewer("丁");
    assert_eq!(r["online_num"], 2);
}

#[test]
fn a_redis_restart_under_traffic_loses_no_local_delivery() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let a = Instance::start(&redis, "a");
    let b = Instance::start(&redis, "b");
    let (mut poster, _) = a.viewer("甲");
    let (mut local, _) = a.viewer("乙");
    let (mut remote, _) = b.viewer("丙");
    recv_type(&mut poster, "join");
    recv_type(&mut poster, "join");
    recv_type(&mut local, "join");
    const N: usize = 200;
    let t = std::thread::spawn(move || {
        for k in 0..N {
            comment(&mut poster, &format!("c{k}"));
            std::thread::sleep(Duration::from_millis(10));
        }
        poster
    });
    std::thread::sleep(Duration::from_millis(300));
    redis.kill();
    assert!(wait(Duration::from_secs(5), || a
        .metric("tether_broker_connected")
        == 0.0));
    std::thread::sleep(Duration::from_millis(500));
    redis.restart();
    let back = Instant::now();
    let mut poster = t.join().unwrap();
    let want: Vec<String> = (0..N).map(|k| format!("c{k}")).collect();
    assert_eq!(
        comments(&mut local, N),
        want,
        "a local viewer lost comments"
    );
    assert!(
        a.logged("serving local rooms alone"),
        "the outage is logged"
    );
    // Cross-instance delivery returns within 10 s of Redis coming back.
    let mut k = 0;
    let returned = loop {
        comment(&mut poster, &format!("after{k}"));
        remote
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut got = false;
        while let Ok(m) = remote.recv_message() {
            let v: Value = serde_json::from_slice(m.as_bytes()).unwrap();
            if v["msg_type"] == "message"
                && v["content"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("after"))
            {
                got = true;
                break;
            }
        }
        if got {
            break back.elapsed();
        }
        k += 1;
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "no cross-instance delivery 10 s after Redis came back"
        );
    };
    assert!(a.metric("tether_broker_delivered_locally_total") > 0.0);
    assert!(a.metric("tether_broker_reconnects_total") >= 1.0);
    eprintln!("cross-instance delivery returned {returned:?} after redis-server restarted");
}

#[test]
fn instances_without_members_get_no_room_traffic() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Instance::start(&redis, "a");
    let b = Instance::start(&redis, "b");
    let c = Instance::start(&redis, "c");
    let (mut v1, _) = a.viewer("甲");
    let (mut v2, _) = a.viewer("乙");
    recv_type(&mut v1, "join");
    for k in 0..50 {
        comment(&mut v1, &format!("x{k}"));
    }
    assert_eq!(comments(&mut v2, 50).len(), 50);
    assert!(a.metric("tether_broker_received_total") >= 50.0);
    for other in [&b, &c] {
        assert_eq!(
            other.metric("tether_broker_received_total"),
            0.0,
            "room traffic reached an instance without members"
        );
    }
}

#[test]
fn counts_never_go_back_while_viewers_join_on_two_instances_at_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Instance::start(&redis, "a");
    let b = Instance::start(&redis, "b");
    let (mut watcher, _) = a.viewer("观察者");
    const EACH: usize = 12;
    let joiners: Vec<_> = [&a, &b]
        .into_iter()
        .flat_map(|s| (0..EACH).map(move |k| (s.addr, k)))
        .map(|(addr, k)| {
            std::thread::spawn(move || {
                let cfg = ClientConfig {
                    read_timeout: Some(Duration::from_secs(20)),
                    ..ClientConfig::default()
                };
                let mut c = Client::connect_with(&format!("ws://{addr}/live"), cfg).unwrap();
                assert_eq!(recv_json(&mut c)["msg_type"], "init");
                send_json(
                    &mut c,
                    &json!({"msg_type": "join", "room_id": 1001, "from_name": format!("v{k}")}),
                );
                assert_eq!(recv_json(&mut c)["msg_type"], "join");
                c
            })
        })
        .collect();
    let _clients: Vec<Client> = joiners.into_iter().map(|t| t.join().unwrap()).collect();
    let counts: Vec<u64> = (0..2 * EACH)
        .map(|_| {
            recv_type(&mut watcher, "join")["online_num"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut sorted = counts.clone();
    sorted.sort();
    assert_eq!(counts, sorted, "online_num went back: {counts:?}");
    assert_eq!(counts.last(), Some(&(2 * EACH as u64 + 1)));
}
