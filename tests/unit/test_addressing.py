"""Bucket and key resolution from the raw path and the Host header."""

from __future__ import annotations

import pytest

from smarts3.s3.addressing import endpoint_names, resolve
from smarts3.s3.errors import S3Error

BASE = "s3.example.com"
NAMES = endpoint_names(BASE)
NO_BASE = endpoint_names(None)


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
    target = resolve(raw_path, host, NAMES)
    assert (target.bucket, target.key, target.vhost) == (bucket, key, vhost)


def test_no_base_domain_means_path_style() -> None:
    assert resolve(b"/k", "bkt.s3.example.com", NO_BASE).bucket == "k"


def test_bad_utf8_and_long_keys() -> None:
    with pytest.raises(S3Error) as err:
        resolve(b"/b/%FF", "localhost", NO_BASE)
    assert err.value.code == "InvalidURI"
    assert resolve(b"/b/" + b"k" * 1024, "localhost", NO_BASE).key == "k" * 1024
    with pytest.raises(S3Error) as err:
        resolve(b"/b/" + b"k" * 1025, "localhost", NO_BASE)
    assert err.value.code == "KeyTooLongError"


@pytest.mark.parametrize(
    ("host", "bucket", "key"),
    [
        # The JS SDK v3 and the Go SDK v2 put the bucket in front of "localhost" by default.
        ("vb1.localhost:9000", "vb1", "dir1/small.txt"),
        ("vb1.localhost", "vb1", "dir1/small.txt"),
        ("VB1.LocalHost.:9000", "vb1", "dir1/small.txt"),
        ("dotted.name.localhost:9000", "dotted.name", "dir1/small.txt"),
        # Path style: the endpoint itself, addresses, and names the server is not known by.
        ("localhost:9000", "dir1", "small.txt"),
        ("127.0.0.1:9000", "dir1", "small.txt"),
        ("[::1]:9000", "dir1", "small.txt"),
        ("10.1.2.3", "dir1", "small.txt"),
        ("vb1.example.org:9000", "dir1", "small.txt"),
        ("smarts3.default.svc:9000", "dir1", "small.txt"),
        ("localhost.example.org", "dir1", "small.txt"),
        ("", "dir1", "small.txt"),
    ],
)
def test_localhost_is_a_base_domain_by_default(host: str, bucket: str, key: str) -> None:
    target = resolve(b"/dir1/small.txt", host, NO_BASE)
    assert (target.bucket, target.key, target.vhost) == (bucket, key, bucket == "vb1" or "." in bucket)


SVC = ("smarts3.ns", "smarts3.ns.svc", "smarts3.ns.svc.cluster.local", "smarts3-0.smarts3.ns.svc.cluster.local")


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        ("vb1.smarts3.ns.svc:9000", "vb1"),
        ("vb1.smarts3.ns.svc.cluster.local:9000", "vb1"),  # the longest name wins, not "vb1.smarts3.ns"
        ("vb1.smarts3.ns", "vb1"),
        ("smarts3.ns.svc.cluster.local:9000", None),
        ("smarts3-0.smarts3.ns.svc.cluster.local:9000", None),  # the pod's own name, listed as extra
        ("vb1.s3.example.com", "vb1"),  # the base domain still counts
    ],
)
def test_extra_base_domains(host: str, bucket: str | None) -> None:
    target = resolve(b"/b/k", host, endpoint_names(BASE, SVC))
    assert target.bucket == (bucket or "b")
    assert target.vhost is (bucket is not None)


@pytest.mark.parametrize("host", ["vb_1.localhost:9000", "ab.localhost", "Bad..name.localhost", "x.s3.example.com"])
def test_a_label_that_cannot_be_a_bucket_is_refused_not_guessed(host: str) -> None:
    with pytest.raises(S3Error) as err:
        resolve(b"/dir1/small.txt", host, NAMES)
    assert (err.value.code, err.value.status) == ("InvalidURI", 400)
    assert "--base-domain" in err.value.message


def test_endpoint_names() -> None:
    assert endpoint_names(None) == ("localhost",)
    assert endpoint_names("S3.Example.COM.", ["a.b", "", "."]) == ("s3.example.com", "localhost", "a.b")
