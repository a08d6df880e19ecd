"""A request refused before its body is read still gets its answer, on a connection that lives on.

Answering while the client is still sending, then closing, makes the kernel reset the connection
over the unread bytes, and clients lose the error response (s3/drain.py). Bodies up to
DRAIN_MAX_BYTES are read and discarded first.
"""

from __future__ import annotations

import http.client
import os
from typing import Any
from urllib.parse import urlsplit

from smarts3.s3.drain import DRAIN_MAX_BYTES

BODY = os.urandom(4 * 1024 * 1024)


def test_refused_uploads_are_answered_and_the_connection_is_kept(server: Any, bucket: str) -> None:
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        for i in range(12):
            # Anonymous: AccessDenied is decided from the request head, before any body is read.
            conn.request("PUT", f"/{bucket}/k{i}", body=BODY, headers={"Content-Length": str(len(BODY))})
            response = conn.getresponse()
            text = response.read()
            assert response.status == 403, text
            assert b"<Code>AccessDenied</Code>" in text
            assert (response.getheader("connection") or "").lower() != "close"
        assert conn.sock is not None  # the same connection served all twelve
    finally:
        conn.close()


def test_a_body_over_the_bound_is_not_read_for_nothing(server: Any, bucket: str) -> None:
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        # Announce more than the bound but send only the head: the answer comes without waiting for it.
        conn.putrequest("PUT", f"/{bucket}/big")
        conn.putheader("Content-Length", str(DRAIN_MAX_BYTES + 1))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 403
        assert b"<Code>AccessDenied</Code>" in response.read()
    finally:
        conn.close()
