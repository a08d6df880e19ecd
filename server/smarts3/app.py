"""The composition root: settings → store, principals, declared sync and the Starlette app."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from smarts3.access import pab
from smarts3.access.authorize import Authorizer
from smarts3.access.principals import Principal, Principals
from smarts3.accesslog_delivery import Delivery
from smarts3.config.settings import AuthMode, Fsync, Settings
from smarts3.declared_push import PUSHED_FILE, DeclaredPush
from smarts3.lifecycle import rules as lifecycle
from smarts3.observability import Metrics, ObservabilitySettings, ObservedApp, install_observability
from smarts3.rootcred import RootCredential, load_or_create
from smarts3.s3.context import Limits
from smarts3.s3.dispatch import S3App, new_request_id
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.cors import CorsPolicy  # CORS
from smarts3.sse import keys as sse_keys
from smarts3.sse.policy import SsePolicy
from smarts3.storage.fs import FilesystemStore, system_dir
from smarts3.storage.fs.layout import replica_id
from smarts3.sweeper import SweepLock, run_sweeper
from smarts3.sync import DeclaredSync
from smarts3.tls import HttpsRedirect

log = logging.getLogger("smarts3")


def root_credential(settings: Settings) -> RootCredential:
    if settings.access_key and settings.secret_key:
        return RootCredential(settings.access_key, settings.secret_key.get_secret_value(), False)
    return load_or_create(system_dir(settings.data_dir))


def _ignore_count(_: int) -> None:
    pass


def create_app(settings: Settings, sweeper_counter: Callable[[int], None] = _ignore_count) -> ObservedApp:
    cred = root_credential(settings)
    lifecycle.set_day_seconds(settings.lifecycle_day_seconds)
    root = Principal("root", cred.access_key, cred.secret_key, root=True)
    owner_id = root.id
    store = FilesystemStore(
        settings.data_dir,
        fsync=settings.fsync is Fsync.ALWAYS,
        inline_max=settings.inline_max_bytes,
        metadata=settings.metadata,
        replica=replica_id(),
        metadata_pool_size=settings.metadata_pool_size,
    )
    principals = Principals([root])
    observability = ObservabilitySettings.from_flat(settings)
    metrics = Metrics(store.usage) if observability.metrics.enabled else None
    if metrics is not None and sweeper_counter is _ignore_count:
        sweeper_counter = metrics.count_expired_uploads
    pushed = system_dir(settings.data_dir) / PUSHED_FILE if settings.declared_token_file is not None else None
    declared = DeclaredSync(
        settings.declared,
        store,
        principals,
        root,
        settings.region,
        optional=settings.declared_optional,
        pushed=pushed,
    )
    authorizer = Authorizer(
        principals,
        store,
        declared.public,
        anonymous_is_root=settings.auth is AuthMode.NONE,
        public_access_block=pab.from_setting(settings.public_access_block),
    )
    delivery = Delivery(
        store,
        owner_id,
        settings.region,
        settings.bucket_logging_flush_interval,
        settings.bucket_logging_flush_records,
    )
    master_key = settings.sse_master_key.get_secret_value() if settings.sse_master_key else None
    keyring = sse_keys.load(settings.sse_master_keys_file, master_key, system_dir(settings.data_dir))
    if keyring.generated:  # WARNING once an object is encrypted with it (SsePolicy.master_key_used)
        log.info("encryption at rest: no master key configured; using the one generated into the data directory")
    s3 = S3App(
        store,
        authorizer,
        region=settings.region,
        base_domain=settings.base_domain,
        extra_base_domains=tuple(settings.extra_base_domains),
        owner_id=owner_id,
        limits=Limits(
            max_object_size=settings.max_object_size,
            max_part_size=min(settings.max_object_size, 5 * 1024**3),
            max_xml_bytes=settings.max_xml_bytes,
            max_header_bytes=settings.max_header_bytes,
        ),
        cors_policy=CorsPolicy(store, declared.cors_for, settings.cors),  # CORS
        sse=SsePolicy(keyring, force=settings.sse_force, allow_http_sse_c=settings.sse_c_allow_http),
    )

    probe = None
    if settings.metadata:
        from smarts3.storage.fs.pgready import MetadataProbe  # psycopg is optional

        probe = MetadataProbe(settings.metadata)

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def ready(_: Request) -> Response:
        # `app`, not request.app: the ops listener serves this route from its own Starlette.
        if app.state.draining:
            return PlainTextResponse("shutting down\n", status_code=503)
        if not os.access(system_dir(settings.data_dir), os.W_OK):
            return PlainTextResponse("data directory not writable\n", status_code=503)
        if not declared.state.loaded:
            reason = declared.state.error or "not loaded yet"
            return PlainTextResponse(f"declared configuration: {reason}\n", status_code=503)
        if probe is not None and (problem := await probe.problem()) is not None:
            return PlainTextResponse(f"metadata database: {problem}\n", status_code=503)
        return PlainTextResponse("ready\n")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await declared.reload()
        async with anyio.create_task_group() as tg:
            if settings.declared is not None or pushed is not None:
                tg.start_soon(declared.watch)
            lock = store.sweep_lock(SweepLock(system_dir(settings.data_dir) / "sweeper.lock"))
            tg.start_soon(
                run_sweeper,
                store,
                lock,
                settings.multipart_expire_after,
                settings.multipart_sweep_interval,
                sweeper_counter,
                settings.lifecycle_sweep_interval,
            )
            tg.start_soon(delivery.run)
            try:
                yield
            finally:
                with anyio.move_on_after(10, shield=True):  # deliver the last access log records
                    await delivery.flush()
                tg.cancel_scope.cancel()
                await store.close()
                if probe is not None:
                    await anyio.to_thread.run_sync(probe.close)

    redirect = None
    if settings.tls_cert_file is not None:
        redirect = HttpsRedirect(settings.port, settings.host, settings.base_domain)
    app = S3Starlette(
        s3,
        redirect=redirect,
        routes=[
            Route("/_health", health, methods=["GET", "HEAD"]),
            Route("/_ready", ready, methods=["GET", "HEAD"]),
        ],
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.draining = False
    observed = install_observability(app, observability, metrics=metrics)
    if settings.declared_token_file is not None and pushed is not None:
        observed.ops = DeclaredPush(declared, settings.declared_token_file, pushed).wrap(observed.ops)
    observed.attach_delivery(delivery)
    return observed


class S3Starlette(Starlette):
    """Starlette for lifespan and the underscore endpoints; every other request is S3's.

    S3 requests skip Starlette's router and middleware: the S3 dispatcher renders
    its own errors, and a Mount("") pattern would stop at a newline, which is a
    legal character in a key.
    """

    def __init__(self, s3: ASGIApp, *, redirect: HttpsRedirect | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.s3 = s3
        self.redirect = redirect  # set when serving TLS: plain-HTTP requests are redirected to HTTPS
        self.own_paths = frozenset(r.path for r in self.routes if isinstance(r, Route))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.redirect is not None and scope["type"] == "http" and scope["scheme"] == "http":
            await _redirect_to_https(scope, send, self.redirect)
        elif scope["type"] == "http" and scope["path"] not in self.own_paths:
            await self.s3(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def _redirect_to_https(scope: Scope, send: Send, redirect: HttpsRedirect) -> None:
    """The optional plain-HTTP port only points clients at HTTPS (308 keeps the method and body)."""
    hosts = Headers(scope=scope).getlist("host")
    target = (scope.get("raw_path") or b"/").decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    location = redirect.location(hosts[0] if hosts else None, target) if len(hosts) <= 1 else None
    if location is None:
        request_id = new_request_id()
        error = S3Error("InvalidArgument", "The Host header does not name this server.")
        body = b"" if scope["method"] == "HEAD" else error.to_xml(request_id)
        headers = [
            (b"content-type", b"application/xml"),
            (b"x-amz-request-id", request_id.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 308,
            "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
