//! Echo server on fastwebsockets with default settings, as in its `examples/echo_server.rs`: hyper upgrade, `FragmentCollector`, write each data frame back.

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tether_bench_peers::Opts;
use tokio::net::TcpListener;

async fn handle_client(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
    Ok(())
}

async fn server_upgrade(
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::task::spawn(async move {
        // Errors here are peers going away at the end of a run.
        let _ = tokio::task::unconstrained(handle_client(fut)).await;
    });
    Ok(response)
}

fn main() {
    let opts = Opts::from_args("fastwebsockets-echo");
    let rt = opts.runtime().expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(opts.listen).await.expect("bind");
        eprintln!("fastwebsockets-echo: listening on {}", opts.listen);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            if opts.nodelay {
                let _ = stream.set_nodelay(true);
            }
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let conn = http1::Builder::new()
                    .serve_connection(io, service_fn(server_upgrade))
                    .with_upgrades();
                let _ = conn.await;
            });
        }
    });
}
