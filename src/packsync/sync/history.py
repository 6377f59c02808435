"""Recording the history of definitions (`workflow_version`, docs/history.md).

Every writer of workflow rows (a pack's sync in register.apply_plan, the API
service, `packsync delete`) calls `baseline` before it changes or deletes rows
and `record` after, inside its own transaction: a version commits with the
write it describes, or not at all. No version is added when the stored
definition (and the file holding it) did not change.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import asyncpg

from packsync.db import history_queries as sql


@dataclass(frozen=True, slots=True)
class Recording:
    """How the versions of one write are labelled."""

    trigger: str  # a sync's trigger, 'api' or 'restore'
    keep: int  # versions kept per ref (0: all)
    git_commit: str | None = None  # HEAD of the pack's git work tree, if any


async def baseline(
    conn: asyncpg.Connection, ids: Collection[int] = (), *, pack_files: str | None = None
) -> None:
    """Record the rows about to change (by id, and every file row of the pack
    `pack_files`) as they are, where history does not already end with them."""
    if ids:
        await conn.execute(sql.BASELINE, list(ids))
    if pack_files is not None:
        await conn.execute(sql.BASELINE_PACK_FILES, pack_files)


async def record(
    conn: asyncpg.Connection,
    rec: Recording,
    *,
    written: Collection[int] = (),
    deleted: Collection[str] = (),
) -> list[int]:
    """Append a version for each written row (by id) whose definition changed
    and for each deleted ref; prune beyond `rec.keep`. Returns the new
    version ids (for the sync_run that wrote them)."""
    ids: list[int] = []
    if written:
        rows = await conn.fetch(
            sql.RECORD_WRITTEN, list(written), rec.trigger, rec.git_commit, rec.keep
        )
        ids += [r["id"] for r in rows]
    if deleted:
        rows = await conn.fetch(
            sql.RECORD_DELETED, list(deleted), rec.trigger, rec.git_commit, rec.keep
        )
        ids += [r["id"] for r in rows]
    return ids
