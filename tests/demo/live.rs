//! Every `/live` rule: init, join, message, history, subscribe, leave, buy, on_off_shelf, ping, errors, ids as strings or numbers, and a room spread over two workers.

use std::time::Duration;

use serde_json::{json, Value};
use tether::apps::live::LiveConfig;
use tether::apps::DemoConfig;
use tether_client::{Client, CloseCode};

use crate::util::{assert_silent, recv_json, recv_type, send_json, wait_until, TestServer};

const QUIET: Duration = Duration::from_millis(300);

/// A `/live` client, past its `init`; returns it with its `client_id`.
fn open(s: &TestServer) -> (Client, String) {
    let mut c = s.connect("/live");
    let init = recv_json(&mut c);
    assert_eq!(init["msg_type"], "init", "{init}");
    let id = init["client_id"]
        .as_str()
        .expect("client_id is a string")
        .to_owned();
    assert!(!id.is_empty());
    (c, id)
}

fn join_msg(room: Value, name: &str, anchor: bool) -> Value {
    json!({"msg_type": "join", "room_id": room, "live_id": 77, "from_uid": format!("u-{name}"),
           "from_name": name, "is_anchor": anchor})
}

/// Opens a client and joins `room`; returns it with the join reply.
fn joined(s: &TestServer, room: Value, name: &str, anchor: bool) -> (Client, Value) {
    let (mut c, _) = open(s);
    send_json(&mut c, &join_msg(room, name, anchor));
    let reply = recv_json(&mut c);
    assert_eq!(reply["msg_type"], "join", "{reply}");
    assert!(reply["message_list"].is_array(), "{reply}");
    (c, reply)
}

fn error_reason(c: &mut Client) -> String {
    let v = recv_json(c);
    assert_eq!(v["msg_type"], "error", "{v}");
    assert_eq!(v.as_object().map(|o| o.len()), Some(2), "{v}");
    v["reason"].as_str().expect("reason is text").to_owned()
}

fn assert_alive(c: &mut Client) {
    send_json(c, &json!({"msg_type": "ping"}));
    assert_eq!(recv_json(c), json!({"msg_type": "pong"}));
}

#[test]
fn init_then_ping_pong_before_and_after_join() {
    let s = TestServer::default_one();
    let (mut a, id_a) = open(&s);
    let (_b, id_b) = open(&s);
    assert_ne!(id_a, id_b);
    assert_alive(&mut a);
    send_json(&mut a, &join_msg(json!(1), "甲", false));
    recv_type(&mut a, "join");
    assert_alive(&mut a);
}

#[test]
fn join_reply_and_notice_to_the_others() {
    let s = TestServer::default_one();
    let (mut a, reply) = joined(&s, json!("1001"), "小明", false);
    assert_eq!(reply["online_num"], 1);
    assert_eq!(reply["subscribe_num"], 0);
    assert_eq!(reply["message_list"], json!([]));
    assert_eq!(reply["room_id"], "1001");
    assert_eq!(reply["live_id"], "77");
    assert_eq!(reply["from_name"], "小明");
    assert_eq!(reply["msg_content"], "小明 进入直播间");

    let (mut b, reply) = joined(&s, json!("1001"), "小红", false);
    assert_eq!(reply["online_num"], 2);
    let notice = recv_json(&mut a);
    assert_eq!(notice["msg_type"], "join");
    assert_eq!(notice["from_name"], "小红");
    assert_eq!(notice["online_num"], 2);
    assert_eq!(notice["msg_content"], "小红 进入直播间");
    assert!(notice.get("message_list").is_none(), "{notice}");
    // The joiner gets its reply, not the notice too.
    assert_silent(&mut b, QUIET);
}

#[test]
fn numeric_and_string_ids_name_the_same_room() {
    let s = TestServer::default_one();
    let (mut a, reply) = joined(&s, json!(1001), "a", false);
    assert_eq!(reply["room_id"], "1001");
    let (mut b, reply) = joined(&s, json!("1001"), "b", false);
    assert_eq!(reply["online_num"], 2);
    assert_eq!(recv_type(&mut a, "join")["online_num"], 2);
    send_json(
        &mut b,
        &json!({"msg_type": "message", "content": "同一个房间"}),
    );
    assert_eq!(recv_json(&mut a)["content"], "同一个房间");
    // goods_id and from_uid too.
    let (mut c, reply) = joined(&s, json!(" 1001 "), "c", false);
    assert_eq!(reply["online_num"], 3);
    send_json(
        &mut c,
        &json!({"msg_type": "buy", "goods_id": 5, "goods_name": "茶"}),
    );
    assert_eq!(recv_type(&mut a, "buy")["goods_id"], "5");
}

#[test]
fn comments_reach_the_room_only() {
    let s = TestServer::default_one();
    let (mut a, _) = joined(&s, json!(1), "a", false);
    let (mut b, _) = joined(&s, json!(1), "b", true);
    recv_type(&mut a, "join");
    let (mut other, _) = joined(&s, json!(2), "x", false);
    send_json(&mut b, &json!({"msg_type": "message", "content": "大家好"}));
    let expected = json!({"msg_type": "message", "room_id": "1", "from_uid": "u-b",
                          "from_name": "b", "is_anchor": true, "content": "大家好"});
    assert_eq!(recv_json(&mut a), expected);
    assert_eq!(recv_json(&mut b), expected);
    assert_silent(&mut other, QUIET);
}

#[test]
fn joiners_get_the_last_50_comments_oldest_first() {
    let s = TestServer::default_one();
    let (mut a, _) = joined(&s, json!("h"), "a", false);
    for i in 0..55 {
        send_json(
            &mut a,
            &json!({"msg_type": "message", "content": format!("c{i}")}),
        );
        assert_eq!(recv_json(&mut a)["content"], format!("c{i}"));
    }
    let (_b, reply) = joined(&s, json!("h"), "b", false);
    let list = reply["message_list"].as_array().expect("a list");
    assert_eq!(list.len(), 50);
    assert_eq!(list[0], json!({"name": "a", "content": "c5"}));
    assert_eq!(list[49], json!({"name": "a", "content": "c54"}));
}

#[test]
fn history_length_is_configurable() {
    let s = TestServer::start(
        DemoConfig {
            live: LiveConfig {
                history_len: 3,
                ..LiveConfig::default()
            },
            ..DemoConfig::default()
        },
        1,
    );
    let (mut a, _) = joined(&s, json!(9), "a", false);
    for i in 0..5 {
        send_json(
            &mut a,
            &json!({"msg_type": "message", "content": i.to_string()}),
        );
        recv_type(&mut a, "message");
    }
    let (_b, reply) = joined(&s, json!(9), "b", false);
    let contents: Vec<&str> = reply["message_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["2", "3", "4"]);
}

#[test]
fn subscribe_grows_the_follow_count_for_everyone() {
    let s = TestServer::default_one();
    let (mut a, _) = joined(&s, json!(3), "a", false);
    let (mut b, _) = joined(&s, json!(3), "粉丝", false);
    recv_type(&mut a, "join");
    send_json(&mut b, &json!({"msg_type": "subscribe"}));
    for c in [&mut a, &mut b] {
        let v = recv_json(c);
        assert_eq!(v["msg_type"], "subscribe");
        assert_eq!(v["subscribe_num"], 1);
        assert_eq!(v["msg_content"], "粉丝 关注了主播");
    }
    send_json(&mut a, &json!({"msg_type": "subscribe"}));
    assert_eq!(recv_json(&mut b)["subscribe_num"], 2);
    let (_c, reply) = joined(&s, json!(3), "c", false);
    assert_eq!(reply["subscribe_num"], 2);
}

#[test]
fn a_member_follows_a_room_once() {
    let s = TestServer::default_one();
    let (mut a, _) = joined(&s, json!(13), "a", false);
    let (mut b, _) = joined(&s, json!(13), "粉丝", false);
    recv_type(&mut a, "join");
    send_json(&mut b, &json!({"msg_type": "subscribe"}));
    assert_eq!(recv_type(&mut a, "subscribe")["subscribe_num"], 1);
    assert_eq!(recv_type(&mut b, "subscribe")["subscribe_num"], 1);
    // Again: refused, counted once, nobody else told.
    send_json(&mut b, &json!({"msg_type": "subscribe"}));
    assert_eq!(error_reason(&mut b), "already following this room");
    assert_silent(&mut a, QUIET);
    // Leaving and joining the room again is still the same connection.
    send_json(&mut b, &join_msg(json!(13), "粉丝", false));
    assert_eq!(recv_type(&mut b, "join")["subscribe_num"], 1);
    send_json(&mut b, &json!({"msg_type": "subscribe"}));
    assert_eq!(error_reason(&mut b), "already following this room");
    // Another connection counts.
    send_json(&mut a, &json!({"msg_type": "subscribe"}));
    assert_eq!(recv_type(&mut b, "subscribe")["subscribe_num"], 2);
    let (_c, reply) = joined(&s, json!(13), "c", false);
    assert_eq!(reply["subscribe_num"], 2);
}

#[test]
fn leave_and_drop_tell_the_room_the_new_online_count() {
    let s = TestServer::default_one();
    let (mut a, _) = joined(&s, json!(4), "a", false);
    let (mut b, _) = joined(&s, json!(4), "b", false);
    let (c, _) = joined(&s, json!(4), "c", false);
    recv_type(&mut a, "join");
    recv_type(&mut a, "join");
    recv_type(&mut b, "join");
    // An orderly leave: everyone, the leaver included, hears it.
    send_json(&mut b, &json!({"msg_type": "leave"}));
    for x in [&mut a, &mut b] {
        let v = recv_json(x);
        assert_eq!(v["msg_type"], "leave");
        assert_eq!(v["online_num"], 2);
        assert_eq!(v["msg_content"], "b 离开直播间");
    }
    // b is out: room traffic no longer reaches it; leaving again is an error.
    send_json(&mut a, &json!({"msg_type": "message", "content": "hi"}));
    recv_type(&mut a, "message");
    assert_silent(&mut b, QUIET);
    send_json(&mut b, &json!({"msg_type": "leave"}));
    assert_eq!(error_reason(&mut b), "not in a room");
    // A dropped connection (no Close frame).
    drop(c);
    let v = recv_type(&mut a, "leave");
    assert_eq!(v["online_num"], 1);
    assert_eq!(v["from_name"], "c");
    // A closed one.
    let (mut d, _) = joined(&s, json!(4), "d", false);
    assert_eq!(recv_type(&mut a, "join")["online_num"], 2);
    d.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(recv_type(&mut a, "leave")["online_num"], 1);
}

#[test]
fn joining_another_room_moves_the_connection() {
    let s = TestServer::default_one();
    let (mut a, _) = joined(&s, json!(5), "a", false);
    let (mut b, _) = joined(&s, json!(5), "b", false);
    recv_type(&mut a, "join");
    send_json(&mut b, &join_msg(json!(6), "b", false));
    assert_eq!(recv_type(&mut a, "leave")["online_num"], 1);
    let reply = recv_type(&mut b, "join");
    assert_eq!(
        (reply["room_id"].clone(), reply["online_num"].clone()),
        (json!("6"), json!(1))
    );
    send_json(&mut a, &json!({"msg_type": "message", "content": "room 5"}));
    recv_type(&mut a, "message");
    assert_silent(&mut b, QUIET);
}

#[test]
fn buy_notice_goes_to_the_room() {
    let s = TestServer::default_one();
    let (mut a, _) = joined(&s, json!(7), "主播", true);
    let (mut b, _) = joined(&s, json!(7), "买家", false);
    recv_type(&mut a, "join");
    send_json(&mut b, &json!({"msg_type": "buy", "goods_name": "保温杯"}));
    for c in [&mut a, &mut b] {
        let v = recv_json(c);
        assert_eq!(v["msg_type"], "buy");
        assert_eq!(v["goods_name"], "保温杯");
        assert_eq!(v["from_name"], "买家");
        assert_eq!(v["msg_content"], "买家 购买了 保温杯");
    }
}

#[test]
fn only_anchors_put_goods_on_or_off_the_shelf() {
    let s = TestServer::default_one();
    let (mut anchor, _) = joined(&s, json!(8), "主播", true);
    let (mut viewer, _) = joined(&s, json!(8), "观众", false);
    recv_type(&mut anchor, "join");
    let shelf = json!({"msg_type": "on_off_shelf", "goods_id": 12, "goods_name": "茶叶",
                       "goods_price": "99.00", "default_image": "https://img.example/t.png",
                       "status": "on"});
    send_json(&mut anchor, &shelf);
    for c in [&mut anchor, &mut viewer] {
        let v = recv_json(c);
        assert_eq!(v["msg_type"], "on_off_shelf");
        assert_eq!(v["goods_id"], "12");
        assert_eq!(v["goods_name"], "茶叶");
        assert_eq!(v["goods_price"], "99.00");
        assert_eq!(v["default_image"], "https://img.example/t.png");
        assert_eq!(v["status"], "on");
        assert_eq!(v["msg_content"], "主播上架了 茶叶");
    }
    let mut off = shelf.clone();
    off["status"] = json!("off");
    off["goods_price"] = json!(99.5);
    send_json(&mut anchor, &off);
    let v = recv_json(&mut viewer);
    assert_eq!(
        (v["status"].clone(), v["goods_price"].clone()),
        (json!("off"), json!(99.5))
    );
    recv_json(&mut anchor);
    // A viewer may not; nobody else hears of it.
    send_json(&mut viewer, &shelf);
    assert_eq!(
        error_reason(&mut viewer),
        "only the anchor may put goods on or off the shelf"
    );
    assert_silent(&mut anchor, QUIET);
    assert_alive(&mut viewer);
}

#[test]
fn bad_input_gets_an_error_and_disturbs_nobody() {
    let s = TestServer::start(
        DemoConfig {
            live: LiveConfig {
                max_comment_chars: 10,
                ..LiveConfig::default()
            },
            ..DemoConfig::default()
        },
        1,
    );
    let (mut bystander, _) = joined(&s, json!(9), "旁观者", false);
    let (mut c, _) = open(&s);
    // Before join.
    for msg in [
        json!({"msg_type": "message", "content": "hi"}),
        json!({"msg_type": "subscribe"}),
        json!({"msg_type": "buy", "goods_name": "x"}),
        json!({"msg_type": "on_off_shelf", "goods_id": 1, "goods_name": "x", "goods_price": 1, "status": "on"}),
    ] {
        send_json(&mut c, &msg);
        assert_eq!(error_reason(&mut c), "join a room first", "{msg}");
    }
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "invalid JSON"),
        ("[1,2]".into(), "expected a JSON object"),
        ("\"join\"".into(), "expected a JSON object"),
        (json!({"room_id": 1}).to_string(), "missing msg_type"),
        (
            json!({"msg_type": 5}).to_string(),
            "msg_type must be a string",
        ),
        (
            json!({"msg_type": "dance"}).to_string(),
            "unknown msg_type \"dance\"",
        ),
        (
            json!({"msg_type": "join", "room_id": 9}).to_string(),
            "bad join: from_name is required",
        ),
        (
            json!({"msg_type": "join", "from_name": "x"}).to_string(),
            "bad join: room_id is required",
        ),
        (
            json!({"msg_type": "join", "room_id": 9.5, "from_name": "x"}).to_string(),
            "bad join: room_id must be a string or an integer",
        ),
        (
            json!({"msg_type": "join", "room_id": "", "from_name": "x"}).to_string(),
            "bad join: room_id must not be empty",
        ),
        (
            json!({"msg_type": "join", "room_id": [9], "from_name": "x"}).to_string(),
            "bad join: room_id must be a string or an integer",
        ),
        (
            json!({"msg_type": "join", "room_id": 9, "from_name": "  "}).to_string(),
            "from_name must not be empty",
        ),
        (
            json!({"msg_type": "join", "room_id": 9, "from_name": "x".repeat(33)}).to_string(),
            "from_name is longer than 32 characters",
        ),
        (
            json!({"msg_type": "join", "room_id": 9, "from_name": "x", "is_anchor": "maybe"})
                .to_string(),
            "bad join: is_anchor must be true or false",
        ),
        (
            json!({"msg_type": "join", "room_id": 9, "from_name": "x", "from_uid": 1.5})
                .to_string(),
            "bad join: from_uid must be a string or an integer",
        ),
    ];
    for (text, reason) in &cases {
        c.send_text(text).unwrap();
        let got = error_reason(&mut c);
        assert!(
            got.starts_with(reason),
            "{text}: {got:?} should start with {reason:?}"
        );
    }
    c.send_binary(b"{\"msg_type\":\"ping\"}").unwrap();
    assert!(error_reason(&mut c).starts_with("binary messages"));
    // Joined: comments are checked for length (in characters) and emptiness.
    send_json(&mut c, &join_msg(json!(9), "c", false));
    recv_type(&mut c, "join");
    assert_eq!(recv_type(&mut bystander, "join")["online_num"], 2);
    send_json(
        &mut c,
        &json!({"msg_type": "message", "content": "你".repeat(11)}),
    );
    assert_eq!(error_reason(&mut c), "content is longer than 10 characters");
    send_json(&mut c, &json!({"msg_type": "message", "content": " "}));
    assert_eq!(error_reason(&mut c), "content must not be empty");
    send_json(&mut c, &json!({"msg_type": "message", "content": 5}));
    assert_eq!(
        error_reason(&mut c),
        "bad message: content must be a string"
    );
    send_json(&mut c, &json!({"msg_type": "buy"}));
    assert_eq!(error_reason(&mut c), "bad buy: goods_name is required");
    // None of it reached the room, and the connection still works.
    assert_silent(&mut bystander, QUIET);
    send_json(
        &mut c,
        &json!({"msg_type": "message", "content": "你".repeat(10)}),
    );
    assert_eq!(recv_json(&mut bystander)["content"], "你".repeat(10));
    assert_eq!(recv_json(&mut c)["content"], "你".repeat(10));
    assert_alive(&mut c);
    assert_eq!(s.connections(), 2);
}

#[test]
fn a_room_spread_over_two_workers_is_one_room() {
    let s = TestServer::start(DemoConfig::default(), 2);
    // Open until both workers hold members (the worker is the client_id's top byte).
    let mut clients: Vec<(Client, usize)> = Vec::new();
    for _ in 0..64 {
        let (c, id) = open(&s);
        let worker = (id.parse::<u64>().expect("numeric client_id") >> 56) as usize;
        clients.push((c, worker));
        let on0 = clients.iter().filter(|(_, w)| *w == 0).count();
        let on1 = clients.iter().filter(|(_, w)| *w == 1).count();
        if on0 >= 2 && on1 >= 2 {
            break;
        }
    }
    let workers: std::collections::HashSet<usize> = clients.iter().map(|(_, w)| *w).collect();
    assert_eq!(
        workers.len(),
        2,
        "connections did not spread over the workers"
    );
    let n = clients.len();
    for (i, (c, _)) in clients.iter_mut().enumerate() {
        let room = if i % 2 == 0 {
            json!(2024)
        } else {
            json!("2024")
        };
        send_json(c, &join_msg(room, &format!("m{i}"), i == 0));
        let reply = recv_type(c, "join");
        assert_eq!(reply["online_num"], i + 1, "{reply}");
    }
    // Everyone saw every later join, with exact counts.
    for (i, (c, _)) in clients.iter_mut().enumerate() {
        for k in i + 1..n {
            let v = recv_type(c, "join");
            assert_eq!(v["online_num"], k + 1);
        }
    }
    // A comment from a member on one worker reaches members on the other.
    let sender = clients.iter().position(|(_, w)| *w == 1).unwrap();
    send_json(
        &mut clients[sender].0,
        &json!({"msg_type": "message", "content": "跨线程"}),
    );
    for (c, _) in clients.iter_mut() {
        assert_eq!(recv_type(c, "message")["content"], "跨线程");
    }
    // Drops on either worker bring the count down exactly.
    let (gone_a, _) = clients.remove(n - 1);
    let (gone_b, _) = clients.remove(1);
    drop(gone_a);
    drop(gone_b);
    wait_until("both drops", || s.connections() == n - 2);
    let (first, _) = &mut clients[0];
    let mut counts = [
        recv_type(first, "leave")["online_num"].as_u64().unwrap(),
        recv_type(first, "leave")["online_num"].as_u64().unwrap(),
    ];
    counts.sort();
    assert_eq!(counts, [n as u64 - 2, n as u64 - 1]);
    let (_late, reply) = joined(&s, json!(2024), "late", false);
    assert_eq!(reply["online_num"], n - 1);
    assert_eq!(
        reply["message_list"],
        json!([{"name": "m".to_string() + &sender.to_string(), "content": "跨线程"}])
    );
}

#[test]
fn concurrent_joins_over_two_workers_leave_every_member_with_the_true_count() {
    let s = TestServer::start(DemoConfig::default(), 2);
    for round in 0..4 {
        let room = format!("race-{round}");
        let n = 6;
        let clients: Vec<Client> = (0..n).map(|_| open(&s).0).collect();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
        // Everyone joins at once, from its own thread; each keeps the last online_num it saw
        // before the marker comment that the first client sends once every join is answered.
        let threads: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                let barrier = barrier.clone();
                let room = room.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    send_json(&mut c, &join_msg(json!(room), &format!("r{i}"), false));
                    let reply = recv_type(&mut c, "join");
                    assert!(reply["message_list"].is_array(), "{reply}");
                    let mut last = reply["online_num"].as_u64().unwrap();
                    barrier.wait();
                    if i == 0 {
                        send_json(&mut c, &json!({"msg_type": "message", "content": "marker"}));
                    }
                    loop {
                        let v = recv_json(&mut c);
                        match v["msg_type"].as_str() {
                            Some("join") => {
                                assert!(v.get("message_list").is_none(), "a second reply: {v}");
                                last = v["online_num"].as_u64().unwrap();
                            }
                            Some("message") => {
                                assert_eq!(v["content"], "marker");
                                break;
                            }
                            _ => panic!("unexpected {v}"),
                        }
                    }
                    (last, c)
                })
            })
            .collect();
        let results: Vec<(u64, Client)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for (last, _) in &results {
            assert_eq!(
                *last, n as u64,
                "round {round}: a member ended with a stale count"
            );
        }
    }
}
