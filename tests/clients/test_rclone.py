"""rclone (the Debian package) in the client matrix, through a temporary config file."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.clients.support import ClientSuite, Driver, Matrix, ToolError, missing, run_tool

REMOTE = "smarts3"


class RcloneDriver(Driver):
    def __init__(self, matrix: Matrix, work: Path) -> None:
        super().__init__(matrix, work)
        rclone = shutil.which("rclone")
        if rclone is None:
            missing("rclone is not installed (apt-get install rclone)", system=True)
        assert rclone is not None
        self.rclone = rclone
        self.config = work / "rclone.conf"
        # no_check_bucket: rclone otherwise sends CreateBucket before every upload, which a
        # credential without bucket-admin rights is (rightly) denied; rclone documents the setting
        # for exactly that case.
        self.config.write_text(
            f"[{REMOTE}]\ntype = s3\nprovider = Other\nenv_auth = false\n"
            f"access_key_id = {matrix.access_key}\nsecret_access_key = {matrix.secret_key}\n"
            f"endpoint = {matrix.url}\nregion = us-east-1\nforce_path_style = true\nno_check_bucket = true\n"
        )
        self.config.chmod(0o600)
        home = work / "home"
        home.mkdir()
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}

    def run(self, *args: str) -> bytes:
        return run_tool([self.rclone, "--config", str(self.config), "--retries", "1", "--low-level-retries", "1",
                         "-q", *args], self.env)

    def version(self) -> str:
        # "rclone v1.60.1-DEV"
        return run_tool([self.rclone, "version"], self.env).decode().splitlines()[0].strip()

    def make_bucket(self, bucket: str) -> None:
        # no_check_bucket also turns mkdir into a no-op: creating a bucket needs it off.
        self.run("mkdir", "--s3-no-check-bucket=false", f"{REMOTE}:{bucket}")

    def remove_bucket(self, bucket: str) -> None:
        self.run("purge", f"{REMOTE}:{bucket}")

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.run("copyto", str(self.tmpfile(data)), f"{REMOTE}:{bucket}/{key}")

    def get(self, bucket: str, key: str) -> bytes:
        return self.run("cat", f"{REMOTE}:{bucket}/{key}")

    def get_range(self, bucket: str, key: str, start: int, end: int | None) -> bytes:
        count = [] if end is None else ["--count", str(end - start + 1)]
        return self.run("cat", "--offset", str(start), *count, f"{REMOTE}:{bucket}/{key}")

    def list(self, bucket: str, prefix: str, delimiter: str) -> tuple[set[str], set[str]]:
        assert delimiter == "/", "rclone lists one directory level with delimiter '/'"
        keys: set[str] = set()
        prefixes: set[str] = set()
        for name in self.run("lsf", f"{REMOTE}:{bucket}/{prefix}").decode().splitlines():
            (prefixes if name.endswith("/") else keys).add(prefix + name)
        return keys, prefixes

    def put_multipart(self, bucket: str, key: str, path: Path) -> None:
        # rclone's default cutoff is 200 MiB; these are the flags users set for multipart.
        self.run("copyto", "--s3-upload-cutoff", "8M", "--s3-chunk-size", "8M", str(path),
                 f"{REMOTE}:{bucket}/{key}")

    def copy(self, bucket: str, source: str, dest: str) -> None:
        self.run("copyto", f"{REMOTE}:{bucket}/{source}", f"{REMOTE}:{bucket}/{dest}")  # server-side copy

    def delete(self, bucket: str, key: str) -> None:
        self.run("deletefile", f"{REMOTE}:{bucket}/{key}")

    def presign_get(self, bucket: str, key: str) -> str:
        return self.run("link", "--expire", "5m", f"{REMOTE}:{bucket}/{key}").decode().strip()

    def list_denied(self, bucket: str) -> str:
        try:
            self.run("lsf", f"{REMOTE}:{bucket}")
        except ToolError as exc:
            return exc.output
        raise AssertionError(f"rclone lsf {bucket} succeeded without a grant")


class TestRclone(ClientSuite):
    client = "rclone"

    def make_driver(self, matrix: Matrix, work: Path) -> Driver:
        return RcloneDriver(matrix, work)
