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
from tests.integration.helpers import client_error, error_code

READER = ("READERKEY0000000001", "reader-secret-000000000000000000000001")
WRITER = ("WRITERKEY0000000001", "writer-secret-000000000000000000000001")
GLOB = ("GLOBKEY000000000001", "glob-secret-0000000000000000000000001")


def declared(public: bool = True, revoke_reader: bool = False) -> dict[str, Any]:
    creds = [
        {"name": "writer", "accessKeyId": WRITER[0], "secretAccessKey": WRITER[1],
         "grants": [{"bucket": "app-a", "access": "readwrite"}]},
        {"name": "glob", "accessKeyId": GLOB[0], "secretAccessKeyFile": "glob.secret",
         "grants": [{"bucket": "team-*", "access": "admin"}]},
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
    root.put_object(Bucket="acl-bucket", Key="k", Body=b"open")
    assert httpx.get(f"{url}/acl-bucket/k").content == b"open"
    root.put_bucket_acl(Bucket="acl-bucket", ACL="private")
    assert httpx.get(f"{url}/acl-bucket/k").status_code == 403
    root.put_object(Bucket="acl-bucket", Key="shared", Body=b"one object", ACL="public-read")
    assert httpx.get(f"{url}/acl-bucket/shared").content == b"one object"
    assert len(root.get_object_acl(Bucket="acl-bucket", Key="shared")["Grants"]) == 2
    root.put_object_acl(Bucket="acl-bucket", Key="shared", ACL="private")
    assert httpx.get(f"{url}/acl-bucket/shared").status_code == 403
    with pytest.raises(ClientError) as err:
        root.put_object(Bucket="acl-bucket", Key="g", Body=b"x", GrantRead='uri="http://acs.amazonaws.com/x"')
    assert client_error(err.value) == ("NotImplemented", 501)
    with pytest.raises(ClientError) as err:
        root.put_bucket_acl(Bucket="acl-bucket", AccessControlPolicy={
            "Owner": {"ID": "x"}, "Grants": [{"Grantee": {"Type": "Group", "URI": "u"}, "Permission": "READ"}]})
    assert client_error(err.value) == ("NotImplemented", 501)


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
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                reader.head_object(Bucket="app-a", Key="live")
            except ClientError as exc:
                assert client_error(exc)[0] in ("InvalidAccessKeyId", "403")
                break
            time.sleep(0.1)
        else:
            pytest.fail("revoked credential still accepted after 10 s")
    finally:
        stop.set()
        thread.join()
        write_atomically(path, declared())
    assert failures == []
    deadline = time.monotonic() + 10
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

    deadline = time.monotonic() + 10
    while not {"scratch-empty", "scratch-full", "scratch-kept"} <= names():
        assert time.monotonic() < deadline, "declared buckets were not created"
        time.sleep(0.2)
    root.put_object(Bucket="scratch-full", Key="keep-me", Body=b"data")
    write_atomically(path, declared())  # all three dropped from the file
    deadline = time.monotonic() + 10
    while "scratch-empty" in names():
        assert time.monotonic() < deadline, "empty Delete bucket was not removed"
        time.sleep(0.2)
    time.sleep(1.5)
    assert {"scratch-full", "scratch-kept"} <= names()  # not empty / Retain: both stay
    assert root.get_object(Bucket="scratch-full", Key="keep-me")["Body"].read() == b"data"
