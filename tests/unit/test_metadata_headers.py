"""User metadata as stored and as sent back (smarts3.s3.headers): text in, RFC 2047 out."""

from __future__ import annotations

from email.header import decode_header, make_header

import pytest

from smarts3.s3.headers import object_headers, stored_headers, user_metadata
from smarts3.storage.base import ObjectInfo, ObjectMeta


def _info(user: dict[str, str]) -> ObjectInfo:
    return ObjectInfo("b", "k", 1, '"0"', 0.0, ObjectMeta(user=user))


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("plain", "plain"),
        ("=?UTF-8?B?w6k=?=", "=?UTF-8?B?w6k=?="),  # ASCII: kept exactly as sent
        ("é".encode().decode("latin-1"), "é"),  # raw UTF-8 bytes, decoded latin-1 by the server
        ("é", "é"),  # a latin-1 byte that is not UTF-8: the latin-1 reading is the text
        ("日本".encode().decode("latin-1"), "日本"),
    ],
)
def test_user_metadata_is_stored_as_text(sent: str, stored: str) -> None:
    assert user_metadata({"x-amz-meta-a": sent}) == {"a": stored}


def test_non_ascii_is_returned_as_an_encoded_word_and_unprintable_is_counted_missing() -> None:
    headers = object_headers(_info({"ok": "text", "uni": "naïve 日本", "bad": "a\x01b", "tab": "a\tb"}))
    assert headers["x-amz-meta-ok"] == "text"
    assert headers["x-amz-meta-tab"] == "a\tb"
    encoded = headers["x-amz-meta-uni"]
    assert encoded.isascii() and str(make_header(decode_header(encoded))) == "naïve 日本"
    assert "x-amz-meta-bad" not in headers
    assert headers["x-amz-missing-meta"] == "1"
    assert "x-amz-missing-meta" not in object_headers(_info({"ok": "text"}))


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("deflate, gzip", "deflate, gzip"), ("aws-chunked,gzip", "gzip"), ("gzip, aws-chunked", "gzip"),
     ("AWS-CHUNKED", None), (" br ,  aws-chunked , gzip", "br , gzip")],
)
def test_content_encoding_keeps_its_spelling_without_aws_chunked(sent: str, kept: str | None) -> None:
    assert stored_headers({"content-encoding": sent}).get("content-encoding") == kept
