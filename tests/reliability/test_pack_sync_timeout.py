"""One pack's sync is bounded by pack_sync_timeout_seconds as a whole (here:
stuck waiting for a lock that another process holds for longer than the
timeout, but less than pack_lock_timeout_seconds). The sync is abandoned,
its transaction rolled back, the failure shown in /status, and the pack is
retried until it lands once the lock is free."""

from __future__ import annotations

from packsync.config import Settings
from tests.reliability.faults_support import PackLockHolder
from tests.support.daemon import InProcess, fast_settings, until, until_label
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml


async def test_a_pack_sync_past_its_timeout_is_abandoned_and_retried(
    settings: Settings, pg_url: str
) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings, pack_sync_timeout_seconds=1.0, pack_lock_timeout_seconds=60.0)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, 30, what="first full sync")
        async with PackLockHolder(pg_url, s.db_schema, "alpha") as lock:
            (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("Two"))
            await lock.until_daemon_waits()

            def timed_out() -> bool:
                status = daemon.state.packs.get("alpha")
                return bool(status and status.last_error and "PackSyncTimeout" in status.last_error)

            await until(timed_out, 20, what="the sync abandoned as timed out")
            assert "alpha" in daemon.scheduler.pending() + daemon.scheduler.running()
        await until_label(pg_url, s.db_schema, "alpha.one", "Two", 30)
        await until(lambda: daemon.state.packs["alpha"].last_error is None, 10)
