"""pytest fixtures: a real smarts3 on an ephemeral port, for code that talks S3 over the wire.

    def test_upload(smarts3_server, s3_bucket):
        s3 = smarts3_server.client()
        s3.put_object(Bucket=s3_bucket, Key="k", Body=b"v")
        assert s3.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"v"

Registered through the `pytest11` entry point, so it is loaded by every pytest run where
smarts3 is installed: at import time it needs pytest only. Hypercorn, the server and boto3
are imported when a test first asks for a fixture.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    from smarts3.config.settings import Settings

_START_TIMEOUT = 20.0


@dataclass
class Smarts3Server:
    """What a test needs to reach the server: endpoint, root keys, region, a client factory."""

    endpoint: str
    access_key: str
    secret_key: str
    data_dir: Path
    region: str = "us-east-1"
    startup_seconds: float = field(default=0.0, compare=False)

    def client(self, **botocore_config: Any) -> Any:
        """A boto3 S3 client for this server; keyword arguments go to botocore's Config."""
        try:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]
        except ImportError:
            pytest.fail("smarts3_server.client() needs boto3: pip install boto3", pytrace=False)
        options: dict[str, Any] = {"retries": {"total_max_attempts": 1}, **botocore_config}
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(**options),
        )


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """`create_app(settings)` under Hypercorn in a thread on an ephemeral loopback port; yields its URL.

    The same order as `smarts3 serve`: the data directory is locked before recovery writes to it.
    No ops listener: that one is started by `smarts3 serve`, not by create_app.
    """
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from smarts3 import connlimit
    from smarts3.app import create_app
    from smarts3.storage.fs import recover
    from smarts3.storage.fs.layout import replica_id
    from smarts3.storage.fs.owner import DataDirLock

    replica = replica_id() if settings.metadata else ""
    lock = DataDirLock.acquire(settings.data_dir, replica)
    try:
        recover(settings.data_dir, metadata=settings.metadata, replica=replica)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        config = Config()
        config.bind = [f"fd://{sock.detach()}"]  # Hypercorn owns the descriptor from here
        config.accesslog = None
        # The HTTP/1.1 protocol `smarts3 serve` runs (connection cap, head timeout, `100 Continue` only
        # once authorized), so tests and users' fixtures meet the server that ships.
        connlimit.install(settings.max_connections)
        connlimit.set_request_head_timeout(config, settings.request_head_timeout)
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve(cast(Any, create_app(settings)), config, shutdown_trigger=stop.wait))

        thread = threading.Thread(target=run, name="smarts3-server", daemon=True)
        thread.start()
        endpoint = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(endpoint, thread)
            yield endpoint
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=10)
    finally:
        lock.release()


@pytest.fixture(scope="session")
def smarts3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Smarts3Server]:
    """One in-process smarts3 (Hypercorn in a thread) for the session, on a temp data dir."""
    started = time.monotonic()
    from smarts3.config.settings import Settings

    data_dir = tmp_path_factory.mktemp("smarts3-data")
    access_key = "SM" + secrets.token_hex(9).upper()
    secret_key = secrets.token_urlsafe(30)[:40]
    settings = Settings(data_dir=data_dir, access_key=access_key, secret_key=secret_key)
    with serving(settings) as endpoint:
        yield Smarts3Server(
            endpoint,
            access_key,
            secret_key,
            data_dir,
            region=settings.region,
            startup_seconds=time.monotonic() - started,
        )


@pytest.fixture
def s3_bucket(smarts3_server: Smarts3Server) -> Iterator[str]:
    """A new, uniquely named bucket; emptied (uploads aborted too) and deleted afterwards."""
    s3 = smarts3_server.client()
    name = f"test-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=name):
        for upload in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=name)


def _wait_ready(endpoint: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("smarts3 stopped while starting; see the captured log")
        try:
            with urllib.request.urlopen(endpoint + "/_ready", timeout=1) as response:  # noqa: S310 (our http URL)
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.01)
    raise TimeoutError(f"smarts3 at {endpoint} not ready after {_START_TIMEOUT:.0f}s")
