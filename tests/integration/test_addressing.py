"""Path-style and virtual-host-style addressing, and keys decoded exactly once."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import Server
from tests.integration.helpers import error_code, signed

BASE = "s3.smarts3.test"  # the session server's configured base domain


def test_virtual_host_style(server: Server, s3: Any, bucket: str) -> None:
    port = urlsplit(server.url).port
    host = f"{bucket}.{BASE}:{port}"
    put = signed("PUT", f"{server.url}/vh/key.txt", body=b"vhost", host=host)
    assert put.status_code == 200, put.text
    assert s3.get_object(Bucket=bucket, Key="vh/key.txt")["Body"].read() == b"vhost"
    got = signed("GET", f"{server.url}/vh/key.txt", host=host)
    assert got.content == b"vhost"
    listing = signed("GET", f"{server.url}/?list-type=2", host=host)
    assert "<Key>vh/key.txt</Key>" in listing.text


@pytest.mark.parametrize("host", ["localhost", "smarts3.default.svc.cluster.local", "127.0.0.1", BASE])
def test_plain_hosts_are_never_buckets(server: Server, bucket: str, host: str) -> None:
    port = urlsplit(server.url).port
    response = signed("GET", f"{server.url}/{bucket}?list-type=2", host=f"{host}:{port}")
    assert response.status_code == 200, response.text
    assert f"<Name>{bucket}</Name>" in response.text


def test_key_decoded_once(server: Server, s3: Any, bucket: str) -> None:
    key = "a%2Fb c+d/%41"
    response = signed("PUT", f"{server.url}/{bucket}/{quote(key, safe='/')}", body=b"literal")
    assert response.status_code == 200
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [key]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"literal"


def test_invalid_utf8_path(server: Server, bucket: str) -> None:
    response = signed("GET", f"{server.url}/{bucket}/%FF%FE")
    assert response.status_code == 400
    assert error_code(response) in ("InvalidURI", "SignatureDoesNotMatch")
