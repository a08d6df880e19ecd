"""Who owns each object, and what that leaves the bucket owner (issue 13), over real HTTP.

alice owns the buckets; bob writes into them through an ACL grant; carol is a third credential. Under
ObjectWriter an object bob writes is bob's: alice may delete or overwrite it, but reads it, its ACL or its
tags only as bob's object ACL says (AWS's rule); BucketOwnerPreferred hands it over with
bucket-owner-full-control; BucketOwnerEnforced makes alice the owner of everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import start_subprocess_server
from tests.integration.test_access import client, denied, write_atomically
from tests.integration.test_ownership_acl import ALICE, BOB, CAROL, ROOT, declared, fails, ids

ALICE_PREVIOUS = ("ALICEKEY0000000000P", "alice-secret-0000000000000000000000000P")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("owners")
    (base / "declared").mkdir()
    path = base / "declared" / "declared.yaml"
    config = declared()
    config["credentials"].append({"name": "alice@previous", "identity": "alice", "accessKeyId": ALICE_PREVIOUS[0],
                                  "secretAccessKey": ALICE_PREVIOUS[1]})  # a rotation overlap: alice's old key
    write_atomically(path, config)
    proc, address = start_subprocess_server(base / "data", "--declared", str(path), "--fsync", "never")
    yield address
    proc.terminate()
    proc.wait(timeout=30)


def _bucket_for_bob(url: str, name: str, ownership: str) -> None:
    who = ids(url)
    alice = client(url, ALICE)
    alice.create_bucket(Bucket=name, ObjectOwnership=ownership)  # type: ignore[arg-type]
    alice.put_bucket_acl(Bucket=name, GrantWrite=f'id="{who["bob"]}"', GrantFullControl=f'id="{who["alice"]}"')


def test_object_writer_objects_are_not_the_bucket_owners_to_read(url: str) -> None:
    who = ids(url)
    alice, bob, carol, root = client(url, ALICE), client(url, BOB), client(url, CAROL), client(url, ROOT)
    _bucket_for_bob(url, "ow-writer", "ObjectWriter")
    bob.put_object(Bucket="ow-writer", Key="private", Body=b"bob's", Tagging="team=b")
    # No implicit read for the bucket owner: not the bytes, the ACL, the tags, nor a copy of it.
    for call in (lambda: alice.get_object(Bucket="ow-writer", Key="private"),
                 lambda: alice.get_object_acl(Bucket="ow-writer", Key="private"),
                 lambda: alice.put_object_acl(Bucket="ow-writer", Key="private", ACL="public-read"),
                 lambda: alice.get_object_tagging(Bucket="ow-writer", Key="private"),
                 lambda: alice.put_object_tagging(Bucket="ow-writer", Key="private",
                                                  Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}),
                 lambda: alice.copy_object(Bucket="ow-writer", Key="copy", TaggingDirective="REPLACE",
                                           CopySource={"Bucket": "ow-writer", "Key": "private"})):
        denied(call)
    with pytest.raises(ClientError) as err:  # HEAD: 403 without a body
        alice.head_object(Bucket="ow-writer", Key="private")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # The writer owns it: reads it, its ACL and its tags; root administers everything.
    assert bob.get_object(Bucket="ow-writer", Key="private")["Body"].read() == b"bob's"
    assert bob.get_object_acl(Bucket="ow-writer", Key="private")["Owner"] == {"ID": who["bob"]}
    assert bob.get_object_tagging(Bucket="ow-writer", Key="private")["TagSet"] == [{"Key": "team", "Value": "b"}]
    assert root.get_object(Bucket="ow-writer", Key="private")["Body"].read() == b"bob's"
    # The listing still shows the key to the bucket owner, and a missing key is a plain 404 for it.
    assert [c["Key"] for c in alice.list_objects_v2(Bucket="ow-writer")["Contents"]] == ["private"]
    fails(lambda: alice.get_object(Bucket="ow-writer", Key="missing"), "NoSuchKey", 404)
    denied(lambda: carol.get_object(Bucket="ow-writer", Key="private"))
    # bucket-owner-read: the bytes, not the ACL; bucket-owner-full-control: the ACL too.
    bob.put_object(Bucket="ow-writer", Key="readable", Body=b"r", ACL="bucket-owner-read")
    assert alice.get_object(Bucket="ow-writer", Key="readable")["Body"].read() == b"r"
    alice.head_object(Bucket="ow-writer", Key="readable")
    denied(lambda: alice.get_object_acl(Bucket="ow-writer", Key="readable"))
    bob.put_object(Bucket="ow-writer", Key="full", Body=b"f", ACL="bucket-owner-full-control", Tagging="t=1")
    assert alice.get_object(Bucket="ow-writer", Key="full")["Body"].read() == b"f"
    assert alice.get_object_acl(Bucket="ow-writer", Key="full")["Owner"] == {"ID": who["bob"]}
    alice.put_object_acl(Bucket="ow-writer", Key="full", GrantRead=f'id="{who["carol"]}"',
                         GrantFullControl=f'id="{who["bob"]}"')
    assert carol.get_object(Bucket="ow-writer", Key="full")["Body"].read() == b"f"
    denied(lambda: alice.get_object_tagging(Bucket="ow-writer", Key="full"))  # tags: the object owner's alone
    alice.copy_object(Bucket="ow-writer", Key="alices-copy", TaggingDirective="REPLACE",
                      CopySource={"Bucket": "ow-writer", "Key": "readable"})
    assert alice.get_object_acl(Bucket="ow-writer", Key="alices-copy")["Owner"] == {"ID": who["alice"]}
    # The bucket owner may still delete, or overwrite, any object in its bucket (AWS).
    assert alice.delete_object(Bucket="ow-writer", Key="private")["ResponseMetadata"]["HTTPStatusCode"] == 204
    bob.put_object(Bucket="ow-writer", Key="again", Body=b"bob's")
    alice.put_object(Bucket="ow-writer", Key="again", Body=b"alice's")
    assert alice.get_object(Bucket="ow-writer", Key="again")["Body"].read() == b"alice's"
    denied(lambda: bob.get_object(Bucket="ow-writer", Key="again"))


def test_an_overwrite_by_the_writer_closes_the_bucket_owners_read_of_that_version(url: str) -> None:
    alice, bob = client(url, ALICE), client(url, BOB)
    _bucket_for_bob(url, "ow-versions", "ObjectWriter")
    alice.put_bucket_versioning(Bucket="ow-versions", VersioningConfiguration={"Status": "Enabled"})
    first = bob.put_object(Bucket="ow-versions", Key="k", Body=b"v1", ACL="bucket-owner-read")["VersionId"]
    second = bob.put_object(Bucket="ow-versions", Key="k", Body=b"v2")["VersionId"]
    denied(lambda: alice.get_object(Bucket="ow-versions", Key="k"))
    denied(lambda: alice.get_object(Bucket="ow-versions", Key="k", VersionId=second))
    # The version served decides, not the current one: v1 still grants alice READ.
    assert alice.get_object(Bucket="ow-versions", Key="k", VersionId=first)["Body"].read() == b"v1"


def test_listings_show_each_objects_own_owner(url: str) -> None:
    who = ids(url)
    alice, bob = client(url, ALICE), client(url, BOB)
    _bucket_for_bob(url, "ow-listed", "ObjectWriter")
    alice.put_bucket_versioning(Bucket="ow-listed", VersioningConfiguration={"Status": "Enabled"})
    bob.put_object(Bucket="ow-listed", Key="bobs", Body=b"b")
    alice.put_object(Bucket="ow-listed", Key="alices", Body=b"a")
    bob.put_object(Bucket="ow-listed", Key="alices", Body=b"a2")  # bob's current version over alice's
    expected = {"alices": who["bob"], "bobs": who["bob"]}
    v2 = alice.list_objects_v2(Bucket="ow-listed", FetchOwner=True)["Contents"]
    assert {e["Key"]: e["Owner"]["ID"] for e in v2} == expected
    assert all("Owner" not in e for e in alice.list_objects_v2(Bucket="ow-listed")["Contents"])
    v1 = alice.list_objects(Bucket="ow-listed")["Contents"]
    assert {e["Key"]: e["Owner"]["ID"] for e in v1} == expected
    versions = alice.list_object_versions(Bucket="ow-listed")["Versions"]
    owners = sorted((v["Key"], v["IsLatest"], v["Owner"]["ID"]) for v in versions)
    assert owners == [("alices", False, who["alice"]), ("alices", True, who["bob"]), ("bobs", True, who["bob"])]
    # Under BucketOwnerEnforced the bucket owner owns every object, whoever wrote it.
    alice.put_bucket_acl(Bucket="ow-listed", ACL="private")
    alice.put_bucket_ownership_controls(Bucket="ow-listed", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    v2 = alice.list_objects_v2(Bucket="ow-listed", FetchOwner=True)["Contents"]
    assert {e["Key"]: e["Owner"]["ID"] for e in v2} == {"alices": who["alice"], "bobs": who["alice"]}


def test_object_acls_by_version_are_that_versions_own(url: str) -> None:
    who = ids(url)
    alice, bob = client(url, ALICE), client(url, BOB)
    _bucket_for_bob(url, "ow-acl-versions", "ObjectWriter")
    alice.put_bucket_versioning(Bucket="ow-acl-versions", VersioningConfiguration={"Status": "Enabled"})
    mine = alice.put_object(Bucket="ow-acl-versions", Key="k", Body=b"a")["VersionId"]
    shared = bob.put_object(Bucket="ow-acl-versions", Key="k", Body=b"b1", ACL="bucket-owner-full-control")["VersionId"]
    bobs = bob.put_object(Bucket="ow-acl-versions", Key="k", Body=b"b2")["VersionId"]
    # Each version answers with its own owner and grants, and says which version it is.
    got = alice.get_object_acl(Bucket="ow-acl-versions", Key="k", VersionId=shared)
    assert got["Owner"] == {"ID": who["bob"]}
    assert {"Grantee": {"ID": who["alice"], "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"} in got["Grants"]
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-version-id"] == shared
    assert alice.get_object_acl(Bucket="ow-acl-versions", Key="k", VersionId=mine)["Owner"] == {"ID": who["alice"]}
    denied(lambda: alice.get_object_acl(Bucket="ow-acl-versions", Key="k"))  # the current one is bob's alone
    # Authorized on the version named, not the current one: bob owns the current version but not alice's.
    denied(lambda: bob.put_object_acl(Bucket="ow-acl-versions", Key="k", VersionId=mine, ACL="public-read"))
    denied(lambda: bob.get_object_acl(Bucket="ow-acl-versions", Key="k", VersionId=mine))
    # And a change applies to that version only.
    bob.put_object_acl(Bucket="ow-acl-versions", Key="k", VersionId=shared, ACL="private")
    denied(lambda: alice.get_object_acl(Bucket="ow-acl-versions", Key="k", VersionId=shared))
    bob.put_object_acl(Bucket="ow-acl-versions", Key="k", ACL="bucket-owner-read")
    assert alice.get_object(Bucket="ow-acl-versions", Key="k")["Body"].read() == b"b2"
    assert alice.get_object(Bucket="ow-acl-versions", Key="k", VersionId=bobs)["Body"].read() == b"b2"
    denied(lambda: alice.get_object(Bucket="ow-acl-versions", Key="k", VersionId=shared))


def test_bucket_owner_preferred_and_enforced(url: str) -> None:
    who = ids(url)
    alice, bob = client(url, ALICE), client(url, BOB)
    _bucket_for_bob(url, "ow-preferred", "BucketOwnerPreferred")
    bob.put_object(Bucket="ow-preferred", Key="handed", Body=b"h", ACL="bucket-owner-full-control")
    bob.put_object(Bucket="ow-preferred", Key="kept", Body=b"k")
    assert alice.get_object_acl(Bucket="ow-preferred", Key="handed")["Owner"] == {"ID": who["alice"]}
    assert alice.get_object(Bucket="ow-preferred", Key="handed")["Body"].read() == b"h"
    alice.put_object_tagging(Bucket="ow-preferred", Key="handed", Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
    denied(lambda: alice.get_object(Bucket="ow-preferred", Key="kept"))
    # BucketOwnerEnforced: the bucket owner owns every object, those written before the switch too.
    alice.put_bucket_acl(Bucket="ow-preferred", ACL="private")
    alice.put_bucket_ownership_controls(Bucket="ow-preferred", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert alice.get_object(Bucket="ow-preferred", Key="kept")["Body"].read() == b"k"
    assert alice.get_object_acl(Bucket="ow-preferred", Key="kept")["Owner"] == {"ID": who["alice"]}
    denied(lambda: bob.get_object(Bucket="ow-preferred", Key="kept"))


def test_uploads_list_their_initiator_and_owner(url: str) -> None:
    who = ids(url)
    alice, bob = client(url, ALICE), client(url, BOB)
    _bucket_for_bob(url, "ow-uploads", "ObjectWriter")
    mine = bob.create_multipart_upload(Bucket="ow-uploads", Key="bobs")["UploadId"]
    handed = bob.create_multipart_upload(Bucket="ow-uploads", Key="handed", ACL="bucket-owner-full-control")
    alice.put_bucket_ownership_controls(Bucket="ow-uploads", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    preferred = bob.create_multipart_upload(Bucket="ow-uploads", Key="preferred", ACL="bucket-owner-full-control")
    own = alice.create_multipart_upload(Bucket="ow-uploads", Key="alices")["UploadId"]
    listed = {u["Key"]: (u["Initiator"]["ID"], u["Owner"]["ID"])
              for u in alice.list_multipart_uploads(Bucket="ow-uploads")["Uploads"]}
    assert listed == {
        "bobs": (who["bob"], who["bob"]),  # ObjectWriter: the writer will own it
        "handed": (who["bob"], who["bob"]),  # ObjectWriter keeps it bob's whatever the ACL
        "preferred": (who["bob"], who["alice"]),  # BucketOwnerPreferred + bucket-owner-full-control
        "alices": (who["alice"], who["alice"]),
    }
    parts = alice.list_parts(Bucket="ow-uploads", Key="preferred", UploadId=preferred["UploadId"])
    assert (parts["Initiator"]["ID"], parts["Owner"]["ID"]) == (who["bob"], who["alice"])
    parts = alice.list_parts(Bucket="ow-uploads", Key="bobs", UploadId=mine)
    assert (parts["Initiator"]["ID"], parts["Owner"]["ID"]) == (who["bob"], who["bob"])
    # Completed, the object has the owner the upload listed, and keeps no trace of its initiator.
    etag = bob.upload_part(Bucket="ow-uploads", Key="preferred", UploadId=preferred["UploadId"], PartNumber=1,
                           Body=b"p")["ETag"]
    bob.complete_multipart_upload(Bucket="ow-uploads", Key="preferred", UploadId=preferred["UploadId"],
                                  MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert alice.get_object_acl(Bucket="ow-uploads", Key="preferred")["Owner"] == {"ID": who["alice"]}
    assert alice.get_object(Bucket="ow-uploads", Key="preferred")["Body"].read() == b"p"
    for key, upload in (("bobs", mine), ("handed", handed["UploadId"]), ("alices", own)):
        alice.abort_multipart_upload(Bucket="ow-uploads", Key=key, UploadId=upload)


ANONYMOUS = "65a011a29cdf8ec533ec3d1ccaae921c"  # AWS's canonical id for an unsigned writer
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def _acl(url: str, bucket: str, key: str) -> tuple[str, set[tuple[str, str]]]:
    acl = client(url, ROOT).get_object_acl(Bucket=bucket, Key=key)
    return acl["Owner"]["ID"], {(g["Grantee"].get("ID") or g["Grantee"]["URI"], g["Permission"]) for g in acl["Grants"]}


def test_anonymous_writers_may_set_an_acl_where_anyone_may_write(url: str) -> None:
    who = ids(url)
    alice, bob = client(url, ALICE), client(url, BOB)
    alice.create_bucket(Bucket="ow-drop", ACL="public-read-write")  # no ownership controls: alice owns uploads
    put = httpx.put(f"{url}/ow-drop/open", content=b"open", headers={"x-amz-acl": "public-read"})
    assert put.status_code == 200
    assert httpx.get(f"{url}/ow-drop/open").content == b"open"
    assert _acl(url, "ow-drop", "open") == (who["alice"], {(who["alice"], "FULL_CONTROL"), (ALL_USERS, "READ")})
    put = httpx.put(f"{url}/ow-drop/for-bob", content=b"b", headers={"x-amz-grant-read": f'id="{who["bob"]}"'})
    assert put.status_code == 200
    assert bob.get_object(Bucket="ow-drop", Key="for-bob")["Body"].read() == b"b"
    assert httpx.get(f"{url}/ow-drop/for-bob").status_code == 403
    bad = httpx.put(f"{url}/ow-drop/bad", content=b"x", headers={"x-amz-acl": "world-writable"})
    assert (bad.status_code, "<Code>InvalidArgument</Code>" in bad.text) == (400, True)
    # A credential writing through the same AllUsers grant may do what anonymous may.
    client(url, CAROL).put_object(Bucket="ow-drop", Key="carols", Body=b"c", ACL="public-read")
    assert httpx.get(f"{url}/ow-drop/carols").content == b"c"
    # Only where anyone may write: a public-read bucket takes no anonymous write at all.
    alice.create_bucket(Bucket="ow-read-only", ACL="public-read")
    assert httpx.put(f"{url}/ow-read-only/k", content=b"x", headers={"x-amz-acl": "public-read"}).status_code == 403
    # BlockPublicAcls still refuses a public ACL, from anyone.
    alice.put_public_access_block(Bucket="ow-drop", PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    assert httpx.put(f"{url}/ow-drop/late", content=b"x", headers={"x-amz-acl": "public-read"}).status_code == 403
    assert httpx.put(f"{url}/ow-drop/late", content=b"x",
                     headers={"x-amz-acl": "bucket-owner-full-control"}).status_code == 200


def test_anonymous_uploads_under_object_writer_are_anonymous_owned(url: str) -> None:
    who = ids(url)
    alice = client(url, ALICE)
    alice.create_bucket(Bucket="ow-drop-writer", ACL="public-read-write", ObjectOwnership="ObjectWriter")
    assert httpx.put(f"{url}/ow-drop-writer/plain", content=b"p").status_code == 200
    assert _acl(url, "ow-drop-writer", "plain") == (ANONYMOUS, {(ANONYMOUS, "FULL_CONTROL")})
    denied(lambda: alice.get_object(Bucket="ow-drop-writer", Key="plain"))  # AWS: not the bucket owner's to read
    assert httpx.get(f"{url}/ow-drop-writer/plain").status_code == 403  # nor anyone's
    alice.delete_object(Bucket="ow-drop-writer", Key="plain")  # but the bucket owner may delete it
    headers = {"x-amz-acl": "bucket-owner-full-control"}
    assert httpx.put(f"{url}/ow-drop-writer/handed", content=b"h", headers=headers).status_code == 200
    assert _acl(url, "ow-drop-writer", "handed") == (
        ANONYMOUS, {(ANONYMOUS, "FULL_CONTROL"), (who["alice"], "FULL_CONTROL")})
    assert alice.get_object(Bucket="ow-drop-writer", Key="handed")["Body"].read() == b"h"
    headers = {"x-amz-acl": "public-read"}
    assert httpx.put(f"{url}/ow-drop-writer/public", content=b"o", headers=headers).status_code == 200
    assert httpx.get(f"{url}/ow-drop-writer/public").content == b"o"


def test_bucket_owner_enforced_takes_bucket_owner_full_control_in_any_form(url: str) -> None:
    who = ids(url)
    alice, bob = client(url, ALICE), client(url, BOB)
    full = f'id="{who["alice"]}"'
    # CreateBucket: the creator's own FULL_CONTROL by id is no ACL to refuse; anyone else's is.
    fails(lambda: alice.create_bucket(Bucket="ow-enforced", ObjectOwnership="BucketOwnerEnforced",
                                      GrantFullControl=f'{full}, id="{who["bob"]}"'),
          "InvalidBucketAclWithObjectOwnership", 400)
    alice.create_bucket(Bucket="ow-enforced", ObjectOwnership="BucketOwnerEnforced", GrantFullControl=full)
    alice.put_bucket_policy(Bucket="ow-enforced", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [who["bob"]]}, "Action": ["s3:PutObject", "s3:PutObjectAcl"],
         "Resource": "arn:aws:s3:::ow-enforced/*"}]}))
    # The writer hands its object over with the header form of bucket-owner-full-control.
    bob.put_object(Bucket="ow-enforced", Key="bobs", Body=b"b", GrantFullControl=full)
    assert alice.get_object_acl(Bucket="ow-enforced", Key="bobs")["Owner"] == {"ID": who["alice"]}
    assert alice.get_object(Bucket="ow-enforced", Key="bobs")["Body"].read() == b"b"
    bobs = f'id="{who["bob"]}"'
    for call in (lambda: bob.put_object(Bucket="ow-enforced", Key="k", Body=b"x", GrantFullControl=bobs),
                 lambda: bob.put_object(Bucket="ow-enforced", Key="k", Body=b"x",
                                        GrantFullControl=f'{full}, id="{who["bob"]}"'),
                 lambda: bob.put_object(Bucket="ow-enforced", Key="k", Body=b"x", GrantRead=full),
                 lambda: bob.put_object(Bucket="ow-enforced", Key="k", Body=b"x", GrantFullControl=full,
                                        GrantRead=full)):
        fails(call, "AccessControlListNotSupported", 400)
    # The document form: FULL_CONTROL to the bucket owner alone.
    owner = {"ID": who["alice"]}
    only_owner = {"Owner": owner, "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": who["alice"]},
                                              "Permission": "FULL_CONTROL"}]}
    alice.put_object_acl(Bucket="ow-enforced", Key="bobs", AccessControlPolicy=only_owner)  # type: ignore[arg-type]
    alice.put_bucket_acl(Bucket="ow-enforced", AccessControlPolicy=only_owner)  # type: ignore[arg-type]
    alice.put_object_acl(Bucket="ow-enforced", Key="bobs", GrantFullControl=full)
    more = {"Owner": owner, "Grants": [*only_owner["Grants"],  # type: ignore[misc]
                                       {"Grantee": {"Type": "CanonicalUser", "ID": who["bob"]}, "Permission": "READ"}]}
    fails(lambda: alice.put_object_acl(Bucket="ow-enforced", Key="bobs", AccessControlPolicy=more),
          "AccessControlListNotSupported", 400)
    fails(lambda: alice.put_bucket_acl(Bucket="ow-enforced", AccessControlPolicy=more),
          "AccessControlListNotSupported", 400)
    denied(lambda: bob.get_object(Bucket="ow-enforced", Key="bobs"))


def test_a_policy_naming_a_user_covers_both_keys_of_a_rotation(url: str) -> None:
    bob, carol = client(url, BOB), client(url, CAROL)
    bob.create_bucket(Bucket="ow-policy-user")
    bob.put_object(Bucket="ow-policy-user", Key="k", Body=b"for alice")
    bob.put_bucket_policy(Bucket="ow-policy-user", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/alice"}, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::ow-policy-user/*",
         "Condition": {"StringEquals": {"aws:username": "alice"}}}]}))
    for key in (ALICE, ALICE_PREVIOUS):
        assert client(url, key).get_object(Bucket="ow-policy-user", Key="k")["Body"].read() == b"for alice"
    denied(lambda: carol.get_object(Bucket="ow-policy-user", Key="k"))
