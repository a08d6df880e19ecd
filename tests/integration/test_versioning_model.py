"""Versioning against a reference model: a seeded random mix of puts, deletes, version deletes
and state changes over a few keys, then every listing (small pages, prefixes, delimiters) and
every version's body compared exactly with what the model says S3 must hold."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode

import defusedxml.ElementTree as ET
import pytest

from tests.integration.helpers import signed

pytestmark = pytest.mark.both_metadata

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
KEYS = ["a", "a-", "a/b", "a/c/d", "a/c/e", "b", "b/x", "é", "z/"]


@dataclass
class Version:
    version_id: str
    marker: bool
    body: bytes = b""


@dataclass
class Model:
    state: str = ""
    keys: dict[str, list[Version]] = field(default_factory=dict)  # newest first

    def put(self, key: str, version_id: str | None, body: bytes) -> None:
        self._write(key, Version(version_id or "null", False, body))

    def delete(self, key: str, marker_id: str | None) -> None:
        if not self.state:
            self.keys.pop(key, None)
            return
        self._write(key, Version(marker_id or "null", True))

    def _write(self, key: str, version: Version) -> None:
        versions = self.keys.setdefault(key, [])
        if self.state == "Enabled":
            versions.insert(0, version)
            return
        # Unversioned or Suspended: the new version replaces the null version.
        versions[:] = [version, *(v for v in versions if v.version_id != "null")]

    def delete_version(self, key: str, version_id: str) -> None:
        versions = self.keys.get(key, [])
        versions[:] = [v for v in versions if v.version_id != version_id]
        if not versions:
            self.keys.pop(key, None)

    def listing(self, prefix: str, delimiter: str) -> list[tuple[str, ...]]:
        """Every row ListObjectVersions returns, in order: versions, markers and prefixes."""
        out: list[tuple[str, ...]] = []
        for key in sorted(self.keys, key=lambda k: k.encode()):
            if not key.startswith(prefix):
                continue
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = ("prefix", key[: cut + len(delimiter)])
                if not out or out[-1] != common:
                    out.append(common)
                continue
            for i, v in enumerate(self.keys[key]):
                out.append(("marker" if v.marker else "version", key, v.version_id, str(i == 0)))
        return out


def _server_listing(
    server: Any, bucket: str, prefix: str, delimiter: str, max_keys: int
) -> list[tuple[str, ...]]:
    """Every row of every page in listing order, from the raw XML (boto3 splits versions from markers)."""
    rows: list[tuple[str, ...]] = []
    params = {"versions": "", "prefix": prefix, "max-keys": str(max_keys), "encoding-type": "url"}
    if delimiter:
        params["delimiter"] = delimiter
    while True:
        response = signed("GET", f"{server.url}/{bucket}?{urlencode(params, quote_via=quote)}")
        assert response.status_code == 200, response.text
        root = ET.fromstring(response.content)
        page: list[tuple[str, ...]] = []
        for element in root:
            tag = element.tag.rpartition("}")[2]
            if tag in ("Version", "DeleteMarker"):
                page.append((
                    "version" if tag == "Version" else "marker",
                    unquote(_text(element, "Key")),
                    _text(element, "VersionId"),
                    _text(element, "IsLatest").capitalize(),
                ))
            elif tag == "CommonPrefixes":
                page.append(("prefix", unquote(_text(element, "Prefix"))))
        assert len(page) <= max_keys
        # CommonPrefixes follow the entries in the XML; in listing order they sit between keys
        # (a stable sort by key keeps each key's versions and markers in document order).
        rows.extend(sorted(page, key=lambda row: row[1].encode()))
        if _text(root, "IsTruncated") != "true":
            return rows
        assert len(page) == max_keys  # only the last page may be short
        params["key-marker"] = unquote(_text(root, "NextKeyMarker"))
        version_marker = root.find(f"{NS}NextVersionIdMarker")
        if version_marker is not None:
            params["version-id-marker"] = version_marker.text or ""
        else:
            params.pop("version-id-marker", None)


def _text(element: Any, name: str) -> str:
    found = element.find(f"{NS}{name}")
    assert found is not None, name
    return str(found.text or "")


@pytest.mark.parametrize("seed", [7, 2026])
def test_random_operations_match_the_model(server: Any, s3: Any, bucket: str, seed: int) -> None:
    rng = random.Random(seed)
    model = Model()
    for step in range(300):
        op = rng.choices(["put", "delete", "delete_version", "state"], weights=[45, 25, 22, 8])[0]
        key = rng.choice(KEYS)
        if op == "put":
            body = f"{seed}-{step}-{key}".encode() * rng.randint(1, 3)
            model.put(key, s3.put_object(Bucket=bucket, Key=key, Body=body).get("VersionId"), body)
        elif op == "delete":
            response = s3.delete_object(Bucket=bucket, Key=key)
            assert response.get("DeleteMarker", False) == bool(model.state)
            model.delete(key, response.get("VersionId"))
        elif op == "delete_version":
            known = [v.version_id for v in model.keys.get(key, [])] or ["null"]
            version_id = rng.choice(known)
            response = s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
            assert response["VersionId"] == version_id
            model.delete_version(key, version_id)
        else:
            model.state = rng.choice(["Enabled", "Suspended"])
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": model.state})

    for prefix, delimiter, max_keys in [
        ("", "", 1000), ("", "", 1), ("", "", 3), ("", "/", 2), ("a", "/", 1), ("a/", "/", 2),
        ("a/c", "", 2), ("a/", "", 7), ("", "-", 3), ("z", "/", 1), ("nothing", "", 5),
    ]:
        expected = model.listing(prefix, delimiter)
        assert _server_listing(server, bucket, prefix, delimiter, max_keys) == expected, (prefix, delimiter, max_keys)

    current = sorted((k for k, vs in model.keys.items() if not vs[0].marker), key=lambda k: k.encode())
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == current
    for key, versions in model.keys.items():
        for v in versions:
            if not v.marker:
                assert s3.get_object(Bucket=bucket, Key=key, VersionId=v.version_id)["Body"].read() == v.body
        if versions[0].marker:
            with pytest.raises(s3.exceptions.ClientError) as err:
                s3.get_object(Bucket=bucket, Key=key)
            assert err.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
        else:
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == versions[0].body
