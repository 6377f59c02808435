"""PostgreSQL stopped and restarted under a running daemon (a server this test
owns, not the shared one): the daemon keeps watching, remembers dirty packs,
retries with backoff and converges when the database returns."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from packsync.config import Settings
from tests.support.daemon import InProcess, OwnServer, fast_settings, safe_workflows, until
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml


async def test_database_outage_is_survived_and_caught_up(
    settings: Settings, own_pg: OwnServer
) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings, database_url=SecretStr(own_pg.url))

    async def rows() -> dict[str, str | None] | None:
        return await safe_workflows(own_pg.url, s.db_schema)

    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, 30, what="first full sync")
        assert (await rows()) == {"alpha.one": "One"}
        url = f"http://127.0.0.1:{daemon.state.http_port}"

        own_pg.stop()
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("During outage"))
        make_pack(base, "beta", {"b.yaml": workflow_yaml("B")})
        await until(lambda: not daemon.state.db_up, 30, what="database seen down")
        await until(
            lambda: (
                {"alpha", "beta"} <= set(daemon.scheduler.pending()) or daemon.elector.failures > 0
            ),
            30,
            what="dirty packs remembered",
        )
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200  # liveness ignores the db
            assert (await client.get("/readyz")).status_code == 503
            metrics = (await client.get("/metrics")).text
            assert "packsync_db_up 0.0" in metrics
        assert daemon.state.role == "standby"  # lost the lock connection: stepped down

        own_pg.start()

        async def converged() -> bool:
            got = await rows()
            return got == {"alpha.one": "During outage", "beta.b": "B"}

        await until(converged, 60, what="caught up after the outage")
        await until(lambda: daemon.state.db_up and daemon.state.role == "leader", 30)
        assert daemon.state.tasks_alive()


async def test_daemon_starts_while_database_is_down(settings: Settings, own_pg: OwnServer) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    own_pg.stop()
    s = fast_settings(settings, database_url=SecretStr(own_pg.url))
    async with InProcess(s) as daemon:
        await until(lambda: daemon.elector.failures >= 2, 30, what="retrying")
        assert not daemon.state.first_sync_done and daemon.state.tasks_alive()
        own_pg.start()

        async def synced() -> bool:
            return (await safe_workflows(own_pg.url, s.db_schema)) == {"alpha.one": "One"}

        await until(synced, 60, what="synced once the database is up")
        await until(lambda: daemon.state.first_sync_done, 30)


async def test_pool_connections_killed_server_side_are_retried(
    settings: Settings, pg_url: str
) -> None:
    """pg_terminate_backend on the pool's sessions (the leader's lock session
    survives): the next syncs fail or reconnect, and the daemon converges."""
    import asyncpg

    from tests.support.daemon import workflows

    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, 30, what="first full sync")
        leader_pid = daemon.elector._conn.get_server_pid()
        admin = await asyncpg.connect(pg_url)
        try:
            for round_ in range(3):
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'packsync' AND pid <> $1 AND pid <> pg_backend_pid()",
                    leader_pid,
                )
                assert killed >= 1
                label = f"after kill {round_}"
                (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml(label))

                async def synced(label: str = label) -> bool:
                    return (await workflows(pg_url, s.db_schema)).get("alpha.one") == label

                await until(synced, 30, what=f"converged after kill {round_}")
        finally:
            await admin.close()
        assert daemon.state.role == "leader" and daemon.state.tasks_alive()
