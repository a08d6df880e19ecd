"""Pure start-up checks of the data directory (the CLI side is tests/integration/test_startup_checks.py)."""

from __future__ import annotations

from pathlib import Path

from smarts3.config import checks


def test_files_another_user_owns_are_named(tmp_path: Path) -> None:
    system = tmp_path / ".smarts3"
    system.mkdir()
    (system / "meta.db").write_bytes(b"")
    owner = system.stat().st_uid
    where = "invalid setting storage.dataDir = 'x'"
    # As the owner: nothing to say. As another (non-root) user: the first foreign entry, and both uids.
    assert checks._foreign_files(system, where, owner) == []
    (problem,) = checks._foreign_files(system, where, 4242)
    assert problem.startswith(where) and "uid 4242" in problem and f"belongs to uid {system.stat().st_uid}" in problem
    assert checks._foreign_files(system, where, 0) == []  # root writes anything
    assert checks._foreign_files(tmp_path / "absent", where, 4242) == []  # a new data directory


def test_a_new_data_directory_under_a_writable_parent_is_fine(tmp_path: Path) -> None:
    assert checks.data_dir_problems(tmp_path / "new" / "data") == []
    (tmp_path / "file").write_text("x")
    (problem,) = checks.data_dir_problems(tmp_path / "file" / "data")
    assert "is not a directory" in problem
