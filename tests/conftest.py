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
- `own_pg`: a PostgreSQL server of the test's own (`OwnServer`: stop/start).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from packsync.config import Settings
from packsync.db.connection import create_pool
from packsync.db.migrate import migrate
from packsync.service import SyncService
from tests.daemon_support import OwnServer

TEST_DB_ENV = "PACKSYNC_TEST_DATABASE_URL"


def server_tmpdir(prefix: str) -> Path:
    """A temp dir for an embedded PostgreSQL, outside /tmp/pytest-of-<user>.

    As root, pgserver runs postgres as the `pgserver` user and opens the path
    for it; every pytest session re-restricts /tmp/pytest-of-root to 0700,
    which would lock a running or starting server out of its data directory.
    """
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = os.environ.get(TEST_DB_ENV)
    if url:
        yield url
        return
    import pgserver

    root = server_tmpdir("packsync-test-pg-")
    server = pgserver.get_server(root / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


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


@pytest.fixture
def own_pg() -> Iterator[OwnServer]:
    """A PostgreSQL server of the test's own, to stop and start under a daemon."""
    root = server_tmpdir("packsync-own-pg-")
    server = OwnServer(root / "data")
    try:
        yield server
    finally:
        server.start()  # cleanup expects a running server
        server.server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
