"""The appliance: emulated API server, the real operator and real servers, and a stand-in kubelet.

Everything runs as the rendered chart runs it (charts/smarts3/templates/server/statefulset.yaml,
operator/deployment.yaml): the same environment variables, the Secret volumes translated to
directories that a kubelet thread fills. The kubelet writes a Secret into a pod's files when
the pod starts and, after that, only ``delay`` seconds after the Secret changed (60 s by
default, like a real kubelet's sync): nothing the operator promises may depend on it.

Each server replica listens on its own loopback address (127.0.0.11, .12, ...) with the same
ports, as pods do on their own IPs; the EndpointSlice of the server's Service lists them.
"""

from __future__ import annotations

import base64
import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from tests.operator.support import Api

NAMESPACE = "smarts3-system"
SERVICE = "smarts3"
CONFIG_SECRET = "smarts3-declared"
TOKEN_SECRET = "smarts3-push-token"
RESYNC_SECONDS = 10.0
"""The operator's drift-repair interval here (the chart's default is 60 s)."""
KUBELET_DELAY = float(os.environ.get("SMARTS3_APPLIANCE_KUBELET_DELAY", "60"))
ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ClusterApi(Api):
    """The kubernetes client against one emulator, without touching the client's global
    configuration (another operator may run in this process against another emulator)."""

    def __init__(self, kubeconfig: pathlib.Path) -> None:
        import kubernetes

        super().__init__(kubernetes.config.new_client_from_config(config_file=str(kubeconfig)))

    def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        secret = self.secret(namespace, name)
        return None if secret is None else {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


@dataclass
class Mount:
    """One Secret volume of one pod: ``secret``'s ``key`` as the file ``path``."""

    secret: str
    key: str
    path: pathlib.Path
    pending: tuple[str, float] | None = None  # content the kubelet will write, and when


class Kubelet(threading.Thread):
    """Copies Secrets into mounted files: at once at pod start, ``delay`` s after a change later."""

    def __init__(self, api: ClusterApi, delay: float) -> None:
        super().__init__(name="stand-in-kubelet", daemon=True)
        self.api = api
        self.delay = delay
        self.mounts: list[Mount] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def start_pod(self, mounts: list[Mount]) -> None:
        """Mount the Secrets as they are now (a missing optional Secret: no file yet)."""
        for mount in mounts:
            mount.path.parent.mkdir(parents=True, exist_ok=True)
            content = (self.api.secret_data(NAMESPACE, mount.secret) or {}).get(mount.key)
            if content is not None:
                _write(mount.path, content)
        with self._lock:
            self.mounts.extend(mounts)

    def run(self) -> None:
        while not self.stop.wait(1.0):  # a delay of a minute needs no finer polling
            with self._lock:
                mounts = list(self.mounts)
            try:  # one list per round: the emulator is a shared, single-threaded process
                secrets = {s.metadata.name: s for s in self.api.core.list_namespaced_secret(NAMESPACE).items}
            except Exception:  # the emulator is going away at the end
                continue
            for mount in mounts:
                secret = secrets.get(mount.secret)
                encoded = (secret.data or {}).get(mount.key) if secret is not None else None
                content = base64.b64decode(encoded).decode() if encoded is not None else None
                on_disk = mount.path.read_text() if mount.path.exists() else None
                now = time.monotonic()
                if content is None or content == on_disk:
                    mount.pending = None
                elif mount.pending is None:
                    mount.pending = (content, now + self.delay)
                else:
                    mount.pending = (content, mount.pending[1])
                if mount.pending is not None and now >= mount.pending[1]:
                    _write(mount.path, mount.pending[0])
                    mount.pending = None


def _write(path: pathlib.Path, content: str) -> None:
    # The kubelet swaps a symlinked directory atomically; a rename is as atomic.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content)
    tmp.replace(path)


@dataclass
class Replica:
    address: str
    proc: subprocess.Popen[bytes]
    data_dir: pathlib.Path
    root: tuple[str, str] = ("", "")

    def url(self, port: int) -> str:
        return f"http://{self.address}:{port}"


@dataclass
class Appliance:
    api: ClusterApi
    kubelet: Kubelet
    s3_port: int
    ops_port: int
    workdir: pathlib.Path
    emulator: subprocess.Popen[str]
    operator: subprocess.Popen[bytes]
    replicas: list[Replica] = field(default_factory=list)

    def s3_url(self, index: int = 0) -> str:
        return self.replicas[index].url(self.s3_port)

    def ops_url(self, index: int = 0) -> str:
        return self.replicas[index].url(self.ops_port)

    def token(self) -> str:
        return (self.api.secret_data(NAMESPACE, TOKEN_SECRET) or {})["token"]

    def start_replica(self, index: int) -> Replica:
        """A server pod: its mounts (filled by the kubelet at start), the chart's environment."""
        address = f"127.0.0.{11 + index}"
        pod = self.workdir / f"pod-{index}"
        declared = pod / "etc/smarts3/declared/declared.yaml"
        token = pod / "etc/smarts3/push/token"
        self.kubelet.start_pod(
            [Mount(CONFIG_SECRET, "declared.yaml", declared), Mount(TOKEN_SECRET, "token", token)]
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SMARTS3_")},
            "SMARTS3_DATA_DIR": str(pod / "data"),
            "SMARTS3_HOST": address,
            "SMARTS3_PORT": str(self.s3_port),
            "SMARTS3_METRICS_PORT": str(self.ops_port),
            "SMARTS3_WORKERS": "1",
            "SMARTS3_DECLARED": str(declared),
            "SMARTS3_DECLARED_OPTIONAL": "true",
            "SMARTS3_DECLARED_TOKEN_FILE": str(token),
            "SMARTS3_BANNER_SECRETS": "false",
        }
        log = open(pod / "server.log", "wb")  # noqa: SIM115  (owned by the process for its life)
        proc = subprocess.Popen([sys.executable, "-m", "smarts3", "serve"], env=env, stdout=log, stderr=log)
        replica = Replica(address, proc, pod / "data")
        self.replicas.append(replica)
        return replica

    def publish_endpoints(self) -> None:
        """What the endpoints controller does: the ready pods in the Service's EndpointSlice."""
        body = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": f"{SERVICE}-abcde", "labels": {"kubernetes.io/service-name": SERVICE}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [r.address], "conditions": {"ready": True}} for r in self.replicas],
            "ports": [{"name": "s3", "port": self.s3_port, "protocol": "TCP"}],
        }
        with contextlib.suppress(self.api.ApiException):
            self.api.discovery.delete_namespaced_endpoint_slice(f"{SERVICE}-abcde", NAMESPACE)
        self.api.discovery.create_namespaced_endpoint_slice(NAMESPACE, body)

    def close(self) -> None:
        self.kubelet.stop.set()
        # The operator first: it would report the servers going away on every object.
        self.operator.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.operator.wait(timeout=15)
        for proc in [r.proc for r in self.replicas]:
            proc.terminate()
        for proc in [*(r.proc for r in self.replicas), self.operator]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.emulator.terminate()
        self.emulator.wait(timeout=10)

    def logs(self) -> str:
        parts = [f"--- {p}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(self.workdir.glob("**/*.log"))]
        return "\n".join(parts)


def start(resync_seconds: float = RESYNC_SECONDS, kubelet_delay: float = KUBELET_DELAY) -> Appliance:
    """Emulator, operator (as the chart's Deployment runs it), then the kubelet; no server yet."""
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="smarts3-appliance-"))
    emulator = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/operator/emulator.py"), str(ROOT / "manifests/crds")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert emulator.stdout is not None
    line = emulator.stdout.readline()
    if not line.startswith("PORT "):
        emulator.kill()
        raise RuntimeError(f"the emulator did not start: {line!r}")
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: kmock, cluster: {{server: 'http://127.0.0.1:{int(line.split()[1])}'}}}}]\n"
        "users: [{name: kmock, user: {token: kmock}}]\n"
        "contexts: [{name: kmock, context: {cluster: kmock, user: kmock}}]\n"
        "current-context: kmock\n"
    )
    s3_port, ops_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SMARTS3_")},
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "server"), str(ROOT / "operator"), os.environ.get("PYTHONPATH", "")]),
        "SMARTS3_OPERATOR_CONFIG_SECRET_NAME": CONFIG_SECRET,
        "SMARTS3_OPERATOR_CONFIG_SECRET_NAMESPACE": NAMESPACE,
        "SMARTS3_OPERATOR_SERVER_SERVICE": SERVICE,
        "SMARTS3_OPERATOR_SERVER_NAMESPACE": NAMESPACE,
        "SMARTS3_OPERATOR_SERVER_PORT": str(s3_port),
        "SMARTS3_OPERATOR_SERVER_OPS_PORT": str(ops_port),
        "SMARTS3_OPERATOR_PUSH_TOKEN_SECRET": TOKEN_SECRET,
        "SMARTS3_OPERATOR_RESYNC_SECONDS": str(resync_seconds),
        "SMARTS3_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz",
    }
    log = open(workdir / "operator.log", "wb")  # noqa: SIM115  (owned by the process for its life)
    operator = subprocess.Popen([sys.executable, "-m", "smarts3_operator"], env=env, stdout=log, stderr=log)
    api = ClusterApi(kubeconfig)
    kubelet = Kubelet(api, kubelet_delay)
    kubelet.start()
    return Appliance(api, kubelet, s3_port, ops_port, workdir, emulator, operator)
