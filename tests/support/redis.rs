//! A real `redis-server` for tests: on a free loopback port, no persistence, killed on drop. Missing binary: the test is skipped locally and fails under `CI=true` (CI installs Debian's `redis-server`).
// Shared by two test binaries, each using part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// `rediss://` only: the directory with `cert.pem`, `key.pem` and `ca.pem`.
    tls: Option<PathBuf>,
}

impl RedisServer {
    /// Starts one, or returns `None` (after saying so) when `redis-server` is not installed
    /// and this is not CI.
    pub fn start() -> Option<RedisServer> {
        Self::start_inner(None)
    }

    /// One that speaks TLS only (`rediss://`), with `dir`'s `cert.pem` and `key.pem`; clients
    /// trust `dir/ca.pem` and show no certificate.
    pub fn start_tls(dir: &Path) -> Option<RedisServer> {
        Self::start_inner(Some(dir.to_owned()))
    }

    fn start_inner(tls: Option<PathBuf>) -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is not installed (CI must install Debian's redis-server)"
            );
            eprintln!("SKIPPED: redis-server is not installed");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = RedisServer {
            port,
            child: None,
            tls,
        };
        r.spawn();
        Some(r)
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let mut cmd = Command::new("redis-server");
        match &self.tls {
            None => cmd.args(["--port", &port]),
            Some(d) => cmd
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(d.join("cert.pem"))
                .arg("--tls-key-file")
                .arg(d.join("key.pem"))
                .arg("--tls-ca-cert-file")
                .arg(d.join("ca.pem")),
        };
        let child = cmd
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(mut c) = self.client().get_connection() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// The CA its clients trust, for `rediss://`.
    pub fn ca(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|d| d.join("ca.pem"))
    }

    pub fn client(&self) -> redis::Client {
        match self.ca() {
            None => redis::Client::open(self.url()).unwrap(),
            Some(ca) => {
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(std::fs::read(ca).unwrap()),
                };
                redis::Client::build_with_tls(self.url(), certs).unwrap()
            }
        }
    }

    /// A command's reply.
    pub fn query<T: redis::FromRedisValue>(&self, cmd: &mut redis::Cmd) -> T {
        let mut c = self.client().get_connection().unwrap();
        cmd.query(&mut c).unwrap()
    }

    /// Kills it (SIGKILL) and waits for it to go.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
