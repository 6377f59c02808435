"""The deletion guard: a missing base deletes nothing; an emptied base (the
Grafana trap) is a mass delete, refused until confirmed or persistent."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import asyncpg
import pytest

from packsync.config import Settings
from packsync.core.results import PackResult
from packsync.sync.service import SyncService
from tests.support.daemon import RowSampler
from tests.support.packfactory import make_pack, workflow_yaml


async def pack_refs(pool: asyncpg.Pool) -> set[str]:
    async with pool.acquire() as conn:
        return {r[0] for r in await conn.fetch("SELECT ref FROM pack")}


async def workflow_count(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM workflow_definition"))


@pytest.fixture
async def four_packs(service: SyncService, packs: Path) -> list[str]:
    refs = ["alpha", "beta", "gamma", "delta"]
    for ref in refs:
        make_pack(packs, ref, {"a.yaml": workflow_yaml(), "b.yaml": workflow_yaml()})
    report = await service.sync_all(trigger="startup")
    assert report.totals["created"] == 8
    return refs


async def test_one_removed_pack_is_deleted(
    service: SyncService, pool: asyncpg.Pool, packs: Path, four_packs: list[str]
) -> None:
    shutil.rmtree(packs / "beta")
    report = await service.sync_all(trigger="reconcile")
    beta = next(p for p in report.packs if p.pack_ref == "beta")
    assert beta.outcome == "removed" and beta.deleted == 2
    assert await pack_refs(pool) == {"alpha", "gamma", "delta"}
    assert await workflow_count(pool) == 6


async def test_removed_pack_via_single_sync(
    service: SyncService, pool: asyncpg.Pool, packs: Path, four_packs: list[str]
) -> None:
    shutil.rmtree(packs / "gamma")
    result = await service.sync_pack("gamma", trigger="watch")
    assert result.outcome == "removed" and result.deleted == 2
    assert "gamma" not in await pack_refs(pool)


async def test_missing_base_dir_deletes_nothing(
    service: SyncService, pool: asyncpg.Pool, packs: Path, four_packs: list[str]
) -> None:
    shutil.rmtree(packs)
    report = await service.sync_all(trigger="reconcile", allow_mass_delete=True)
    assert not report.base_ok
    assert any(d.code == "base-dir-unavailable" for d in report.diagnostics)
    assert sorted(report.refused_deletes) == sorted(four_packs)
    assert await pack_refs(pool) == set(four_packs) and await workflow_count(pool) == 8
    single = await service.sync_pack("alpha", trigger="watch")
    assert single.outcome == "refused"
    assert await workflow_count(pool) == 8


async def test_unreadable_base_dir_deletes_nothing(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path, four_packs: list[str]
) -> None:
    # A base that is a file, not a folder, is unusable (root ignores chmod, so
    # permissions cannot be used to make it unreadable here).
    not_a_dir = tmp_path / "not-a-dir"
    not_a_dir.write_text("x")
    service = SyncService(settings.model_copy(update={"packs_base_dir": not_a_dir}), pool)
    report = await service.sync_all(trigger="reconcile")
    assert not report.base_ok and await workflow_count(pool) == 8


async def test_emptied_base_is_refused_then_allowed(
    service: SyncService, pool: asyncpg.Pool, packs: Path, four_packs: list[str]
) -> None:
    for ref in four_packs:
        shutil.rmtree(packs / ref)
    report = await service.sync_all(trigger="reconcile")
    assert report.base_ok and report.outcome == "refused"
    assert sorted(report.refused_deletes) == sorted(four_packs)
    assert report.refused_reason and "4 of 4" in report.refused_reason
    assert all(p.outcome == "refused" for p in report.packs)
    assert await workflow_count(pool) == 8
    # pack by pack (watch events for each vanished folder): still refused
    single = await service.sync_pack("alpha", trigger="watch")
    assert single.outcome == "refused" and await workflow_count(pool) == 8
    confirmed = await service.sync_all(trigger="cli", allow_mass_delete=True)
    assert confirmed.totals["deleted"] == 8 and not confirmed.refused_deletes
    assert await pack_refs(pool) == set() and await workflow_count(pool) == 0


async def test_mass_delete_allowed_after_grace(
    settings: Settings, pool: asyncpg.Pool, packs: Path, four_packs: list[str]
) -> None:
    service = SyncService(settings.model_copy(update={"mass_delete_grace_seconds": 0.3}), pool)
    for ref in four_packs[:3]:
        shutil.rmtree(packs / ref)
    first = await service.sync_all(trigger="reconcile")
    assert len(first.refused_deletes) == 3 and await workflow_count(pool) == 8
    time.sleep(0.4)
    second = await service.sync_all(trigger="reconcile")
    assert second.refused_deletes == [] and second.totals["deleted"] == 6
    assert await pack_refs(pool) == {"delta"}


async def test_grace_timer_resets_when_condition_clears(
    settings: Settings, pool: asyncpg.Pool, packs: Path, four_packs: list[str], tmp_path: Path
) -> None:
    service = SyncService(settings.model_copy(update={"mass_delete_grace_seconds": 0.3}), pool)
    moved = tmp_path / "moved"
    moved.mkdir()
    for ref in four_packs[:3]:
        (packs / ref).rename(moved / ref)
    assert len((await service.sync_all(trigger="reconcile")).refused_deletes) == 3
    for ref in four_packs[:3]:
        (moved / ref).rename(packs / ref)
    assert (await service.sync_all(trigger="reconcile")).refused_deletes == []
    time.sleep(0.4)
    for ref in four_packs[:3]:
        shutil.rmtree(packs / ref)
    # the condition is new again: the grace period starts over
    assert len((await service.sync_all(trigger="reconcile")).refused_deletes) == 3
    assert await workflow_count(pool) == 8


async def test_only_filter_still_applies_the_fraction(
    service: SyncService, pool: asyncpg.Pool, packs: Path, four_packs: list[str]
) -> None:
    for ref in four_packs:
        shutil.rmtree(packs / ref)
    report = await service.sync_all(trigger="cli", only=["alpha"])
    assert [p.pack_ref for p in report.packs] == ["alpha"]
    assert report.packs[0].outcome == "refused" and await workflow_count(pool) == 8


async def test_named_pack_that_does_not_exist_is_an_error(
    service: SyncService, pool: asyncpg.Pool, four_packs: list[str]
) -> None:
    report = await service.sync_all(trigger="cli", only=["nosuch"])
    assert [(p.pack_ref, p.outcome) for p in report.packs] == [("nosuch", "pack-error")]
    assert report.packs[0].diagnostics[0].code == "pack-not-found"
    assert await workflow_count(pool) == 8


def _swap_base(base: Path, away: Path, replacement: str) -> None:
    """What an unmount, a failed checkout or a volume swap does to the base."""
    base.rename(away)
    if replacement == "empty":
        base.mkdir()
    elif replacement == "file":
        base.write_text("not a folder\n")


@pytest.mark.parametrize("replacement", ["empty", "missing", "file"])
async def test_base_swapped_mid_sweep_deletes_nothing(
    service: SyncService,
    pool: asyncpg.Pool,
    packs: Path,
    tmp_path: Path,
    pg_url: str,
    settings: Settings,
    replacement: str,
) -> None:
    """Issue 11: a quarter through a sweep the base is renamed away (and an
    empty folder or a file put in its place): not one row may go."""
    refs = [f"p{i:03d}" for i in range(120)]
    for ref in refs:
        make_pack(packs, ref, {"a.yaml": workflow_yaml(ref)})
    assert (await service.sync_all(trigger="startup")).totals["created"] == 120
    done: list[str] = []

    def progress(result: PackResult) -> None:
        done.append(result.pack_ref)
        if len(done) == 30:
            _swap_base(packs, tmp_path / "away", replacement)

    async with RowSampler(pg_url, settings.db_schema) as sampler:
        report = await service.sync_all(trigger="signal", progress=progress)
    assert len(done) >= 30, "the swap happened mid-sweep"
    assert report.totals["deleted"] == 0
    assert min(sampler.samples) == 120 and len(sampler.samples) > 5
    assert await workflow_count(pool) == 120
    assert len(report.refused_deletes) == 90 and report.outcome == "refused"


async def test_single_removals_accumulate_against_the_fraction(
    service: SyncService, pool: asyncpg.Pool, packs: Path, four_packs: list[str]
) -> None:
    """`rm -rf packs/*` seen one watch event at a time: each removal alone is
    small, together they are a mass delete — counted since the last sweep."""
    outcomes = []
    for ref in four_packs[:3]:
        shutil.rmtree(packs / ref)
        outcomes.append((await service.sync_pack(ref, trigger="watch")).outcome)
    assert outcomes == ["removed", "removed", "refused"]
    assert await pack_refs(pool) == {four_packs[2], four_packs[3]}


async def test_single_removal_on_a_replaced_base_waits_for_a_sweep(
    service: SyncService, pool: asyncpg.Pool, packs: Path, four_packs: list[str], tmp_path: Path
) -> None:
    """A pack gone from a base that is no longer the folder the last sweep saw
    (a volume swap): refused; the next sweep judges the new folder afresh."""
    new = tmp_path / "new"
    new.mkdir()
    for ref in four_packs[1:]:
        shutil.copytree(packs / ref, new / ref)
    packs.rename(tmp_path / "old")
    new.rename(packs)
    single = await service.sync_pack(four_packs[0], trigger="watch")
    assert single.outcome == "refused" and single.message and "replaced" in single.message
    assert await workflow_count(pool) == 8
    report = await service.sync_all(trigger="watch")
    assert report.totals["deleted"] == 2 and await pack_refs(pool) == set(four_packs[1:])


async def test_pack_gone_mid_sweep_is_deleted_at_the_end(
    service: SyncService, pool: asyncpg.Pool, packs: Path, four_packs: list[str]
) -> None:
    """A real removal during a sweep (base unchanged) is still deleted, at the end."""
    order: list[tuple[str, str]] = []

    def progress(result: PackResult) -> None:
        order.append((result.pack_ref, result.outcome))
        if len(order) == 1:
            shutil.rmtree(packs / "gamma")

    report = await service.sync_all(trigger="reconcile", progress=progress)
    assert order[-1] == ("gamma", "removed") and report.totals["deleted"] == 2
    assert await pack_refs(pool) == {"alpha", "beta", "delta"}


def test_a_scan_never_reads_half_of_a_swapped_base(packs: Path, tmp_path: Path) -> None:
    """The base renamed away and an empty folder put in its place while a pack
    is being read, and put back (the path's identity is the same before and
    after): the scan sees the whole pack, no pack (the empty base, read whole),
    or a pack in error that keeps its rows; never a pack whose files or pack
    file look removed (which would delete their rows)."""
    import threading

    from packsync.pipeline.scan import BaseDirUnavailable, scan_pack

    make_pack(packs, "alpha", {f"w{i}.yaml": workflow_yaml() for i in range(40)})
    away, empty = tmp_path / "away", tmp_path / "empty"
    stop = threading.Event()
    swaps = 0

    def swapper() -> None:
        nonlocal swaps
        while not stop.is_set():
            packs.rename(away)
            empty.mkdir()
            empty.rename(packs)
            packs.rename(empty)
            empty.rmdir()
            away.rename(packs)
            swaps += 1

    thread = threading.Thread(target=swapper)
    thread.start()
    seen: set[object] = set()
    scans = 0
    deadline = time.monotonic() + 20
    try:
        while (scans < 300 or swaps < 20) and time.monotonic() < deadline and thread.is_alive():
            scans += 1
            try:
                pack = scan_pack(packs, "alpha", max_file_size=1 << 20)
            except BaseDirUnavailable:
                continue
            if pack is None or pack.pack_file is None:
                seen.add(None if pack is None else tuple(d.code for d in pack.diagnostics))
            else:
                seen.add(len(pack.workflow_files))
    finally:
        stop.set()
        thread.join()
    assert swaps >= 20 and seen <= {None, 40, ("pack-changed",)}, (swaps, seen)
