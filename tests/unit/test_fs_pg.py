"""The PostgreSQL dialect's statement translation (storage/fs/pg.py) and the test cluster's CI rule."""

from __future__ import annotations

import pytest

from smarts3.storage.fs.pg import is_postgres, translate
from tests import postgres


def test_placeholders_positional_and_numbered() -> None:
    assert translate("SELECT 1 FROM buckets WHERE name = ?") == ("SELECT 1 FROM buckets WHERE name = %s", None)
    sql, order = translate("SELECT body FROM objects WHERE bucket = ?1 AND key = ?2 UNION ALL"
                           " SELECT body FROM versions WHERE bucket = ?1 AND key = ?2 AND seq = ?3")
    assert sql.count("%s") == 5 and "?" not in sql
    assert order == (0, 1, 0, 1, 2)


def test_insert_or_replace_becomes_an_upsert_on_the_primary_key() -> None:
    sql, _ = translate("INSERT OR REPLACE INTO parts (upload_id, part_number, size, etag, checksums,"
                       " body, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?)")
    assert sql.startswith("INSERT INTO parts (")
    assert "ON CONFLICT (upload_id, part_number) DO UPDATE SET size = EXCLUDED.size," in sql
    assert "upload_id = EXCLUDED" not in sql


def test_percent_signs_and_transaction_verbs() -> None:
    assert translate("SELECT '100%' WHERE a = ?")[0] == "SELECT '100%%' WHERE a = %s"
    assert translate("BEGIN IMMEDIATE")[0] == "BEGIN"
    assert translate("BEGIN")[0].startswith("BEGIN ISOLATION LEVEL REPEATABLE READ")


def test_metadata_urls() -> None:
    assert is_postgres("postgresql://u@h/db") and is_postgres("postgres://h/db")
    assert not is_postgres("") and not is_postgres("sqlite:///x")


def test_missing_postgres_skips_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMARTS3_CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL not available"):
        postgres._unavailable("no initdb")
    monkeypatch.setenv("SMARTS3_CI", "1")
    with pytest.raises(pytest.fail.Exception, match="SMARTS3_CI=1"):
        postgres._unavailable("no initdb")
