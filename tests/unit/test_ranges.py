"""S3 Range semantics, table-driven."""

from __future__ import annotations

import pytest

from smarts3.s3.errors import S3Error
from smarts3.s3.ranges import content_range, parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 10)),
        ("bytes=90-", 100, (90, 100)),
        ("bytes=-10", 100, (90, 100)),
        ("bytes=-1000", 100, (0, 100)),
        ("bytes=50-5000", 100, (50, 100)),
        ("bytes=0-0", 1, (0, 1)),
        ("bytes=5-2", 100, None),  # invalid: ignored, whole object
        ("bytes=0-1,5-6", 100, None),  # multiple ranges: ignored like S3
        ("pages=0-1", 100, None),
        ("bytes=abc", 100, None),
        ("bytes=-", 100, None),
    ],
)
def test_parse_range(header: str, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=100-", 100), ("bytes=0-", 0), ("bytes=-0", 10)])
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(S3Error) as err:
        parse_range(header, size)
    assert err.value.code == "InvalidRange"
    assert err.value.status == 416
    assert err.value.headers["content-range"] == f"bytes */{size}"


def test_content_range() -> None:
    assert content_range(0, 10, 100) == "bytes 0-9/100"
