"""Identities, bucket ownership, ACL grants and ownership controls over real HTTP (issue 13).

Three declared credentials with no bucket grants: alice and bob may create buckets (`createBuckets`),
carol may not; alice and bob have an email address ACLs can name. Everything they reach beyond their own
buckets, they reach through an ACL.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, start_subprocess_server
from tests.integration.helpers import client_error
from tests.integration.test_access import client, denied, write_atomically

ROOT = (ACCESS_KEY, SECRET_KEY)
ALICE = ("ALICEKEY00000000001", "alice-secret-00000000000000000000000001")
ALICE_ROTATED = ("ALICEKEY00000000002", "alice-secret-00000000000000000000000002")
BOB = ("BOBKEY0000000000001", "bob-secret-0000000000000000000000000001")
CAROL = ("CAROLKEY00000000001", "carol-secret-00000000000000000000000001")
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


def declared(alice_key: tuple[str, str] = ALICE) -> dict[str, Any]:
    return {"credentials": [
        {"name": "alice", "accessKeyId": alice_key[0], "secretAccessKey": alice_key[1], "createBuckets": True,
         "email": "alice@example.com"},
        {"name": "bob", "accessKeyId": BOB[0], "secretAccessKey": BOB[1], "createBuckets": True,
         "email": "Bob@Example.com"},
        {"name": "carol", "accessKeyId": CAROL[0], "secretAccessKey": CAROL[1]},
    ]}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("ownership")
    (base / "declared").mkdir()
    path = base / "declared" / "declared.yaml"
    write_atomically(path, declared())
    proc, url = start_subprocess_server(base / "data", "--declared", str(path), "--fsync", "never")
    yield url, path
    proc.terminate()
    proc.wait(timeout=30)


def ids(url: str) -> dict[str, str]:
    return {name: client(url, key).list_buckets()["Owner"]["ID"]
            for name, key in (("root", ROOT), ("alice", ALICE), ("bob", BOB), ("carol", CAROL))}


def fails(call: Any, code: str, status: int) -> None:
    with pytest.raises(ClientError) as err:
        call()
    assert client_error(err.value) == (code, status)


def grants(acl: dict[str, Any]) -> set[tuple[str, str]]:
    return {(g["Grantee"].get("ID") or g["Grantee"]["URI"], g["Permission"]) for g in acl["Grants"]}


def test_every_credential_has_a_stable_canonical_id(env: tuple[str, Path]) -> None:
    url, _ = env
    first = ids(url)
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in first.values())
    assert len(set(first.values())) == 4
    assert ids(url) == first
    assert "DisplayName" not in client(url, ALICE).list_buckets()["Owner"]


def test_created_buckets_are_owned_by_their_creator(env: tuple[str, Path]) -> None:
    url, _ = env
    who = ids(url)
    alice, bob, carol, root = client(url, ALICE), client(url, BOB), client(url, CAROL), client(url, ROOT)
    alice.create_bucket(Bucket="alice-own")
    alice.create_bucket(Bucket="alice-own")  # your own again in us-east-1: 200, as AWS
    fails(lambda: bob.create_bucket(Bucket="alice-own"), "BucketAlreadyExists", 409)
    denied(lambda: carol.create_bucket(Bucket="carol-own"))  # no createBuckets
    # The owner has full control without any grant.
    alice.put_object(Bucket="alice-own", Key="k", Body=b"alice's")
    assert alice.get_object(Bucket="alice-own", Key="k")["Body"].read() == b"alice's"
    alice.put_bucket_tagging(Bucket="alice-own", Tagging={"TagSet": [{"Key": "team", "Value": "a"}]})
    acl = alice.get_bucket_acl(Bucket="alice-own")
    assert acl["Owner"] == {"ID": who["alice"]}
    assert grants(acl) == {(who["alice"], "FULL_CONTROL")}
    assert alice.get_object_acl(Bucket="alice-own", Key="k")["Owner"] == {"ID": who["alice"]}
    listed = alice.list_objects_v2(Bucket="alice-own", FetchOwner=True)["Contents"]
    assert [c["Owner"]["ID"] for c in listed] == [who["alice"]]
    assert "alice-own" in [b["Name"] for b in alice.list_buckets()["Buckets"]]
    assert "alice-own" not in [b["Name"] for b in bob.list_buckets()["Buckets"]]
    for call in (lambda: bob.list_objects_v2(Bucket="alice-own"), lambda: bob.get_object(Bucket="alice-own", Key="k"),
                 lambda: bob.put_object(Bucket="alice-own", Key="x", Body=b"x"),
                 lambda: bob.get_bucket_acl(Bucket="alice-own")):
        denied(call)
    assert root.get_object(Bucket="alice-own", Key="k")["Body"].read() == b"alice's"  # root administers all
    # x-amz-expected-bucket-owner is the bucket's own owner.
    alice.head_bucket(Bucket="alice-own", ExpectedBucketOwner=who["alice"])
    denied(lambda: alice.list_objects_v2(Bucket="alice-own", ExpectedBucketOwner=who["root"]))
    root.create_bucket(Bucket="root-own")
    root.head_bucket(Bucket="root-own", ExpectedBucketOwner=who["root"])


def test_grants_by_header_and_document_name_users_by_id_and_email(env: tuple[str, Path]) -> None:
    url, _ = env
    who = ids(url)
    alice, bob, carol = client(url, ALICE), client(url, BOB), client(url, CAROL)
    alice.create_bucket(Bucket="alice-shared")
    alice.put_object(Bucket="alice-shared", Key="doc", Body=b"doc")
    alice.put_bucket_acl(Bucket="alice-shared", GrantRead=f'id="{who["bob"]}"')
    assert [c["Key"] for c in bob.list_objects_v2(Bucket="alice-shared")["Contents"]] == ["doc"]
    denied(lambda: bob.put_object(Bucket="alice-shared", Key="b", Body=b"b"))
    denied(lambda: bob.get_object(Bucket="alice-shared", Key="doc"))  # the bucket's ACL never reads objects
    denied(lambda: carol.list_objects_v2(Bucket="alice-shared"))
    # An AccessControlPolicy document, naming bob by email (case-insensitive) this time: WRITE, not READ.
    alice.put_bucket_acl(Bucket="alice-shared", AccessControlPolicy={
        "Owner": {"ID": who["alice"]},
        "Grants": [{"Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": "bob@example.com"},
                    "Permission": "WRITE"},
                   {"Grantee": {"Type": "CanonicalUser", "ID": who["carol"]}, "Permission": "READ_ACP"}]})
    acl = alice.get_bucket_acl(Bucket="alice-shared")
    assert acl["Owner"] == {"ID": who["alice"]}
    assert grants(acl) == {(who["bob"], "WRITE"), (who["carol"], "READ_ACP")}
    assert grants(carol.get_bucket_acl(Bucket="alice-shared")) == grants(acl)
    denied(lambda: carol.put_bucket_acl(Bucket="alice-shared", ACL="public-read"))
    bob.put_object(Bucket="alice-shared", Key="from-bob", Body=b"b")
    denied(lambda: bob.list_objects_v2(Bucket="alice-shared"))
    # The object ACL alone decides who reads an object.
    alice.put_object_acl(Bucket="alice-shared", Key="doc", GrantRead=f'id="{who["carol"]}", id="{who["bob"]}"',
                         GrantReadACP=f'id="{who["carol"]}"')
    assert carol.get_object(Bucket="alice-shared", Key="doc")["Body"].read() == b"doc"
    assert bob.get_object(Bucket="alice-shared", Key="doc")["Body"].read() == b"doc"
    assert grants(carol.get_object_acl(Bucket="alice-shared", Key="doc")) == {
        (who["carol"], "READ"), (who["bob"], "READ"), (who["carol"], "READ_ACP")}
    denied(lambda: bob.get_object_acl(Bucket="alice-shared", Key="doc"))
    denied(lambda: carol.put_object_acl(Bucket="alice-shared", Key="doc", ACL="public-read"))


def test_bad_grantees_are_refused(env: tuple[str, Path]) -> None:
    url, _ = env
    alice = client(url, ALICE)
    alice.create_bucket(Bucket="alice-bad")
    fails(lambda: alice.put_bucket_acl(Bucket="alice-bad", GrantRead='id="' + "0" * 64 + '"'), "InvalidArgument", 400)
    fails(lambda: alice.put_bucket_acl(Bucket="alice-bad", GrantRead='emailAddress="nobody@example.com"'),
          "UnresolvableGrantByEmailAddress", 400)
    fails(lambda: alice.put_bucket_acl(Bucket="alice-bad", GrantRead='uri="http://example.com/group"'),
          "InvalidArgument", 400)
    fails(lambda: alice.put_object(Bucket="alice-bad", Key="k", Body=b"x", ACL="public-read",
                                   GrantRead=f'uri="{ALL_USERS}"'), "InvalidRequest", 400)
    fails(lambda: alice.put_object(Bucket="alice-bad", Key="k", Body=b"x", GrantRead="id"), "InvalidArgument", 400)
    headers = {"content-type": "application/xml"}
    for body in (b"<AccessControlPolicy><Owner><ID>x</ID></Owner></AccessControlPolicy>",
                 b"<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>x</ID></Grantee>"
                 b"<Permission>ALL</Permission></Grant></AccessControlList></AccessControlPolicy>"):
        response = _signed(url, ALICE, "PUT", "/alice-bad?acl", body, headers)
        assert response.status_code == 400 and b"<Code>MalformedACLError</Code>" in response.content
    fails(lambda: alice.put_object(Bucket="alice-bad", Key="k", Body=b"x", ACL="no-such-acl"),  # type: ignore[arg-type]
          "InvalidArgument", 400)
    with pytest.raises(ClientError):
        alice.head_object(Bucket="alice-bad", Key="k")  # nothing was stored by any refused request


def _signed(url: str, key: tuple[str, str], method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url + path, data=body, headers=headers)
    request.context["payload_signing_enabled"] = True
    S3SigV4Auth(Credentials(*key), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return httpx.request(method, prepared.url, content=body, headers=dict(prepared.headers))


def test_group_grants(env: tuple[str, Path]) -> None:
    url, _ = env
    alice, carol = client(url, ALICE), client(url, CAROL)
    alice.create_bucket(Bucket="alice-groups")
    alice.put_bucket_acl(Bucket="alice-groups", GrantRead=f'uri="{AUTHENTICATED}"')
    alice.put_object(Bucket="alice-groups", Key="open", Body=b"open", GrantRead=f'uri="{ALL_USERS}"')
    alice.put_object(Bucket="alice-groups", Key="closed", Body=b"closed")
    assert {c["Key"] for c in carol.list_objects_v2(Bucket="alice-groups")["Contents"]} == {"open", "closed"}
    assert httpx.get(f"{url}/alice-groups?list-type=2").status_code == 403  # AuthenticatedUsers: signed only
    assert httpx.get(f"{url}/alice-groups/open").content == b"open"
    assert httpx.get(f"{url}/alice-groups/closed").status_code == 403
    denied(lambda: carol.get_object(Bucket="alice-groups", Key="closed"))


@pytest.mark.parametrize(("canned", "extra"), [
    ("private", set()),
    ("public-read", {(ALL_USERS, "READ")}),
    ("public-read-write", {(ALL_USERS, "READ"), (ALL_USERS, "WRITE")}),
    ("authenticated-read", {(AUTHENTICATED, "READ")}),
    ("log-delivery-write", {(LOG_DELIVERY, "WRITE"), (LOG_DELIVERY, "READ_ACP")}),
    ("bucket-owner-read", set()),  # the bucket's owner is the object's: nothing more
    ("bucket-owner-full-control", set()),
])
def test_every_canned_acl_answers_its_grants(env: tuple[str, Path], canned: str, extra: set[tuple[str, str]]) -> None:
    url, _ = env
    who = ids(url)
    alice = client(url, ALICE)
    bucket = f"alice-canned-{canned}"
    alice.create_bucket(Bucket=bucket, ACL=canned)  # type: ignore[arg-type]
    assert grants(alice.get_bucket_acl(Bucket=bucket)) == {(who["alice"], "FULL_CONTROL"), *extra}
    alice.put_object(Bucket=bucket, Key="k", Body=b"x", ACL=canned)  # type: ignore[arg-type]
    acl = alice.get_object_acl(Bucket=bucket, Key="k")
    assert acl["Owner"] == {"ID": who["alice"]}
    assert grants(acl) == {(who["alice"], "FULL_CONTROL"), *extra}


def test_object_writer_and_bucket_owner_canned_acls(env: tuple[str, Path]) -> None:
    url, _ = env
    who = ids(url)
    alice, bob = client(url, ALICE), client(url, BOB)
    alice.create_bucket(Bucket="alice-inbox", ObjectOwnership="ObjectWriter")
    assert alice.get_bucket_ownership_controls(Bucket="alice-inbox")["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "ObjectWriter"}]
    alice.put_bucket_acl(Bucket="alice-inbox", GrantWrite=f'id="{who["bob"]}"')
    bob.put_object(Bucket="alice-inbox", Key="mine", Body=b"bob's")
    acl = bob.get_object_acl(Bucket="alice-inbox", Key="mine")
    assert acl["Owner"] == {"ID": who["bob"]} and grants(acl) == {(who["bob"], "FULL_CONTROL")}
    assert bob.get_object(Bucket="alice-inbox", Key="mine")["Body"].read() == b"bob's"  # the writer owns it
    bob.put_object(Bucket="alice-inbox", Key="shared", Body=b"x", ACL="bucket-owner-full-control")
    assert grants(alice.get_object_acl(Bucket="alice-inbox", Key="shared")) == {
        (who["bob"], "FULL_CONTROL"), (who["alice"], "FULL_CONTROL")}
    bob.put_object(Bucket="alice-inbox", Key="readable", Body=b"x", ACL="bucket-owner-read")
    assert grants(bob.get_object_acl(Bucket="alice-inbox", Key="readable")) == {
        (who["bob"], "FULL_CONTROL"), (who["alice"], "READ")}
    # The owner of a new object may open it (ObjectWriter): no admin grant needed.
    bob.put_object(Bucket="alice-inbox", Key="opened", Body=b"open", ACL="public-read")
    assert httpx.get(f"{url}/alice-inbox/opened").content == b"open"
    # BucketOwnerPreferred: bucket-owner-full-control hands the object to the bucket owner.
    alice.put_bucket_ownership_controls(Bucket="alice-inbox", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    bob.put_object(Bucket="alice-inbox", Key="handed", Body=b"x", ACL="bucket-owner-full-control")
    assert alice.get_object_acl(Bucket="alice-inbox", Key="handed")["Owner"] == {"ID": who["alice"]}
    bob.put_object(Bucket="alice-inbox", Key="kept", Body=b"x")
    assert bob.get_object_acl(Bucket="alice-inbox", Key="kept")["Owner"] == {"ID": who["bob"]}
    denied(lambda: bob.get_object(Bucket="alice-inbox", Key="handed"))


def test_bucket_owner_enforced_disables_acls(env: tuple[str, Path]) -> None:
    url, _ = env
    who = ids(url)
    alice, bob = client(url, ALICE), client(url, BOB)
    fails(lambda: alice.create_bucket(Bucket="alice-enforced", ObjectOwnership="BucketOwnerEnforced",
                                      ACL="public-read"), "InvalidBucketAclWithObjectOwnership", 400)
    alice.create_bucket(Bucket="alice-enforced", GrantWrite=f'id="{who["bob"]}"')
    enforced = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    # Not while the bucket's ACL grants someone else: that access would vanish silently.
    fails(lambda: alice.put_bucket_ownership_controls(Bucket="alice-enforced", OwnershipControls=enforced),
          "InvalidBucketAclWithObjectOwnership", 400)
    alice.put_bucket_acl(Bucket="alice-enforced", ACL="private")
    alice.put_bucket_ownership_controls(Bucket="alice-enforced", OwnershipControls=enforced)
    alice.put_bucket_acl(Bucket="alice-enforced", ACL="bucket-owner-full-control")  # the one ACL accepted
    # ACLs no longer count, and the ACL shows the owner alone.
    denied(lambda: bob.put_object(Bucket="alice-enforced", Key="b", Body=b"b"))
    assert grants(alice.get_bucket_acl(Bucket="alice-enforced")) == {(who["alice"], "FULL_CONTROL")}
    for call in (lambda: alice.put_object(Bucket="alice-enforced", Key="k", Body=b"x", ACL="public-read"),
                 lambda: alice.put_object(Bucket="alice-enforced", Key="k", Body=b"x", ACL="private"),
                 lambda: alice.put_object(Bucket="alice-enforced", Key="k", Body=b"x", GrantRead=f'uri="{ALL_USERS}"'),
                 lambda: alice.put_bucket_acl(Bucket="alice-enforced", ACL="public-read")):
        fails(call, "AccessControlListNotSupported", 400)
    alice.put_object(Bucket="alice-enforced", Key="k", Body=b"x", ACL="bucket-owner-full-control")
    alice.put_object(Bucket="alice-enforced", Key="plain", Body=b"x")
    fails(lambda: alice.put_object_acl(Bucket="alice-enforced", Key="plain", ACL="public-read"),
          "AccessControlListNotSupported", 400)
    assert grants(alice.get_object_acl(Bucket="alice-enforced", Key="k")) == {(who["alice"], "FULL_CONTROL")}
    alice.delete_bucket_ownership_controls(Bucket="alice-enforced")
    fails(lambda: alice.get_bucket_ownership_controls(Bucket="alice-enforced"), "OwnershipControlsNotFoundError", 404)
    alice.put_bucket_acl(Bucket="alice-enforced", GrantWrite=f'id="{who["bob"]}"')  # ACLs count again
    bob.put_object(Bucket="alice-enforced", Key="b", Body=b"b")
    denied(lambda: bob.get_bucket_ownership_controls(Bucket="alice-enforced"))  # the owner's alone


def test_anonymous_put_into_a_public_read_write_bucket(env: tuple[str, Path]) -> None:
    url, _ = env
    alice = client(url, ALICE)
    alice.create_bucket(Bucket="alice-dropbox", ACL="public-read-write")
    assert httpx.put(f"{url}/alice-dropbox/anon", content=b"dropped").status_code == 200
    assert alice.get_object(Bucket="alice-dropbox", Key="anon")["Body"].read() == b"dropped"
    assert httpx.get(f"{url}/alice-dropbox/anon").status_code == 403  # the object stays private
    # Anonymous may send an ACL with what it writes (as AWS: test_object_owners), never touch the bucket's.
    assert httpx.get(f"{url}/alice-dropbox?acl").status_code == 403
    assert httpx.delete(f"{url}/alice-dropbox/anon").status_code == 204  # WRITE covers deletes, as on AWS


def test_ownership_survives_key_rotation(env: tuple[str, Path]) -> None:
    url, path = env
    alice = client(url, ALICE)
    alice.create_bucket(Bucket="alice-rotated")
    before = alice.list_buckets()["Owner"]["ID"]
    write_atomically(path, declared(ALICE_ROTATED))
    try:
        rotated = client(url, ALICE_ROTATED)
        deadline = time.monotonic() + 20
        while True:
            try:
                owner = rotated.list_buckets()["Owner"]["ID"]
                break
            except ClientError:
                assert time.monotonic() < deadline, "the rotated key never took effect"
                time.sleep(0.05)
        assert owner == before
        assert rotated.get_bucket_acl(Bucket="alice-rotated")["Owner"] == {"ID": before}
        rotated.put_object(Bucket="alice-rotated", Key="after", Body=b"x")
    finally:
        write_atomically(path, declared())
        deadline = time.monotonic() + 20
        while True:
            try:
                alice.list_buckets()
                break
            except ClientError:
                assert time.monotonic() < deadline
                time.sleep(0.05)


def test_get_acl_is_well_formed_for_sdks(env: tuple[str, Path]) -> None:
    url, _ = env
    alice = client(url, ALICE)
    alice.create_bucket(Bucket="alice-xml", ACL="authenticated-read")
    response = _signed(url, ALICE, "GET", "/alice-xml?acl", b"", {})
    root = ET.fromstring(response.content)
    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    for grantee in root.iterfind(".//s3:Grantee", ns):
        kind = grantee.get("{http://www.w3.org/2001/XMLSchema-instance}type")
        assert (kind, grantee.find("s3:ID", ns) is not None or grantee.find("s3:URI", ns) is not None) in (
            ("CanonicalUser", True), ("Group", True))
