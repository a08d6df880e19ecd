"""A real browser submits the HTML form that examples/post_form.py makes (headless Chromium).

The page picks a file the way a user would leave one in the file input (DataTransfer: the
browser, not the test, builds the multipart body) and submits; the object must land in the
bucket with the browser-chosen file name. Chromium is a system client (.ci/get-clients.sh): a
developer run without it skips, CI fails.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.clients.support import missing
from tests.conftest import ACCESS_KEY, SECRET_KEY, Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "post_form.py"

_SUBMIT = """<script>
  const file = new File(["uploaded by a browser form"], "from-browser.txt", {type: "text/plain"});
  const picked = new DataTransfer();
  picked.items.add(file);
  document.getElementById("file").files = picked.files;
  document.getElementById("upload").submit();
</script>
</body>"""


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("post_form", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_headless_chromium_submits_the_example_form(server: Server, s3: Any, bucket: str, tmp_path: Path) -> None:
    if CHROMIUM is None:
        missing("chromium is not installed", system=True)
    example = _example()
    page = example.form_html(example.presigned_post(server.url, bucket, ACCESS_KEY, SECRET_KEY))
    html_file = tmp_path / "upload.html"
    html_file.write_text(page.replace("</body>", _SUBMIT))
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom", html_file.as_uri()],
        capture_output=True, text=True, timeout=90, check=False,
    )
    body = s3.get_object(Bucket=bucket, Key="incoming/from-browser.txt")
    assert body["Body"].read() == b"uploaded by a browser form"
    assert body["ContentLength"] == len(b"uploaded by a browser form")
    # What the browser shows afterwards: the 201 PostResponse document.
    assert "incoming/from-browser.txt" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
