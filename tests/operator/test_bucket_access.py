"""An S3Bucket's policy and publicAccessBlock reach the declared configuration the server validates."""

from __future__ import annotations

from typing import Any

import pytest

from smarts3.sync import parse
from tests.operator.support import Api, wait_for
from tests.operator.test_operator import bucket_entry, declared

pytestmark = pytest.mark.usefixtures("operator")

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared-op/pub/*"}
    ],
}


def test_policy_and_block_reach_the_declared_config(api: Api, namespace: str, tmp_path: Any) -> None:
    block = {"blockPublicAcls": True, "restrictPublicBuckets": True}
    api.create("s3buckets", namespace, "shared-op", {"policy": POLICY, "publicAccessBlock": block})

    entry = wait_for(
        lambda: (e := bucket_entry(api, "shared-op")) is not None and e.policy is not None and e, what="policy"
    )
    assert entry.policy == POLICY
    assert entry.public_access_block.block_public_acls is True
    assert entry.public_access_block.ignore_public_acls is False
    assert entry.public_access_block.restrict_public_buckets is True
    # The server accepts the file the operator wrote (it validates the policy on apply).
    text = declared(api).model_dump_json(by_alias=True, exclude_none=True)
    config, _ = parse(text, tmp_path)
    assert next(b for b in config.buckets if b.name == "shared-op").policy == POLICY

    api.patch("s3buckets", namespace, "shared-op", {"spec": {"policy": None, "publicAccessBlock": None}})
    wait_for(lambda: (e := bucket_entry(api, "shared-op")) is not None and e.policy is None, what="policy removed")
