//! Accepting under pressure, with the real `tether` binary: an open-file limit of 256 and 300 clients neither spins nor floods the log, and serving resumes as clients leave.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// The `tether` binary under `ulimit -n 256`, logging warnings to a file.
struct Limited {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Limited {
    fn start() -> Limited {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = std::env::temp_dir().join(format!("tether-accept-{port}.log"));
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -n 256 && exec "$0" --app echo --workers 1 --listen "$1" --log-level warn 2>"$2""#)
            .arg(env!("CARGO_BIN_EXE_tether"))
            .arg(addr.to_string())
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect(addr).is_ok()),
            "tether did not start"
        );
        Limited { child, addr, log }
    }

    /// CPU time (user + system) the process has used, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name (which ends at the last ')'): utime is the 12th, stime the 13th.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn upgrade(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(UPGRADE.as_bytes()).unwrap();
    s
}

/// Reads the 101 and echoes one message.
fn echoes(s: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return false,
        }
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return false;
    }
    s.write_all(&masked(0x81, b"alive")).unwrap();
    let mut frame = [0u8; 7];
    s.read_exact(&mut frame).is_ok() && &frame[2..] == b"alive"
}

#[test]
fn out_of_descriptors_accept_neither_spins_nor_floods_and_recovers() {
    let server = Limited::start();
    // 300 clients against 256 descriptors: the last ones wait in the backlog.
    let mut clients: Vec<TcpStream> = (0..300).map(|_| upgrade(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(500));
    // Held there for two seconds, the server must idle, not spin on EMFILE.
    let t0 = Instant::now();
    let before = server.cpu_ticks();
    std::thread::sleep(Duration::from_secs(2));
    let used = server.cpu_ticks() - before;
    let ticks_per_sec = 100; // USER_HZ on Linux
    assert!(
        used * 10 < 2 * ticks_per_sec * 2,
        "the server used {used} ticks of CPU in {:?} while out of descriptors",
        t0.elapsed()
    );
    // Clients leave: the server serves again, the backlog included.
    clients.drain(..100);
    let mut fresh = upgrade(server.addr);
    assert!(echoes(&mut fresh), "no service after descriptors freed");
    let n = clients.len();
    let served_from_backlog = clients[n - 10..]
        .iter_mut()
        .map(echoes)
        .filter(|ok| *ok)
        .count();
    assert_eq!(
        served_from_backlog, 10,
        "backlogged clients were never served"
    );
    // The log says so, but not ten times a second.
    let log = std::fs::read_to_string(&server.log).unwrap();
    let warnings = log.lines().filter(|l| l.contains("accept paused")).count();
    assert!(
        (1..=2).contains(&warnings),
        "{warnings} accept warnings:\n{log}"
    );
}

#[test]
fn over_max_connections_the_503_is_read_not_reset() {
    let mut cfg = config();
    cfg.max_connections = 1;
    let server = TestServer::start(cfg);
    let _first = server.connect();
    for _ in 0..20 {
        let got = exchange(server.addr, UPGRADE.as_bytes());
        assert!(
            got.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }
    let text = server.handle.metrics_text();
    assert!(
        text.contains("tether_handshake_rejections_total{status=\"503\"} 20"),
        "{text}"
    );
}
