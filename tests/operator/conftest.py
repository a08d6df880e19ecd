"""Fixtures: a Kubernetes API emulator (kmock, own process) and the operator under kopf.

``KUBECONFIG`` is set at import, before anything imports ``kubernetes`` (it reads the
variable at import time); the file itself is written once the emulator has a port.
The operator runs once per session, cluster-wide; each test works in its own namespace.
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Until pyproject.toml packages operator/smarts3_operator, import it from the tree.
if str(ROOT / "operator") not in sys.path:
    sys.path.insert(0, str(ROOT / "operator"))

_STATE = pathlib.Path(tempfile.mkdtemp(prefix="smarts3-operator-tests-"))
KUBECONFIG = _STATE / "kubeconfig"
os.environ["KUBECONFIG"] = str(KUBECONFIG)

from tests.operator.support import CONFIG_NAMESPACE, CONFIG_SECRET, RESYNC_SECONDS, Api  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def emulator() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(pathlib.Path(__file__).with_name("emulator.py")), str(ROOT / "manifests/crds")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            pytest.fail(f"the kmock emulator did not start: {line!r}")
        url = f"http://127.0.0.1:{int(line.split()[1])}"
        KUBECONFIG.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: kmock, cluster: {{server: '{url}'}}}}]\n"
            "users: [{name: kmock, user: {token: kmock}}]\n"
            "contexts: [{name: kmock, context: {cluster: kmock, user: kmock}}]\n"
            "current-context: kmock\n"
        )
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def liveness_url() -> str:
    return f"http://127.0.0.1:{_free_port()}/healthz"


@pytest.fixture(scope="session")
def operator(emulator: str, liveness_url: str) -> Iterator[None]:
    env = {
        "SMARTS3_OPERATOR_CONFIG_SECRET_NAMESPACE": CONFIG_NAMESPACE,
        "SMARTS3_OPERATOR_CONFIG_SECRET_NAME": CONFIG_SECRET,
        "SMARTS3_OPERATOR_RESYNC_SECONDS": str(RESYNC_SECONDS),
        "SMARTS3_OPERATOR_LIVENESS_ENDPOINT": liveness_url,
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        from kopf.testing import KopfRunner

        args = ["run", "--standalone", "-A", "--liveness", liveness_url, "-m", "smarts3_operator.handlers"]
        with KopfRunner(args, timeout=60) as runner:
            yield
    assert runner.exception is None, runner.exception
    assert runner.exit_code == 0, runner.output


@pytest.fixture(scope="session")
def api(operator: None) -> Api:
    return Api()


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace name of the test's own (the emulator needs no Namespace object).

    Its custom resources are deleted afterwards: the session's operator resyncs every object
    every RESYNC_SECONDS in a few worker threads, so objects left behind by earlier tests
    slowed every later test's reconciles (minutes, by the end of a full run).
    """
    name = "t-" + request.node.name.replace("_", "-").lower()[:40].strip("-")
    yield name
    if "operator" in request.fixturenames:
        # Usually gone in well under a second; a deletion kopf holds back (it once took 53 s,
        # right after the operator started) finishes in the background instead of here.
        Api().delete_all(name, timeout=10)
