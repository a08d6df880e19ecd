"""listing.entry_owner: the <Owner> each listed object or version shows (issue 13)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from smarts3.access.ownership import ENFORCED, WRITER, BucketState
from smarts3.s3.handlers.listing import entry_owner

ALICE, BOB = "a" * 64, "b" * 64


@dataclass(frozen=True, slots=True)
class Entry:  # a storage entry that carries its object's owner (extra["owner-id"]; None: the bucket owner's)
    key: str
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Bare:  # a storage entry without the field: lists the bucket owner
    key: str


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
