"""A symlink `x.yaml` in a workflows folder whose target is missing (a
half-done git-sync, a deleted shared file) is a located diagnostic, not a
silently ignored name, and never a removal: a workflow registered from it is
kept until the link is fixed or removed."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

from packsync.pipeline.scan import scan_pack
from packsync.sync.service import SyncService
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml


def test_dangling_workflow_symlink_is_a_located_diagnostic(tmp_path: Path) -> None:
    base = tmp_path / "packs"
    root = make_pack(base, "demo", {"ok.yaml": workflow_yaml("Ok")})
    os.symlink(root / "workflows" / "gone.yaml", root / "workflows" / "x.yaml")
    pack = scan_pack(base, "demo", max_file_size=1 << 20)
    assert pack is not None
    found = [(d.file, d.code) for d in pack.diagnostics]
    assert found == [(str(base / "demo" / "workflows" / "x.yaml"), "dangling-symlink")]
    assert pack.unreadable_workflows == {"workflows/x.yaml": "dangling-symlink"}
    assert [f.rel_path for f in pack.workflow_files] == ["workflows/ok.yaml"]


def test_dangling_pack_file_symlink_is_reported(tmp_path: Path) -> None:
    base = tmp_path / "packs"
    root = make_pack(base, "demo", {})
    (root / "pack.yaml").unlink()
    os.symlink(tmp_path / "packs" / "missing.yaml", root / "pack.yaml")
    pack = scan_pack(base, "demo", max_file_size=1 << 20)
    assert pack is not None and pack.pack_file is None
    assert [d.code for d in pack.diagnostics] == ["dangling-symlink"]


async def test_a_workflow_whose_link_dangles_keeps_its_row(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    make_core_pack(packs)
    root = make_pack(packs, "demo", {"ok.yaml": workflow_yaml("Ok")})
    shared = packs / "demo" / "shared.yml.txt"
    shared.write_text(workflow_yaml("Linked"))
    os.symlink(shared, root / "workflows" / "x.yaml")
    assert (await service.sync_pack("demo", trigger="cli")).created == 2
    shared.unlink()  # the link now dangles
    result = await service.sync_pack("demo", trigger="cli")
    assert result.deleted == 0
    assert ("dangling-symlink", str(root / "workflows" / "x.yaml")) in [
        (d.code, d.file) for d in result.diagnostics
    ]
    async with pool.acquire() as conn:
        refs = {r[0] for r in await conn.fetch("SELECT ref FROM workflow_definition")}
        errors = {r[0] for r in await conn.fetch("SELECT file_path FROM workflow_sync_error")}
    assert "demo.x" in refs and "demo.ok" in refs
    assert any(path.endswith("workflows/x.yaml") for path in errors), errors
