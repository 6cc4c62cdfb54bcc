//! Echo server on tokio-tungstenite with default settings, as in its `examples/echo-server.rs`: accept, `accept_async`, forward text and binary messages back.

use futures_util::{future, StreamExt, TryStreamExt};
use tether_bench_peers::Opts;
use tokio::net::{TcpListener, TcpStream};

async fn accept_connection(stream: TcpStream) {
    let ws = match tokio_tungstenite::accept_async(stream).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("tungstenite-echo: handshake: {e}");
            return;
        }
    };
    let (write, read) = ws.split();
    // Documentation example: forward data messages back (pings are answered by tungstenite).
    if let Err(e) = read
        .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(write)
        .await
    {
        let _ = e; // peers vanish at the end of every benchmark run
    }
}

fn main() {
    let opts = Opts::from_args("tungstenite-echo");
    let rt = opts.runtime().expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(opts.listen).await.expect("bind");
        eprintln!("tungstenite-echo: listening on {}", opts.listen);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            if opts.nodelay {
                let _ = stream.set_nodelay(true);
            }
            tokio::spawn(accept_connection(stream));
        }
    });
}
