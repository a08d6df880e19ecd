"""The authorizer's decision: which reads only an object's own ACL allowed, for the handler to re-check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from smarts3.access.authorize import ACL_KEY, Authorizer, Decision
from smarts3.access.principals import Principal, Principals, grant
from smarts3.s3.errors import S3Error
from smarts3.s3.operations import Op
from smarts3.storage.base import NoSuchKey

READER = Principal("reader", "READERKEY", "secret", grants=(grant("mine", "read"),))


@dataclass
class _Info:
    extra: dict[str, str]
    meta: Any = None

    def __post_init__(self) -> None:
        self.meta = self


@dataclass
class _Store:
    """Just what the authorizer reads: bucket and object ACLs."""

    objects: dict[tuple[str, str], str] = field(default_factory=dict)

    async def get_bucket(self, bucket: str) -> _Info:
        return _Info({})

    async def head_object(self, bucket: str, key: str, version_id: str | None = None) -> _Info:
        if (bucket, key) not in self.objects:
            raise NoSuchKey(key)
        return _Info({ACL_KEY: self.objects[(bucket, key)]})


def _check(store: _Store, access_key: str | None, op: Op, key: str, headers: dict[str, str]) -> Decision:
    authorizer = Authorizer(Principals([READER]), store, lambda: frozenset({"declared-public"}))  # type: ignore[arg-type]
    return anyio.run(lambda: authorizer.check(access_key, op, "pub", key, headers))


def test_public_read_by_object_acl_is_gated_and_rechecked() -> None:
    store = _Store({("pub", "k"): "public-read"})
    decision = _check(store, None, Op.GET_OBJECT, "k", {})
    assert decision.acl_gated == {("pub", "k")}
    assert decision.still_readable("pub", "k", {ACL_KEY: "public-read"})
    # Overwritten as private between the check and the read: the new version is not served.
    assert not decision.still_readable("pub", "k", {ACL_KEY: "private"})
    assert not decision.still_readable("pub", "k", {})
    assert not decision.still_readable("pub", "k", {ACL_KEY: "authenticated-read"})  # anonymous


def test_copy_source_read_by_object_acl_is_gated() -> None:
    store = _Store({("pub", "src"): "authenticated-read"})
    headers = {"x-amz-copy-source": "/pub/src", "x-amz-tagging-directive": "REPLACE"}
    authorizer = Authorizer(
        Principals([Principal("w", "WKEY", "s", grants=(grant("mine", "write"),))]),
        store,  # type: ignore[arg-type]
        frozenset,
    )
    decision = anyio.run(lambda: authorizer.check("WKEY", Op.COPY_OBJECT, "mine", "dst", headers))
    assert decision.acl_gated == {("pub", "src")}
    assert decision.still_readable("pub", "src", {ACL_KEY: "authenticated-read"})  # signed
    assert not decision.still_readable("pub", "src", {ACL_KEY: "private"})


def test_grants_and_declared_public_buckets_are_not_gated() -> None:
    store = _Store({("pub", "k"): "private"})
    assert Decision(READER).still_readable("pub", "k", {ACL_KEY: "private"})
    authorizer = Authorizer(Principals([READER]), store, lambda: frozenset({"pub"}))  # type: ignore[arg-type]
    decision = anyio.run(lambda: authorizer.check(None, Op.GET_OBJECT, "pub", "k", {}))
    assert decision.acl_gated == frozenset()  # publicRead: true covers every object, whatever its ACL
    with pytest.raises(S3Error):
        _check(store, None, Op.GET_OBJECT, "k", {})  # private object in a bucket not declared public


ROOT = Principal("root", "ROOTKEY", "secret", root=True)


@pytest.mark.parametrize("op", [Op.GET_OBJECT, Op.HEAD_OBJECT, Op.DELETE_OBJECT, Op.PUT_OBJECT, Op.GET_OBJECT_ACL])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-amz-checksum-mode": "ENABLED", "range": "bytes=0-1"},
        {"x-amz-expected-bucket-owner": "someone-else"},
        {"x-amz-acl": "public-read"},
        {"x-amz-grant-read": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'},
    ],
)
def test_root_shortcut_decides_as_the_general_path(
    op: Op, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root's one-step decision for plain reads and deletes equals (or refuses as) the full walk."""
    from smarts3.access import authorize, pab

    principals = Principals([ROOT])

    def outcome() -> Decision | str:
        authorizer = Authorizer(
            principals,
            _Store(),  # type: ignore[arg-type]
            frozenset,
            public_access_block=pab.Block(True, True, True, True),
        )
        try:
            return anyio.run(lambda: authorizer.check("ROOTKEY", op, "mine", "k", headers))
        except S3Error as exc:
            return exc.code

    shortcut = outcome()
    monkeypatch.setattr(authorize, "_ROOT_SIMPLE", frozenset())
    assert shortcut == outcome()
