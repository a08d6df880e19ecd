"""Re-wrap data keys under the newest master key, in the metadata database only.

Bodies are sealed with the data key, not the master key, so rotation rewrites one small JSON
value per object, version and upload; no body is read or written.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from smarts3.sse.keys import Keyring
from smarts3.sse.record import EXTRA_KEY, Record, rewrapped

# table -> its primary key columns (the tables are WITHOUT ROWID)
_TABLES = {"objects": ("bucket", "key"), "versions": ("bucket", "key", "seq"), "uploads": ("upload_id",)}


@dataclass(slots=True)
class RewrapReport:
    rewrapped: int = 0
    current: int = 0  # already under the newest master key, or not master-wrapped (SSE-C, named KMS keys)


def rewrap_all(conn: sqlite3.Connection, keyring: Keyring) -> RewrapReport:
    """One transaction: every record wrapped by an older master key gets the newest one.

    Raises record.MissingKey when a record names a master key the keyring lacks (nothing changes).
    """
    report = RewrapReport()
    with conn:
        for table, keys in _TABLES.items():
            cols = ", ".join(keys)
            rows = conn.execute(
                f"SELECT {cols}, meta FROM {table} WHERE meta LIKE ?",  # noqa: S608 - fixed names
                (f'%"{EXTRA_KEY}"%',),
            ).fetchall()
            for row in rows:
                meta = json.loads(row[-1])
                raw = meta.get("extra", {}).get(EXTRA_KEY)
                if raw is None:
                    continue
                new = rewrapped(keyring, Record.decode(raw))
                if new is None:
                    report.current += 1
                    continue
                meta["extra"][EXTRA_KEY] = new.encode()
                where = " AND ".join(f"{k} = ?" for k in keys)
                conn.execute(
                    f"UPDATE {table} SET meta = ? WHERE {where}",  # noqa: S608 - fixed names
                    (json.dumps(meta), *row[:-1]),
                )
                report.rewrapped += 1
    return report
