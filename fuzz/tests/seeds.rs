//! Replays every committed seed (`corpus/<target>/seed-*`) through its target's check on
//! stable Rust: `cargo test --manifest-path fuzz/Cargo.toml`. A crash saved as a seed is a
//! regression test from then on.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if !name.starts_with("seed-") {
            continue; // local corpus growth, not committed
        }
        let data = std::fs::read(&path).expect("readable seed");
        eprintln!("{target}/{name}");
        check(&data);
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}

#[test]
fn frame_header() {
    replay("frame_header", tether_codec_fuzz::check_frame_header);
}

#[test]
fn handshake_request() {
    replay(
        "handshake_request",
        tether_codec_fuzz::check_handshake_request,
    );
}

#[test]
fn handshake_response() {
    replay(
        "handshake_response",
        tether_codec_fuzz::check_handshake_response,
    );
}

#[test]
fn server_connection() {
    replay(
        "server_connection",
        tether_codec_fuzz::check_server_connection,
    );
}

#[test]
fn client_connection() {
    replay(
        "client_connection",
        tether_codec_fuzz::check_client_connection,
    );
}

#[test]
fn mask() {
    replay("mask", tether_codec_fuzz::check_mask);
}

#[test]
fn chunk_invariance() {
    replay(
        "chunk_invariance",
        tether_codec_fuzz::check_chunk_invariance,
    );
}

#[test]
fn deflate_inflate() {
    replay("deflate_inflate", tether_codec_fuzz::check_deflate_inflate);
}

#[test]
fn deflate_round_trip() {
    replay(
        "deflate_round_trip",
        tether_codec_fuzz::check_deflate_round_trip,
    );
}

#[test]
fn proxy_header() {
    replay("proxy_header", tether_codec_fuzz::check_proxy_header);
}

#[test]
fn in_place() {
    replay("in_place", tether_codec_fuzz::check_in_place);
}
