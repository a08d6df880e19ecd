"""TLS: a reloadable server context, a self-signed certificate for local development,
and where the plain-HTTP redirect port may send a client.

Kubernetes rotates mounted certificates in place, so the context is built once
and `load_cert_chain` is called again on it when the files change or on
SIGHUP: new handshakes use the new certificate, open connections keep theirs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import ssl
from dataclasses import dataclass
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
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
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
    fd = os.open(cert_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# A DNS name, a dotted quad or a bracketed IPv6 address, then an optional port: nothing else
# (no userinfo, path, backslash or space) may reach a Location header.
_HOST_HEADER = re.compile(rf"(?P<host>{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?")
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 (compared, never bound)
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})


@dataclass(frozen=True, slots=True)
class HttpsRedirect:
    """Where the plain-HTTP port sends a request: the same host (as the client named it), our
    HTTPS port. The Host header is the client's word, so only well-formed names are echoed,
    and with a base domain only that domain, its subdomains, our own host and localhost."""

    port: int
    own_host: str
    base_domain: str | None = None

    def location(self, host_header: str | None, target: str) -> str | None:
        """The Location for `target` (path and query), or None when the host is refused."""
        own = self.own_host.lower()
        own = f"[{own}]" if ":" in own and not own.startswith("[") else own
        if host_header is None:
            return f"https://{'localhost' if own in _WILDCARDS else own}:{self.port}{target}"
        host = _valid_host(host_header.lower())
        if host is None or not self._allowed(host, own):
            return None
        return f"https://{host}:{self.port}{target}"

    def _allowed(self, host: str, own: str) -> bool:
        if self.base_domain is None or host in _LOOPBACK or host == own:
            return True
        domain = self.base_domain.lower().rstrip(".")
        return host == domain or host.endswith("." + domain)


def _valid_host(header: str) -> str | None:
    match = _HOST_HEADER.fullmatch(header)
    if match is None or (match["port"] is not None and int(match["port"]) > 65535):
        return None
    host = match["host"].rstrip(".")
    try:
        if host.startswith("["):
            ipaddress.IPv6Address(host[1:-1])
        elif re.fullmatch(r"[0-9.]+", host):
            ipaddress.IPv4Address(host)  # all digits: an address, or nothing
    except ValueError:
        return None
    return host


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
