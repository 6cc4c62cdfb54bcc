//! The binary's `echo` and `hello` apps, started in-process exactly as `tether --app …` starts them.

use tether::apps::{self, App};
use tether_client::Client;
use tether_codec::Message;

use crate::util::*;

fn start(app: App) -> (std::net::SocketAddr, tether_server::ServerHandle) {
    let server = apps::serve(app, "127.0.0.1:0".parse().unwrap(), config()).unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    std::thread::spawn(move || server.run());
    (addr, handle)
}

#[test]
fn hello_prefixes_every_message() {
    let (addr, handle) = start(App::Hello);
    let mut c = Client::connect(&format!("ws://{addr}/any/path")).unwrap();
    c.send_text("tether").unwrap();
    match c.recv_message().unwrap() {
        Message::Text(t) => assert_eq!(t.as_str(), "hello tether"),
        other => panic!("{other:?}"),
    }
    c.send_text("世界").unwrap();
    assert_eq!(
        c.recv_message().unwrap().as_bytes(),
        "hello 世界".as_bytes()
    );
    handle.shutdown();
}

#[test]
fn echo_serves_every_path_text_and_binary() {
    let (addr, handle) = start(App::Echo);
    for path in ["/", "/echo", "/a/b?c=d"] {
        let mut c = Client::connect(&format!("ws://{addr}{path}")).unwrap();
        c.send_text(path).unwrap();
        assert_eq!(
            c.recv_message().unwrap(),
            Message::Text(path.to_string().into())
        );
        c.send_binary(&[1, 2, 3]).unwrap();
        assert_eq!(c.recv_message().unwrap().as_bytes(), &[1, 2, 3]);
    }
    handle.shutdown();
}
