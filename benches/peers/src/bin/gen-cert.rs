//! `gen-cert OUTDIR`: a throwaway CA and a server certificate it signed for `127.0.0.1` and `localhost`, both ECDSA P-256 (what most deployments serve), written as `ca.pem`, `cert.pem` and `key.pem` for benches/tls.sh. Made at run time so that no key is committed.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

fn generate(out: &Path) -> Result<(), String> {
    let err = |e: rcgen::Error| e.to_string();
    // KeyPair::generate is ECDSA P-256 with SHA-256.
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "tether bench CA");
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;

    let key = KeyPair::generate().map_err(err)?;
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = leaf
        .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
        .map_err(err)?;

    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for (name, pem) in [
        ("ca.pem", ca_cert.pem()),
        ("cert.pem", cert.pem()),
        ("key.pem", key.serialize_pem()),
    ] {
        let path = out.join(name);
        std::fs::write(&path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: gen-cert OUTDIR");
        std::process::exit(2);
    };
    if let Err(e) = generate(Path::new(&out)) {
        eprintln!("gen-cert: {e}");
        std::process::exit(1);
    }
}
