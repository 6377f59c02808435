"""The daemon's syncer under a burst of pack syncs (real database, real folders).

Several syncs finishing together share gauge refreshes, and every sync still
returns only after a refresh that saw its commit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from packsync.config import Settings
from packsync.daemon.state import DaemonState
from packsync.daemon.syncer import PackSyncer
from packsync.metrics import Metrics
from tests.packfactory import make_core_pack, make_pack, workflow_yaml


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
