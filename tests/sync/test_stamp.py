"""A sweep skips a pack whose files' stat stamp is the one recorded with its
checksum (no read, no hash, no lock, no write); a reconcile reads and hashes
whatever the stamp; a file changed within the racy window gets no stamp."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import packsync.sync.service as service_module
from packsync.pipeline import scan
from packsync.sync.service import SyncService
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The packs the service scanned (read and hashed), in order."""
    seen: list[str] = []
    real: Callable[..., Any] = scan.scan_pack

    def counting(base: Path, ref: str, **kw: Any) -> Any:
        seen.append(ref)
        return real(base, ref, **kw)

    monkeypatch.setattr(service_module, "scan_pack", counting)
    return seen


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files just written count as settled (no racy window)."""
    monkeypatch.setattr(scan, "RACY_NS", 0)


@pytest.fixture
def two_packs(packs: Path) -> Path:
    make_core_pack(packs)
    make_pack(packs, "alpha", {"a.yaml": workflow_yaml("A"), "b.yaml": workflow_yaml("B")})
    make_pack(packs, "beta", {"c.yaml": workflow_yaml("C")})
    return packs


async def stamps(pool: asyncpg.Pool) -> dict[str, str | None]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT pack_ref, stamp FROM managed_pack")
    return {r["pack_ref"]: r["stamp"] for r in rows}


async def writes(pool: asyncpg.Pool) -> tuple[Any, ...]:
    async with pool.acquire() as conn:
        return tuple(
            await conn.fetch(
                "SELECT pack_ref, xmin::text, stamp FROM managed_pack ORDER BY pack_ref"
            )
        ) + tuple(await conn.fetch("SELECT ref, xmin::text FROM workflow_definition ORDER BY ref"))


@pytest.mark.usefixtures("settled", "two_packs")
async def test_an_unchanged_pack_is_skipped_by_its_stamp_and_reports_the_same(
    service: SyncService, pool: asyncpg.Pool, reads: list[str]
) -> None:
    cold = await service.sync_all(trigger="cli")
    assert cold.total("created") == 3
    assert all(await stamps(pool))
    reads.clear()
    before = await writes(pool)
    again = await service.sync_all(trigger="cli")
    assert reads == []  # nothing read, nothing hashed
    assert await writes(pool) == before
    assert again.total("unchanged") == 3 and again.total("loaded") == 3
    by_pack = {p.pack_ref: p for p in again.packs}
    assert [(w.ref, w.file_path, w.change) for w in by_pack["alpha"].workflows] == [
        ("alpha.a", "workflows/a.yaml", "unchanged"),
        ("alpha.b", "workflows/b.yaml", "unchanged"),
    ]
    hashed = await service.sync_all(trigger="reconcile")
    assert sorted(reads) == ["alpha", "beta", "core"]  # the reconcile reads everything
    assert [p.counts() for p in hashed.packs] == [p.counts() for p in again.packs]


@pytest.mark.usefixtures("settled")
async def test_a_touched_file_is_read_once_and_its_new_stamp_recorded(
    service: SyncService, pool: asyncpg.Pool, two_packs: Path, reads: list[str]
) -> None:
    await service.sync_all(trigger="cli")
    first = await stamps(pool)
    path = two_packs / "alpha" / "workflows" / "a.yaml"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns - 5_000_000_000))
    reads.clear()
    touched = await service.sync_all(trigger="cli")
    assert reads == ["alpha"] and touched.total("unchanged") == 3
    now = await stamps(pool)
    assert now["alpha"] != first["alpha"] and now["beta"] == first["beta"]
    reads.clear()
    await service.sync_all(trigger="cli")
    assert reads == []


@pytest.mark.usefixtures("settled")
async def test_a_changed_added_or_removed_file_changes_the_stamp(
    service: SyncService, two_packs: Path, reads: list[str]
) -> None:
    await service.sync_all(trigger="cli")
    alpha = two_packs / "alpha" / "workflows"
    (alpha / "a.yaml").write_text(workflow_yaml("A2"))
    (two_packs / "beta" / "workflows" / "d.yaml").write_text(workflow_yaml("D"))
    reads.clear()
    report = await service.sync_all(trigger="cli")
    assert sorted(reads) == ["alpha", "beta"]
    assert report.total("updated") == 1 and report.total("created") == 1
    (alpha / "b.yaml").unlink()
    reads.clear()
    report = await service.sync_all(trigger="cli")
    assert reads == ["alpha"] and report.total("deleted") == 1


@pytest.mark.usefixtures("settled")
async def test_a_pack_with_an_error_row_is_always_read(
    service: SyncService, two_packs: Path, reads: list[str]
) -> None:
    (two_packs / "beta" / "workflows" / "bad.yaml").write_text("tasks: [\n")
    await service.sync_all(trigger="cli")
    reads.clear()
    report = await service.sync_all(trigger="cli")
    assert reads == ["beta"] and report.total("failed") == 1


@pytest.mark.usefixtures("two_packs")
async def test_files_written_within_the_racy_window_get_no_stamp(
    service: SyncService, pool: asyncpg.Pool, reads: list[str]
) -> None:
    await service.sync_all(trigger="cli")
    assert set((await stamps(pool)).values()) == {None}
    reads.clear()
    await service.sync_all(trigger="cli")
    assert sorted(reads) == ["alpha", "beta", "core"]


def test_a_stamp_is_what_a_scan_records_and_moves_with_any_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "packs"
    make_pack(base, "demo", {"a.yaml": workflow_yaml()}, actions={"x.yaml": "name: x\n"})

    def scanned() -> str | None:
        pack = scan.scan_pack(base, "demo", max_file_size=1 << 20)
        assert pack is not None
        return pack.stamp

    def quick(max_file_size: int = 1 << 20) -> str | None:
        return scan.pack_stamps(base, ["demo"], max_file_size=max_file_size).get("demo")

    # just written: inside the racy window, so no stamp
    assert scanned() is None and quick() is None
    monkeypatch.setattr(scan, "RACY_NS", 0)
    first = scanned()
    assert first is not None and quick() == first
    (base / "demo" / "actions" / "y.yaml").write_text("name: y\n")
    assert quick() not in (None, first)
    assert quick(max_file_size=10) != quick()


@pytest.mark.usefixtures("settled", "two_packs")
async def test_an_edited_ignore_file_is_never_hidden_by_the_stamp(
    service: SyncService, pool: asyncpg.Pool, reads: list[str], packs: Path
) -> None:
    """Un-ignoring a file changes no YAML file's stat: the rules themselves are
    part of the stamp, so the pack is read and the file registered."""
    (packs / "alpha" / ".packsyncignore").write_text("workflows/b.yaml\n")
    first = await service.sync_all(trigger="cli")
    assert {p.pack_ref: p.created for p in first.packs}["alpha"] == 1
    reads.clear()
    await service.sync_all(trigger="cli")
    assert "alpha" not in reads  # unchanged, rules included: skipped by its stamp
    (packs / "alpha" / ".packsyncignore").write_text("# nothing ignored\n")
    again = await service.sync_all(trigger="cli")
    assert "alpha" in reads
    assert {p.pack_ref: p.created for p in again.packs}["alpha"] == 1  # b.yaml now
