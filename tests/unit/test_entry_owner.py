"""listing.entry_owner: the <Owner> each listed object or version shows (issue 13)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from smarts3.access.ownership import ENFORCED, OWNER_ID, WRITER, BucketState
from smarts3.s3.handlers.listing import entry_owner
from smarts3.storage.base import ListEntry, VersionEntry

ALICE, BOB = "a" * 64, "b" * 64


def Entry(key: str, owner: str | None = None) -> ListEntry:
    """A listing entry whose extra names its object's owner (None: the bucket owner's)."""
    return ListEntry(key, 1, '"e"', 0.0, extra={OWNER_ID: owner} if owner else {})


def Bare(key: str) -> VersionEntry:
    """An entry listed without extra (storage was not asked for it): the bucket owner."""
    return VersionEntry(key, "null", True, False, 1, '"e"', 0.0)


def ctx(ownership: str | None) -> Any:
    state = BucketState(ALICE, ownership, None)
    return SimpleNamespace(access=SimpleNamespace(bucket=state), owner_id="root")


def test_each_entry_shows_its_own_owner() -> None:
    of = entry_owner(ctx(WRITER))
    assert of(Entry("k", BOB)) == f"<Owner><ID>{BOB}</ID></Owner>"
    assert of(Entry("k")) == f"<Owner><ID>{ALICE}</ID></Owner>"
    assert of(Bare("k")) == f"<Owner><ID>{ALICE}</ID></Owner>"


def test_bucket_owner_enforced_lists_the_bucket_owner_for_everything() -> None:
    of = entry_owner(ctx(ENFORCED))
    assert of(Entry("k", BOB)) == f"<Owner><ID>{ALICE}</ID></Owner>"
