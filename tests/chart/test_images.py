"""The chart runs two images: the server image (server and helm test pods) and the operator image."""

from __future__ import annotations

import pathlib
import subprocess
from typing import Any

import pytest

from tests.chart.conftest import CHART, Render, one

DIGEST = "sha256:" + "ab" * 32


def containers(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = one(objects, kind)["spec"]["template"]["spec"]["containers"]
    return found


def test_default_images_are_the_two_targets_at_the_app_version(render: Render) -> None:
    objects = render()
    (server,) = containers(objects, "StatefulSet")
    (operator,) = containers(objects, "Deployment")
    assert server["image"] == "smarts3/server:0.1.0"
    assert operator["image"] == "smarts3/operator:0.1.0"


def test_tag_is_shared_and_digests_are_per_image(render: Render) -> None:
    objects = render(
        "--set", "image.tag=1.2.3",
        "--set", "image.server.repository=registry.example.com/s3/server",
        "--set", f"image.operator.digest={DIGEST}",
    )
    (server,) = containers(objects, "StatefulSet")
    (operator,) = containers(objects, "Deployment")
    assert server["image"] == "registry.example.com/s3/server:1.2.3"
    assert operator["image"] == f"smarts3/operator@{DIGEST}"


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("image.repository=smarts3/smarts3", "repository"),  # the one-image value of earlier charts
        ("image.server.digest=sha256:short", "/image/server/digest"),
        ("image.operator.repository=", "/image/operator/repository"),
    ],
)
def test_schema_refuses_wrong_image_values(helm: pathlib.Path, setting: str, complaint: str) -> None:
    proc = subprocess.run(
        [str(helm), "lint", "--strict", str(CHART), "--set", setting], capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    assert complaint in proc.stdout + proc.stderr
