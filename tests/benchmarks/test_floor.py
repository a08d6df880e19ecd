"""benchmarks/floor.py: every stage answers as a strict S3 server must (correctness, not speed).

Each stage's server is started as floor.py starts it for a run (its own process, Hypercorn as in
ceiling.py; stage 4 is `smarts3 serve`), unpinned, and spoken to over HTTP with the benchmark's
own SigV4 client and with boto3.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import floor

STAGES = tuple(floor.STAGES)


@pytest.fixture(scope="module")
def probes() -> dict[int, floor.Probe]:
    """Every stage's answers to floor.probe's conversation (PUT, GET, HEAD, forged requests, DELETE)."""
    launch = floor.Launch()
    out = {}
    for stage in STAGES:
        with floor.running(stage, launch) as server:
            out[stage] = asyncio.run(floor.probe(server.endpoint, launch))
    return out


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_answers_the_four_ops(probes: dict[int, floor.Probe], stage: int) -> None:
    got = probes[stage]
    assert {op: got.status[op] for op in ("bucket", "PUT", "GET", "HEAD", "DELETE")} == {
        "bucket": 200, "PUT": 200, "GET": 200, "HEAD": 200, "DELETE": 204,
    }
    assert len(got.got) == floor.SIZE
    assert got.head_length == str(floor.SIZE)


@pytest.mark.parametrize("stage", [s for s in STAGES if s >= 3])
def test_stages_with_a_store_return_what_was_stored(probes: dict[int, floor.Probe], stage: int) -> None:
    got = probes[stage]
    assert got.got == got.stored
    assert got.etag == f'"{hashlib.md5(got.stored).hexdigest()}"'
    assert got.status["GET deleted"] == 404
    assert "NoSuchKey" in got.answers["GET deleted"]


@pytest.mark.parametrize("stage", STAGES)
def test_signatures_are_checked_from_stage_2_on(probes: dict[int, floor.Probe], stage: int) -> None:
    got = probes[stage]
    if stage >= 2:
        assert got.status["bad GET"] == 403
        assert "SignatureDoesNotMatch" in got.answers["bad GET"]
        assert got.status["bad PUT"] == 403
        if stage >= 3:
            assert got.status["GET forged"] == 404  # the forged PUT stored nothing
    else:  # stages 0 and 1 check nothing: a forged request is served like any other
        assert got.status["bad GET"] == 200


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_the_response_head_is_smarts3s(probes: dict[int, floor.Probe], stage: int) -> None:
    for op in ("PUT", "GET", "HEAD", "DELETE"):
        assert probes[stage].names[op] == probes[4].names[op], op
    assert "x-amz-request-id" in probes[stage].names["GET"]
    assert "last-modified" in probes[stage].names["HEAD"]


@pytest.mark.parametrize("stage", STAGES)
def test_floor_finds_no_problem_where_the_test_finds_none(probes: dict[int, floor.Probe], stage: int) -> None:
    assert floor.problems(stage, probes[stage], probes[4]) == []


def test_floor_reports_a_problem() -> None:
    broken = floor.Probe(status={"bucket": 200, "PUT": 200, "GET": 200, "HEAD": 200, "DELETE": 204,
                                 "bad GET": 200, "bad PUT": 200, "GET forged": 200, "GET deleted": 404},
                         stored=b"a" * floor.SIZE, got=b"b" * floor.SIZE, head_length=str(floor.SIZE))
    found = floor.problems(3, broken, None)
    assert any("bad GET" in p for p in found)
    assert any("differs from the body stored" in p for p in found)


@pytest.fixture(scope="module")
def boto_stages() -> Iterator[dict[int, Any]]:
    launch = floor.Launch()
    with floor.running(2, launch) as two, floor.running(3, launch) as three:
        yield {stage: boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=launch.access_key,
                                   aws_secret_access_key=launch.secret_key, region_name=floor.REGION,
                                   config=BotoConfig(retries={"total_max_attempts": 1},
                                                     request_checksum_calculation="when_required"))
               for stage, server in ((2, two), (3, three))}


@pytest.mark.parametrize("stage", [2, 3])
def test_boto3_signatures_are_accepted(boto_stages: dict[int, Any], stage: int) -> None:
    s3 = boto_stages[stage]
    s3.create_bucket(Bucket="boto-floor")
    body = bytes(range(256)) * 16
    put = s3.put_object(Bucket="boto-floor", Key="a/b c", Body=body)
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket="boto-floor", Key="a/b c")
    if stage >= 3:
        assert got["Body"].read() == body
    else:
        assert len(got["Body"].read()) == floor.SIZE
    assert s3.head_object(Bucket="boto-floor", Key="a/b c")["ContentLength"] == floor.SIZE
    s3.delete_object(Bucket="boto-floor", Key="a/b c")


def test_quick_run_prints_a_row_per_op_and_stage(capsys: pytest.CaptureFixture[str]) -> None:
    assert floor.main(["--quick", "--no-pin", "--stages", "0,3"]) == 0
    table = capsys.readouterr().out
    for op in floor.OPS:
        for stage in (0, 3):
            row = re.search(rf"^\| {re.escape(op)} \| {stage}\. .*$", table, re.MULTILINE)
            assert row is not None, (op, stage, table)
            rate = float(row.group(0).split("|")[3].split()[0].replace(",", ""))
            assert rate > 0
        in_process = re.search(rf"^\| {re.escape(op)} \| [0-9,]+ µs \| [0-9,]+ µs \| [0-9.]+ / [0-9.]+ \|$", table,
                               re.MULTILINE)
        assert in_process is not None, (op, table)
