"""The shipped pytest plugin (entry point pytest11): smarts3_server and s3_bucket, run by pytester."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest

pytest_plugins = ["pytester"]

_USER_TESTS = '''
import botocore.exceptions
import pytest

BUCKETS = []


def test_put_get(smarts3_server, s3_bucket):
    s3 = smarts3_server.client()
    s3.put_object(Bucket=s3_bucket, Key="dir/hello.txt", Body=b"hello")
    s3.create_multipart_upload(Bucket=s3_bucket, Key="unfinished")  # the teardown aborts it
    assert s3.get_object(Bucket=s3_bucket, Key="dir/hello.txt")["Body"].read() == b"hello"
    assert smarts3_server.endpoint.startswith("http://127.0.0.1:")
    assert smarts3_server.region == "us-east-1"
    BUCKETS.append(s3_bucket)
    print(f"STARTUP={smarts3_server.startup_seconds:.3f}")


def test_each_test_gets_a_new_bucket_and_the_last_one_is_gone(smarts3_server, s3_bucket):
    s3 = smarts3_server.client(s3={"addressing_style": "path"})
    assert s3_bucket not in BUCKETS
    assert s3.list_objects_v2(Bucket=s3_bucket)["KeyCount"] == 0
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.head_bucket(Bucket=BUCKETS[0])
    assert err.value.response["Error"]["Code"] == "404"
'''


def test_entry_point_is_registered() -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "smarts3"]
    assert entry.value == "smarts3.pytest_plugin"


def test_fixtures_serve_a_real_s3_endpoint(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=_USER_TESTS)
    # A subprocess: the plugin loads from the entry point exactly as in a user's project.
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    (seconds,) = [float(s.split("STARTUP=")[1].split()[0]) for s in result.outlines if "STARTUP=" in s]
    # The fixture reports its start-up time (0.6-0.8 s measured on an idle host, mostly imports); a
    # time limit here would only measure how loaded the CI host is, so none is asserted.
    assert seconds > 0


def test_plugin_imports_nothing_heavy() -> None:
    # The plugin loads in every pytest run where smarts3 is installed.
    import subprocess

    code = (
        "import sys, smarts3.pytest_plugin;"
        "heavy = [m for m in ('boto3', 'botocore', 'hypercorn', 'starlette', 'smarts3.app') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
