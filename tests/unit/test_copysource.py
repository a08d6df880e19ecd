"""x-amz-copy-source parsing: the one function the authorizer and the copy handlers share."""

from __future__ import annotations

import pytest

from smarts3.s3.copysource import CopySource, parse
from smarts3.s3.errors import S3Error


@pytest.mark.parametrize(
    ("raw", "bucket", "key"),
    [
        ("src/key", "src", "key"),
        ("/src/key", "src", "key"),
        ("src/dir/key.txt", "src", "dir/key.txt"),
        ("src/a%20b", "src", "a b"),
        ("src/a+b", "src", "a+b"),  # unquote, never unquote_plus
        ("src/what%3Fnot", "src", "what?not"),  # an encoded ? is part of the key, not a query
        ("src%2Fkey", "src", "key"),  # decoded once, then split
        ("src/%2E%2E/x", "src", "../x"),  # keys are opaque: no path semantics
        ("src/caf%C3%A9", "src", "café"),
        ("src/caf\xc3\xa9", "src", "café"),  # raw UTF-8 bytes, as the dispatcher hands them over (latin-1)
        ("src/%2541", "src", "%41"),  # exactly one decoding
    ],
)
def test_parses(raw: str, bucket: str, key: str) -> None:
    assert parse({"x-amz-copy-source": raw}) == CopySource(bucket, key)


@pytest.mark.parametrize("version", ["null", "0123456789abcdef0123456789abcdef"])
def test_parses_a_version(version: str) -> None:
    assert parse({"x-amz-copy-source": f"src/key?versionId={version}"}) == CopySource("src", "key", version)


@pytest.mark.parametrize(
    "raw",
    [
        "src",
        "src/",
        "/src",
        "/",
        "",
        "src/key?versionId=3HL4kqtJlcpXroDTDmJ",  # not an id smarts3 hands out
        "src/%FF",  # not UTF-8 after decoding
    ],
)
def test_refuses(raw: str) -> None:
    with pytest.raises(S3Error) as err:
        parse({"x-amz-copy-source": raw})
    assert (err.value.code, err.value.status) == ("InvalidArgument", 400)
    assert err.value.fields["ArgumentName"] == "x-amz-copy-source"
