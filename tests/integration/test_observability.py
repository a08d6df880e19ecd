"""Access log and /_metrics over the real server: known boto3 traffic, then read what it recorded.

The in-process fixture serves only the S3 port (no ops listener), so it sets a bearer
token: /_metrics is served on the S3 port only behind one. The two-worker test runs
`smarts3 serve --workers 2` and scrapes the ops port, where the metrics live.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import platform
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from smarts3 import __version__
from tests.conftest import ACCESS_KEY, SECRET_KEY, Server, metrics_url, start_subprocess_server, stop_server, wait_ready

TOKEN = "scrape-token-for-tests"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass(frozen=True)
class Usage:
    objects: int
    bytes: int
    multipart_uploads: int


def sqlite_stats(data_dir: Path) -> Callable[[], dict[str, Usage]]:
    """Stands in for the store's own statistics until app.py passes them."""
    from smarts3.storage.fs.layout import Layout

    db_path = Layout(data_dir).db_path

    def stats() -> dict[str, Usage]:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT name,"
                " (SELECT COUNT(*) FROM objects o WHERE o.bucket = b.name),"
                " (SELECT COALESCE(SUM(size), 0) FROM objects o WHERE o.bucket = b.name),"
                " (SELECT COUNT(*) FROM uploads u WHERE u.bucket = b.name)"
                " FROM buckets b"
            ).fetchall()
        finally:
            conn.close()
        return {name: Usage(objects, size, uploads) for name, objects, size, uploads in rows}

    return stats


@dataclass
class ObsServer(Server):
    log_file: Path = Path()

    def scrape(self, token: str | None = TOKEN) -> Samples:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.get(self.url + "/_metrics", headers=headers, timeout=10)
        response.raise_for_status()
        return parse(response.text)

    def access_line(self, request_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The access-log line of one request (written just after its response)."""
        deadline = time.monotonic() + timeout
        while True:
            for raw in self.log_file.read_text().splitlines():
                line = json.loads(raw)
                if line.get("logger") == "smarts3.access" and line.get("request_id") == request_id:
                    assert SECRET_KEY not in raw
                    assert "Signature" not in raw.replace("SignatureDoesNotMatch", "")  # the code may be named
                    assert "Credential" not in raw
                    return dict(line)
            if time.monotonic() > deadline:
                raise AssertionError(f"no access-log line for {request_id}")
            time.sleep(0.02)


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture(scope="module")
def obs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObsServer]:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from smarts3.app import create_app
    from smarts3.config.settings import Settings
    from smarts3.observability import configure_logging, install_observability
    from smarts3.observability.logging import unconfigure_logging
    from smarts3.observability.settings import LogSettings, MetricsSettings, ObservabilitySettings
    from smarts3.storage.fs import recover

    data_dir = tmp_path_factory.mktemp("obs-data")
    log_file = tmp_path_factory.mktemp("obs-logs") / "smarts3.log"
    settings = Settings(data_dir=data_dir, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    observability = ObservabilitySettings(
        logging=LogSettings(format="json", file=log_file),
        metrics=MetricsSettings(bearer_token=TOKEN),
    )
    recover(data_dir)
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    configure_logging(observability.logging)  # what the launcher does in each process
    if "metrics_enabled" in Settings.model_fields:
        # Wired: create_app installs observability itself, with the store's statistics.
        wired = settings.model_copy(
            update={"log_format": "json", "log_file": log_file, "metrics_bearer_token": SecretStr(TOKEN)}
        )
        app: Any = create_app(wired)
    else:
        app = install_observability(create_app(settings), observability, sqlite_stats(data_dir))

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve(app, config, shutdown_trigger=stop.wait))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        yield ObsServer(url, data_dir, log_file=log_file)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        unconfigure_logging()
        root.setLevel(saved_level)
        root.handlers[:] = saved_handlers


@pytest.fixture
def obs_s3(obs_server: ObsServer) -> Any:
    return obs_server.client()


@pytest.fixture
def obs_bucket(obs_s3: Any) -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    obs_s3.create_bucket(Bucket=name)
    return name


# --- /_metrics -------------------------------------------------------------------


def test_counters_follow_known_traffic(obs_server: ObsServer, obs_s3: Any, obs_bucket: str) -> None:
    sizes = {"a": 1000, "b": 20_000, "c": 7}
    before = obs_server.scrape()
    for key, size in sizes.items():
        obs_s3.put_object(Bucket=obs_bucket, Key=key, Body=b"x" * size)
    for key in ("a", "b"):
        assert len(obs_s3.get_object(Bucket=obs_bucket, Key=key)["Body"].read()) == sizes[key]
    with pytest.raises(ClientError):
        obs_s3.head_object(Bucket=obs_bucket, Key="missing")
    after = obs_server.scrape()

    requests = "smarts3_requests_total"
    assert delta(before, after, requests, operation="PutObject", status_class="2xx") == 3
    assert delta(before, after, requests, operation="GetObject", status_class="2xx") == 2
    assert delta(before, after, requests, operation="HeadObject", status_class="4xx") == 1
    assert delta(before, after, "smarts3_s3_errors_total", code="NoSuchKey") == 1
    assert delta(before, after, "smarts3_request_duration_seconds_count", operation="PutObject") == 3
    assert delta(before, after, "smarts3_request_duration_seconds_sum", operation="PutObject") > 0
    assert delta(before, after, "smarts3_sent_bytes_total", operation="GetObject") == 21_000
    # boto3 may frame the body (aws-chunked, checksum trailers): at least the payload arrived.
    assert delta(before, after, "smarts3_received_bytes_total", operation="PutObject") >= 21_007
    # Only the scrape itself is being served.
    assert value(after, "smarts3_requests_in_flight") == 1
    assert value(after, "smarts3_bucket_objects", bucket=obs_bucket) == 3
    assert value(after, "smarts3_bucket_bytes", bucket=obs_bucket) == 21_007
    assert value(after, "smarts3_build_info", version=__version__, python_version=platform.python_version()) == 1


def test_health_and_metrics_requests_are_labelled_other(obs_server: ObsServer) -> None:
    before = obs_server.scrape()
    assert httpx.get(obs_server.url + "/_health").status_code == 200
    after = obs_server.scrape()
    # The health check and the first scrape (counted once it finished).
    assert delta(before, after, "smarts3_requests_total", operation="other", status_class="2xx") == 2


def test_multipart_uploads_in_progress(obs_server: ObsServer, obs_s3: Any, obs_bucket: str) -> None:
    upload = obs_s3.create_multipart_upload(Bucket=obs_bucket, Key="big")
    assert value(obs_server.scrape(), "smarts3_multipart_uploads_in_progress", bucket=obs_bucket) == 1
    obs_s3.abort_multipart_upload(Bucket=obs_bucket, Key="big", UploadId=upload["UploadId"])
    assert value(obs_server.scrape(), "smarts3_multipart_uploads_in_progress", bucket=obs_bucket) == 0


def test_metrics_require_the_bearer_token(obs_server: ObsServer) -> None:
    url = obs_server.url + "/_metrics"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain")
    head = httpx.head(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert (head.status_code, head.content) == (200, b"")


# --- the access log ------------------------------------------------------------------


def _check_common(line: dict[str, Any], request_id: str) -> None:
    assert line["request_id"] == request_id
    assert line["level"] == "INFO"
    assert line["time"].endswith("Z")
    assert line["remote"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] > 0


def test_access_log_get(obs_server: ObsServer, obs_s3: Any, obs_bucket: str) -> None:
    key = "dir/hello wörld.txt"
    obs_s3.put_object(Bucket=obs_bucket, Key=key, Body=b"hello world")
    response = obs_s3.get_object(Bucket=obs_bucket, Key=key)
    assert response["Body"].read() == b"hello world"
    request_id = response["ResponseMetadata"]["RequestId"]
    line = obs_server.access_line(request_id)
    _check_common(line, request_id)
    assert line["access_key"] == ACCESS_KEY
    assert line["method"] == "GET"
    assert line["operation"] == "GetObject"
    assert line["bucket"] == obs_bucket
    assert line["key"] == key
    assert line["status"] == 200
    assert line["error_code"] is None
    assert line["bytes_in"] == 0
    assert line["bytes_out"] == 11
    assert line["message"].startswith(f"GET /{obs_bucket}/dir/hello%20w")


def test_access_log_failed_put(obs_server: ObsServer, obs_s3: Any) -> None:
    missing = f"t-{uuid.uuid4().hex[:16]}"
    with pytest.raises(ClientError) as info:
        obs_s3.put_object(Bucket=missing, Key="k", Body=b"payload")
    error = info.value.response
    assert error["Error"]["Code"] == "NoSuchBucket"
    request_id = error["ResponseMetadata"]["RequestId"]
    line = obs_server.access_line(request_id)
    _check_common(line, request_id)
    assert line["access_key"] == ACCESS_KEY
    assert line["method"] == "PUT"
    assert line["operation"] == "PutObject"
    assert line["bucket"] == missing
    assert line["key"] == "k"
    assert line["status"] == 404
    assert line["error_code"] == "NoSuchBucket"
    assert line["bytes_out"] == int(error["ResponseMetadata"]["HTTPHeaders"]["content-length"])
    assert 0 <= line["bytes_in"] <= 1024


def test_access_log_multipart_upload(obs_server: ObsServer, obs_s3: Any, obs_bucket: str) -> None:
    part_size = 5 * 1024 * 1024
    upload = obs_s3.create_multipart_upload(Bucket=obs_bucket, Key="mp/object")
    upload_id = upload["UploadId"]
    ids = [("CreateMultipartUpload", upload["ResponseMetadata"]["RequestId"], 0)]
    parts = []
    for number, size in ((1, part_size), (2, 1234)):
        part = obs_s3.upload_part(
            Bucket=obs_bucket, Key="mp/object", UploadId=upload_id, PartNumber=number, Body=b"p" * size
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
        ids.append(("UploadPart", part["ResponseMetadata"]["RequestId"], size))
    done = obs_s3.complete_multipart_upload(
        Bucket=obs_bucket, Key="mp/object", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    ids.append(("CompleteMultipartUpload", done["ResponseMetadata"]["RequestId"], 0))
    for operation, request_id, size in ids:
        line = obs_server.access_line(request_id)
        _check_common(line, request_id)
        assert line["operation"] == operation
        assert line["access_key"] == ACCESS_KEY
        assert (line["bucket"], line["key"]) == (obs_bucket, "mp/object")
        assert line["status"] == 200
        assert line["error_code"] is None
        # UploadPart answers with headers only; the others with XML.
        assert (line["bytes_out"] > 0) is (operation != "UploadPart")
        assert line["bytes_in"] >= size
        assert line["method"] == ("PUT" if operation == "UploadPart" else "POST")
    # The completion request carries the part list as XML.
    assert obs_server.access_line(ids[-1][1])["bytes_in"] > 0


@pytest.mark.parametrize(
    ("signature_version", "access_key", "code"),
    [
        ("s3v4", ACCESS_KEY, "SignatureDoesNotMatch"),
        ("s3", ACCESS_KEY, "SignatureDoesNotMatch"),  # SigV2
        ("s3v4", "AKIDNOBODYHAS", "InvalidAccessKeyId"),
    ],
)
def test_access_log_names_the_key_a_refused_signature_claimed(
    obs_server: ObsServer, obs_bucket: str, signature_version: str, access_key: str, code: str
) -> None:
    wrong_secret = "not-the-secret-" + uuid.uuid4().hex
    client = dataclasses.replace(obs_server, access_key=access_key, secret_key=wrong_secret).client(
        signature_version=signature_version
    )
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=obs_bucket, Key="k", Body=b"payload")
    error = info.value.response
    assert error["Error"]["Code"] == code
    line = obs_server.access_line(error["ResponseMetadata"]["RequestId"])
    assert (line["access_key"], line["status"], line["error_code"]) == (access_key, 403, code)
    assert wrong_secret not in obs_server.log_file.read_text()


@pytest.mark.parametrize(("signature_version", "param"), [("s3v4", "X-Amz-Signature"), ("s3", "Signature")])
def test_access_log_names_the_key_of_a_refused_presigned_url(
    obs_server: ObsServer, obs_bucket: str, signature_version: str, param: str
) -> None:
    client = obs_server.client(signature_version=signature_version)
    url = client.generate_presigned_url("get_object", Params={"Bucket": obs_bucket, "Key": "k"})
    tampered = re.sub(rf"([?&]{param}=)[^&]+", r"\g<1>0000", url)
    assert tampered != url
    response = httpx.get(tampered, timeout=10)
    assert response.status_code == 403, response.text
    line = obs_server.access_line(response.headers["x-amz-request-id"])
    assert (line["access_key"], line["error_code"]) == (ACCESS_KEY, "SignatureDoesNotMatch")


def test_access_log_never_records_a_claimed_key_that_is_not_a_key_id(obs_server: ObsServer) -> None:
    headers = {"Authorization": "AWS bad key\twith spaces:c2lnbmF0dXJl", "Date": "Mon, 01 Jan 2024 00:00:00 GMT"}
    response = httpx.get(obs_server.url + "/", headers=headers, timeout=10)
    assert response.status_code == 403, response.text
    assert obs_server.access_line(response.headers["x-amz-request-id"])["access_key"] is None


# --- two worker processes --------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_report_the_sum(tmp_path: Path) -> None:
    multiproc = tmp_path / "prom"
    proc, url = start_subprocess_server(
        tmp_path / "data", "--workers", "2", env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    )
    ops = metrics_url(proc)
    try:
        server = Server(url, tmp_path / "data")
        s3 = server.client()
        s3.create_bucket(Bucket="sum")
        puts = 40
        for i in range(puts):
            # A fresh connection each time, so the kernel hands requests to both workers.
            server.client().put_object(Bucket="sum", Key=f"k{i}", Body=b"z" * 100)
        counter_files = {p.name for p in multiproc.glob("counter_*.db")}
        assert len(counter_files) == 2, f"both workers should have served requests: {counter_files}"
        for _ in range(6):  # whichever worker answers the scrape, the figures are the same
            samples = parse(httpx.get(ops + "/_metrics").text)
            assert value(samples, "smarts3_requests_total", operation="PutObject", status_class="2xx") == puts
            assert value(samples, "smarts3_requests_total", operation="CreateBucket", status_class="2xx") == 1
            assert value(samples, "smarts3_received_bytes_total", operation="PutObject") >= puts * 100
            assert value(samples, "smarts3_bucket_objects", bucket="sum") == puts
    finally:
        stop_server(proc, timeout=40)
