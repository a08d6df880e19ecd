"""The operation → access table: docs/security.md says exactly what actions.ACCESS does, and
needs() turns a row into every (action, bucket, key) a request touches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smarts3.access.actions import ACCESS, Access, Action, Extra, Need, Public, needs
from smarts3.s3.dispatch import HANDLERS
from smarts3.s3.errors import S3Error
from smarts3.s3.operations import Op

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def _section(text: str, heading: str) -> str:
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _rows(section: str, header: str) -> list[list[str]]:
    """The body rows of the markdown table whose header row starts with `header`."""
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _action(cell: str) -> Action:
    match = re.fullmatch(r"`(\w+)`", cell)
    assert match, cell
    return Action(match.group(1))


def _extras(cell: str) -> tuple[Extra, ...]:
    return () if cell == "—" else tuple(Extra(part.strip()) for part in cell.split(";"))


SECTION = _section(DOC.read_text(), "Operation → access")
IMPLEMENTED = {
    Op(op): Access(_action(action), Public(public), _extras(extra))
    for op, action, public, extra in _rows(SECTION, "Operation")
}
NOT_IMPLEMENTED = {
    Op(name.strip()): Access(_action(action))
    for action, names in _rows(SECTION, "Grant needed")
    for name in names.split(",")
}


def test_every_operation_has_a_row_except_the_unsigned_preflight() -> None:
    assert set(ACCESS) == set(Op) - {Op.CORS_PREFLIGHT}


def test_doc_table_lists_exactly_the_implemented_operations() -> None:
    assert set(IMPLEMENTED) == set(HANDLERS)
    assert len(_rows(SECTION, "Operation")) == len(IMPLEMENTED)  # no operation twice


@pytest.mark.parametrize("op", sorted(HANDLERS, key=str), ids=str)
def test_doc_row_matches_code(op: Op) -> None:
    assert IMPLEMENTED[op] == ACCESS[op]


def test_not_implemented_list_matches_code() -> None:
    assert set(NOT_IMPLEMENTED) == set(ACCESS) - set(HANDLERS)
    assert sum(len(names.split(",")) for _, names in _rows(SECTION, "Grant needed")) == len(NOT_IMPLEMENTED)
    for op, access in NOT_IMPLEMENTED.items():
        assert ACCESS[op] == access, op


def test_public_access_never_reaches_tagging_acl_uploads_or_versions() -> None:
    public = {op for op, access in ACCESS.items() if access.public is not Public.NO}
    assert public == {
        Op.GET_OBJECT,
        Op.HEAD_OBJECT,
        Op.GET_OBJECT_ATTRIBUTES,  # READ on the object, as GetObject
        Op.LIST_OBJECTS,
        Op.LIST_OBJECTS_V2,
        Op.HEAD_BUCKET,
        Op.GET_BUCKET_LOCATION,
    }


def test_acl_changes_need_admin() -> None:
    assert ACCESS[Op.PUT_OBJECT_ACL].action is Action.ADMIN
    assert ACCESS[Op.PUT_BUCKET_ACL].action is Action.ADMIN


def test_copy_needs_write_on_the_destination_and_read_on_the_source() -> None:
    headers = {"x-amz-copy-source": "/secret/pass%20words.txt?versionId=null", "x-amz-tagging-directive": "REPLACE"}
    for op in (Op.COPY_OBJECT, Op.UPLOAD_PART_COPY):
        assert list(needs(op, "mine", "copy", headers)) == [
            Need(Action.WRITE, "mine", "copy"),
            Need(Action.READ, "secret", "pass words.txt", Public.OBJECT, version="null"),  # that version's ACL
        ]


@pytest.mark.parametrize("directive", [None, "COPY", "copy", "bogus"])
def test_copying_the_source_tags_needs_a_read_grant_on_the_source(directive: str | None) -> None:
    headers = {"x-amz-copy-source": "pub/logo.svg"}
    if directive is not None:
        headers["x-amz-tagging-directive"] = directive
    assert list(needs(Op.COPY_OBJECT, "mine", "copy", headers)) == [
        Need(Action.WRITE, "mine", "copy"),
        Need(Action.READ, "pub", "logo.svg", Public.OBJECT),
        Need(Action.READ, "pub", "logo.svg"),  # GetObjectTagging's rule: no public access
    ]
    # A part copy takes bytes only.
    assert Need(Action.READ, "pub", "logo.svg") not in list(needs(Op.UPLOAD_PART_COPY, "mine", "copy", headers))


@pytest.mark.parametrize(
    ("acl", "admin"),
    [
        (None, False),
        ("private", False),
        ("bucket-owner-read", False),
        ("bucket-owner-full-control", False),
        ("public-read", True),
        ("public-read-write", True),
        ("authenticated-read", True),
        ("something-new", True),  # unknown values are refused later, but never let through as narrow
    ],
)
@pytest.mark.parametrize("op", [Op.PUT_OBJECT, Op.COPY_OBJECT, Op.CREATE_MULTIPART_UPLOAD, Op.CREATE_BUCKET])
def test_widening_canned_acl_needs_admin(op: Op, acl: str | None, admin: bool) -> None:
    headers = {"x-amz-copy-source": "mine/src"} if op is Op.COPY_OBJECT else {}
    if acl is not None:
        headers["x-amz-acl"] = acl
    found = list(needs(op, "mine", "k", headers))
    assert (Need(Action.ADMIN, "mine", "k") in found) is (admin or op is Op.CREATE_BUCKET)


def test_own_resource_is_decided_before_the_copy_source_is_parsed() -> None:
    touched = needs(Op.COPY_OBJECT, "mine", "k", {"x-amz-copy-source": "no-key-here"})
    assert next(touched) == Need(Action.WRITE, "mine", "k")
    with pytest.raises(S3Error) as err:
        next(touched)
    assert err.value.code == "InvalidArgument"


def test_operations_without_a_second_resource_ignore_a_copy_source_header() -> None:
    headers = {"x-amz-copy-source": "secret/x", "x-amz-acl": "public-read"}
    assert list(needs(Op.PUT_OBJECT_TAGGING, "mine", "k", headers)) == [Need(Action.WRITE, "mine", "k")]
