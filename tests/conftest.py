"""Shared fixtures: a real PostgreSQL for every test that needs one.

- `pg_url` (session): URL of the test server. `PACKSYNC_TEST_DATABASE_URL` when
  set, otherwise an embedded pgserver started once in a temp dir.
- `db_schema`: a fresh, unique schema name per test (dropped afterwards), so
  tests never see each other's rows and can run against one server.
- `settings`: Settings with packs_base_dir=tmp_path/"packs" (created, empty),
  database_url=pg_url, db_schema=db_schema, state_dir=tmp_path/"state".
  Derive variants with `settings.model_copy(update={...})`.
- `pool`: an asyncpg pool (packsync.db.connection.create_pool) on that schema,
  already migrated.
- `service`: a SyncService on `settings` and `pool`.
- `packs`: the packs base directory (= settings.packs_base_dir).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from packsync.config import Settings
from packsync.db.connection import create_pool
from packsync.db.migrate import migrate
from packsync.service import SyncService

TEST_DB_ENV = "PACKSYNC_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get(TEST_DB_ENV)
    if url:
        yield url
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture
async def db_schema(pg_url: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def packs(tmp_path: Path) -> Path:
    base = tmp_path / "packs"
    base.mkdir(exist_ok=True)
    return base


@pytest.fixture
def settings(tmp_path: Path, packs: Path, pg_url: str, db_schema: str) -> Settings:
    return Settings(
        packs_base_dir=packs,
        database_url=pg_url,
        db_schema=db_schema,
        state_dir=tmp_path / "state",
    )


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings)
    try:
        await migrate(pool, settings.db_schema)
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def service(settings: Settings, pool: asyncpg.Pool) -> SyncService:
    return SyncService(settings, pool)
