"""tests/support/make_cert.py OUTDIR: a throwaway test CA and a server certificate for
127.0.0.1 and localhost, made with `trustme` at run time (no key is ever committed).

Writes into OUTDIR: ca.pem (the CA to trust), cert.pem (the server's chain, leaf first),
key.pem (its private key; SEC1 EC) and spki.txt (base64 SHA-256 of the leaf's public key,
what Chromium's --ignore-certificate-errors-spki-list pins).
"""

import base64
import hashlib
import os
import sys

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization


def main(out):
    os.makedirs(out, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(os.path.join(out, "ca.pem"))
    with open(os.path.join(out, "cert.pem"), "wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    leaf.private_key_pem.write_to_path(os.path.join(out, "key.pem"))
    spki = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with open(os.path.join(out, "spki.txt"), "w") as f:
        f.write(base64.b64encode(hashlib.sha256(spki).digest()).decode() + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
