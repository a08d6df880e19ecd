"""The access log: one line per request on the `smarts3.access` logger.

The line carries what an operator needs to answer "who did what, and how did it
go": remote address, access key id, operation, bucket, key, status, S3 error code,
body bytes in and out, duration. It never carries the query string, the
Authorization header or any other credential material: presigned URLs put the
signature in the query string. Bucket, key and access key id are what the
dispatcher recorded in `scope["state"]`; the request id is stamped by the logging
filter. Text or JSON is the formatter's business (see observability.logging).
The middleware that calls `emit` is in middleware/observe.py.
"""

from __future__ import annotations

import logging
import time

from starlette.types import Scope

from smarts3.middleware.traffic import OTHER, Traffic

log = logging.getLogger("smarts3.access")


def emit(logger: logging.Logger, scope: Scope, traffic: Traffic, start: float, failed: bool) -> None:
    """Write the access-log line of one finished request."""
    state = scope["state"]
    status = traffic.final_status(failed)
    client = scope.get("client")
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    method = scope["method"]
    fields = {
        "remote": client[0] if client else None,
        "access_key": state.get("access_key"),
        "method": method,
        "operation": state.get("operation") or OTHER,
        "bucket": state.get("bucket"),
        "key": state.get("key"),
        "status": status,
        "error_code": state.get("error_code"),
        "bytes_in": traffic.received,
        "bytes_out": traffic.sent,
        "duration_ms": round((time.perf_counter() - start) * 1000, 3),
    }
    # raw_path is still percent-encoded: no control characters reach the line.
    args = (method, raw_path.decode("latin-1"), status)
    from smarts3.observability.logging import sole_background_handler  # imports this module's package

    handler = sole_background_handler(logger)
    if handler is not None:  # the usual case: the same line, the record made by the writer thread
        handler.defer(logger.name, __file__, f"{args[0]} {args[1]} {args[2]:d}", fields)
        return
    # makeRecord + handle, not info(): skips the caller lookup, a stack walk per request.
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, "%s %s %d", args, None, extra={"fields": fields})
    logger.handle(record)
