"""The declared-configuration contract: schema file current, validation and parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smarts3.config.declared import DeclaredConfig, bucket_name_problem
from smarts3.sync import DeclaredError, parse

ROOT = Path(__file__).resolve().parents[2]


def test_committed_json_schema_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "declared.schema.json").read_text())
    assert committed == DeclaredConfig.model_json_schema(by_alias=True)


def test_example_in_docs_parses(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "declared.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "team-tools.secret").write_text("s3cret-from-a-file\n")
    config, secrets = parse(example, tmp_path)
    assert [b.name for b in config.buckets] == ["app-uploads", "public-assets", "scratch"]
    assert secrets["TEAMTOOLS000000001"] == "s3cret-from-a-file"


@pytest.mark.parametrize(
    "bad",
    [
        "buckets: [{name: Bad_Name}]",
        "buckets: [{name: ok-bucket, unknownKey: 1}]",
        "credentials: [{name: a, accessKeyId: AKIA1, grants: []}]",  # no secret
        "credentials: [{name: a, accessKeyId: AKIA1, secretAccessKey: s, grants: [{bucket: b, access: all}]}]",
        "buckets: [{name: dup}, {name: dup}]",
        "buckets: [unclosed",
    ],
)
def test_invalid_files_are_rejected(bad: str, tmp_path: Path) -> None:
    with pytest.raises(DeclaredError):
        parse(bad, tmp_path)


@pytest.mark.parametrize("name", ["my-bucket", "a.b.c", "abc"])
def test_valid_bucket_names(name: str) -> None:
    assert bucket_name_problem(name) is None
