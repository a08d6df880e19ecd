"""The listening sockets, bound by the launcher before it touches the data directory.

Binding first means a busy port stops `smarts3 serve` before recovery runs, and
the sockets are listening by the time the banner is printed. With `--workers N`
a fixed port gets one SO_REUSEPORT socket per worker, so the kernel spreads
connections evenly over the workers (one shared socket lets whichever process
wakes first take most keep-alive connections, see benchmarks/README.md). An
ephemeral port (0) is one socket shared by all, since N binds would get N ports.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from hypercorn.config import Sockets

from smarts3.config.settings import Settings

BACKLOG = 1024


class ListenError(Exception):
    """A port we cannot listen on, with the option that chooses it."""

    def __init__(self, host: str, port: int, option: str, exc: OSError) -> None:
        if exc.errno == errno.EADDRINUSE:
            message = f"port {port} on {host} is already in use; choose another with {option}"
        else:
            message = f"cannot listen on {host} port {port} ({option}): {exc.strerror or exc}"
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class WorkerSockets:
    """What one worker serves: the S3 port (and the TLS redirect port), and the ops port."""

    s3: Sockets
    ops: list[socket.socket]

    def close(self) -> None:
        for sock in [*self.s3.secure_sockets, *self.s3.insecure_sockets, *self.ops]:
            sock.close()


def bind_all(settings: Settings) -> list[WorkerSockets]:
    """Bind and listen on every port `settings` names, one WorkerSockets per worker.

    Raises ListenError (and leaves nothing bound) when a port is taken.
    """
    tls = settings.tls_cert_file is not None or settings.tls_self_signed
    bound: list[list[socket.socket]] = []
    try:
        bound.append(_bind(settings.host, settings.port, settings.workers, "--port"))
        if tls and settings.tls_redirect_port is not None:
            bound.append(_bind(settings.host, settings.tls_redirect_port, settings.workers, "--tls-redirect-port"))
        if settings.metrics_port is not None:
            bound.append(_bind(settings.host, settings.metrics_port, settings.workers, "--metrics-port"))
    except ListenError:
        for group in bound:
            for sock in group:
                sock.close()
        raise
    s3 = bound[0]
    redirect = bound[1] if tls and settings.tls_redirect_port is not None else None
    ops = bound[-1] if settings.metrics_port is not None else None
    workers = []
    for i in range(settings.workers):
        sockets = Sockets([s3[i]], [redirect[i]] if redirect else [], []) if tls else Sockets([], [s3[i]], [])
        workers.append(WorkerSockets(sockets, [ops[i]] if ops else []))
    return workers


def bound_port(workers: list[WorkerSockets]) -> int:
    """The S3 port really bound (the one asked for, or the kernel's pick for port 0)."""
    sockets = workers[0].s3
    return int((sockets.secure_sockets or sockets.insecure_sockets)[0].getsockname()[1])


def _bind(host: str, port: int, workers: int, option: str) -> list[socket.socket]:
    """`workers` listening sockets for host:port (the same one repeated for port 0 or one worker)."""
    host = host.strip("[]")
    if workers == 1 or port == 0:
        return [_listen(host, port, option, reuse_port=False)] * workers
    # SO_REUSEPORT would also let us join another process's group on this port (same user):
    # an exclusive bind first proves nobody else listens there.
    _listen(host, port, option, reuse_port=False).close()
    group: list[socket.socket] = []
    try:
        for _ in range(workers):
            group.append(_listen(host, port, option, reuse_port=True))
    except ListenError:
        for sock in group:
            sock.close()
        raise
    return group


def _listen(host: str, port: int, option: str, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        # Listening now, not when a worker starts: a second bind on a port that is only
        # bound (not listening) would succeed under SO_REUSEADDR.
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ListenError(host, port, option, exc) from None
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock
