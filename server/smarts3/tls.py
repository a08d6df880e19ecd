"""TLS: a reloadable server context, and a self-signed certificate for local development.

Kubernetes rotates mounted certificates in place, so the context is built once
and `load_cert_chain` is called again on it when the files change or on
SIGHUP: new handshakes use the new certificate, open connections keep theirs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypercorn.config import Config

log = logging.getLogger("smarts3.tls")


def self_signed(directory: Path, days: int = 365) -> tuple[Path, Path]:
    """Create (once) a certificate for localhost and 127.0.0.1 under `directory`."""
    cert_path, key_path = directory / "selfsigned-cert.pem", directory / "selfsigned-key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smarts3 development"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


class ReloadingTls:
    """One server SSLContext whose certificate follows the files on disk."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.set_alpn_protocols(["http/1.1"])
        self._stamp: tuple[float, float] | None = None
        self.reload()

    def _current_stamp(self) -> tuple[float, float]:
        return (os.stat(self.cert_file).st_mtime, os.stat(self.key_file).st_mtime)

    def reload(self) -> bool:
        """Load the files; a broken pair is refused and the previous one stays."""
        try:
            stamp = self._current_stamp()
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            if self._stamp is None:
                raise
            log.error("TLS certificate reload failed, keeping the previous one: %s", exc)
            return False
        changed = self._stamp is not None
        self._stamp = stamp
        if changed:
            log.info("TLS certificate reloaded from %s", self.cert_file)
        return True

    def reload_if_changed(self) -> bool:
        try:
            stamp = self._current_stamp()
        except OSError:
            return False
        return stamp != self._stamp and self.reload()


class TlsConfig(Config):
    """A Hypercorn config that serves our reloadable context instead of building its own."""

    def __init__(self, tls: ReloadingTls) -> None:
        super().__init__()
        self.tls = tls
        # Hypercorn decides "TLS on" from these; the context below is what it really uses.
        self.certfile = str(tls.cert_file)
        self.keyfile = str(tls.key_file)

    def create_ssl_context(self) -> ssl.SSLContext | None:
        return self.tls.context
