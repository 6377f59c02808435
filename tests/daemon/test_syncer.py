"""Sync paths after the performance work (real database, real folders).

Several syncs finishing together share gauge refreshes, and every sync still
returns only after a refresh that saw its commit; loading and planning in
one worker thread keeps the error handling they had on the loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

import packsync.sync.service as service_module
from packsync.config import Settings
from packsync.daemon.state import DaemonState
from packsync.daemon.syncer import PackSyncer
from packsync.metrics import Metrics
from packsync.sync.service import SyncService
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml


def gauge(state: DaemonState, name: str) -> float | None:
    return state.metrics.registry.get_sample_value(name)


async def test_concurrent_syncs_share_gauge_refreshes(settings: Settings, packs: Path) -> None:
    make_core_pack(packs)
    refs = [f"p{i}" for i in range(8)]
    for ref in refs:
        make_pack(packs, ref, {"a.yaml": workflow_yaml(), "b.yaml": workflow_yaml()})
    state = DaemonState(metrics=Metrics())
    syncer = PackSyncer(settings, state, migrate=True)
    try:
        service = await syncer.service()
        counted = 0
        real_stats = service.stats

        async def counting_stats() -> dict[str, int]:
            nonlocal counted
            counted += 1
            await asyncio.sleep(0.3)  # a slow count: the other syncs finish meanwhile
            return await real_stats()

        service.stats = counting_stats  # type: ignore[method-assign]
        await asyncio.gather(*(syncer.run_pack(ref, "watch") for ref in refs))
        # every sync returned after a refresh that started after its commit
        assert gauge(state, "packsync_workflows") == 16
        assert gauge(state, "packsync_packs") == 8
        assert 1 <= counted <= len(refs) // 2
        before = counted
        await syncer.run_pack("core", "watch")  # alone: its own refresh
        assert counted == before + 1
        assert gauge(state, "packsync_packs") == 9
    finally:
        await syncer.close()


async def test_planning_moved_off_the_loop_keeps_error_handling(
    service: SyncService, pool: asyncpg.Pool, packs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Load + plan run in one worker thread: a loading bug is still a pack's
    `internal-error`, a planning bug still raises (it is not a pack's fault)."""
    make_core_pack(packs)
    make_pack(packs, "demo", {"a.yaml": workflow_yaml()})

    def broken_plan(*args: object, **kwargs: object) -> None:
        raise RuntimeError("planning bug")

    monkeypatch.setattr(service_module, "plan_pack", broken_plan)
    with pytest.raises(RuntimeError, match="planning bug"):
        await service.sync_pack("demo", trigger="watch")
    monkeypatch.undo()

    def broken_load(*args: object, **kwargs: object) -> None:
        raise RuntimeError("loading bug")

    monkeypatch.setattr(service_module, "load_pack", broken_load)
    result = await service.sync_pack("demo", trigger="watch")
    assert result.outcome == "pack-error"
    assert [d.code for d in result.diagnostics] == ["internal-error"]
    monkeypatch.undo()
    assert (await service.sync_pack("demo", trigger="watch")).created == 1
    async with pool.acquire() as conn:  # every call left one history row, failed or not
        runs = await conn.fetch("SELECT outcome FROM sync_run ORDER BY id")
    assert [r["outcome"] for r in runs] == ["pack-error", "ok"]
