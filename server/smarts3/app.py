"""The composition root: settings → store, principals, declared sync and the Starlette app."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from smarts3.access.authorize import Authorizer
from smarts3.access.principals import Principal, Principals
from smarts3.config.settings import AuthMode, Fsync, Settings
from smarts3.observability import Metrics, ObservabilitySettings, ObservedApp, install_observability
from smarts3.rootcred import RootCredential, load_or_create
from smarts3.s3.context import Limits
from smarts3.s3.dispatch import S3App
from smarts3.s3.handlers.cors import CorsPolicy  # CORS
from smarts3.storage.fs import FilesystemStore, system_dir
from smarts3.sweeper import SweepLock, run_sweeper
from smarts3.sync import DeclaredSync

# The launcher hands the resolved settings to worker processes through this variable.
SETTINGS_ENV = "SMARTS3_EFFECTIVE_SETTINGS"


def root_credential(settings: Settings) -> RootCredential:
    if settings.access_key and settings.secret_key:
        return RootCredential(settings.access_key, settings.secret_key.get_secret_value(), False)
    return load_or_create(system_dir(settings.data_dir))


def _ignore_count(_: int) -> None:
    pass


def create_app(settings: Settings, sweeper_counter: Callable[[int], None] = _ignore_count) -> ObservedApp:
    cred = root_credential(settings)
    root = Principal("root", cred.access_key, cred.secret_key, root=True)
    store = FilesystemStore(settings.data_dir, fsync=settings.fsync is Fsync.ALWAYS)
    principals = Principals([root])
    observability = ObservabilitySettings.from_flat(settings)
    metrics = Metrics(store.usage) if observability.metrics.enabled else None
    if metrics is not None and sweeper_counter is _ignore_count:
        sweeper_counter = metrics.count_expired_uploads
    declared = DeclaredSync(settings.declared, store, principals, root, settings.region)
    authorizer = Authorizer(principals, store, declared.public, anonymous_is_root=settings.auth is AuthMode.NONE)
    s3 = S3App(
        store,
        authorizer,
        region=settings.region,
        base_domain=settings.base_domain,
        owner_id=hashlib.sha256(cred.access_key.encode()).hexdigest(),
        limits=Limits(
            max_object_size=settings.max_object_size,
            max_part_size=min(settings.max_object_size, 5 * 1024**3),
            max_xml_bytes=settings.max_xml_bytes,
            max_header_bytes=settings.max_header_bytes,
        ),
        cors_policy=CorsPolicy(store, declared.cors_for, settings.cors),  # CORS
    )

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def ready(request: Request) -> Response:
        if request.app.state.draining:
            return PlainTextResponse("shutting down\n", status_code=503)
        if not os.access(system_dir(settings.data_dir), os.W_OK):
            return PlainTextResponse("data directory not writable\n", status_code=503)
        if not declared.state.loaded:
            reason = declared.state.error or "not loaded yet"
            return PlainTextResponse(f"declared configuration: {reason}\n", status_code=503)
        return PlainTextResponse("ready\n")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await declared.reload()
        async with anyio.create_task_group() as tg:
            if settings.declared is not None:
                tg.start_soon(declared.watch)
            lock = SweepLock(system_dir(settings.data_dir) / "sweeper.lock")
            tg.start_soon(
                run_sweeper,
                store,
                lock,
                settings.multipart_expire_after,
                settings.multipart_sweep_interval,
                sweeper_counter,
            )
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
                await store.close()

    app = S3Starlette(
        s3,
        https_port=settings.port if settings.tls_cert_file is not None else None,
        routes=[
            Route("/_health", health, methods=["GET", "HEAD"]),
            Route("/_ready", ready, methods=["GET", "HEAD"]),
        ],
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.draining = False
    return install_observability(app, observability, metrics=metrics)


class S3Starlette(Starlette):
    """Starlette for lifespan and the underscore endpoints; every other request is S3's.

    S3 requests skip Starlette's router and middleware: the S3 dispatcher renders
    its own errors, and a Mount("") pattern would stop at a newline, which is a
    legal character in a key.
    """

    def __init__(self, s3: ASGIApp, *, https_port: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.s3 = s3
        self.https_port = https_port  # set when serving TLS: plain-HTTP requests are redirected there
        self.own_paths = frozenset(r.path for r in self.routes if isinstance(r, Route))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.https_port is not None and scope["type"] == "http" and scope["scheme"] == "http":
            await _redirect_to_https(scope, send, self.https_port)
        elif scope["type"] == "http" and scope["path"] not in self.own_paths:
            await self.s3(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def settings_from_env() -> Settings:
    return Settings.model_validate_json(os.environ[SETTINGS_ENV])


def app_from_env() -> ObservedApp:
    """Entry point for worker processes: the settings the launcher resolved."""
    return create_app(settings_from_env())


async def _redirect_to_https(scope: Scope, send: Send, port: int) -> None:
    """The optional plain-HTTP port only points clients at HTTPS (308 keeps the method and body)."""
    headers = dict(scope["headers"])
    host = headers.get(b"host", b"").decode("latin-1").rsplit(":", 1)[0] or "localhost"
    target = f"https://{host}:{port}{(scope.get('raw_path') or b'/').decode('latin-1')}"
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    await send(
        {
            "type": "http.response.start",
            "status": 308,
            "headers": [(b"location", target.encode("latin-1")), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
