"""Bucket and key resolution from the raw path and the Host header."""

from __future__ import annotations

import pytest

from smarts3.s3.addressing import resolve
from smarts3.s3.errors import S3Error

BASE = "s3.example.com"


@pytest.mark.parametrize(
    ("raw_path", "host", "bucket", "key", "vhost"),
    [
        (b"/", "localhost:9000", None, None, False),
        (b"/bkt", "localhost:9000", "bkt", None, False),
        (b"/bkt/", "localhost:9000", "bkt", None, False),
        (b"/bkt//", "localhost:9000", "bkt", "/", False),
        (b"/bkt/a//b", "localhost:9000", "bkt", "a//b", False),
        (b"/bkt/a%2Fb", "localhost", "bkt", "a/b", False),
        (b"/bkt/a+b%2Bc", "localhost", "bkt", "a+b+c", False),
        (b"/bkt/%2541", "localhost", "bkt", "%41", False),  # decoded once, not twice
        (b"/bkt/..%2F..%2Fetc", "localhost", "bkt", "../../etc", False),
        (b"/key", "bkt.s3.example.com", "bkt", "key", True),
        (b"/", "bkt.s3.example.com:9000", "bkt", None, True),
        (b"/dots.in.name/k", "s3.example.com", "dots.in.name", "k", False),
        (b"/b/k", "smarts3.default.svc.cluster.local:9000", "b", "k", False),
        (b"/b/k", "S3.EXAMPLE.COM", "b", "k", False),
    ],
)
def test_resolve(raw_path: bytes, host: str, bucket: str | None, key: str | None, vhost: bool) -> None:
    target = resolve(raw_path, host, BASE)
    assert (target.bucket, target.key, target.vhost) == (bucket, key, vhost)


def test_no_base_domain_means_path_style() -> None:
    assert resolve(b"/k", "bkt.s3.example.com", None).bucket == "k"


def test_bad_utf8_and_long_keys() -> None:
    with pytest.raises(S3Error) as err:
        resolve(b"/b/%FF", "localhost", None)
    assert err.value.code == "InvalidURI"
    assert resolve(b"/b/" + b"k" * 1024, "localhost", None).key == "k" * 1024
    with pytest.raises(S3Error) as err:
        resolve(b"/b/" + b"k" * 1025, "localhost", None)
    assert err.value.code == "KeyTooLongError"
