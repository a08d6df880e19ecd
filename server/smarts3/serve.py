"""Run the app under Hypercorn: one process, or N workers sharing the data directory.

Our own small runner instead of hypercorn.run, so that SIGTERM/SIGINT first
marks the app as draining (/_ready answers 503 at once), then closes the
listening sockets and gives requests in flight `shutdown_grace_period` seconds
to finish; anything still running after that is cancelled, and a cancelled
upload leaves no object and no temp file.

The launcher binds every socket (listen.py) and holds the data directory's lock
(storage/fs/owner.py) before it gets here; each worker serves the sockets it is
handed: the S3 app on the S3 port, and the ops app (/_metrics, /_health, /_ready)
on the metrics port, outside the S3 connection cap so probes answer when it is full.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any, cast

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from smarts3 import connlimit
from smarts3.app import create_app
from smarts3.config.settings import Settings
from smarts3.listen import WorkerSockets
from smarts3.observability import ObservabilitySettings, configure_logging, prepare_multiprocess
from smarts3.storage.fs.owner import DataDirLock
from smarts3.tls import ReloadingTls, TlsConfig

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
log = logging.getLogger("smarts3.shutdown")


class OpsConfig(Config):
    # connlimit.LimitedTCPServer neither counts nor refuses these connections.
    uncapped = True


def hypercorn_config(settings: Settings, tls: ReloadingTls | None = None) -> Config:
    config = TlsConfig(tls) if tls else Config()
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # through our logging setup, once
    config.keep_alive_timeout = settings.keep_alive_timeout
    config.read_timeout = math.ceil(settings.read_timeout)  # hypercorn wants whole seconds; never 0
    connlimit.set_request_head_timeout(config, settings.request_head_timeout)
    # h11 stops buffering a request head past this; the dispatcher answers S3's error for
    # heads that arrive complete but too large.
    config.h11_max_incomplete_size = settings.max_header_bytes
    config.graceful_timeout = settings.shutdown_grace_period
    config.backlog = 1024
    # HTTP/1.1 only, as S3 itself: the request-head deadline and the connection cap are per
    # connection, and one HTTP/2 connection would carry any number of slow streams.
    config.alpn_protocols = ["http/1.1"]
    if settings.tls_cert_file and settings.tls_key_file:
        config.certfile = str(settings.tls_cert_file)
        config.keyfile = str(settings.tls_key_file)
    return config


def ops_config(settings: Settings) -> Config:
    """Plain HTTP, small heads, quick to stop: only probes and scrapes come here."""
    config = OpsConfig()
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = settings.keep_alive_timeout
    config.read_timeout = math.ceil(settings.read_timeout)  # hypercorn wants whole seconds; never 0
    connlimit.set_request_head_timeout(config, settings.request_head_timeout)
    config.h11_max_incomplete_size = 16 * 1024
    config.graceful_timeout = min(settings.shutdown_grace_period, 2.0)
    config.backlog = 128
    return config


def _loop_factory() -> Any:
    try:
        import uvloop  # libuv's event loop: markedly cheaper per request than asyncio's
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_worker(settings: Settings, sockets: WorkerSockets, lock: DataDirLock | None = None) -> None:
    """One serving process: build the app from the launcher's settings, serve until a stop signal.

    The settings come as an argument (pickled for a spawned worker), secrets included: a
    worker that re-read the environment would miss what a --config file set.
    `lock` is the launcher's data-directory lock, handed to a spawned worker so the
    directory stays owned while any worker lives: its descriptor is never closed here.
    """
    tls = None
    if settings.tls_cert_file and settings.tls_key_file:
        tls = ReloadingTls(settings.tls_cert_file, settings.tls_key_file)
    config = hypercorn_config(settings, tls)
    ops = ops_config(settings)
    connlimit.install(settings.max_connections)

    configure_logging(ObservabilitySettings.from_flat(settings).logging)

    async def main() -> None:
        app = create_app(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        cancelled_before = 0  # cancellations before the signal were not the deadline's

        def on_signal(signum: int) -> None:
            nonlocal cancelled_before
            if stop.is_set():
                return
            log.info(
                "%s received: draining %d request(s) in flight, for up to %g s",
                signal.Signals(signum).name,
                app.in_flight,
                settings.shutdown_grace_period,
            )
            app.state.draining = True
            cancelled_before = app.cancelled
            stop.set()
            # Closing TLS connections waits for peers' close_notify, up to 30 s each; an idle
            # client must not hold the process past the grace period Kubernetes gives it.
            deadline = threading.Timer(settings.shutdown_grace_period + 3, os._exit, args=(0,))
            deadline.daemon = True
            deadline.start()

        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
        loop.set_exception_handler(_quiet_cancellation(stop))
        watcher = None
        if tls is not None:
            loop.add_signal_handler(signal.SIGHUP, tls.reload)
            watcher = asyncio.create_task(_watch_certificate(tls))
        try:
            async with asyncio.TaskGroup() as servers:
                servers.create_task(
                    worker_serve(
                        wrap_app(cast(Any, app), config.wsgi_max_body_size, "asgi"),
                        config,
                        sockets=sockets.s3,
                        shutdown_trigger=stop.wait,
                    )
                )
                if sockets.ops:
                    servers.create_task(
                        worker_serve(
                            wrap_app(cast(Any, app.ops), ops.wsgi_max_body_size, "asgi"),
                            ops,
                            sockets=Sockets([], sockets.ops, []),
                            shutdown_trigger=stop.wait,
                        )
                    )
        finally:
            if watcher is not None:
                watcher.cancel()
        cut = app.cancelled - cancelled_before
        if cut:
            log.warning("exit: %d request(s) cut at the %g s shutdown deadline", cut, settings.shutdown_grace_period)
        else:
            log.info("exit: every request finished")

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(main())


def _quiet_cancellation(stop: asyncio.Event) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """The loop's exception handler: past the deadline hypercorn cancels the connections still
    open, and asyncio reports each as a CancelledError traceback. The request's own line
    (middleware/observe.py) says what was cut; anything else is reported as usual."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if stop.is_set() and isinstance(context.get("exception"), asyncio.CancelledError):
            return
        loop.default_exception_handler(context)

    return handle


async def _watch_certificate(tls: ReloadingTls, interval: float = 5.0) -> None:
    while True:
        await asyncio.sleep(interval)
        tls.reload_if_changed()


def serve(settings: Settings, sockets: list[WorkerSockets], lock: DataDirLock) -> int:
    """Serve `sockets` (listen.bind_all) while holding `lock`; returns the exit status."""
    if settings.workers == 1:
        run_worker(settings, sockets[0])
        return 0
    # Before the workers are spawned: they inherit PROMETHEUS_MULTIPROC_DIR and /_metrics sums them all.
    prepare_multiprocess()
    return _supervise(settings, sockets, lock)


def _supervise(settings: Settings, sockets: list[WorkerSockets], lock: DataDirLock) -> int:
    """Start the workers, forward stop signals, and exit with their verdict."""
    grace = settings.shutdown_grace_period
    ctx = multiprocessing.get_context("spawn")
    stop_deadline: float | None = None

    def forward(signum: int, _: object) -> None:
        nonlocal stop_deadline
        if stop_deadline is None:
            stop_deadline = time.monotonic() + grace + 5
        for proc in processes:
            if proc.pid is not None and proc.exitcode is None:
                os.kill(proc.pid, signal.SIGTERM)

    processes: list[BaseProcess] = [
        ctx.Process(target=run_worker, args=(settings, own, lock), name=f"smarts3-worker-{i}")
        for i, own in enumerate(sockets)
    ]
    # Our handlers are set before the children exist: a spawned child starts with default
    # dispositions, so a stop signal that reaches it before its own handlers still ends it.
    for sig in _STOP_SIGNALS:
        signal.signal(sig, forward)
    for proc in processes:
        proc.start()
    # The workers have their copies now. Ours would keep a socket open (and the kernel
    # queueing connections on it) after its worker closed it to drain.
    for own in sockets:
        own.close()
    exit_code = 0
    pending = list(processes)
    while pending:
        ready = wait([p.sentinel for p in pending], timeout=1.0)
        for proc in [p for p in pending if p.sentinel in ready]:
            proc.join()
            pending.remove(proc)
            if stop_deadline is not None and proc.exitcode in (0, -signal.SIGTERM):
                continue
            if proc.exitcode != 0:
                exit_code = 1
                if stop_deadline is None:
                    print(f"smarts3: {proc.name} exited with {proc.exitcode}; stopping the others", file=sys.stderr)
                    forward(signal.SIGTERM, None)
        if stop_deadline is not None and pending:
            if time.monotonic() > stop_deadline:
                for proc in pending:
                    proc.kill()
            else:
                forward(signal.SIGTERM, None)  # again: a child may have missed it while starting
    return exit_code
