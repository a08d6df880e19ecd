"""Inline bodies: a small object's bytes in its metadata row instead of a file.

A durable file body costs create, write, fsync, rename and a directory fsync before the
row's commit, which is itself a (shared) WAL fsync. A body of at most `inline_max` bytes
goes into the row's `body` BLOB (db.py) in the same transaction instead: one share of a
group commit (commits.py), and a GET reads it with the row. The writer buffers up to
bodies.FLUSH_BYTES in memory anyway, so the choice is made at commit without look-ahead:
a body that grew past the limit (or spilt early under memory pressure) has its temp file
already and is committed as a file, as before. Parts of multipart uploads stay files.
"""

from __future__ import annotations

from smarts3.storage.fs.bodies import FLUSH_BYTES

# Measured on the 2-core test VM (16 writers, fsync always, store in-process; benchmarks/README.md):
# inline PUTs run 2.3-2.6x the file rate at 4 KiB, 1.2-1.5x at 16 KiB, 1.1x at 32 KiB, break even
# at 48-64 KiB and lose at 256 KiB (0.5x: the WAL writes the bytes, the checkpoint again). Up to
# 32 KiB, then: the gain without the loss, and a database that stays small.
INLINE_MAX_BYTES = 32 * 1024


def clamp_inline_max(value: int) -> int:
    """0 disables; never above what the writer holds in memory before it spills to a file."""
    return max(0, min(value, FLUSH_BYTES))
