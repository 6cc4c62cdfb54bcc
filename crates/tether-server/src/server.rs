//! `Server`: binds the port once per worker (SO_REUSEPORT), starts the event loops, and waits for them (RFC 6455 §4.2: the server side).

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::thread::JoinHandle;

use mio::net::TcpListener;
use mio::{Poll, Waker};
use socket2::{Domain, Protocol, Socket, Type};

use crate::broker::Broker;
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::handle::ServerHandle;
use crate::handler::Handler;
use crate::metrics::{Endpoint, Metrics};
use crate::shared::{Shared, WorkerLink};
use crate::worker::{Worker, WAKER};

/// A bound server, ready to run.
///
/// ```no_run
/// use tether_server::{Ctx, ConnId, Handler, MessageRef, Server, ServerConfig};
///
/// struct Echo;
/// impl Handler for Echo {
///     fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, msg: MessageRef<'_>) {
///         let _ = ctx.send(conn, msg.as_outgoing());
///     }
/// }
///
/// let server = Server::bind("127.0.0.1:8080".parse().unwrap(), ServerConfig::default(), |_| Echo).unwrap();
/// server.run().unwrap(); // until SIGINT/SIGTERM handling (in the binary) or a handle calls shutdown()
/// ```
pub struct Server {
    addr: SocketAddr,
    handle: ServerHandle,
    threads: Vec<JoinHandle<Result<(), ServerError>>>,
    metrics: Option<Endpoint>,
}

impl Server {
    /// Binds `addr` once per worker and starts the workers; each gets its own handler from
    /// `make_handler(worker_index)`.
    pub fn bind<H, F>(
        addr: SocketAddr,
        config: ServerConfig,
        make_handler: F,
    ) -> Result<Server, ServerError>
    where
        H: Handler,
        F: Fn(usize) -> H,
    {
        Self::bind_with_broker(addr, config, None, make_handler)
    }

    /// Like [`bind`](Self::bind), with a [`Broker`] carrying room messages to other instances.
    /// The broker is started (given its [`BrokerLink`](crate::BrokerLink)) before any worker
    /// runs, and stopped when [`run`](Self::run) returns.
    pub fn bind_with_broker<H, F>(
        addr: SocketAddr,
        config: ServerConfig,
        broker: Option<Arc<dyn Broker>>,
        make_handler: F,
    ) -> Result<Server, ServerError>
    where
        H: Handler,
        F: Fn(usize) -> H,
    {
        config.validate().map_err(ServerError::Config)?;
        let mut config = config;
        // The server's slow-consumer cap is the one in charge; the codec's own must not bite first.
        config.codec.max_output_buffer =
            config.codec.max_output_buffer.max(config.max_output_buffer);
        let config = Arc::new(config);
        let first = listen(addr)?;
        let addr = first
            .local_addr()?
            .as_socket()
            .ok_or(ServerError::Config("not an IP address"))?;
        let mut listeners = vec![first];
        for _ in 1..config.workers {
            listeners.push(listen(addr)?);
        }
        let mut polls = Vec::new();
        let mut links = Vec::new();
        let mut rxs = Vec::new();
        for _ in 0..config.workers {
            let poll = Poll::new()?;
            let waker = Waker::new(poll.registry(), WAKER)?;
            let (link, rx) = WorkerLink::new(waker, config.worker_queue_capacity);
            links.push(link);
            polls.push(poll);
            rxs.push(rx);
        }
        let metrics = Arc::new(Metrics::new());
        let endpoint = match config.metrics_listen {
            Some(at) => Some(
                Endpoint::start(at, metrics.clone()).map_err(|e| ServerError::Metrics(at, e))?,
            ),
            None => None,
        };
        let shared = Arc::new(Shared {
            links,
            connections: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            broker: broker.clone(),
            interest: crate::broker::Interest::default(),
            sequencer: crate::broker::Sequencer::new(ROOM_LOCKS),
            metrics,
            tls: config.tls.clone().map(std::sync::RwLock::new),
        });
        if let Some(b) = &broker {
            b.start(crate::broker::BrokerLink {
                shared: shared.clone(),
            })
            .map_err(ServerError::Broker)?;
        }
        let mut threads = Vec::new();
        let mut workers = polls.into_iter().zip(rxs).zip(listeners).enumerate();
        let started = workers.try_for_each(|(i, ((poll, rx), socket))| {
            let listener = TcpListener::from_std(socket.into());
            let worker = Worker::new(
                i,
                config.clone(),
                shared.clone(),
                poll,
                listener,
                rx,
                make_handler(i),
            )?;
            let shared = shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("tether-worker-{i}"))
                .spawn(move || {
                    let result = match catch_unwind(AssertUnwindSafe(|| worker.run())) {
                        Ok(Ok(())) => return Ok(()),
                        Ok(Err(e)) => ServerError::WorkerFailed(i, e),
                        Err(_) => ServerError::WorkerPanicked(i),
                    };
                    // Never serve on with one loop fewer, and never silently: stop them all.
                    log::error!("{result}: shutting the server down");
                    shared.shutdown();
                    Err(result)
                })?;
            threads.push(t);
            Ok::<(), ServerError>(())
        });
        if let Err(e) = started {
            // Whatever started stops again: the workers that run, and the broker's threads.
            shared.shutdown();
            for t in threads {
                let _ = t.join();
            }
            if let Some(b) = &shared.broker {
                b.stop();
            }
            return Err(e);
        }
        Ok(Server {
            addr,
            handle: ServerHandle { shared },
            threads,
            metrics: endpoint,
        })
    }

    /// Where the metrics endpoint listens, when `metrics_listen` was set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(Endpoint::local_addr)
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to push messages and shut down from other threads.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Waits until every worker has finished (after [`ServerHandle::shutdown`]). A worker
    /// that died shuts the others down, and its error is returned: exit non-zero on it, so
    /// a supervisor restarts the process.
    pub fn run(mut self) -> Result<(), ServerError> {
        let mut result = Ok(());
        for (i, t) in std::mem::take(&mut self.threads).into_iter().enumerate() {
            let r = t.join().unwrap_or(Err(ServerError::WorkerPanicked(i)));
            if let Err(e) = r {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        if let Some(mut m) = self.metrics.take() {
            m.stop();
        }
        if let Some(b) = &self.handle.shared.broker {
            b.stop();
        }
        result
    }
}

/// Room locks of the sequencer: rooms hash onto them, so two rooms rarely wait for each other.
const ROOM_LOCKS: usize = 64;

/// A non-blocking listener that shares its port with the other workers' (SO_REUSEPORT).
fn listen(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket)
}
