//! Production hardening over loopback (issue 9): panics in every callback, a worker that dies anyway, full queues, the memory budget, shutdown within its deadline, half-closes, and the metrics endpoint.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tether_client::{Client, ClientError};
use tether_codec::{Event, HandshakeError};
use tether_server::{
    Bytes, CloseCode, ConnId, Ctx, Handler, HttpResponse, MessageRef, SendError, Server,
    ServerConfig, ServerError, Upgrade, UpgradeRequest,
};

use crate::util::*;

/// Panics on request: in the callback the path or message names.
struct Faulty {
    closed: Arc<Mutex<Vec<(ConnId, CloseCode)>>>,
    notified: Arc<AtomicUsize>,
    panic_on_start: bool,
    /// `on_notify` sleeps this long (to keep the worker busy while its queue fills).
    notify_sleep: Duration,
}

/// A payload whose drop panics: a panic the guards cannot contain.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the bomb went off while its panic was being cleaned up");
    }
}

impl Handler for Faulty {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_timer(Duration::from_millis(20), 1);
        if self.panic_on_start {
            panic!("on_start");
        }
    }

    fn on_http(&mut self, req: &UpgradeRequest<'_>) -> Option<HttpResponse> {
        let status = match req.path() {
            "/panic-http" => panic!("on_http"),
            "/no-content" => 204,
            "/forbidden" => 403,
            _ => return None,
        };
        Some(HttpResponse {
            status,
            content_type: "text/plain",
            body: Bytes::from_static(b"x"),
        })
    }

    fn on_upgrade(&mut self, _conn: ConnId, req: &UpgradeRequest<'_>) -> Upgrade {
        if req.path() == "/panic-upgrade" {
            panic!("on_upgrade");
        }
        Upgrade::accept()
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_>, conn: ConnId) {
        let _ = ctx;
        if ctx.peer_addr(conn).is_some() && OPEN_PANICS.load(Ordering::SeqCst) > 0 {
            OPEN_PANICS.fetch_sub(1, Ordering::SeqCst);
            panic!("on_open");
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, msg: MessageRef<'_>) {
        match msg.as_bytes() {
            b"panic" => panic!("on_message"),
            b"bomb" => std::panic::panic_any(Bomb),
            b"close-panics" => {
                CLOSE_PANICS.fetch_add(1, Ordering::SeqCst);
                let _ = ctx.close(conn, CloseCode::NORMAL, "asked");
            }
            _ => {
                let _ = ctx.send_message(conn, msg);
            }
        }
    }

    fn on_close(&mut self, _ctx: &mut Ctx<'_>, conn: ConnId, code: CloseCode, _reason: &str) {
        self.closed.lock().unwrap().push((conn, code));
        if CLOSE_PANICS.load(Ordering::SeqCst) > 0 {
            CLOSE_PANICS.fetch_sub(1, Ordering::SeqCst);
            panic!("on_close");
        }
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_>, _token: u64) {
        panic!("on_timer");
    }

    fn on_notify(&mut self, _ctx: &mut Ctx<'_>, _value: u64) {
        self.notified.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.notify_sleep);
        if self.notify_sleep.is_zero() {
            panic!("on_notify");
        }
    }
}

static OPEN_PANICS: AtomicUsize = AtomicUsize::new(0);
static CLOSE_PANICS: AtomicUsize = AtomicUsize::new(0);

struct FaultyServer {
    server: Option<Server>,
    addr: std::net::SocketAddr,
    handle: tether_server::ServerHandle,
    closed: Arc<Mutex<Vec<(ConnId, CloseCode)>>>,
    notified: Arc<AtomicUsize>,
}

fn faulty(cfg: ServerConfig, panic_on_start: bool, notify_sleep: Duration) -> FaultyServer {
    let closed = Arc::new(Mutex::new(Vec::new()));
    let notified = Arc::new(AtomicUsize::new(0));
    let (c, n) = (closed.clone(), notified.clone());
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), cfg, move |_| Faulty {
        closed: c.clone(),
        notified: n.clone(),
        panic_on_start,
        notify_sleep,
    })
    .unwrap();
    FaultyServer {
        addr: server.local_addr(),
        handle: server.handle(),
        server: Some(server),
        closed,
        notified,
    }
}

impl FaultyServer {
    fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    fn echo_works(&self) {
        let mut c = Client::connect_with(&self.url("/"), client_config()).unwrap();
        c.send_text("still here").unwrap();
        assert_eq!(c.recv_message().unwrap().as_bytes(), b"still here");
        c.close(CloseCode::NORMAL, "").unwrap();
    }

    fn run_until_stopped(&mut self) -> Result<(), ServerError> {
        self.handle.shutdown();
        self.server.take().unwrap().run()
    }
}

/// Reads until the server's Close arrives; returns its code.
fn close_code(c: &mut Client) -> CloseCode {
    loop {
        match c.recv() {
            Ok(Event::CloseReceived(f)) => return f.map_or(CloseCode::NO_STATUS, |f| f.code),
            Ok(_) => {}
            Err(ClientError::Closed { code, .. }) => return code,
            Err(e) => panic!("no Close frame: {e}"),
        }
    }
}

#[test]
fn a_panic_in_any_callback_costs_one_connection_at_most() {
    // One worker: every panic below lands on the loop that must keep serving. The clients
    // below stay connected to the end: their lingers end at the close timeout, well inside
    // the final 5 s wait (at the 5 s default they raced it).
    let mut cfg = config();
    cfg.close_timeout = Duration::from_secs(1);
    let mut s = faulty(cfg, true, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(60)); // on_start and on_timer have panicked
    s.echo_works();

    // on_http: the page request gets 500.
    let got = exchange(s.addr, b"GET /panic-http HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        got.starts_with(b"HTTP/1.1 500 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );

    // on_upgrade: the upgrade gets 500.
    let err = Client::connect_with(&s.url("/panic-upgrade"), client_config()).unwrap_err();
    assert!(
        matches!(err, ClientError::Handshake(HandshakeError::Refused(500))),
        "{err:?}"
    );

    // on_open: that connection is closed with 1011.
    OPEN_PANICS.store(1, Ordering::SeqCst);
    let mut c = Client::connect_with(&s.url("/"), client_config()).unwrap();
    assert_eq!(close_code(&mut c), CloseCode::INTERNAL_ERROR);

    // on_message: 1011 too.
    let mut c = Client::connect_with(&s.url("/"), client_config()).unwrap();
    c.send_text("panic").unwrap();
    assert_eq!(close_code(&mut c), CloseCode::INTERNAL_ERROR);

    // on_close: the close completes, and later ones are still delivered.
    let mut c = Client::connect_with(&s.url("/"), client_config()).unwrap();
    c.send_text("close-panics").unwrap();
    assert_eq!(close_code(&mut c), CloseCode::NORMAL);

    // on_notify: logged, nothing else.
    s.handle.notify(7).unwrap();
    assert!(wait_until(Duration::from_secs(2), || s
        .notified
        .load(Ordering::SeqCst)
        == 1));

    s.echo_works();
    assert!(
        wait_until(Duration::from_secs(5), || s.handle.connection_count() == 0),
        "the connection count leaked: {}",
        s.handle.connection_count()
    );
    let text = s.handle.metrics_text();
    assert_eq!(metric(&text, "tether_handler_panics_total"), 8.0, "{text}");
    let closed = s.closed.lock().unwrap().clone();
    assert_eq!(
        closed
            .iter()
            .filter(|c| c.1 == CloseCode::INTERNAL_ERROR)
            .count(),
        2,
        "{closed:?}"
    );
    assert_eq!(s.run_until_stopped().map_err(|e| e.to_string()), Ok(()));
}

#[test]
fn a_worker_that_dies_anyway_stops_the_server_with_an_error() {
    let mut cfg = config();
    cfg.workers = 2;
    let mut s = faulty(cfg, false, Duration::ZERO);
    let t0 = Instant::now();
    // Connect until one lands on each worker, then blow one up.
    let mut clients: Vec<Client> = (0..8)
        .map(|_| Client::connect_with(&s.url("/"), client_config()).unwrap())
        .collect();
    clients[0].send_text("bomb").unwrap();
    let server = s.server.take().unwrap();
    // Nobody calls shutdown: the dead worker's thread must stop the rest by itself.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(server.run().map_err(|e| e.to_string())));
    let result = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server kept serving on one worker fewer");
    assert!(
        result.as_ref().is_err_and(|e| e.contains("panicked")),
        "{result:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(8));
    drop(clients);
}

#[test]
fn a_full_worker_queue_is_refused_and_counted() {
    let mut cfg = config();
    cfg.worker_queue_capacity = 2;
    let mut s = faulty(cfg, false, Duration::from_millis(500));
    s.handle.notify(1).unwrap();
    // The worker is now asleep in on_notify: the queue fills and refuses.
    assert!(wait_until(Duration::from_secs(2), || s
        .notified
        .load(Ordering::SeqCst)
        == 1));
    let results: Vec<_> = (0..5).map(|v| s.handle.notify(v)).collect();
    assert_eq!(results[..2], [Ok(()), Ok(())], "{results:?}");
    assert!(
        results[2..].iter().all(|r| *r == Err(SendError::QueueFull)),
        "{results:?}"
    );
    let text = s.handle.metrics_text();
    assert_eq!(
        metric(&text, "tether_worker_queue_full_total"),
        3.0,
        "{text}"
    );
    // Once the worker drains, commands go through again.
    assert!(wait_until(Duration::from_secs(5), || s
        .notified
        .load(Ordering::SeqCst)
        == 3));
    assert_eq!(s.handle.notify(9), Ok(()));
    assert!(s.run_until_stopped().is_ok());
}

#[test]
fn shutdown_ends_within_its_timeout_though_a_peer_never_answers() {
    let mut cfg = config();
    cfg.shutdown_timeout = Duration::from_millis(800);
    cfg.close_timeout = Duration::from_secs(30); // longer than the shutdown: still valid
    let mut s = faulty(cfg, false, Duration::from_millis(1));
    // A peer that completes the handshake and then never reads nor answers.
    let mut mute = raw(s.addr);
    mute.write_all(UPGRADE.as_bytes()).unwrap();
    let mut head = [0u8; 129];
    let _ = mute.read(&mut head).unwrap();
    assert!(wait_until(Duration::from_secs(2), || s
        .handle
        .connection_count()
        == 1));
    let t0 = Instant::now();
    let result = s.run_until_stopped();
    let took = t0.elapsed();
    assert!(result.is_ok(), "{result:?}");
    assert!(
        took < Duration::from_millis(800) + Duration::from_millis(500),
        "shutdown took {took:?}"
    );
    // The queued Close 1001 was written before the socket was dropped.
    let rest = read_to_close(&mut mute);
    assert_eq!(rest[0], 0x88, "{rest:x?}");
    assert_eq!(&rest[2..4], &1001u16.to_be_bytes(), "{rest:x?}");
}

#[test]
fn on_close_calls_come_in_the_order_connections_closed() {
    let mut s = faulty(config(), false, Duration::from_millis(1));
    let clients: Vec<Client> = (0..3)
        .map(|_| Client::connect_with(&s.url("/"), client_config()).unwrap())
        .collect();
    assert!(wait_until(Duration::from_secs(2), || s
        .handle
        .connection_count()
        == 3));
    // Shutdown closes them in one turn, in slot order.
    assert!(s.run_until_stopped().is_ok());
    let closed = s.closed.lock().unwrap().clone();
    let ids: Vec<ConnId> = closed.iter().map(|c| c.0).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids, sorted, "on_close delivered out of order");
    drop(clients);
}

#[test]
fn on_http_statuses_that_carry_no_body_become_500() {
    let s = faulty(config(), false, Duration::from_millis(1));
    let got = exchange(s.addr, b"GET /no-content HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        got.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    // Every status has its name (there was a four-entry table and "Status" for the rest).
    let got = exchange(s.addr, b"GET /forbidden HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        got.starts_with(b"HTTP/1.1 403 Forbidden\r\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn messages_sent_before_a_half_close_are_all_answered() {
    // A peer sends its messages and its FIN, and reads the answers slowly: when the server
    // reads the FIN, answers are still queued behind a full socket. They must still go out.
    let mut cfg = config();
    cfg.output_high_water = 16 * 1024;
    let server = TestServer::start(cfg);
    let mut s = raw(server.addr);
    s.write_all(UPGRADE.as_bytes()).unwrap();
    let head = read_to_close_or(&mut s, b"\r\n\r\n");
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    const N: usize = 100;
    const LEN: usize = 32 * 1024;
    let mut writer = s.try_clone().unwrap();
    let send = std::thread::spawn(move || {
        let mut frame = vec![0x82, 0xFE, (LEN >> 8) as u8, LEN as u8, 0, 0, 0, 0]; // mask 0
        frame.resize(8 + LEN, b'z');
        for _ in 0..N {
            writer.write_all(&frame).unwrap();
        }
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut echoes = 0;
    let mut buf = vec![0u8; 4 + LEN];
    while echoes < N && s.read_exact(&mut buf).is_ok() {
        assert_eq!(&buf[..4], &[0x82, 0x7E, (LEN >> 8) as u8, LEN as u8]);
        echoes += 1;
        std::thread::sleep(Duration::from_millis(2)); // a slow reader
    }
    send.join().unwrap();
    assert_eq!(
        echoes, N,
        "answers to messages sent before the FIN were dropped"
    );
}

#[test]
fn messages_in_the_same_read_as_the_fin_are_all_delivered() {
    // Backpressure stops dispatch after each answer (high-water mark of 1 byte): the messages
    // still inside the codec when the FIN is read must be delivered, not dropped.
    let mut cfg = config();
    cfg.output_high_water = 1;
    let server = TestServer::start(cfg);
    let mut s = raw(server.addr);
    s.write_all(UPGRADE.as_bytes()).unwrap();
    let head = read_to_close_or(&mut s, b"\r\n\r\n");
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    let mut burst = Vec::new();
    for i in 0..5u8 {
        burst.extend_from_slice(&masked(0x81, &[b'm', b'0' + i]));
    }
    s.write_all(&burst).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let got = read_to_close(&mut s);
    let want: Vec<u8> = (0..5u8)
        .flat_map(|i| [0x81, 0x02, b'm', b'0' + i])
        .collect();
    assert!(got.starts_with(&want), "{got:x?}");
}

#[test]
fn a_peer_we_stopped_reading_is_closed_with_1008_not_as_idle() {
    let mut cfg = config();
    cfg.output_high_water = 16 * 1024;
    cfg.max_output_buffer = 64 << 20; // never a slow consumer: only the pause matters
    cfg.deflate = None; // compressed echoes of 60,000 'y's would never pass the mark
    cfg.max_buffered_bytes = 64 << 20;
    cfg.ping_interval = Duration::from_millis(300);
    cfg.idle_timeout = Duration::from_millis(900);
    cfg.close_timeout = Duration::from_millis(300);
    let server = TestServer::start(cfg);
    let c = Client::connect_with(&server.url("/"), client_config()).unwrap();
    let mut s = c.get_ref().try_clone().unwrap();
    // Echo requests the client never reads: once the kernel's buffers are full the server's
    // output passes the high-water mark and it stops reading this peer.
    let frame = {
        let payload = vec![b'y'; 60_000];
        let mut f = vec![0x82, 0xFE, 0xEA, 0x60, 0, 0, 0, 0]; // 60,000 bytes, mask 0
        f.extend_from_slice(&payload);
        f
    };
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) && s.write_all(&frame).is_ok() {}
    let closed = server.closed(1);
    assert_eq!(closed[0].1, CloseCode::POLICY, "{closed:?}");
}

#[test]
fn over_the_memory_budget_new_upgrades_get_503_until_it_drains() {
    let mut cfg = config();
    cfg.max_output_buffer = 256 * 1024;
    cfg.output_high_water = 64 * 1024;
    cfg.max_buffered_bytes = 1 << 20;
    // A peer that leaves while we hold its bytes cannot tell us: its FIN waits behind data
    // our full window refuses. The ping to it draws a reset.
    cfg.ping_interval = Duration::from_millis(300);
    let server = TestServer::start(cfg);
    // One peer declares an 8 MiB frame and sends 2 MiB of it: the server holds it.
    let mut hog = raw(server.addr);
    hog.write_all(UPGRADE.as_bytes()).unwrap();
    let mut head = [0u8; 129];
    let _ = hog.read(&mut head).unwrap();
    let mut frame = vec![0x82, 0xFF];
    frame.extend_from_slice(&(8u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    let mut writer = hog.try_clone().unwrap();
    let body = std::thread::spawn(move || {
        writer.write_all(&frame).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..32 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let refused = wait_until(Duration::from_secs(5), || {
        matches!(
            Client::connect_with(&server.url("/"), client_config()),
            Err(ClientError::Handshake(HandshakeError::Refused(503)))
        )
    });
    assert!(refused, "no 503 over the budget");
    let text = server.handle.metrics_text();
    assert!(
        metric(&text, "tether_buffered_bytes") > (1 << 20) as f64,
        "{text}"
    );
    assert!(
        metric(&text, "tether_buffered_bytes") < (3 << 20) as f64,
        "the hog was not paused: {text}"
    );
    // The hog leaves: its memory is released and upgrades are accepted again.
    drop(hog);
    let _ = body.join();
    let back = wait_until(Duration::from_secs(5), || {
        Client::connect_with(&server.url("/"), client_config()).is_ok()
    });
    assert!(back, "{}", server.handle.metrics_text());
}

#[test]
fn the_metrics_endpoint_serves_prometheus_text_on_its_own_port() {
    let mut cfg = config();
    cfg.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), cfg, move |_| TestApp {
        seen: seen.clone(),
        feed: None,
    })
    .unwrap();
    let addr = server.local_addr();
    let metrics = server.metrics_addr().expect("a metrics address");
    assert_ne!(metrics.port(), addr.port());
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.run());
    let mut c = Client::connect_with(&format!("ws://{addr}/"), client_config()).unwrap();
    c.send_text("hello").unwrap();
    assert_eq!(c.recv_message().unwrap().as_bytes(), b"hello");
    let scrape = || {
        let mut s = TcpStream::connect(metrics).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let ok = wait_until(Duration::from_secs(2), || {
        let t = scrape();
        metric(&t, "tether_connections") == 1.0
            && metric(&t, "tether_messages_received_total") == 1.0
            && metric(&t, "tether_messages_sent_total") == 1.0
            && metric(&t, "tether_bytes_received_total") > 0.0
    });
    assert!(ok, "{}", scrape());
    // The public port does not serve it.
    let got = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(!String::from_utf8_lossy(&got).contains("tether_connections"));
    c.close(CloseCode::NORMAL, "").unwrap();
    assert!(wait_until(Duration::from_secs(2), || {
        scrape().contains("tether_closes_total{code=\"1000\"} 1")
    }));
    handle.shutdown();
    assert!(thread.join().unwrap().is_ok());
}
