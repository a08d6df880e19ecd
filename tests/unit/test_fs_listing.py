"""list_objects: byte order, prefix, delimiter, markers, exact truncation."""

from __future__ import annotations

import itertools
import random
import time
from pathlib import Path

import anyio
import pytest

from smarts3.storage.fs import FilesystemStore
from tests.unit.fs_support import BUCKET, put, with_store


def reference(keys: list[str], prefix: str, delimiter: str, start_after: str) -> list[str]:
    """Everything a full listing returns, common prefixes marked with a leading '>'."""
    b = str.encode
    skip: str | None = None
    if delimiter and start_after.startswith(prefix):
        cut = start_after.find(delimiter, len(prefix))
        if cut >= 0:
            skip = start_after[: cut + len(delimiter)]
    out: list[str] = []
    for key in sorted(keys, key=b):
        if not key.startswith(prefix) or b(key) <= b(start_after):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            cp = key[: cut + len(delimiter)]
            if cp != skip and (not out or out[-1] != ">" + cp):
                out.append(">" + cp)
        else:
            out.append(key)
    return out


async def paginate(store: FilesystemStore, prefix: str, delimiter: str, start_after: str, max_keys: int) -> list[str]:
    expected = reference(KEYS, prefix, delimiter, start_after)
    got: list[str] = []
    marker = start_after
    for _ in range(len(KEYS) + 2):
        page = await store.list_objects(
            BUCKET, prefix=prefix, delimiter=delimiter, start_after=marker, max_keys=max_keys
        )
        items = sorted(
            [e.key for e in page.entries] + [">" + p for p in page.common_prefixes],
            key=lambda s: s.lstrip(">").encode(),
        )
        assert len(items) <= max_keys
        got.extend(items)
        assert page.is_truncated == (len(got) < len(expected)), (got, expected)
        if not page.is_truncated:
            break
        assert page.next_marker == items[-1].lstrip(">")
        marker = page.next_marker
    assert got == expected
    return got


_rng = random.Random(1234)
_ALPHABET = ["a", "b", "/", "é", "😀", "\x01", "-", "ab/", "z"]
KEYS = sorted({"".join(_rng.choices(_ALPHABET, k=_rng.randint(1, 5))) for _ in range(400)})


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("listing")

    async def main(store: FilesystemStore) -> None:
        for key in KEYS:
            await put(store, key, b"")

    with_store(data_dir, main)
    return data_dir


@pytest.mark.parametrize("delimiter", ["", "/", "ab/", "é😀"])
@pytest.mark.parametrize("prefix", ["", "a", "a/", "é", "q"])
def test_listing_matches_reference(populated: Path, prefix: str, delimiter: str) -> None:
    markers = ["", "a/", "b", "ab/a", "é/", "😀😀😀", *_rng.sample(KEYS, 3)]

    async def main(store: FilesystemStore) -> None:
        for start_after, max_keys in itertools.product(markers, [1, 3, 1000]):
            await paginate(store, prefix, delimiter, start_after, max_keys)

    with_store(populated, main)


def test_utf8_byte_order(tmp_path: Path) -> None:
    keys = ["é", "z", "\x01", "a/b", "a", "😀", "a\x01", "A", "~", "\u00ff", "\uffff"]

    async def main(store: FilesystemStore) -> list[str]:
        for k in keys:
            await put(store, k, b"x")
        return [e.key for e in (await store.list_objects(BUCKET)).entries]

    assert with_store(tmp_path, main) == sorted(keys, key=lambda k: k.encode("utf-8"))


def test_delimiter_common_prefixes_and_markers(tmp_path: Path) -> None:
    keys = ["photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "photos/x.jpg", "p"]

    async def main(store: FilesystemStore) -> None:
        for k in keys:
            await put(store, k, b"x")
        page = await store.list_objects(BUCKET, prefix="photos/", delimiter="/")
        assert page.common_prefixes == ["photos/2024/", "photos/2025/"]
        assert [e.key for e in page.entries] == ["photos/x.jpg"]
        assert not page.is_truncated and page.next_marker == "photos/x.jpg"
        # A marker inside a common prefix does not bring that prefix back.
        page = await store.list_objects(BUCKET, prefix="photos/", delimiter="/", start_after="photos/2024/a.jpg")
        assert page.common_prefixes == ["photos/2025/"]
        # Exactly max_keys results left: not truncated.
        page = await store.list_objects(BUCKET, prefix="photos/", delimiter="/", max_keys=3)
        assert not page.is_truncated
        page = await store.list_objects(BUCKET, prefix="photos/", delimiter="/", max_keys=2)
        assert page.is_truncated and page.next_marker == "photos/2025/"
        page = await store.list_objects(BUCKET, delimiter="/2024/")
        assert page.common_prefixes == ["photos/2024/"]
        assert [e.key for e in page.entries] == ["p", "photos/2025/c.jpg", "photos/x.jpg"]
        empty = await store.list_objects(BUCKET, max_keys=0)
        assert (empty.entries, empty.common_prefixes, empty.next_marker) == ([], [], None)

    with_store(tmp_path, main)


def test_entries_carry_checksum_algorithms(tmp_path: Path) -> None:
    from smarts3.storage.base import ObjectMeta

    meta = ObjectMeta(checksums={"SHA256": "x", "CRC32": "y"}, checksum_type="FULL_OBJECT")

    async def main(store: FilesystemStore) -> None:
        info = await put(store, "k", b"abc", meta=meta)
        (entry,) = (await store.list_objects(BUCKET)).entries
        assert entry.checksum_algorithms == ("CRC32", "SHA256")
        assert entry.checksum_type == "FULL_OBJECT"
        assert (entry.size, entry.etag, entry.last_modified) == (3, info.etag, info.last_modified)

    with_store(tmp_path, main)


@pytest.mark.slow
def test_page_over_ten_thousand_keys_is_fast(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> float:
        async with anyio.create_task_group() as tg:
            for w in range(10):
                tg.start_soon(_fill, store, w)
        best = 1.0
        for _ in range(5):
            t0 = time.perf_counter()
            page = await store.list_objects(BUCKET, prefix="key-", start_after="key-03000")
            best = min(best, time.perf_counter() - t0)
            assert len(page.entries) == 1000 and page.is_truncated
        return best

    assert with_store(tmp_path, main) < 0.1


async def _fill(store: FilesystemStore, w: int) -> None:
    for i in range(w, 10_000, 10):
        await put(store, f"key-{i:05d}", b"")
