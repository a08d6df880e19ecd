"""Who owns each object, and what that leaves the bucket owner (issue 13), over real HTTP.

alice owns the buckets; bob writes into them through an ACL grant; carol is a third credential. Under
ObjectWriter an object bob writes is bob's: alice may delete or overwrite it, but reads it, its ACL or its
tags only as bob's object ACL says (AWS's rule); BucketOwnerPreferred hands it over with
bucket-owner-full-control; BucketOwnerEnforced makes alice the owner of everything.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.conftest import start_subprocess_server
from tests.integration.test_access import client, denied, write_atomically
from tests.integration.test_ownership_acl import ALICE, BOB, CAROL, ROOT, declared, fails, ids


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("owners")
    (base / "declared").mkdir()
    path = base / "declared" / "declared.yaml"
    write_atomically(path, declared())
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
