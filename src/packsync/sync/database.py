"""The database a piece of work runs against: a pool, packsync's schemas
brought up to date first, and the failures a caller reports to its user
(unreachable, an Attune schema packsync cannot use). The shells (CLI) open the
database here rather than reaching into `db/`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from packsync.config import Settings
from packsync.db.connection import DatabaseUnavailable, create_pool, is_connection_error
from packsync.db.migrate import (
    AttuneSchemaError,
    existing_attune_tables,
    migrate,
    pending_migrations,
)
from packsync.sync.service import SyncService


@asynccontextmanager
async def open_service(
    settings: Settings, *, migrate_first: bool = True
) -> AsyncIterator[SyncService]:
    """A sync service on a fresh pool, closed on exit."""
    pool = await create_pool(settings)
    try:
        if migrate_first:
            await migrate(pool, settings.db_schema, settings.state_schema)
        yield SyncService(settings, pool)
    finally:
        await pool.close()


async def not_ready(service: SyncService) -> list[str]:
    """What the database lacks before a read-only run (pending migrations,
    Attune's tables); empty when ready."""
    settings = service.settings
    async with service.pool.acquire() as conn:
        pending = await pending_migrations(conn, settings.state_schema)
        tables = await existing_attune_tables(conn, settings.db_schema)
    if pending:
        return pending
    return [] if len(tables) >= 3 else [f"{settings.db_schema}: Attune's tables"]


async def apply_migrations(service: SyncService) -> list[str]:
    """Bring packsync's schemas up to date; the names of the migrations applied."""
    settings = service.settings
    return await migrate(service.pool, settings.db_schema, settings.state_schema)


__all__ = [
    "AttuneSchemaError",
    "DatabaseUnavailable",
    "apply_migrations",
    "is_connection_error",
    "not_ready",
    "open_service",
]
