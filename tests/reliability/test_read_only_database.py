"""The database turns read-only for a while (`default_transaction_read_only`,
as during a failover to a replica): syncs fail with SQLSTATE 25006. The pack
must stay pending (in /status and `packsync_pending_packs`), be retried with
capped backoff for as long as it takes, and land within seconds of writes
being allowed again. A server of the test's own: ALTER SYSTEM is server-wide."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
from pydantic import SecretStr

from packsync.config import Settings
from tests.support.daemon import InProcess, OwnServer, fast_settings, until, until_label
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

READ_ONLY_SECONDS = 15.0
# A read-only database also refuses the leader's lease renewal, so the leader
# steps down: the edit lands after the sync retry (retry_backoff_max_seconds,
# 5 s) and the re-election's own backoff, plus the sync itself.
LAND_WITHIN = 15.0


async def _read_only(url: str, on: bool) -> None:
    conn = await asyncpg.connect(url)
    try:
        if on:
            await conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        else:
            await conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


async def test_read_only_database_keeps_the_pack_pending_until_writes_return(
    settings: Settings, own_pg: OwnServer
) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings, database_url=SecretStr(own_pg.url))
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, 30, what="first full sync")
        await until_label(own_pg.url, s.db_schema, "alpha.one", "One")
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{daemon.state.http_port}", timeout=5)
        try:
            await _read_only(own_pg.url, True)
            read_only_since = time.monotonic()
            (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("Two"))

            def failures() -> int:
                status = daemon.state.packs.get("alpha")
                return status.errors if status is not None else 0

            # Three failed attempts, after which it used to be dropped: still pending.
            # (The leader may step down soon after, its lease renewal refused too:
            # a standby makes no more attempts.)
            await until(lambda: failures() >= 3, READ_ONLY_SECONDS, what="3 failed attempts")
            status = (await http.get("/status")).json()
            assert "alpha" in status["pending_packs"] or "alpha" in status["running"]
            assert "ReadOnlySQLTransactionError" in status["packs"]["alpha"]["last_error"]

            async def metric_pending() -> bool:  # between two attempts it waits, pending
                return "packsync_pending_packs 1.0" in (await http.get("/metrics")).text

            await until(metric_pending, 10, what="packsync_pending_packs 1")
            assert (await http.get("/readyz")).status_code == 503  # degraded, and says so

            # the outage lasts READ_ONLY_SECONDS whatever the attempts cost
            await asyncio.sleep(max(0.0, READ_ONLY_SECONDS - (time.monotonic() - read_only_since)))
            attempts = failures()
            await _read_only(own_pg.url, False)
            writable = time.monotonic()
            await until_label(own_pg.url, s.db_schema, "alpha.one", "Two", 30)
            landed = time.monotonic() - writable
            print(
                f"read-only {READ_ONLY_SECONDS:g} s: {attempts} failed attempts, "
                f"landed {landed:.1f} s after writes were allowed"
            )
            assert landed <= LAND_WITHIN, landed
            await until(lambda: daemon.state.ready()[0], 10, what="ready again")
            await until(lambda: daemon.scheduler.idle(), 10, what="nothing pending")
            assert (await http.get("/status")).json()["packs"]["alpha"]["last_error"] is None
        finally:
            await http.aclose()
            await _read_only(own_pg.url, False)
