"""Access control over real HTTP: declared credentials and grants, public buckets, canned ACLs, live reload."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import yaml
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, server_output, start_subprocess_server
from tests.integration.helpers import client_error, error_code, signed

READER = ("READERKEY0000000001", "reader-secret-000000000000000000000001")
WRITER = ("WRITERKEY0000000001", "writer-secret-000000000000000000000001")
GLOB = ("GLOBKEY000000000001", "glob-secret-0000000000000000000000001")
WRITE_ONLY = ("WRITEONLYKEY0000001", "write-only-secret-00000000000000000001")
ROOT = (ACCESS_KEY, SECRET_KEY)


def declared(public: bool = True, revoke_reader: bool = False) -> dict[str, Any]:
    creds = [
        {"name": "writer", "accessKeyId": WRITER[0], "secretAccessKey": WRITER[1],
         "grants": [{"bucket": "app-a", "access": "readwrite"}]},
        {"name": "glob", "accessKeyId": GLOB[0], "secretAccessKeyFile": "glob.secret",
         "grants": [{"bucket": "team-*", "access": "admin"}]},
        {"name": "write-only", "accessKeyId": WRITE_ONLY[0], "secretAccessKey": WRITE_ONLY[1],
         "grants": [{"bucket": "app-a", "access": "write"}]},
    ]
    if not revoke_reader:
        creds.append({"name": "reader", "accessKeyId": READER[0], "secretAccessKey": READER[1],
                      "grants": [{"bucket": "app-a", "access": "read"}]})
    return {
        "buckets": [{"name": "app-a"}, {"name": "app-b"}, {"name": "public-site", "publicRead": public}],
        "credentials": creds,
    }


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Replace the file the way Kubernetes updates a mounted Secret: a symlink swap."""
    target = path.parent / f"..data-{time.monotonic_ns()}"
    target.write_text(yaml.safe_dump(data))
    link = path.parent / f".tmp-link-{time.monotonic_ns()}"
    link.symlink_to(target.name)
    os.replace(link, path)


@pytest.fixture(scope="module")
def access_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("access")
    config_dir = base / "declared"
    config_dir.mkdir()
    (config_dir / "glob.secret").write_text(GLOB[1] + "\n")
    path = config_dir / "declared.yaml"
    write_atomically(path, declared())
    proc, url = start_subprocess_server(base / "data", "--declared", str(path))
    yield url, path
    proc.terminate()
    proc.wait(timeout=30)


def client(url: str, key: tuple[str, str], **config: Any) -> Any:
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=key[0], aws_secret_access_key=key[1],
                        region_name="us-east-1",
                        config=BotoConfig(retries={"total_max_attempts": 1}, **config))


def denied(call: Any) -> None:
    with pytest.raises(ClientError) as err:
        call()
    assert client_error(err.value) == ("AccessDenied", 403)


def test_declared_buckets_exist(access_server: tuple[str, Path]) -> None:
    url, _ = access_server
    names = {b["Name"] for b in client(url, (ACCESS_KEY, SECRET_KEY)).list_buckets()["Buckets"]}
    assert {"app-a", "app-b", "public-site"} <= names


def test_read_only_credential(access_server: tuple[str, Path]) -> None:
    url, _ = access_server
    client(url, WRITER).put_object(Bucket="app-a", Key="doc", Body=b"data")
    reader = client(url, READER)
    assert reader.get_object(Bucket="app-a", Key="doc")["Body"].read() == b"data"
    assert [o["Key"] for o in reader.list_objects_v2(Bucket="app-a")["Contents"]] == ["doc"]
    denied(lambda: reader.put_object(Bucket="app-a", Key="x", Body=b"no"))
    denied(lambda: reader.delete_object(Bucket="app-a", Key="doc"))
    denied(lambda: reader.get_object(Bucket="app-b", Key="doc"))
    assert [b["Name"] for b in reader.list_buckets()["Buckets"]] == ["app-a"]


def test_bucket_a_credential_cannot_touch_bucket_b(access_server: tuple[str, Path]) -> None:
    url, _ = access_server
    writer = client(url, WRITER)
    denied(lambda: writer.put_object(Bucket="app-b", Key="k", Body=b"x"))
    denied(lambda: writer.list_objects_v2(Bucket="app-b"))
    denied(lambda: writer.create_bucket(Bucket="app-c"))
    denied(lambda: writer.delete_bucket(Bucket="app-a"))
    denied(lambda: writer.put_bucket_tagging(Bucket="app-a", Tagging={"TagSet": []}))


def test_glob_admin_grant(access_server: tuple[str, Path]) -> None:
    url, _ = access_server
    team = client(url, GLOB)
    team.create_bucket(Bucket="team-blue")
    team.put_object(Bucket="team-blue", Key="k", Body=b"x")
    assert team.get_object(Bucket="team-blue", Key="k")["Body"].read() == b"x"
    denied(lambda: team.create_bucket(Bucket="other-blue"))
    team.delete_object(Bucket="team-blue", Key="k")
    team.delete_bucket(Bucket="team-blue")


def test_public_bucket_is_readable_anonymously_but_not_writable(access_server: tuple[str, Path]) -> None:
    url, _ = access_server
    client(url, (ACCESS_KEY, SECRET_KEY)).put_object(Bucket="public-site", Key="index.html", Body=b"<h1>hi</h1>")
    assert httpx.get(f"{url}/public-site/index.html").content == b"<h1>hi</h1>"
    assert "<Key>index.html</Key>" in httpx.get(f"{url}/public-site?list-type=2").text
    for response in (httpx.put(f"{url}/public-site/evil", content=b"x"), httpx.delete(f"{url}/public-site/index.html"),
                     httpx.get(f"{url}/app-a/doc"), httpx.get(f"{url}/")):
        assert response.status_code == 403
        assert error_code(response) == "AccessDenied"


def test_canned_acls_are_stored_and_honoured(access_server: tuple[str, Path]) -> None:
    url, _ = access_server
    root = client(url, (ACCESS_KEY, SECRET_KEY))
    root.create_bucket(Bucket="acl-bucket", ACL="public-read")
    acl = root.get_bucket_acl(Bucket="acl-bucket")
    assert {g["Permission"] for g in acl["Grants"]} == {"FULL_CONTROL", "READ"}
    assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in acl["Grants"])
    root.put_object(Bucket="acl-bucket", Key="k", Body=b"private object")
    assert "<Key>k</Key>" in httpx.get(f"{url}/acl-bucket?list-type=2").text  # a bucket ACL opens the listing
    root.put_bucket_acl(Bucket="acl-bucket", ACL="private")
    assert httpx.get(f"{url}/acl-bucket?list-type=2").status_code == 403
    root.put_object(Bucket="acl-bucket", Key="shared", Body=b"one object", ACL="public-read")
    assert httpx.get(f"{url}/acl-bucket/shared").content == b"one object"
    assert len(root.get_object_acl(Bucket="acl-bucket", Key="shared")["Grants"]) == 2
    root.put_object_acl(Bucket="acl-bucket", Key="shared", ACL="private")
    assert httpx.get(f"{url}/acl-bucket/shared").status_code == 403
    with pytest.raises(ClientError) as err:
        root.put_object(Bucket="acl-bucket", Key="g", Body=b"x", GrantRead='uri="http://acs.amazonaws.com/x"')
    assert client_error(err.value) == ("InvalidArgument", 400)  # grants exist since issue 13; not that group
    with pytest.raises(ClientError) as err:
        root.put_bucket_acl(Bucket="acl-bucket", AccessControlPolicy={
            "Owner": {"ID": "x"}, "Grants": [{"Grantee": {"Type": "Group", "URI": "u"}, "Permission": "READ"}]})
    assert client_error(err.value) == ("InvalidArgument", 400)


def test_revocation_applies_live_while_requests_are_in_flight(access_server: tuple[str, Path]) -> None:
    url, path = access_server
    reader = client(url, READER)
    client(url, WRITER).put_object(Bucket="app-a", Key="live", Body=b"x")
    stop = threading.Event()
    failures: list[str] = []

    def hammer() -> None:  # root traffic keeps flowing during the reload
        root = client(url, (ACCESS_KEY, SECRET_KEY))
        while not stop.is_set():
            try:
                root.head_object(Bucket="app-a", Key="live")
            except ClientError as exc:
                failures.append(str(exc))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        write_atomically(path, declared(revoke_reader=True))
        deadline = time.monotonic() + 30  # the file is polled every second; a loaded host is slower
        while time.monotonic() < deadline:
            try:
                reader.head_object(Bucket="app-a", Key="live")
            except ClientError as exc:
                assert client_error(exc)[0] in ("InvalidAccessKeyId", "403")
                break
            time.sleep(0.1)
        else:
            pytest.fail("revoked credential still accepted after 30 s")
    finally:
        stop.set()
        thread.join()
        write_atomically(path, declared())
    assert failures == []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            reader.head_object(Bucket="app-a", Key="live")
            break
        except ClientError:
            time.sleep(0.1)
    else:
        pytest.fail("restored credential not accepted")


def test_invalid_declared_file_keeps_last_good(access_server: tuple[str, Path]) -> None:
    url, path = access_server
    write_atomically(path, {"buckets": [{"name": "Bad_Name"}], "credentials": []})
    time.sleep(2.5)  # two poll intervals: the bad file must have been seen and rejected
    reader = client(url, READER)
    assert reader.list_objects_v2(Bucket="app-a")["ResponseMetadata"]["HTTPStatusCode"] == 200
    write_atomically(path, declared())


def test_auth_none_mode(tmp_path: Path) -> None:
    proc, url = start_subprocess_server(tmp_path / "data", "--auth", "none")
    try:
        assert httpx.put(f"{url}/open-bucket").status_code == 200
        assert httpx.put(f"{url}/open-bucket/k", content=b"dev").status_code == 200
        assert httpx.get(f"{url}/open-bucket/k").content == b"dev"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        output = server_output(proc)
    assert "WARNING" in output and "--auth none" in output


def test_deletion_policy_delete_only_when_empty(access_server: tuple[str, Path]) -> None:
    url, path = access_server
    root = client(url, (ACCESS_KEY, SECRET_KEY))
    config = declared()
    config["buckets"] += [{"name": "scratch-empty", "deletionPolicy": "Delete"},
                          {"name": "scratch-full", "deletionPolicy": "Delete"}, {"name": "scratch-kept"}]
    write_atomically(path, config)

    def names() -> set[str]:
        return {b["Name"] for b in root.list_buckets()["Buckets"]}

    deadline = time.monotonic() + 30
    while not {"scratch-empty", "scratch-full", "scratch-kept"} <= names():
        assert time.monotonic() < deadline, "declared buckets were not created"
        time.sleep(0.2)
    root.put_object(Bucket="scratch-full", Key="keep-me", Body=b"data")
    write_atomically(path, declared())  # all three dropped from the file
    deadline = time.monotonic() + 30
    while "scratch-empty" in names():
        assert time.monotonic() < deadline, "empty Delete bucket was not removed"
        time.sleep(0.2)
    time.sleep(1.5)
    assert {"scratch-full", "scratch-kept"} <= names()  # not empty / Retain: both stay
    assert root.get_object(Bucket="scratch-full", Key="keep-me")["Body"].read() == b"data"


# --- issue 11: every resource a request touches is authorized -----------------------------------


def missing(call: Any) -> None:
    with pytest.raises(ClientError) as err:
        call()
    assert client_error(err.value)[1] == 404


@pytest.fixture(scope="module")
def secret(access_server: tuple[str, Path]) -> str:
    """A private object in app-b, which WRITER (readwrite on app-a only) must never read."""
    url, _ = access_server
    client(url, ROOT).put_object(Bucket="app-b", Key="passwords.txt", Body=b"hunter2")
    return "app-b/passwords.txt"


@pytest.mark.parametrize("source", [
    "app-b/passwords.txt", "/app-b/passwords.txt", "app-b/passwords.txt?versionId=null",
    "app%2Db/passwords%2Etxt", "%2Fapp-b/passwords.txt",
])
@pytest.mark.parametrize("acl", [None, "public-read"])
def test_copy_from_a_bucket_without_read_is_refused(access_server: tuple[str, Path], secret: str,
                                                     source: str, acl: str | None) -> None:
    url, _ = access_server
    headers = {"x-amz-copy-source": source, **({"x-amz-acl": acl} if acl else {})}
    response = signed("PUT", f"{url}/app-a/stolen", headers=headers, access_key=WRITER[0], secret_key=WRITER[1])
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    missing(lambda: client(url, ROOT).head_object(Bucket="app-a", Key="stolen"))
    assert httpx.get(f"{url}/app-a/stolen").status_code == 403


def test_copy_source_existence_does_not_leak(access_server: tuple[str, Path], secret: str) -> None:
    url, _ = access_server
    writer = client(url, WRITER)
    for source in (secret, "app-b/no-such-key", "no-such-bucket/key"):
        denied(lambda s=source: writer.copy_object(Bucket="app-a", Key="probe", CopySource=s))
    # Where WRITER may read, a missing source is NoSuchKey: the AccessDenied above is the authorizer's.
    with pytest.raises(ClientError) as err:
        writer.copy_object(Bucket="app-a", Key="probe", CopySource="app-a/no-such-key")
    assert client_error(err.value) == ("NoSuchKey", 404)


def test_part_copy_from_a_bucket_without_read_is_refused(access_server: tuple[str, Path], secret: str) -> None:
    url, _ = access_server
    writer = client(url, WRITER)
    upload = writer.create_multipart_upload(Bucket="app-a", Key="assembled")["UploadId"]
    try:
        for source in (secret, "app-b/no-such-key"):
            for extra in ({}, {"CopySourceRange": "bytes=0-3"}):
                denied(lambda s=source, e=extra: writer.upload_part_copy(
                    Bucket="app-a", Key="assembled", UploadId=upload, PartNumber=1, CopySource=s, **e))
        assert writer.list_parts(Bucket="app-a", Key="assembled", UploadId=upload).get("Parts", []) == []
        with pytest.raises(ClientError):  # nothing to complete with
            writer.complete_multipart_upload(Bucket="app-a", Key="assembled", UploadId=upload,
                                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})
    finally:
        writer.abort_multipart_upload(Bucket="app-a", Key="assembled", UploadId=upload)
    missing(lambda: writer.head_object(Bucket="app-a", Key="assembled"))


def test_copy_source_is_read_under_getobject_rules(access_server: tuple[str, Path]) -> None:
    url, _ = access_server
    root, writer, write_only = client(url, ROOT), client(url, WRITER), client(url, WRITE_ONLY)
    root.put_object(Bucket="public-site", Key="logo.svg", Body=b"<svg/>")
    root.put_object(Bucket="app-b", Key="shared.txt", Body=b"for all", ACL="public-read")
    root.put_object(Bucket="app-a", Key="own.txt", Body=b"mine")
    # Readable as a GET would be: declared publicRead, a public-read object ACL, a read grant.
    replace = {"TaggingDirective": "REPLACE"}  # keeping the source's tags needs a read grant (below)
    writer.copy_object(Bucket="app-a", Key="from-public", CopySource="public-site/logo.svg", **replace)
    writer.copy_object(Bucket="app-a", Key="from-acl", CopySource="app-b/shared.txt", **replace)
    writer.copy_object(Bucket="app-a", Key="from-own", CopySource="app-a/own.txt")
    assert root.get_object(Bucket="app-a", Key="from-acl")["Body"].read() == b"for all"
    # A write-only grant reads nothing, so it copies nothing private, even inside its own bucket.
    denied(lambda: write_only.copy_object(Bucket="app-a", Key="wo-copy", CopySource="app-a/own.txt", **replace))
    write_only.copy_object(Bucket="app-a", Key="wo-copy", CopySource="public-site/logo.svg", **replace)


def test_copy_does_not_reveal_tags_public_access_hides(access_server: tuple[str, Path]) -> None:
    """GetObjectTagging is never public, so a copy may keep a source's tags only with a read grant on it."""
    url, _ = access_server
    root, writer = client(url, ROOT), client(url, WRITER)
    root.put_object(Bucket="public-site", Key="tagged.svg", Body=b"<svg/>", Tagging="owner=alice")
    root.put_object(Bucket="app-b", Key="tagged.txt", Body=b"x", Tagging="owner=bob", ACL="public-read")
    for source in ("public-site/tagged.svg", "app-b/tagged.txt"):
        denied(lambda s=source: writer.copy_object(Bucket="app-a", Key="tag-probe", CopySource=s))
        denied(lambda s=source: writer.copy_object(Bucket="app-a", Key="tag-probe", CopySource=s,
                                                   TaggingDirective="COPY"))
    missing(lambda: root.head_object(Bucket="app-a", Key="tag-probe"))
    writer.copy_object(Bucket="app-a", Key="tag-probe", CopySource="public-site/tagged.svg",
                       TaggingDirective="REPLACE")
    assert writer.get_object_tagging(Bucket="app-a", Key="tag-probe")["TagSet"] == []


def test_write_grant_cannot_open_access(access_server: tuple[str, Path]) -> None:
    url, _ = access_server
    root, write_only, writer = client(url, ROOT), client(url, WRITE_ONLY), client(url, WRITER)
    root.put_object(Bucket="app-a", Key="private-doc", Body=b"internal")
    denied(lambda: write_only.put_object_acl(Bucket="app-a", Key="private-doc", ACL="public-read"))
    denied(lambda: writer.put_object_acl(Bucket="app-a", Key="private-doc", ACL="public-read"))
    denied(lambda: writer.put_bucket_acl(Bucket="app-a", ACL="public-read"))
    assert httpx.get(f"{url}/app-a/private-doc").status_code == 403
    assert len(root.get_object_acl(Bucket="app-a", Key="private-doc")["Grants"]) == 1
    assert root.get_bucket_acl(Bucket="app-a")["Grants"][0]["Permission"] == "FULL_CONTROL"
    for acl in ("public-read", "public-read-write", "authenticated-read"):
        denied(lambda a=acl: write_only.put_object(Bucket="app-a", Key="opened", Body=b"x", ACL=a))
        denied(lambda a=acl: writer.copy_object(
            Bucket="app-a", Key="opened", CopySource="app-a/private-doc", ACL=a))
        denied(lambda a=acl: writer.create_multipart_upload(Bucket="app-a", Key="opened", ACL=a))
    missing(lambda: root.head_object(Bucket="app-a", Key="opened"))
    assert root.list_multipart_uploads(Bucket="app-a", Prefix="opened").get("Uploads", []) == []
    # The canned ACLs that open nothing stay allowed: many clients send x-amz-acl: private by default.
    for acl in ("private", "bucket-owner-read", "bucket-owner-full-control"):
        write_only.put_object(Bucket="app-a", Key="narrow", Body=b"x", ACL=acl)
    assert httpx.get(f"{url}/app-a/narrow").status_code == 403


def test_bucket_acl_opens_the_listing_not_the_objects(access_server: tuple[str, Path]) -> None:
    url, _ = access_server
    root = client(url, ROOT)
    root.create_bucket(Bucket="listing-only", ACL="public-read")
    root.create_bucket(Bucket="listing-later")
    root.put_bucket_acl(Bucket="listing-later", ACL="public-read-write")
    for name in ("listing-only", "listing-later"):
        root.put_object(Bucket=name, Key="private.txt", Body=b"not public")
        root.put_object(Bucket=name, Key="public.txt", Body=b"public", ACL="public-read")
        assert httpx.get(f"{url}/{name}/private.txt").status_code == 403
        assert httpx.head(f"{url}/{name}/private.txt").status_code == 403
        assert httpx.get(f"{url}/{name}/public.txt").content == b"public"
        listing = httpx.get(f"{url}/{name}?list-type=2")
        assert listing.status_code == 200 and "<Key>private.txt</Key>" in listing.text
        assert httpx.head(f"{url}/{name}").status_code == 200
        # The AllUsers WRITE grant of public-read-write lets anyone write, as on AWS (issue 13).
        wanted = 200 if name == "listing-later" else 403
        assert httpx.put(f"{url}/{name}/anon", content=b"x").status_code == wanted


@pytest.mark.parametrize("sub", ["tagging", "acl"])
def test_tagging_and_acl_reads_are_never_public(access_server: tuple[str, Path], sub: str) -> None:
    url, _ = access_server
    root = client(url, ROOT)
    root.put_object(Bucket="public-site", Key="tagged", Body=b"x", Tagging="team=red")
    root.put_object(Bucket="app-b", Key="tagged-open", Body=b"x", Tagging="team=blue", ACL="public-read")
    for path in ("public-site/tagged", "app-b/tagged-open"):
        assert httpx.get(f"{url}/{path}").status_code == 200  # the object itself is public
        response = httpx.get(f"{url}/{path}?{sub}")
        assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    for query in ("uploads", "versions"):
        response = httpx.get(f"{url}/public-site?{query}")
        assert (response.status_code, error_code(response)) == (403, "AccessDenied")
