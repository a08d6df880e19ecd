"""The one parse of the query string: table-driven, plus the sets it protects."""

from __future__ import annotations

import dataclasses

import pytest

from smarts3.auth import sigv2
from smarts3.auth.query import SUBRESOURCES, Query, QueryError, parse_query
from smarts3.auth.types import AuthError, RequestView
from smarts3.s3 import operations

# raw query → (decoded name → value, raw values in order: None where the part had no '=')
PARSED: list[tuple[bytes, dict[str, str], list[str | None]]] = [
    (b"", {}, []),
    (b"acl", {"acl": ""}, [None]),
    (b"acl=", {"acl": ""}, [""]),
    (b"prefix=a+b", {"prefix": "a+b"}, ["a+b"]),  # a plus is a plus, never a space
    (b"prefix=a%2Bb", {"prefix": "a+b"}, ["a%2Bb"]),
    (b"prefix=a%20b", {"prefix": "a b"}, ["a%20b"]),
    (b"prefix=%C3%BC%e2%82%ac", {"prefix": "ü€"}, ["%C3%BC%e2%82%ac"]),
    (b"&&x=1&", {"x": "1"}, ["1"]),
    (b"x=a=b", {"x": "a=b"}, ["a=b"]),
    (b"=v", {"": "v"}, ["v"]),
    (b"prefix=%zz%", {"prefix": "%zz%"}, ["%zz%"]),  # not an escape: kept as sent
    (b"a%20b=1", {"a b": "1"}, ["1"]),  # an ordinary name may be encoded
    (b"uploadId=u%2F1&partNumber=2", {"uploadId": "u/1", "partNumber": "2"}, ["u%2F1", "2"]),
    (b"Prefix=a&prefix=b", {"Prefix": "a", "prefix": "b"}, ["a", "b"]),  # names are case-sensitive
]


@pytest.mark.parametrize(("raw", "expected", "raw_values"), PARSED)
def test_parse(raw: bytes, expected: dict[str, str], raw_values: list[str | None]) -> None:
    query = parse_query(raw)
    assert dict(query) == expected
    assert [p.raw_value for p in query.params] == raw_values
    assert [p.name for p in query.params] == list(expected)
    assert query.raw == raw


REFUSED: list[tuple[bytes, str]] = [
    # encoded spellings of names that select an operation, are signed by SigV2,
    # override response headers or carry authentication
    (b"%74agging", "InvalidArgument"),
    (b"%61cl", "InvalidArgument"),
    (b"%75ploadId=abc", "InvalidArgument"),
    (b"upload%49d=abc", "InvalidArgument"),
    (b"%72esponse-content-type=text/html", "InvalidArgument"),
    (b"response%2Dcontent-type=text/html", "InvalidArgument"),
    (b"X-Amz-%53ignature=00", "InvalidArgument"),
    (b"x%2Damz-acl=public-read", "InvalidArgument"),
    (b"%53ignature=abc", "InvalidArgument"),
    (b"Expire%73=1", "InvalidArgument"),
    (b"AWSAccessKey%49d=AK", "InvalidArgument"),
    (b"list%2Dtype=2", "InvalidArgument"),
    (b"%70artNumber=1", "InvalidArgument"),
    # any name twice: a sorted canonical query cannot say which value was signed
    (b"tagging&tagging", "InvalidArgument"),
    (b"acl&acl=", "InvalidArgument"),
    (b"prefix=a&prefix=b", "InvalidArgument"),
    (b"prefix=a&pre%66ix=b", "InvalidArgument"),  # the same name once decoded
    (b"X-Amz-Date=1&x-amz-date=2", "InvalidArgument"),  # x-amz-* names are case-insensitive
    # not UTF-8
    (b"prefix=%FF", "InvalidURI"),
    (b"prefix=\xff", "InvalidURI"),
    (b"%C3=1", "InvalidURI"),
]


@pytest.mark.parametrize(("raw", "code"), REFUSED)
def test_refused(raw: bytes, code: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(raw)
    assert info.value.code == code


def test_protected_names_cover_classifier_and_sigv2() -> None:
    """Every name that selects an operation or that SigV2 signs is refused when encoded."""
    tables = [value for name, value in vars(operations).items() if name.startswith(("_BUCKET_", "_OBJECT_"))]
    assert len(tables) >= 8
    names = {name for table in tables for name, _ in table} | {"list-type", "uploadId", "partNumber"}
    assert names <= SUBRESOURCES
    assert {n for n in sigv2.SUBRESOURCES if not n.startswith("response-")} <= SUBRESOURCES


def test_query_is_a_read_only_mapping() -> None:
    query = parse_query(b"b=2&a=1")
    assert isinstance(query, Query)
    assert list(query) == ["b", "a"]
    assert query.get("c") is None
    assert not hasattr(query, "__setitem__")


def test_request_view_parses_once_and_refuses_as_400() -> None:
    view = RequestView("GET", b"/b/k", b"prefix=a+b", {"host": "h"})
    assert view.query["prefix"] == "a+b"
    assert dataclasses.replace(view, raw_query=b"acl").query == {"acl": ""}  # re-derived, never stale
    with pytest.raises(AuthError) as info:
        RequestView("GET", b"/b/k", b"%74agging", {"host": "h"})
    assert (info.value.code, info.value.status) == ("InvalidArgument", 400)
