"""The declared-configuration contract: schema file current, validation and parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smarts3.config.checks import declared_problems
from smarts3.config.declared import DeclaredConfig, bucket_name_problem
from smarts3.sync import DeclaredError, parse

ROOT = Path(__file__).resolve().parents[2]


def test_committed_json_schema_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "declared.schema.json").read_text())
    assert committed == DeclaredConfig.model_json_schema(by_alias=True)


def test_example_in_docs_parses(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "declared.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    config, secrets = parse(example, tmp_path)
    assert [b.name for b in config.buckets] == ["app-uploads", "public-assets", "scratch"]
    assert set(secrets) == {"WEBAPP0000000000001", "TEAMTOOLS000000001", "ALICE00000000000001"}
    assert [(c.name, c.create_buckets, c.email) for c in config.credentials if c.create_buckets] == [
        ("alice", True, "alice@example.com")]
    # copied as it is into an empty directory, it passes the start-up checks: no file it needs is missing
    (tmp_path / "declared.yaml").write_text(example)
    assert declared_problems(tmp_path / "declared.yaml") == []


def test_secret_file_is_read_relative_to_the_declared_file(tmp_path: Path) -> None:
    text = "credentials: [{name: t, accessKeyId: TEAMTOOLS000000001, secretAccessKeyFile: t.secret}]"
    (tmp_path / "declared.yaml").write_text(text)
    [missing] = declared_problems(tmp_path / "declared.yaml")
    assert "credentials[0].secretAccessKeyFile = 't.secret'" in missing and "cannot read" in missing
    (tmp_path / "t.secret").write_text("\n")
    [empty] = declared_problems(tmp_path / "declared.yaml")
    assert "is empty" in empty
    (tmp_path / "t.secret").write_text("s3cret-from-a-file\n")
    assert declared_problems(tmp_path / "declared.yaml") == []
    assert parse(text, tmp_path)[1]["TEAMTOOLS000000001"] == "s3cret-from-a-file"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("buckets: [{name: Bad_Name}]", "buckets[0].name = 'Bad_Name': invalid bucket name 'Bad_Name'"),
        ("buckets: [{name: ok-bucket, colour: red}]",
         "buckets[0].colour = 'red': unknown key; allowed: name, publicRead, cors, deletionPolicy, policy, "
         "publicAccessBlock"),
        ("credentials: [{name: a, accessKeyId: AKIA1, secretAccessKey: s, grants: [{bucket: b, access: all}]}]",
         "credentials[0].grants[0].access = 'all': Input should be 'read', 'write', 'readwrite' or 'admin'"),
        ("credentials: [{name: a, accessKeyId: AKIA1, secretAccessKey: 1234, grants: []}]",
         "credentials[0].secretAccessKey = ********: Input should be a valid string"),
        ("buckets: [{name: dup}, {name: dup}]", "bucket names must be unique"),
        ("bucketz: []", "bucketz = []: unknown key; allowed: generation, buckets, credentials, deletions"),
                ("credentials: [{name: a, accessKeyId: AKIA1, secretAccessKey: s},"
         " {name: a, accessKeyId: AKIA2, secretAccessKey: s}]", "credential names must be unique"),
        ("credentials: [{name: a, accessKeyId: AKIA1, secretAccessKey: s, email: x@example.com},"
         " {name: b, accessKeyId: AKIA2, secretAccessKey: s, email: X@example.com}]",
         "email 'X@example.com' is given to two identities"),
        ('credentials: [{name: "a\\u0000", accessKeyId: AKIA1, secretAccessKey: s}]', "credentials[0].name"),
        ("credentials: [{name: a, accessKeyId: AKIA1, secretAccessKey: s, createBuckets: maybe}]",
         "credentials[0].createBuckets = 'maybe'"),
    ],
)
def test_errors_name_the_key_the_value_and_what_is_allowed(text: str, line: str, tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(text)
    [problem] = declared_problems(tmp_path / "d.yaml")
    assert problem.startswith(f"{tmp_path / 'd.yaml'}: {line}")
    assert "pydantic" not in problem


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


def test_an_invalid_declared_policy_is_refused_with_the_reason(tmp_path: Path) -> None:
    from smarts3.config.checks import declared_problems
    from smarts3.sync import DeclaredError

    text = ('buckets: [{name: site, policy: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: "*",'
            ' Action: "s3:GetObject", Resource: "arn:aws:s3:::elsewhere/*"}]}}]')
    with pytest.raises(DeclaredError, match=r"buckets\[0\]\.policy: invalid policy for bucket site: .*resource"):
        parse(text, tmp_path)
    (tmp_path / "d.yaml").write_text(text)
    assert declared_problems(tmp_path / "d.yaml", setting=None) == [
        f"{tmp_path / 'd.yaml'}: buckets[0].policy: invalid policy for bucket site: Policy has invalid resource"
    ]
    parse(text.replace("elsewhere", "site"), tmp_path)
