#!/usr/bin/env bash
# Install checkov into its own virtualenv at DIR (default: .tools/checkov of the repo).
#
# checkov pulls in ~150 packages with pins that clash with the project's own (boto3,
# pydantic, ...), so it never goes into the project venv. The chart tests look for
# .tools/checkov/bin/checkov and skip with a message when it is absent.
# Usage: .ci/get-checkov.sh [DIR]   (idempotent; prints the checkov path)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$here/.tools/checkov}
python=${PYTHON:-python3}
version=${CHECKOV_VERSION:-3.3.30}
if [ -x "$dest/bin/checkov" ] && "$dest/bin/checkov" --version >/dev/null 2>&1; then
  echo "$dest/bin/checkov"; exit 0
fi
"$python" -m venv "$dest"
"$dest/bin/python" -m pip install --quiet --upgrade pip >&2
"$dest/bin/python" -m pip install --quiet "checkov==$version" >&2
"$dest/bin/checkov" --version >&2
echo "$dest/bin/checkov"
