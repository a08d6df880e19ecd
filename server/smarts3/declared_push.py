"""The operator's push channel for the declared configuration, on the ops port.

    PUT /_declared          body: the declared YAML, exactly as the mounted file would hold it
    GET /_declared/status   {"generation": n, "buckets": {name: outcome}, "error": ...}

Both want ``Authorization: Bearer <token>``, the token read from ``declared_token_file``
(a Secret the operator and the server both mount; read per request, so replacing it needs
no restart). A pushed configuration is validated by the same code as the file
(``DeclaredSync.apply_text``), refused when its generation is older than the one in force
(409), written to the data directory before it is applied (a restart applies the newest of
it and the mounted file) and then applied; the answer carries what the server did.
Without a token file setting the paths are a plain 404 (``wrap`` is not called).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from smarts3.sync import DeclaredError, DeclaredSync, StaleGeneration

log = logging.getLogger("smarts3.declared")

PUSH_PATH = "/_declared"
STATUS_PATH = "/_declared/status"
PUSHED_FILE = "declared-pushed.yaml"
MAX_BYTES = 16 * 1024 * 1024
"""Largest configuration accepted (thousands of buckets and credentials fit)."""


def _write_private(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text``, readable by the owner only (it holds keys)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class DeclaredPush:
    def __init__(self, sync: DeclaredSync, token_file: Path, pushed: Path) -> None:
        self.sync = sync
        self.token_file = token_file
        self.pushed = pushed
        self._routes = Starlette(
            routes=[
                Route(PUSH_PATH, self.put, methods=["PUT"]),
                Route(STATUS_PATH, self.status, methods=["GET"]),
            ]
        )

    def wrap(self, ops: ASGIApp) -> ASGIApp:
        """The ops app with these two paths in front of it."""
        paths = (PUSH_PATH, STATUS_PATH)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] in paths:
                await self._routes(scope, receive, send)
            else:
                await ops(scope, receive, send)

        return app

    async def _refused(self, request: Request) -> Response | None:
        try:
            token = (await anyio.to_thread.run_sync(self.token_file.read_text)).strip()
        except OSError:
            # The kubelet has not written the Secret yet: the operator retries.
            return PlainTextResponse("push token not available yet\n", status_code=503)
        given = request.headers.get("authorization", "")
        if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return PlainTextResponse(
                "Unauthorized\n", status_code=401, headers={"WWW-Authenticate": 'Bearer realm="smarts3"'}
            )
        return None

    def _report(self, status_code: int = 200, error: str | None = None) -> JSONResponse:
        state = self.sync.state
        body = {
            "generation": state.generation,
            "buckets": dict(sorted(state.outcomes.items())),
            "error": error if error is not None else state.error,
        }
        return JSONResponse(body, status_code=status_code)

    async def status(self, request: Request) -> Response:
        return await self._refused(request) or self._report()

    async def put(self, request: Request) -> Response:
        refused = await self._refused(request)
        if refused is not None:
            return refused
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BYTES:
                    return PlainTextResponse(f"larger than {MAX_BYTES} bytes\n", status_code=413)
                chunks.append(chunk)
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            text = b"".join(chunks).decode()
        except UnicodeDecodeError:
            return self._report(400, "the body is not UTF-8 text")

        async def persist() -> None:
            await anyio.to_thread.run_sync(_write_private, self.pushed, text)
            # Already in force here: the watcher need not apply it again.
            self.sync.state.pushed_fingerprint = hashlib.sha256(text.encode()).digest()

        try:
            await self.sync.apply_text(text, base=self.pushed.parent, origin="push", before_apply=persist)
        except StaleGeneration as exc:
            return self._report(409, str(exc))
        except DeclaredError as exc:
            log.error("pushed declared configuration rejected, keeping the one in force: %s", exc)
            return self._report(400, str(exc))
        return self._report()
