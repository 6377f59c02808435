"""The registered catalogue as the CLI and the REST API read it, and the one
write that is not a sync: `packsync delete PACK`.

SyncService extends this with the sync operations; a reader that never syncs
(e.g. a standby's API) needs only this.
"""

from __future__ import annotations

import asyncpg
import structlog

from packsync.config import Settings
from packsync.core.results import (
    FailingFile,
    PackOwnedElsewhere,
    WorkflowDetail,
    WorkflowFilter,
    WorkflowSummary,
)
from packsync.db import queries, reads
from packsync.sync.history import Recording, baseline, record
from packsync.sync.register import release_pack

EVERY_WORKFLOW = WorkflowFilter()
_log = structlog.get_logger("packsync.sync.service")


class WorkflowStore:
    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool

    # ------------------------------------------------------------------ manual delete
    async def delete_pack(self, ref: str) -> int:
        """Delete the pack's file-sourced workflows with their action rows (and
        the pack row when packsync created it and nothing else uses it). A pack
        of another sync_group raises PackOwnedElsewhere. The next sync re-creates
        it if its folder is still on disk."""
        group = self.settings.sync_group
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(queries.PACK_XACT_LOCK, self.settings.db_schema, ref)
            owner = await conn.fetchval(queries.PACK_OWNER, ref)
            if owner is not None and owner != group:
                raise PackOwnedElsewhere(ref, owner)
            await baseline(conn, pack_files=ref)
            deleted = await conn.fetch(queries.DELETE_PACK_FILE_WORKFLOWS, ref)
            await record(
                conn,
                Recording(trigger="cli", keep=self.settings.history_keep),
                deleted=[r["ref"] for r in deleted],
            )
            await release_pack(conn, ref, group)
            await conn.execute(queries.CLEAR_PACK_ERRORS, ref, group)
        _log.info("pack deleted", pack=ref, workflows=len(deleted))
        return len(deleted)

    # ------------------------------------------------------------------ reads
    async def count_workflows(self, ref: str) -> int:
        return await reads.count_workflows(self.pool, ref)

    async def list_workflows(
        self, wanted: WorkflowFilter = EVERY_WORKFLOW
    ) -> tuple[list[WorkflowSummary], int]:
        """Matching rows (ordered by ref) and the total count without paging."""
        return await reads.list_workflows(self.pool, wanted)

    async def pack_registered(self, ref: str) -> bool:
        return await reads.pack_registered(self.pool, ref)

    async def failing_file(self, ref: str) -> FailingFile | None:
        """The file that would define `ref` but fails validation, if any."""
        return await reads.failing_file(self.pool, ref)

    async def get_workflow(self, ref: str) -> WorkflowDetail | None:
        return await reads.get_workflow(self.pool, ref)

    async def find_by_pack(self, ref: str) -> list[WorkflowSummary]:
        return await reads.find_by_pack(self.pool, ref)

    async def ping(self) -> bool:
        """Database reachable (readiness probe, `packsync_db_up`)."""
        return await reads.ping(self.pool)

    async def stats(self) -> dict[str, int]:
        """This group's packs, workflows and invalid_files (for the gauges)."""
        return await reads.group_stats(self.pool, self.settings.sync_group)
