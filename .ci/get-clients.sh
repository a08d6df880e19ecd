#!/usr/bin/env bash
# Install what the client matrix (tests/clients) needs on a fresh Debian machine:
#   - rclone, s3cmd, chromium (the browser form upload test) and postgresql (the PostgreSQL metadata
#     tests) from Debian (apt-get, as root or through passwordless sudo),
#   - the AWS SDK for JavaScript v3 from tests/clients/js/package-lock.json (npm ci).
# The Python clients (boto3, awscli, minio, s3fs) come from the project's pip extras.
# Idempotent and quiet: tools already present are left alone; prints one line per client.
# Usage: .ci/get-clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in rclone s3cmd chromium; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# The PostgreSQL metadata tests (tests/postgres.py) start a throwaway cluster from Debian's binaries.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "get-clients: need root to apt-get install ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq >/dev/null
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The JavaScript SDK: npm ci from the lock file, skipped when node_modules matches it already.
js=tests/clients/js
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "get-clients: node and npm are needed for the AWS SDK for JavaScript v3 (Node.js >= 18)" >&2
    exit 1
fi
stamp="$js/node_modules/.smarts3-lock.sha256"
want=$(sha256sum "$js/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    npm ci --prefix "$js" --no-audit --no-fund --loglevel=error >/dev/null
    echo "$want" >"$stamp"
fi

echo "get-clients: $(rclone version | head -n1)"
echo "get-clients: $(s3cmd --version)"
echo "get-clients: $(chromium --version 2>/dev/null | head -n1)"
echo "get-clients: $(ls -d /usr/lib/postgresql/*/bin/initdb | tail -n1)"
echo "get-clients: node $(node --version), @aws-sdk/client-s3 $(node -p "require('./$js/node_modules/@aws-sdk/client-s3/package.json').version")"
