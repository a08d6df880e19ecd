"""`smarts3-operator` without the `operator` extra: one line naming the install command, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Hide a module the way an environment without it behaves: `import` raises ModuleNotFoundError.
RUN_WITHOUT = "import sys; sys.modules[{name!r}] = None; from smarts3_operator.__main__ import main; main()"


@pytest.mark.parametrize("hidden", ["kopf", "kubernetes"])
def test_missing_extra_is_one_line_and_exit_2(hidden: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT.format(name=hidden)],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "operator"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        f"smarts3-operator: the operator needs {hidden}, which is not installed: pip install 'smarts3[operator]'\n"
    )


def test_with_the_extra_installed_nothing_is_missing() -> None:
    from smarts3_operator.__main__ import missing_extra

    assert missing_extra() is None
