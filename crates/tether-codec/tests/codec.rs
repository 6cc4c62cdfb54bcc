//! Conversations between a client and a server `Connection`, in memory (RFC 6455 §5–§7), and property tests.

use tether_codec::*;

type Events = Vec<Result<Event, Error>>;

/// A client and a server joined by byte vectors (after quinn-proto's test `Pair`).
struct Pair {
    client: Connection,
    server: Connection,
}

impl Pair {
    fn new(config: Config) -> Pair {
        Pair {
            client: Connection::client(config, FixedMasks::new([0x37, 0xfa, 0x21, 0x3d, 9, 8, 7]))
                .unwrap(),
            server: Connection::server(config).unwrap(),
        }
    }

    /// Moves every pending byte both ways until quiet; returns (client events, server events).
    fn drive(&mut self) -> (Events, Events) {
        let (mut ce, mut se) = (Vec::new(), Vec::new());
        loop {
            let c2s = self.client.pending_output().to_vec();
            let s2c = self.server.pending_output().to_vec();
            if c2s.is_empty() && s2c.is_empty() {
                return (ce, se);
            }
            self.client.consume_output(c2s.len());
            self.server.consume_output(s2c.len());
            let _ = self.server.receive(&c2s);
            se.extend(std::iter::from_fn(|| self.server.poll_event()));
            let _ = self.client.receive(&s2c);
            ce.extend(std::iter::from_fn(|| self.client.poll_event()));
        }
    }
}

fn text(s: &str) -> Result<Event, Error> {
    Ok(Event::Message(Message::Text(Utf8Bytes::from(
        s.to_string(),
    ))))
}

fn events(conn: &mut Connection, bytes: &[u8]) -> Vec<Result<Event, Error>> {
    conn.receive(bytes).unwrap();
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn server() -> Connection {
    Connection::server(Config::default()).unwrap()
}

fn client() -> Connection {
    Connection::client(Config::default(), FixedMasks::new([1, 2, 3, 4])).unwrap()
}

/// Masks `payload` with `key` and prefixes a client header.
fn masked(first: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    // Built by hand so that reserved opcodes can be sent too.
    assert!(payload.len() < 126);
    let mut v = vec![first, 0x80 | payload.len() as u8];
    v.extend_from_slice(&key);
    let mut p = payload.to_vec();
    tether_codec::apply_mask(&mut p, key, 0);
    v.extend_from_slice(&p);
    v
}

mod rfc_examples {
    use super::*;

    #[test]
    fn unmasked_hello_to_client() {
        let mut c = client();
        assert_eq!(
            events(&mut c, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
            [text("Hello")]
        );
    }

    #[test]
    fn masked_hello_to_server() {
        let mut s = server();
        let v = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(events(&mut s, &v), [text("Hello")]);
    }

    #[test]
    fn fragmented_hello() {
        let mut c = client();
        assert_eq!(events(&mut c, &[0x01, 0x03, 0x48, 0x65, 0x6c]), []);
        assert_eq!(events(&mut c, &[0x80, 0x02, 0x6c, 0x6f]), [text("Hello")]);
    }

    #[test]
    fn ping_hello_is_answered_with_the_same_payload() {
        let mut c = client();
        let ev = events(&mut c, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(ev, [Ok(Event::Ping(Bytes::from_static(b"Hello")))]);
        // Client pong: masked with the next key from the source, [1, 2, 3, 4].
        let mut want = vec![0x8a, 0x85, 1, 2, 3, 4];
        want.extend(b"Hello".iter().zip([1u8, 2, 3, 4, 1]).map(|(b, k)| b ^ k));
        assert_eq!(c.pending_output(), &want[..]);
        let mut s = server();
        events(&mut s, &masked(0x89, b"Hello", [9, 9, 9, 9]));
        assert_eq!(
            s.pending_output(),
            &[0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
    }

    #[test]
    fn binary_256_and_65536() {
        for (len, head) in [
            (256usize, vec![0x82, 0x7E, 0x01, 0x00]),
            (65536, vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let mut s = server();
            s.send(Outgoing::Binary(&vec![7u8; len])).unwrap();
            assert_eq!(&s.pending_output()[..head.len()], &head[..]);
            assert_eq!(s.pending_output().len(), head.len() + len);
            let mut c = client();
            let ev = events(&mut c, s.pending_output());
            assert_eq!(
                ev,
                [Ok(Event::Message(Message::Binary(Bytes::from(vec![
                    7u8;
                    len
                ]))))]
            );
        }
    }
}

mod conversation {
    use super::*;

    #[test]
    fn messages_both_ways() {
        let mut p = Pair::new(Config::default());
        p.client.send(Outgoing::Text("你好!")).unwrap();
        p.client.send(Outgoing::Binary(&[0, 1, 2])).unwrap();
        p.server
            .send(Outgoing::Text("服务器已经收到了你的消息"))
            .unwrap();
        let (ce, se) = p.drive();
        assert_eq!(
            se,
            [
                text("你好!"),
                Ok(Event::Message(Message::Binary(Bytes::from_static(&[
                    0, 1, 2
                ]))))
            ]
        );
        assert_eq!(ce, [text("服务器已经收到了你的消息")]);
    }

    #[test]
    fn fragments_with_interleaved_ping() {
        let mut p = Pair::new(Config::default());
        let s = "κόσμε".as_bytes();
        p.client
            .send_fragment(Opcode::Text, &s[..3], false)
            .unwrap(); // splits a character
        p.client.send(Outgoing::Ping(b"hb")).unwrap();
        p.client
            .send_fragment(Opcode::Continuation, &s[3..], true)
            .unwrap();
        let (ce, se) = p.drive();
        assert_eq!(
            se,
            [Ok(Event::Ping(Bytes::from_static(b"hb"))), text("κόσμε")]
        );
        assert_eq!(ce, [Ok(Event::Pong(Bytes::from_static(b"hb")))]);
    }

    #[test]
    fn fragment_order_is_enforced_on_send() {
        let mut c = client();
        let order = Err(Error::Usage(UsageError::FragmentOrder));
        assert_eq!(c.send_fragment(Opcode::Continuation, b"x", true), order);
        c.send_fragment(Opcode::Binary, b"x", false).unwrap();
        assert_eq!(c.send(Outgoing::Text("no")), order);
        assert_eq!(c.send_fragment(Opcode::Text, b"x", true), order);
        c.send(Outgoing::Ping(b"")).unwrap();
        c.send_fragment(Opcode::Continuation, b"y", true).unwrap();
        c.send(Outgoing::Text("yes")).unwrap();
        // A text message whose fragments do not form UTF-8 is refused, as bad text rather
        // than bad order, and the message stays where it was.
        let utf8 = Err(Error::Usage(UsageError::InvalidUtf8));
        assert_eq!(c.send_fragment(Opcode::Text, &[0xFF], false), utf8);
        c.send_fragment(Opcode::Text, &[b'a', 0xCE], false).unwrap();
        assert_eq!(c.send_fragment(Opcode::Continuation, &[0xFF], true), utf8);
        assert_eq!(c.send_fragment(Opcode::Continuation, b"", true), utf8);
        c.send_fragment(Opcode::Continuation, &[0xBA], true)
            .unwrap();
    }

    #[test]
    fn usage_errors_name_their_cause() {
        let frame = EncodedFrame::server(Outgoing::Text("all")).unwrap();
        assert_eq!(
            client().send_encoded(&frame),
            Err(Error::Usage(UsageError::WrongRole))
        );
        let mut s = server();
        s.send_fragment(Opcode::Binary, b"x", false).unwrap();
        assert_eq!(
            s.send_encoded(&frame),
            Err(Error::Usage(UsageError::FragmentOrder))
        );
        for e in [
            UsageError::WrongRole,
            UsageError::InvalidUtf8,
            UsageError::RejectStatus(200),
        ] {
            assert_ne!(e.to_string(), UsageError::FragmentOrder.to_string());
        }
    }

    #[test]
    fn client_initiated_close() {
        let mut p = Pair::new(Config::default());
        p.client.close(CloseCode::NORMAL, "bye").unwrap();
        assert_eq!(p.client.state(), State::CloseSent);
        assert_eq!(
            p.client.send(Outgoing::Text("late")),
            Err(UsageError::Closed.into())
        );
        let (ce, se) = p.drive();
        let bye = CloseFrame {
            code: CloseCode::NORMAL,
            reason: "bye".into(),
        };
        let echo = CloseFrame {
            code: CloseCode::NORMAL,
            reason: String::new(),
        };
        assert_eq!(
            se,
            [
                Ok(Event::CloseReceived(Some(bye))),
                Ok(Event::Closed {
                    code: CloseCode::NORMAL,
                    clean: true
                })
            ]
        );
        assert_eq!(
            ce,
            [
                Ok(Event::CloseReceived(Some(echo))),
                Ok(Event::Closed {
                    code: CloseCode::NORMAL,
                    clean: true
                })
            ]
        );
        assert!(p.server.is_finished() && p.client.is_finished());
        assert!(!p.server.wants_read());
    }

    #[test]
    fn server_initiated_close_drops_late_data() {
        let mut p = Pair::new(Config::default());
        p.client.send(Outgoing::Text("in flight")).unwrap();
        p.server.close(CloseCode::GOING_AWAY, "shutdown").unwrap();
        let (ce, se) = p.drive();
        // The in-flight message is not delivered after the server sent Close (§5.5.1).
        assert_eq!(se.len(), 2, "{se:?}");
        assert!(matches!(
            se[1],
            Ok(Event::Closed {
                code: CloseCode::GOING_AWAY,
                clean: true
            })
        ));
        assert!(
            matches!(&ce[0], Ok(Event::CloseReceived(Some(f))) if f.code == CloseCode::GOING_AWAY && f.reason == "shutdown")
        );
        // A received Close is answered once: nothing more to write.
        assert!(!p.server.wants_write() && !p.client.wants_write());
    }

    #[test]
    fn empty_close_is_answered_with_empty_close() {
        let mut s = server();
        let ev = events(&mut s, &masked(0x88, b"", [1, 2, 3, 4]));
        assert_eq!(
            ev,
            [
                Ok(Event::CloseReceived(None)),
                Ok(Event::Closed {
                    code: CloseCode::NO_STATUS,
                    clean: true
                })
            ]
        );
        assert_eq!(s.pending_output(), &[0x88, 0x00]);
    }

    #[test]
    fn eof_without_close_is_abnormal() {
        let mut s = server();
        s.receive(&masked(0x01, b"par", [1, 2, 3, 4])).unwrap();
        s.receive_eof();
        assert_eq!(
            s.poll_event(),
            Some(Ok(Event::Closed {
                code: CloseCode::ABNORMAL,
                clean: false
            }))
        );
        assert_eq!(s.poll_event(), None);
        assert!(s.is_finished());
    }

    #[test]
    fn close_codes_on_send() {
        let mut s = server();
        for bad in [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert_eq!(
                s.close(CloseCode(bad), ""),
                Err(UsageError::InvalidCloseCode(bad).into())
            );
        }
        assert_eq!(
            s.send(Outgoing::Ping(&[0; 126])),
            Err(UsageError::ControlTooLong.into())
        );
        s.close(CloseCode(4000), "app").unwrap();
        assert_eq!(
            s.close(CloseCode::NORMAL, ""),
            Err(UsageError::Closed.into())
        );
    }

    #[test]
    fn broadcast_frame_encoded_once() {
        let f = EncodedFrame::server(Outgoing::Text("tick")).unwrap();
        let mut a = server();
        let mut b = server();
        a.send_encoded(&f).unwrap();
        b.send_encoded(&f).unwrap();
        assert_eq!(a.pending_output(), b"\x81\x04tick");
        assert_eq!(a.pending_output(), b.pending_output());
        assert!(client().send_encoded(&f).is_err());
    }
}

mod violations {
    use super::*;

    /// Feeds `bytes` to a fresh server and returns the error and the close code it queued.
    fn fail(bytes: &[u8]) -> (Error, Option<u16>) {
        let mut s = server();
        s.receive(bytes).unwrap();
        let err = loop {
            match s.poll_event() {
                Some(Err(e)) => break e,
                Some(Ok(_)) => continue,
                None => panic!("no error for {bytes:x?}"),
            }
        };
        let out = s.pending_output();
        let code = (out.len() >= 4 && out[0] == 0x88).then(|| u16::from_be_bytes([out[2], out[3]]));
        // Sticky: nothing more comes out, input is refused with the same error.
        assert_eq!(s.poll_event(), None);
        assert_eq!(s.receive(b"x"), Err(err));
        assert_eq!(s.state(), State::Closed);
        (err, code)
    }

    #[test]
    fn each_violation_gets_its_close_code() {
        let k = [1, 2, 3, 4];
        let cases: Vec<(Vec<u8>, Error, u16)> = vec![
            (vec![0x81, 0x00], ProtocolError::UnmaskedFrame.into(), 1002),
            (
                masked(0x83, b"", k),
                ProtocolError::ReservedOpcode(3).into(),
                1002,
            ),
            (
                masked(0xC1, b"x", k),
                ProtocolError::ReservedBits.into(),
                1002,
            ),
            (
                masked(0x80, b"x", k),
                ProtocolError::UnexpectedContinuation.into(),
                1002,
            ),
            (
                [masked(0x01, b"a", k), masked(0x81, b"b", k)].concat(),
                ProtocolError::ExpectedContinuation.into(),
                1002,
            ),
            (
                masked(0x81, &[0xCE, 0xBA, 0xFF], k),
                ProtocolError::InvalidUtf8.into(),
                1007,
            ),
            (
                masked(0x81, &[0xCE], k),
                ProtocolError::InvalidUtf8.into(),
                1007,
            ),
            (
                masked(0x88, &[0x03], k),
                ProtocolError::ClosePayloadTooShort.into(),
                1002,
            ),
            (
                masked(0x88, &[0x03, 0xED], k),
                ProtocolError::InvalidCloseCode(1005).into(),
                1002,
            ),
            (
                masked(0x88, &[0x03, 0xE8, 0xFF], k),
                ProtocolError::InvalidUtf8.into(),
                1007,
            ),
            (
                masked(0x09, b"", k),
                ProtocolError::FragmentedControl.into(),
                1002,
            ),
        ];
        for (bytes, err, code) in cases {
            assert_eq!(fail(&bytes), (err, Some(code)), "{bytes:x?}");
        }
    }

    #[test]
    fn client_rejects_masked_frames() {
        let mut c = client();
        c.receive(&masked(0x81, b"x", [1, 1, 1, 1])).unwrap();
        assert_eq!(c.poll_event(), Some(Err(ProtocolError::MaskedFrame.into())));
        let out = c.pending_output();
        assert_eq!(out[0], 0x88);
        assert!(out[1] & 0x80 != 0, "a client's close is masked");
    }

    #[test]
    fn oversized_frame_refused_from_header_alone() {
        let mut s = server();
        let head = [0x82, 0xFF, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4]; // 256 MiB, masked
        s.receive(&head).unwrap();
        let big = CapacityError::FrameTooLarge {
            size: 256 << 20,
            max: 1 << 20,
        };
        assert_eq!(s.poll_event(), Some(Err(big.into())));
        assert_eq!(&s.pending_output()[..4], &[0x88, 0x11, 0x03, 0xF1]); // 1009
    }

    #[test]
    fn message_limit_counts_fragments_as_they_arrive() {
        let mut cfg = Config::default();
        cfg.max_message_size = 200;
        let mut s = Connection::server(cfg).unwrap();
        let k = [5, 6, 7, 8];
        s.receive(&masked(0x02, &[0; 120], k)).unwrap();
        assert_eq!(s.poll_event(), None);
        s.receive(&masked(0x00, &[0; 100], k)[..6]).unwrap(); // header only
        assert_eq!(
            s.poll_event(),
            Some(Err(CapacityError::MessageTooLarge {
                size: 220,
                max: 200
            }
            .into()))
        );
    }

    #[test]
    fn invalid_utf8_fails_mid_frame() {
        let mut s = server();
        let frame = masked(0x81, "valid κ then \u{fffd}".as_bytes(), [1, 2, 3, 4]);
        let mut bad = masked(0x81, b"0123456789", [1, 2, 3, 4]);
        // Corrupt the 4th payload byte into 0xFF (masked with key byte 4).
        bad[6 + 3] = 0xFF ^ 4;
        assert!(events(&mut s, &frame).iter().all(|e| e.is_ok()));
        s.receive(&bad[..6 + 4]).unwrap(); // only 4 of 10 payload bytes have arrived
        assert_eq!(s.poll_event(), Some(Err(ProtocolError::InvalidUtf8.into())));
    }

    #[test]
    fn in_place_invalid_utf8_fails_with_1007() {
        let mut s = server();
        let mut bad = masked(0x81, b"0123456789", [1, 2, 3, 4]);
        bad[6 + 3] = 0xFF ^ 4;
        bad.extend(masked(0x81, b"after", [1, 2, 3, 4]));
        let mut input = &mut bad[..];
        let e = s.take_in_place(&mut input).unwrap_err();
        assert_eq!(e, ProtocolError::InvalidUtf8.into());
        assert_eq!(s.state(), State::Closed);
        // The Close 1007 is queued, and nothing after the bad frame is taken.
        assert_eq!(&s.pending_output()[..4], &[0x88, 0x0f, 0x03, 0xef]);
        assert_eq!(s.take_in_place(&mut input), Ok(None));
        assert_eq!(s.receive(input), Err(e));
    }

    #[test]
    fn in_place_leaves_what_it_may_not_take() {
        let mut big = Config::default();
        big.max_frame_size = 125;
        // A masked binary frame of 200 bytes (16-bit length), over that limit.
        let mut over = vec![0x82, 0x80 | 126, 0, 200, 9, 9, 9, 9];
        over.extend([0u8; 200]);
        let cases: [(Config, Vec<u8>, Option<u16>); 5] = [
            // Unmasked from a client: 1002 through `receive`.
            (Config::default(), vec![0x81, 0x02, b'h', b'i'], Some(1002)),
            // Over the frame limit: 1009.
            (big, over, Some(1009)),
            // A fragment, a ping, a frame not yet whole: no error, just not taken.
            (Config::default(), masked(0x01, b"frag", [1, 2, 3, 4]), None),
            (Config::default(), masked(0x89, b"ping", [1, 2, 3, 4]), None),
            (
                Config::default(),
                masked(0x82, b"whole", [1, 2, 3, 4])[..8].to_vec(),
                None,
            ),
        ];
        for (cfg, mut bytes, code) in cases {
            let mut s = Connection::server(cfg).unwrap();
            let before = bytes.clone();
            let mut input = &mut bytes[..];
            assert_eq!(s.take_in_place(&mut input), Ok(None));
            assert_eq!(input, &before[..], "nothing taken, nothing unmasked");
            s.receive(input).unwrap();
            let got = std::iter::from_fn(|| s.poll_event()).find_map(|e| e.err());
            assert_eq!(got.and_then(|e| e.close_code()).map(|c| c.0), code);
        }
    }

    #[test]
    fn in_place_waits_for_buffered_input_first() {
        let mut s = server();
        let mut two = masked(0x81, b"one", [1, 2, 3, 4]);
        two.extend(masked(0x81, b"two", [5, 6, 7, 8]));
        s.receive(&two[..5]).unwrap();
        assert_eq!(s.poll_event(), None);
        let mut rest = two[5..].to_vec();
        let mut input = &mut rest[..];
        // Half a frame is buffered: the rest must follow it through `receive`, in order.
        assert_eq!(s.take_in_place(&mut input), Ok(None));
        s.receive(input).unwrap();
        assert_eq!(s.poll_event(), Some(text("one")));
        assert_eq!(s.poll_event(), Some(text("two")));
    }

    #[test]
    fn receive_is_bounded_when_not_polled() {
        let mut cfg = Config::default();
        cfg.max_frame_size = 1000;
        let mut s = Connection::server(cfg).unwrap();
        s.receive(&[0u8; 1100]).unwrap();
        assert_eq!(
            s.receive(&[0u8; 10]),
            Err(UsageError::ReceiveBufferFull.into())
        );
    }

    #[test]
    fn idle_connection_is_small() {
        assert!(
            std::mem::size_of::<Connection>() <= 320,
            "{}",
            std::mem::size_of::<Connection>()
        );
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;
    use tether_codec::__private::apply_mask_reference;

    fn opcode() -> impl Strategy<Value = Opcode> {
        prop_oneof![
            Just(Opcode::Continuation),
            Just(Opcode::Text),
            Just(Opcode::Binary),
            Just(Opcode::Close),
            Just(Opcode::Ping),
            Just(Opcode::Pong)
        ]
    }

    fn length() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..=125, 126u64..=0xFFFF, 0x1_0000u64..=(u64::MAX >> 1)]
    }

    /// A small message the client may send, as (kind, payload, fragment sizes).
    #[derive(Debug, Clone)]
    enum Msg {
        Text(String, usize),
        Binary(Vec<u8>, usize),
        Ping(Vec<u8>),
    }

    fn msg() -> impl Strategy<Value = Msg> {
        prop_oneof![
            (".{0,40}", 1usize..8).prop_map(|(s, f)| Msg::Text(s, f)),
            (proptest::collection::vec(any::<u8>(), 0..300), 1usize..64)
                .prop_map(|(b, f)| Msg::Binary(b, f)),
            proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Msg::Ping),
        ]
    }

    fn client_stream(msgs: &[Msg], close: bool) -> Vec<u8> {
        let mut c =
            Connection::client(Config::default(), FixedMasks::new([3, 1, 4, 1, 5, 9, 2, 6]))
                .unwrap();
        for m in msgs {
            match m {
                Msg::Text(s, f) => send_fragmented(&mut c, Opcode::Text, s.as_bytes(), *f),
                Msg::Binary(b, f) => send_fragmented(&mut c, Opcode::Binary, b, *f),
                Msg::Ping(p) => c.send(Outgoing::Ping(p)).unwrap(),
            }
        }
        if close {
            c.close(CloseCode(4001), "done").unwrap();
        }
        c.pending_output().to_vec()
    }

    fn send_fragmented(c: &mut Connection, op: Opcode, data: &[u8], frag: usize) {
        if data.len() <= frag || op == Opcode::Text {
            // Text fragments must keep characters whole only as a whole message; split bytewise
            // at `frag` boundaries is allowed but the sender checks only UTF-8 validity overall.
            let chunks: Vec<&[u8]> = if data.is_empty() {
                vec![data]
            } else {
                data.chunks(frag.max(1)).collect()
            };
            let n = chunks.len();
            for (i, ch) in chunks.into_iter().enumerate() {
                let o = if i == 0 { op } else { Opcode::Continuation };
                c.send_fragment(o, ch, i + 1 == n).unwrap();
            }
        } else {
            let chunks: Vec<&[u8]> = data.chunks(frag).collect();
            let n = chunks.len();
            for (i, ch) in chunks.into_iter().enumerate() {
                let o = if i == 0 { op } else { Opcode::Continuation };
                c.send_fragment(o, ch, i + 1 == n).unwrap();
            }
        }
    }

    /// Feeds `chunks` to a server through `poll_event`, or with `lend` through
    /// `poll_event_ref` (each lent message copied into an owned event); returns the events and
    /// the output the connection queued (pongs, Close replies).
    fn feed_with(chunks: &[&[u8]], lend: bool) -> (Vec<Result<Event, Error>>, Vec<u8>) {
        let mut s = server();
        let mut out = Vec::new();
        for ch in chunks {
            if let Err(e) = s.receive(ch) {
                out.push(Err(e));
                break;
            }
            if !lend {
                out.extend(std::iter::from_fn(|| s.poll_event()));
                continue;
            }
            while let Some(ev) = s.poll_event_ref() {
                out.push(ev.map(|ev| match ev {
                    EventRef::Text(t) => {
                        Event::Message(Message::Text(Utf8Bytes::from(t.to_string())))
                    }
                    EventRef::Binary(b) => {
                        Event::Message(Message::Binary(Bytes::copy_from_slice(b)))
                    }
                    EventRef::Other(e) => e,
                }));
            }
        }
        (out, written(&mut s))
    }

    /// Everything `s` queued to write.
    fn written(s: &mut Connection) -> Vec<u8> {
        let mut bytes = Vec::new();
        while s.wants_write() {
            let n = s.pending_output().len();
            bytes.extend_from_slice(s.pending_output());
            s.consume_output(n);
        }
        bytes
    }

    /// Feeds `chunks` to a server as a server that reads into a buffer of its own does:
    /// whole messages taken in place, the rest through `receive` and `poll_event`.
    fn feed_in_place(chunks: &[&[u8]]) -> (Vec<Result<Event, Error>>, Vec<u8>) {
        let mut s = server();
        let mut out = Vec::new();
        'chunks: for ch in chunks {
            let mut buf = ch.to_vec();
            let mut input = &mut buf[..];
            loop {
                match s.take_in_place(&mut input) {
                    Ok(Some(m)) => out.push(Ok(Event::Message(m.to_message()))),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e));
                        continue 'chunks;
                    }
                }
            }
            if let Err(e) = s.receive(input) {
                out.push(Err(e));
                break;
            }
            out.extend(std::iter::from_fn(|| s.poll_event()));
        }
        (out, written(&mut s))
    }

    /// `stream` cut at the points `cuts` pick (in order; empty pieces allowed).
    fn cut_at<'a>(stream: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points {
            pieces.push(&stream[last..p]);
            last = p;
        }
        pieces.push(&stream[last..]);
        pieces
    }

    proptest! {
        #[test]
        fn borrowed_events_equal_owned_ones(msgs in proptest::collection::vec(msg(), 0..8), close: bool, cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let stream = client_stream(&msgs, close);
            let pieces = cut_at(&stream, &cuts);
            let owned = feed_with(&[&stream], false);
            prop_assert_eq!(&feed_with(&pieces, true), &owned);
            prop_assert_eq!(&feed_with(&[&stream], true), &owned);
        }

        #[test]
        fn borrowed_events_equal_owned_ones_on_arbitrary_bytes(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let pieces: Vec<&[u8]> = chunks.iter().map(|c| &c[..]).collect();
            prop_assert_eq!(feed_with(&pieces, true), feed_with(&pieces, false));
        }

        #[test]
        fn in_place_events_equal_owned_ones(msgs in proptest::collection::vec(msg(), 0..8), close: bool, cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let stream = client_stream(&msgs, close);
            let owned = feed_with(&[&stream], false);
            prop_assert_eq!(&feed_in_place(&cut_at(&stream, &cuts)), &owned);
            prop_assert_eq!(&feed_in_place(&[&stream]), &owned);
        }

        #[test]
        fn in_place_events_equal_owned_ones_on_arbitrary_bytes(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let pieces: Vec<&[u8]> = chunks.iter().map(|c| &c[..]).collect();
            prop_assert_eq!(feed_in_place(&pieces), feed_with(&pieces, false));
        }

        #[test]
        fn header_round_trip(fin: bool, op in opcode(), mask: Option<[u8; 4]>, len in length()) {
            let fin = fin || op.is_control();
            let len = if op.is_control() { len % 126 } else { len };
            let h = FrameHeader::new(fin, op, mask, len);
            let mut out = [0u8; FrameHeader::MAX_LEN];
            let n = h.encode(&mut out);
            prop_assert_eq!(n, h.encoded_len());
            prop_assert_eq!(FrameHeader::decode(&out[..n]), Ok(Status::Complete((h, n))));
            for cut in 0..n {
                prop_assert_eq!(FrameHeader::decode(&out[..cut]), Ok(Status::Partial));
            }
        }

        #[test]
        fn fast_mask_equals_reference(data in proptest::collection::vec(any::<u8>(), 0..2000), key: [u8; 4], offset in 0usize..64) {
            let mut a = data.clone();
            let mut b = data;
            apply_mask(&mut a, key, offset);
            apply_mask_reference(&mut b, key, offset);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn chunk_invariance(msgs in proptest::collection::vec(msg(), 0..8), close: bool, cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let stream = client_stream(&msgs, close);
            let whole = feed_with(&[&stream], false).0;
            let pieces = cut_at(&stream, &cuts);
            prop_assert_eq!(&feed_with(&pieces, false).0, &whole);
            // Byte by byte, too.
            let bytes: Vec<&[u8]> = stream.chunks(1).collect();
            prop_assert_eq!(&feed_with(&bytes, false).0, &whole);
            // And the events are the messages that were sent.
            let data_events = whole.iter().filter(|e| matches!(e, Ok(Event::Message(_)))).count();
            let sent = msgs.iter().filter(|m| !matches!(m, Msg::Ping(_))).count();
            prop_assert_eq!(data_events, sent);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_server(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let mut s = server();
            for ch in &chunks {
                if s.receive(ch).is_err() { break; }
                while let Some(ev) = s.poll_event() { let _ = ev; }
            }
            s.receive_eof();
            while s.poll_event().is_some() {}
            prop_assert!(s.state() == State::Closed);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_handshake(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let cfg = Config::default();
            if let Ok(Status::Complete((req, n))) = tether_codec::handshake::parse_request(&data, &cfg) {
                prop_assert!(n <= data.len());
                let _ = tether_codec::handshake::validate_request(&req);
            }
        }
    }
}

mod shared_output {
    use super::*;

    /// Drains a connection's output through `pending_output_vectored`, `max` bytes per write.
    fn drain(conn: &mut Connection, max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while conn.wants_write() {
            let mut slices = [std::io::IoSlice::new(&[]); 4];
            let n = conn.pending_output_vectored(&mut slices);
            let mut written = 0;
            for s in &slices[..n] {
                let take = s.len().min(max - written);
                out.extend_from_slice(&s[..take]);
                written += take;
                if written == max {
                    break;
                }
            }
            conn.consume_output(written);
        }
        out
    }

    #[test]
    fn large_messages_and_broadcasts_are_queued_by_reference_in_order() {
        let big = Message::Binary(Bytes::from(vec![5u8; 10_000]));
        let frame = EncodedFrame::server(Outgoing::Text(&"b".repeat(2000))).unwrap();
        let mut s = server();
        s.send(Outgoing::Text("first")).unwrap();
        s.send_message(&big).unwrap();
        s.send(Outgoing::Ping(b"p")).unwrap();
        s.send_encoded(&frame).unwrap();
        s.send_message(&Message::Text("small".into())).unwrap();
        let total = s.pending_output_len();
        assert!(
            s.pending_output().len() < total,
            "output is in several pieces"
        );
        // Written in odd-sized pieces, the bytes are the frames in the order they were queued.
        let bytes = drain(&mut s, 777);
        assert_eq!(bytes.len(), total);
        assert!(!s.wants_write() && s.pending_output().is_empty());
        let mut c = client();
        let ev = events(&mut c, &bytes);
        assert_eq!(ev.len(), 5, "{ev:?}");
        assert_eq!(ev[0], text("first"));
        assert_eq!(ev[1], Ok(Event::Message(big)));
        assert_eq!(ev[2], Ok(Event::Ping(Bytes::from_static(b"p"))));
        assert_eq!(ev[3], text(&"b".repeat(2000)));
        assert_eq!(ev[4], text("small"));
    }

    #[test]
    fn client_send_message_masks_a_copy() {
        let mut c = client();
        let msg = Message::Binary(Bytes::from(vec![1u8; 3000]));
        c.send_message(&msg).unwrap();
        let bytes = drain(&mut c, usize::MAX);
        let mut s = server();
        assert_eq!(events(&mut s, &bytes), [Ok(Event::Message(msg))]);
    }
}

mod memory {
    use super::*;

    /// What one growth step may reserve beyond the bytes that arrived, plus a header.
    const STEP: usize = 64 * 1024 + FrameHeader::MAX_LEN;

    fn big() -> Connection {
        let mut cfg = Config::default();
        cfg.max_frame_size = 16 << 20;
        cfg.max_message_size = 16 << 20;
        Connection::server(cfg).unwrap()
    }

    /// A masked binary header declaring `len` bytes, in its 64-bit form.
    fn head(fin: bool, opcode: u8, len: u64, key: [u8; 4]) -> Vec<u8> {
        let mut v = vec![(fin as u8) << 7 | opcode, 0xFF];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&key);
        v
    }

    #[test]
    fn a_header_alone_reserves_one_bounded_step() {
        let h = head(true, 2, 16 << 20, [1, 2, 3, 4]);
        // Whole, then split so that the header is buffered first: both receive paths.
        for cut in [h.len(), 5] {
            let mut s = big();
            s.receive(&h[..cut]).unwrap();
            assert_eq!(s.poll_event(), None);
            s.receive(&h[cut..]).unwrap();
            assert_eq!(s.poll_event(), None);
            let held = s.buffered_capacity();
            assert!(
                held <= STEP,
                "a 16 MiB claim holds {held} bytes (cut {cut})"
            );
        }
    }

    #[test]
    fn input_grows_with_the_bytes_that_arrive() {
        let key = [9, 8, 7, 6];
        let len = 3 << 20;
        let mut frame = head(true, 2, len as u64, key);
        let mut payload: Vec<u8> = (0..len).map(|i| (i / 1000) as u8).collect();
        tether_codec::apply_mask(&mut payload, key, 0);
        frame.extend_from_slice(&payload);
        tether_codec::apply_mask(&mut payload, key, 0);
        for chunk in [1000, 16 * 1024, 100_000] {
            let mut s = big();
            let mut arrived = 0;
            let mut got = None;
            for piece in frame.chunks(chunk) {
                s.receive(piece).unwrap();
                arrived += piece.len();
                // Growth doubles (through `realloc`, which may round a last step past the
                // declared size: virtual room, never touched).
                let held = s.buffered_capacity();
                assert!(
                    held <= (2 * arrived).max(arrived + STEP),
                    "{held} held after {arrived} bytes in pieces of {chunk}"
                );
                if let Some(ev) = s.poll_event() {
                    got = Some(ev);
                }
            }
            assert_eq!(
                got,
                Some(Ok(Event::Message(Message::Binary(payload.clone().into()))))
            );
        }
    }

    #[test]
    fn a_fragmented_message_holds_what_arrived() {
        let key = [1, 1, 1, 1];
        let mut s = big();
        // A first fragment of 70 000 bytes, which declares nothing of what follows.
        let mut first = head(false, 2, 70_000, key);
        first.extend_from_slice(&[1 ^ 1; 70_000]);
        s.receive(&first).unwrap();
        assert_eq!(s.poll_event(), None);
        // Then a continuation claiming 15 MiB, of which only its header arrives.
        s.receive(&head(true, 0, 15 << 20, key)).unwrap();
        assert_eq!(s.poll_event(), None);
        let held = s.buffered_capacity();
        assert!(held <= 2 * 70_000 + STEP, "{held}");
    }
}

mod output_cap {
    use super::*;

    fn capped(max: usize) -> Connection {
        let mut cfg = Config::default();
        cfg.max_output_buffer = max;
        Connection::server(cfg).unwrap()
    }

    fn full() -> Error {
        CapacityError::OutputFull.into()
    }

    #[test]
    fn sends_past_the_cap_fail_and_queue_nothing() {
        let mut s = capped(1024);
        // Below the cap any one message goes, even one larger than the cap.
        s.send(Outgoing::Binary(&[0; 1100])).unwrap();
        let before = s.pending_output().to_vec();
        let big = Message::Binary(Bytes::from(vec![0u8; 9000]));
        let encoded = EncodedFrame::server(Outgoing::Binary(&[0; 30])).unwrap();
        assert_eq!(s.send(Outgoing::Binary(&[0; 30])), Err(full()));
        assert_eq!(s.send(Outgoing::Ping(b"p")), Err(full()));
        assert_eq!(s.send_fragment(Opcode::Text, b"x", false), Err(full()));
        assert_eq!(s.send_message(&big), Err(full()));
        assert_eq!(s.send_encoded(&encoded), Err(full()));
        assert_eq!(s.pending_output(), &before[..]);
        // Once written below the cap, sends go again; a refused fragment can be sent again.
        s.consume_output(90); // 1014 left
        s.send_fragment(Opcode::Text, b"x", false).unwrap(); // 1017
        s.send_fragment(Opcode::Continuation, &[b'-'; 10], false)
            .unwrap(); // 1029
        assert_eq!(
            s.send_fragment(Opcode::Continuation, b"y", true),
            Err(full())
        );
        s.consume_output(100); // 929
        s.send_fragment(Opcode::Continuation, b"y", true).unwrap(); // 932
        s.send(Outgoing::Binary(&[0; 100])).unwrap(); // 1034
                                                      // A Close is always queued, even at the cap.
        assert_eq!(s.send(Outgoing::Binary(&[0; 1])), Err(full()));
        s.close(CloseCode::NORMAL, "bye").unwrap();
        assert_eq!(s.pending_output_len(), 1034 + 7);
        assert_eq!(full().close_code(), Some(CloseCode::POLICY));
    }

    #[test]
    fn every_ping_gets_its_pong_while_the_peer_reads() {
        // Autobahn 2.10: ten pings in one read, ten pongs with their payloads, in order.
        let mut s = capped(1 << 20);
        let k = [1, 2, 3, 4];
        let pings: Vec<u8> = (0..10u8)
            .flat_map(|i| masked(0x89, &[b'p', i], k))
            .collect();
        assert_eq!(events(&mut s, &pings).len(), 10);
        let want: Vec<u8> = (0..10u8).flat_map(|i| [0x8A, 0x02, b'p', i]).collect();
        assert_eq!(s.pending_output(), &want[..]);
    }

    #[test]
    fn unwritten_pongs_are_replaced_by_the_latest_once_output_backs_up() {
        let mut s = capped(1 << 20);
        let k = [1, 2, 3, 4];
        // The peer has not read 4 KiB: from here on one unwritten pong answers the latest ping.
        s.send(Outgoing::Binary(&[0; 4096])).unwrap();
        let base = s.pending_output_len();
        let mut pings = masked(0x89, b"a", k);
        pings.extend(masked(0x89, b"b", k));
        pings.extend(masked(0x89, b"cc", k));
        let ev = events(&mut s, &pings);
        assert_eq!(ev.len(), 3, "every ping is still reported: {ev:?}");
        assert_eq!(&s.pending_output()[base..], &[0x8A, 0x02, b'c', b'c']);
        // With a message queued after it, a pong of the same size is replaced in place.
        s.send(Outgoing::Text("hi")).unwrap();
        let ev = events(&mut s, &masked(0x89, b"dd", k));
        assert_eq!(ev, [Ok(Event::Ping(Bytes::from_static(b"dd")))]);
        assert_eq!(
            &s.pending_output()[base..],
            &[0x8A, 0x02, b'd', b'd', 0x81, 0x02, b'h', b'i']
        );
        // A flood of pings from a peer that never reads holds one pong.
        let flood: Vec<u8> = (0..2000u32)
            .flat_map(|i| masked(0x89, &i.to_be_bytes(), k))
            .collect();
        let _ = events(&mut s, &flood);
        assert_eq!(s.pending_output_len(), base + 4 + 4 + 6);
        assert_eq!(
            &s.pending_output()[base + 8..],
            &[0x8A, 0x04, 0, 0, 0x07, 0xCF]
        ); // 1999
           // Once the peer reads past it, a pong is not touched: the next ping gets its own.
        let n = s.pending_output_len();
        s.consume_output(n - 2);
        let _ = events(&mut s, &masked(0x89, b"ee", k));
        assert_eq!(s.pending_output(), &[0x07, 0xCF, 0x8A, 0x02, b'e', b'e']);
        assert_eq!(s.state(), State::Open);
    }

    #[test]
    fn a_ping_that_cannot_be_answered_fails_with_1008() {
        let mut s = capped(1024);
        s.send(Outgoing::Binary(&[0; 1020])).unwrap();
        s.receive(&masked(0x89, &[7; 100], [1, 2, 3, 4])).unwrap();
        assert_eq!(s.poll_event(), Some(Err(full())));
        assert_eq!(s.state(), State::Closed);
        let close = &s.pending_output()[4 + 1020..]; // after the queued message
        assert_eq!((close[0], &close[2..4]), (0x88, &[0x03, 0xF0][..])); // 1008
        assert_eq!(s.poll_event(), None);
    }

    #[test]
    fn the_cap_is_validated() {
        let mut cfg = Config::default();
        assert_eq!(cfg.max_output_buffer, 16 << 20);
        cfg.max_output_buffer = 10;
        assert!(cfg.validate().is_err());
    }
}

/// permessage-deflate on a connection (RFC 7692 §6, §7.2), both roles, in memory.
#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use proptest::prelude::*;
    use tether_codec::deflate::{accept_offer, offer_header_value, DeflateConfig, Deflater};

    /// A pair that negotiated permessage-deflate with `server`'s and `client`'s settings.
    fn pair(client_cfg: DeflateConfig, server_cfg: DeflateConfig) -> Pair {
        let offer = offer_header_value(&client_cfg);
        let params = accept_offer([offer.as_bytes()], &server_cfg)
            .unwrap()
            .expect("the server accepts the client's offer");
        let mut p = Pair::new(big_config());
        p.server.enable_deflate(&params, &server_cfg).unwrap();
        p.client.enable_deflate(&params, &client_cfg).unwrap();
        p
    }

    fn big_config() -> Config {
        let mut c = Config::default();
        c.max_message_size = 4 << 20;
        c.max_frame_size = 4 << 20;
        c
    }

    fn every_byte(mut cfg: DeflateConfig) -> DeflateConfig {
        cfg.threshold = 0;
        cfg
    }

    #[test]
    fn messages_round_trip_compressed_both_ways() {
        let takeover = every_byte(DeflateConfig::default());
        let mut fresh = takeover;
        fresh.server_no_context_takeover = true;
        fresh.client_no_context_takeover = true;
        for cfg in [takeover, fresh] {
            let mut p = pair(cfg, cfg);
            let json = r#"{"msg_type":"message","room_id":"1001","msg_content":"你好"}"#.repeat(20);
            let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
            for round in 0..3 {
                p.client.send(Outgoing::Text(&json)).unwrap();
                p.client.send(Outgoing::Binary(&blob)).unwrap();
                p.client.send(Outgoing::Text("")).unwrap();
                // A compressed frame has RSV1 and is smaller than the JSON it carries.
                let wire = p.client.pending_output().to_vec();
                assert_eq!(wire[0], 0x81 | 0x40, "round {round}: {:x}", wire[0]);
                let (_, se) = p.drive();
                assert_eq!(se.len(), 3, "{se:?}");
                assert_eq!(se[0], text(&json));
                assert_eq!(
                    se[1],
                    Ok(Event::Message(Message::Binary(blob.clone().into())))
                );
                assert_eq!(se[2], text(""));
                p.server.send(Outgoing::Text(&json)).unwrap();
                let out = p.server.pending_output().to_vec();
                assert_eq!(out[0], 0xC1);
                assert!(
                    out.len() < json.len() / 3,
                    "{} bytes for {}",
                    out.len(),
                    json.len()
                );
                let (ce, _) = p.drive();
                assert_eq!(ce, [text(&json)]);
            }
        }
    }

    #[test]
    fn short_messages_go_out_as_they_are_below_the_threshold() {
        let mut cfg = DeflateConfig::default();
        cfg.threshold = 64;
        let mut p = pair(cfg, cfg);
        p.server.send(Outgoing::Text("hi")).unwrap();
        assert_eq!(p.server.pending_output(), &[0x81, 0x02, b'h', b'i']);
        let (ce, _) = p.drive();
        assert_eq!(ce, [text("hi")]);
    }

    /// A client frame with RSV1 set on its first byte (`first`), masked with key 0.
    fn raw(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![first];
        match payload.len() {
            n if n < 126 => v.push(0x80 | n as u8),
            n if n < 65536 => {
                v.push(0x80 | 126);
                v.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                v.push(0x80 | 127);
                v.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        v.extend_from_slice(&[0, 0, 0, 0]);
        v.extend_from_slice(payload);
        v
    }

    fn compressed(data: &[u8]) -> Vec<u8> {
        let mut d = Deflater::new(15, 6, 8, false).unwrap();
        let mut out = bytes::BytesMut::new();
        d.compress(data, &mut out).unwrap();
        out.to_vec()
    }

    fn server_with_deflate() -> Connection {
        let cfg = every_byte(DeflateConfig::default());
        let offer = offer_header_value(&cfg);
        let params = accept_offer([offer.as_bytes()], &cfg).unwrap().unwrap();
        let mut s = Connection::server(big_config()).unwrap();
        s.enable_deflate(&params, &cfg).unwrap();
        s
    }

    #[test]
    fn a_compressed_message_fragmented_after_compression() {
        let text_in = "fragmented after compression ".repeat(50);
        let z = compressed(text_in.as_bytes());
        let (a, b) = z.split_at(z.len() / 2);
        let mut wire = raw(0x01 | 0x40, a); // Text, RSV1, not fin
        wire.extend(raw(0x80, b)); // Continuation, fin, RSV1 clear
        for cut in [1, 7, wire.len()] {
            let mut s = server_with_deflate();
            let mut ev = Vec::new();
            for piece in wire.chunks(cut) {
                ev.extend(events(&mut s, piece));
            }
            assert_eq!(ev, [text(&text_in)], "cut {cut}");
        }
    }

    #[test]
    fn rsv1_where_it_does_not_belong_fails_with_1002() {
        let z = compressed(b"x");
        for wire in [
            // RSV1 on a continuation.
            [raw(0x01 | 0x40, &z[..1]), raw(0x80 | 0x40, &z[1..])].concat(),
            // RSV1 on a ping.
            raw(0x89 | 0x40, b""),
        ] {
            let mut s = server_with_deflate();
            let ev = events(&mut s, &wire);
            let err = ev.into_iter().find_map(Result::err).expect("an error");
            assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR), "{err:?}");
        }
        // And on a connection that did not negotiate the extension.
        let mut plain = server();
        let ev = events(&mut plain, &raw(0x81 | 0x40, &z));
        assert_eq!(
            ev[0].as_ref().err().and_then(|e| e.close_code()),
            Some(CloseCode::PROTOCOL_ERROR)
        );
    }

    #[test]
    fn corrupt_data_fails_with_1007_and_a_bomb_with_1009() {
        let mut s = server_with_deflate();
        let ev = events(&mut s, &raw(0x82 | 0x40, &[0xff, 0xff, 0xff, 0xff]));
        let err = ev.into_iter().find_map(Result::err).expect("an error");
        assert_eq!(err.close_code(), Some(CloseCode(1007)), "{err:?}");

        // 16 MiB of zeros in a few KiB: the 4 MiB message limit stops it early.
        let mut d = Deflater::new(15, 9, 8, false).unwrap();
        let mut z = bytes::BytesMut::new();
        d.compress(&vec![0u8; 16 << 20], &mut z).unwrap();
        assert!(z.len() < 1 << 20, "{}", z.len());
        let mut s = server_with_deflate();
        let t0 = std::time::Instant::now();
        let ev = events(&mut s, &raw(0x82 | 0x40, &z));
        let err = ev.into_iter().find_map(Result::err).expect("an error");
        assert_eq!(err.close_code(), Some(CloseCode(1009)), "{err:?}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(1));
        assert!(
            s.buffered_capacity() <= 8 << 20,
            "{}",
            s.buffered_capacity()
        );
    }

    /// Two server connections that negotiated `cfg`, and a client for each to read them.
    fn two_pairs(cfg: DeflateConfig) -> (Pair, Pair) {
        (pair(cfg, cfg), pair(cfg, cfg))
    }

    #[test]
    fn a_broadcast_is_compressed_once_for_connections_without_context_takeover() {
        let mut cfg = every_byte(DeflateConfig::default());
        cfg.server_no_context_takeover = true;
        let (mut a, mut b) = two_pairs(cfg);
        let json = r#"{"msg_type":"buy","goods_name":"橘子","goods_price":"9.90"}"#.repeat(40);
        let frame = EncodedFrame::server(Outgoing::Text(&json)).unwrap();
        a.server.send_encoded(&frame).unwrap();
        b.server.send_encoded(&frame).unwrap();
        // The same compressed bytes, and the same memory: one compression for both.
        let (pa, pb) = (a.server.pending_output(), b.server.pending_output());
        assert_eq!(pa, pb);
        assert_eq!(pa[0], 0xC1, "RSV1 and FIN on a text frame");
        assert!(
            pa.len() < json.len() / 5,
            "{} bytes for {}",
            pa.len(),
            json.len()
        );
        assert_eq!(pa.as_ptr(), pb.as_ptr(), "compressed twice");
        for p in [&mut a, &mut b] {
            let (ce, _) = p.drive();
            assert_eq!(ce, [text(&json)]);
        }
    }

    #[test]
    fn with_context_takeover_each_connection_compresses_a_broadcast_itself() {
        let cfg = every_byte(DeflateConfig::default()); // context kept both ways
        let (mut a, mut b) = two_pairs(cfg);
        let json = "the same comment, again and again. ".repeat(20);
        let frame = EncodedFrame::server(Outgoing::Text(&json)).unwrap();
        // A message first on `a` only: its context now differs from `b`'s.
        a.server.send(Outgoing::Text(&json)).unwrap();
        let _ = a.drive();
        a.server.send_encoded(&frame).unwrap();
        b.server.send_encoded(&frame).unwrap();
        let (pa, pb) = (
            a.server.pending_output().to_vec(),
            b.server.pending_output().to_vec(),
        );
        assert_eq!(pa[0], 0xC1);
        assert!(
            pa.len() < pb.len(),
            "a's kept context makes its copy smaller"
        );
        for p in [&mut a, &mut b] {
            let (ce, _) = p.drive();
            assert_eq!(ce, [text(&json)]);
        }
    }

    /// Each side's settings: windows, takeover, level, memory level, threshold.
    fn deflate_config() -> impl Strategy<Value = DeflateConfig> {
        (
            (9..=15u8, 9..=15u8),
            (any::<bool>(), any::<bool>()),
            (0..=9u32, 1..=9u8, prop_oneof![Just(0usize), 0..300usize]),
        )
            .prop_map(|((sw, cw), (snct, cnct), (level, mem_level, threshold))| {
                let mut c = DeflateConfig::default();
                c.server_max_window_bits = sw;
                c.client_max_window_bits = cw;
                c.server_no_context_takeover = snct;
                c.client_no_context_takeover = cnct;
                c.level = level;
                c.mem_level = mem_level;
                c.threshold = threshold;
                c
            })
    }

    /// A message: JSON-like text (compressible) or arbitrary binary.
    fn deflate_message() -> impl Strategy<Value = (bool, Vec<u8>)> {
        prop_oneof![
            prop::collection::vec(
                prop::sample::select(vec!["{\"msg\":", "\"你好\"", ",", "}", "1001", " "]),
                0..400
            )
            .prop_map(|parts| (true, parts.concat().into_bytes())),
            prop::collection::vec(any::<u8>(), 0..2000).prop_map(|b| (false, b)),
        ]
    }

    /// The client's frames for `wire` (one whole message as the codec sent it, masked)
    /// re-cut into `pieces` fragments after compression: RSV1 stays on the first only.
    fn refragment(wire: &[u8], pieces: usize, key: [u8; 4]) -> Vec<u8> {
        let (h, n) = match FrameHeader::decode(wire) {
            Ok(Status::Complete(done)) => done,
            other => panic!("{other:?}"),
        };
        let mut payload = wire[n..n + h.payload_len() as usize].to_vec();
        apply_mask(&mut payload, h.mask().unwrap(), 0);
        let size = payload.len().div_ceil(pieces.max(1)).max(1);
        let chunks: Vec<&[u8]> = if payload.is_empty() {
            vec![&[]]
        } else {
            payload.chunks(size).collect()
        };
        let mut out = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let op = if i == 0 {
                h.opcode()
            } else {
                Opcode::Continuation
            };
            let fin = i + 1 == chunks.len();
            let rsv = if i == 0 { h.rsv() } else { 0 };
            let header = FrameHeader::new(fin, op, Some(key), chunk.len() as u64).with_rsv(rsv);
            let mut head = [0u8; FrameHeader::MAX_LEN];
            let hn = header.encode(&mut head);
            out.extend_from_slice(&head[..hn]);
            let mut body = chunk.to_vec();
            apply_mask(&mut body, key, 0);
            out.extend_from_slice(&body);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Whatever both sides configure and agree, every message arrives as sent, both
        /// ways, whether the bytes come whole or cut anywhere, and whether the client's
        /// compressed messages come in one frame or fragmented after compression.
        #[test]
        fn every_parameter_set_round_trips_in_any_chunks(
            client_cfg in deflate_config(),
            server_cfg in deflate_config(),
            msgs in prop::collection::vec(deflate_message(), 1..6),
            cut in 1..97usize,
            pieces in 1..5usize,
        ) {
            let offer = offer_header_value(&client_cfg);
            let Some(params) = accept_offer([offer.as_bytes()], &server_cfg).unwrap() else {
                return Ok(()); // declined: nothing compressed to check
            };
            let mut p = Pair::new(big_config());
            p.server.enable_deflate(&params, &server_cfg).unwrap();
            p.client.enable_deflate(&params, &client_cfg).unwrap();
            for (is_text, data) in &msgs {
                let out = |conn: &mut Connection| {
                    let msg = if *is_text {
                        Outgoing::Text(std::str::from_utf8(data).unwrap())
                    } else {
                        Outgoing::Binary(data)
                    };
                    conn.send(msg).unwrap();
                    let wire = conn.pending_output().to_vec();
                    conn.consume_output(wire.len());
                    wire
                };
                let expected = if *is_text {
                    Message::Text(Utf8Bytes::from(String::from_utf8(data.clone()).unwrap()))
                } else {
                    Message::Binary(data.clone().into())
                };
                let c2s = refragment(&out(&mut p.client), pieces, [9, 8, 7, 6]);
                let s2c = out(&mut p.server);
                let (mut se, mut ce) = (Vec::new(), Vec::new());
                for piece in c2s.chunks(cut) {
                    se.extend(events(&mut p.server, piece));
                }
                for piece in s2c.chunks(cut) {
                    ce.extend(events(&mut p.client, piece));
                }
                prop_assert_eq!(se, vec![Ok(Event::Message(expected.clone()))]);
                prop_assert_eq!(ce, vec![Ok(Event::Message(expected))]);
            }
        }
    }

    #[test]
    fn invalid_utf8_inside_a_compressed_text_message_fails_with_1007() {
        let z = compressed(&[b'o', b'k', 0xff, 0xfe]);
        let mut s = server_with_deflate();
        let ev = events(&mut s, &raw(0x81 | 0x40, &z));
        let err = ev.into_iter().find_map(Result::err).expect("an error");
        assert_eq!(err.close_code(), Some(CloseCode(1007)), "{err:?}");
    }
}
