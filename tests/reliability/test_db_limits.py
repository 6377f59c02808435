"""The database stops taking writes or connections under a running daemon
process: it becomes read-only, or every connection slot is taken. Nothing is
lost, the daemon stays alive, and it converges once the database recovers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from packsync.config import Settings
from tests.reliability.support import HealthSampler, record, start_daemon
from tests.support.daemon import OwnServer, safe_workflows, until
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

KILL_PACKSYNC = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE application_name = 'packsync' AND pid <> pg_backend_pid()"
)


async def _daemon_on(settings: Settings, own_pg: OwnServer, cwd: Path):  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={"database_url": SecretStr(own_pg.url)})
    make_core_pack(s.packs_base_dir)
    make_pack(s.packs_base_dir, "alpha", {"one.yaml": workflow_yaml("One")})
    return s, await start_daemon(s, cwd)


@pytest.mark.reliability_slow
async def test_read_only_database_then_writable_again(
    settings: Settings, own_pg: OwnServer, tmp_path: Path
) -> None:
    s, proc = await _daemon_on(settings, own_pg, tmp_path)
    admin = await asyncpg.connect(own_pg.url)
    db = await admin.fetchval("SELECT current_database()")
    try:
        assert proc.port is not None
        async with HealthSampler(proc.port) as health:
            await admin.execute(f'ALTER DATABASE "{db}" SET default_transaction_read_only = on')
            await admin.execute(KILL_PACKSYNC)  # every session reconnects read-only
            (s.packs_base_dir / "alpha" / "workflows" / "one.yaml").write_text(
                workflow_yaml("Written while read-only")
            )
            make_pack(s.packs_base_dir, "beta", {"b.yaml": workflow_yaml("B")})
            await asyncio.sleep(6)
            during = await safe_workflows(own_pg.url, s.db_schema)
            await admin.execute(f'ALTER DATABASE "{db}" RESET default_transaction_read_only')
            writable = time.monotonic()

            async def converged() -> bool:
                got = await safe_workflows(own_pg.url, s.db_schema)
                return got == {"alpha.one": "Written while read-only", "beta.b": "B"}

            await until(converged, 60, what="converged once writable")
            converge = time.monotonic() - writable
        record(
            "database read-only for 6 s while files changed",
            rows_during=len(during or {}),
            converge_after_writable_s=round(converge, 2),
            healthz_failures=len(health.failures),
            healthz_samples=health.samples,
        )
        assert during == {"alpha.one": "One"}  # nothing lost, nothing half-written
        assert health.failures == [] and proc.proc.poll() is None
    finally:
        await admin.execute(f'ALTER DATABASE "{db}" RESET default_transaction_read_only')
        await admin.close()
        proc.kill()


async def _hog_all(url: str, hogs: list[asyncpg.Connection]) -> None:
    """Connect until the server refuses: every slot, the reserved ones too."""
    while True:
        try:
            hogs.append(await asyncpg.connect(url, timeout=5))
        except (asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError, OSError):
            return
        except asyncpg.PostgresError as exc:
            if "slots" in str(exc) or "too many" in str(exc):
                return
            raise


@pytest.mark.reliability_slow
async def test_connection_slots_exhausted_then_freed(
    settings: Settings, own_pg: OwnServer, tmp_path: Path
) -> None:
    s, proc = await _daemon_on(settings, own_pg, tmp_path)
    admin = await asyncpg.connect(own_pg.url)
    hogs: list[asyncpg.Connection] = []
    try:
        await _hog_all(own_pg.url, hogs)
        for _ in range(10):  # the daemon's sessions go; their slots are taken at once
            await admin.execute(KILL_PACKSYNC)
            await _hog_all(own_pg.url, hogs)
            packsync_sessions = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'packsync'"
            )
            if packsync_sessions == 0:
                break
        (s.packs_base_dir / "alpha" / "workflows" / "one.yaml").write_text(
            workflow_yaml("Written while full")
        )
        await asyncio.sleep(5)
        alive_while_full = proc.proc.poll() is None
        taken = len(hogs)
        for conn in hogs:
            await conn.close()
        hogs.clear()
        freed = time.monotonic()

        async def converged() -> bool:
            got = await safe_workflows(own_pg.url, s.db_schema)
            return got == {"alpha.one": "Written while full"}

        await until(converged, 60, what="converged once slots were free")
        converge = time.monotonic() - freed
        record(
            "every connection slot taken for 5 s while a file changed",
            slots_taken=taken,
            packsync_sessions_while_full=packsync_sessions,
            converge_after_freed_s=round(converge, 2),
        )
        assert packsync_sessions == 0, "the daemon held on to no connection"
        assert alive_while_full and proc.proc.poll() is None
    finally:
        for conn in hogs:
            conn.terminate()
        await admin.close()
        proc.kill()
