"""TLS on the loopback interface, for fakes whose real client insists on ``wss://``.

google-genai builds the Live websocket URL by forcing the ``wss`` scheme on
``HttpOptions.base_url``, so its fake must speak TLS. :func:`loopback_tls`
makes a throwaway self-signed certificate for ``127.0.0.1`` (in memory and a
temporary directory removed at once) and returns the server context that
presents it and a client context that trusts only it. Needs the
``cryptography`` package (a dependency of ``google-auth``, so present
wherever google-genai is).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from typing import Tuple


def loopback_tls(host: str = "127.0.0.1") -> Tuple[ssl.SSLContext, ssl.SSLContext]:
    """``(server_context, client_context)`` for a self-signed certificate of ``host``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())

    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain reads files only; they live just long enough to be read.
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        with open(cert_path, "wb") as f:
            f.write(cert_pem)
        with open(key_path, "wb") as f:
            f.write(key_pem)
        server.load_cert_chain(cert_path, key_path)

    client = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
    return server, client


__all__ = ["loopback_tls"]
