"""ACL grants and identities as pure functions: canned expansion, stored form, headers, documents."""

from __future__ import annotations

import pytest

from smarts3.access import grants
from smarts3.access.acl import parse_policy, requested, widens
from smarts3.access.grants import ALL_USERS, AUTHENTICATED_USERS, Grant
from smarts3.access.principals import Principal, Principals, canonical_id
from smarts3.s3.errors import S3Error

ALICE = Principal("alice", "AKALICE", "s", email="alice@example.com")
ALICE_OLD_KEY = Principal("alice@previous", "AKALICEOLD", "s", identity="alice")
BOB = Principal("bob", "AKBOB", "s")
ROOT = Principal("root", "AKROOT", "s", root=True)
DIRECTORY = Principals([ROOT, ALICE, ALICE_OLD_KEY, BOB])


def test_canonical_ids_are_64_hex_stable_and_follow_the_identity() -> None:
    assert len(ALICE.id) == 64 and int(ALICE.id, 16) >= 0
    assert ALICE.id == canonical_id("alice") == ALICE_OLD_KEY.id  # two keys, one user
    assert len({ALICE.id, BOB.id, ROOT.id}) == 3
    assert Principal("root", "OTHER", "s", root=True).id == ROOT.id  # root's id ignores its key
    assert ROOT.id != Principal("root", "AKR2", "s").id  # a declared credential named "root" is not root
    assert DIRECTORY.known_id(BOB.id) and not DIRECTORY.known_id("0" * 64)
    assert DIRECTORY.id_for_email("ALICE@example.com") == ALICE.id


@pytest.mark.parametrize(("canned", "expected"), [
    ("private", {("o", "FULL_CONTROL")}),
    ("public-read", {("o", "FULL_CONTROL"), (ALL_USERS, "READ")}),
    ("authenticated-read", {("o", "FULL_CONTROL"), (AUTHENTICATED_USERS, "READ")}),
    ("bucket-owner-read", {("o", "FULL_CONTROL"), ("b", "READ")}),
    ("bucket-owner-full-control", {("o", "FULL_CONTROL"), ("b", "FULL_CONTROL")}),
])
def test_canned_acls_expand_against_the_owners(canned: str, expected: set[tuple[str, str]]) -> None:
    assert {(g.grantee, g.permission) for g in grants.canned(canned, "o", "b")} == expected


def test_stored_form_round_trips_and_fails_closed() -> None:
    listed = (Grant(BOB.id, "READ"), Grant(ALL_USERS, "WRITE"))
    assert grants.load(grants.dump(listed), "o", "b") == listed
    assert grants.load(None, "o", "b") == (Grant("o", "FULL_CONTROL"),)
    for garbage in ("[not json", "[[1]]", "no-such-canned-acl"):
        assert grants.load(garbage, "o", "b") == (Grant("o", "FULL_CONTROL"),)


def test_permits() -> None:
    listed = (Grant(BOB.id, "FULL_CONTROL"), Grant(AUTHENTICATED_USERS, "READ"), Grant(ALL_USERS, "WRITE"))
    assert grants.permits(listed, "WRITE_ACP", BOB.id)  # FULL_CONTROL covers every permission
    assert grants.permits(listed, "READ", ALICE.id) and not grants.permits(listed, "READ", None)
    assert grants.permits(listed, "WRITE", None)
    assert not grants.permits(listed, "READ", ALICE.id, groups=False)
    assert not grants.permits(listed, "READ_ACP", ALICE.id)


def test_grant_headers() -> None:
    headers = {"x-amz-grant-read": f'id="{BOB.id}", uri="{ALL_USERS}"',
               "x-amz-grant-write-acp": 'emailAddress="alice@example.com"'}
    stored = requested(headers, DIRECTORY)
    assert stored is not None
    assert set(grants.load(stored, "o", "b")) == {
        Grant(BOB.id, "READ"), Grant(ALL_USERS, "READ"), Grant(ALICE.id, "WRITE_ACP")}
    assert requested({"x-amz-acl": "public-read"}, DIRECTORY) == "public-read"
    assert requested({}, DIRECTORY) is None
    assert widens({"x-amz-grant-read": f'id="{BOB.id}"'}) and widens({"x-amz-acl": "public-read"})
    assert not widens({"x-amz-acl": "bucket-owner-full-control"})


@pytest.mark.parametrize(("headers", "code"), [
    ({"x-amz-grant-read": 'id="' + "0" * 64 + '"'}, "InvalidArgument"),
    ({"x-amz-grant-read": 'uri="http://example.com/g"'}, "InvalidArgument"),
    ({"x-amz-grant-read": 'emailAddress="bob@example.com"'}, "UnresolvableGrantByEmailAddress"),
    ({"x-amz-grant-read": "id"}, "InvalidArgument"),
    ({"x-amz-grant-read": ""}, "InvalidArgument"),
    ({"x-amz-acl": "private", "x-amz-grant-read": f'uri="{ALL_USERS}"'}, "InvalidRequest"),
    ({"x-amz-acl": "everyone"}, "InvalidArgument"),
])
def test_bad_grant_headers(headers: dict[str, str], code: str) -> None:
    with pytest.raises(S3Error) as err:
        requested(headers, DIRECTORY)
    assert (err.value.code, err.value.status) == (code, 400)


def test_at_most_100_grants() -> None:
    assert requested({"x-amz-grant-read": ", ".join([f'id="{BOB.id}"'] * 100)}, DIRECTORY) is not None
    with pytest.raises(S3Error) as err:
        requested({"x-amz-grant-read": ", ".join([f'id="{BOB.id}"'] * 101)}, DIRECTORY)
    assert err.value.code == "MalformedACLError"


def test_policy_documents() -> None:
    body = (
        '<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Owner><ID>x</ID></Owner><AccessControlList>'
        f'<Grant><Grantee xsi:type="CanonicalUser"><ID>{BOB.id}</ID></Grantee><Permission>READ</Permission></Grant>'
        f'<Grant><Grantee xsi:type="Group"><URI>{ALL_USERS}</URI></Grantee><Permission>WRITE</Permission></Grant>'
        "</AccessControlList></AccessControlPolicy>"
    ).encode()
    assert parse_policy(body, DIRECTORY) == (Grant(BOB.id, "READ"), Grant(ALL_USERS, "WRITE"))
    for bad in (b"<AccessControlPolicy/>", b"<Other><AccessControlList/></Other>",
                b"<AccessControlPolicy><AccessControlList><Grant><Permission>READ</Permission></Grant>"
                b"</AccessControlList></AccessControlPolicy>"):
        with pytest.raises(S3Error) as err:
            parse_policy(bad, DIRECTORY)
        assert err.value.code == "MalformedACLError"
