""".packsyncignore: rules at the base and in packs, against real folders, a real
database and real inotify. Ignored files never load; a registered workflow (or
pack) an ignore rule hides is kept and reported, never purged as "gone"."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from packsync.config import Settings
from packsync.daemon.watch import FsWatcher
from packsync.pipeline.check import check_targets
from packsync.pipeline.ignore import PackIgnore, parse_rules
from packsync.pipeline.scan import scan_pack
from packsync.sync.preview import plan_sweep
from packsync.sync.service import SyncService
from tests.cli.test_commands import packsync
from tests.daemon.test_watch import Seen, until
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml, write

BROKEN = "version: '1.0'\ntasks: [\n"


async def _registered(pool: asyncpg.Pool) -> set[str]:
    async with pool.acquire() as conn:
        return {r[0] for r in await conn.fetch("SELECT ref FROM workflow_definition")}


async def _errors(pool: asyncpg.Pool) -> dict[tuple[str, str], Any]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT pack_ref, file_path, errors FROM workflow_sync_error")
    return {(r["pack_ref"], r["file_path"]): r["errors"] for r in rows}


def test_pack_rules_win_over_base_rules() -> None:
    base = parse_rules(b"# drafts everywhere\n*/workflows/draft-*.yaml\nlegacy/\n", "base")
    pack = parse_rules(b"workflows/wip.yaml\n!workflows/draft-keep.yaml\n", "demo")
    rules = PackIgnore("demo", base, pack)
    assert rules.reason("workflows/draft-x.yaml") == "rule '*/workflows/draft-*.yaml' in base"
    assert rules.reason("workflows/draft-keep.yaml") is None  # re-included by the pack
    assert rules.reason("workflows/wip.yaml") == "rule 'workflows/wip.yaml' in demo"
    assert rules.reason("workflows/deploy.yaml") is None
    assert rules.pack_reason() is None
    assert PackIgnore("legacy", base).pack_reason() == "rule 'legacy/' in base"


def test_scan_and_validate_leave_ignored_files_out(tmp_path: Path) -> None:
    base = tmp_path / "packs"
    make_core_pack(base)
    make_pack(
        base,
        "demo",
        {
            "deploy.yaml": workflow_yaml("Deploy"),
            "draft-x.yaml": BROKEN,  # ignored by the base: its error is never reported
            "wip.yaml": BROKEN,  # ignored by the pack
        },
    )
    make_pack(base, "legacy", {"old.yaml": BROKEN})  # the whole pack is left out
    write(base / ".packsyncignore", "*/workflows/draft-*.yaml\nlegacy/\n")
    write(base / "demo" / ".packsyncignore", "workflows/wip.yaml\n")

    scanned = scan_pack(base, "demo", max_file_size=1 << 20)
    assert scanned is not None
    assert [s.rel_path for s in scanned.workflow_files] == ["workflows/deploy.yaml"]
    assert set(scanned.ignored) == {"workflows/draft-x.yaml", "workflows/wip.yaml"}
    legacy = scan_pack(base, "legacy", max_file_size=1 << 20)
    assert legacy is not None and legacy.ignored_pack == f"rule 'legacy/' in {base}/.packsyncignore"

    report = check_targets(base, [], max_file_size=1 << 20)
    assert not report.has_errors, [d.format() for d in report.diagnostics]
    assert (report.files_ignored, report.packs_ignored, report.files_checked) == (2, 1, 1)

    proc = packsync("validate", "--packs-base-dir", str(base))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 file(s) ignored by .packsyncignore; 1 pack(s) ignored by .packsyncignore" in (
        proc.stderr
    )
    named = packsync("validate", str(base / "demo" / "workflows" / "wip.yaml"))
    assert named.returncode == 1  # a file named on the command line is validated anyway


@pytest.mark.both_schemas
async def test_ignored_files_are_never_registered(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    make_core_pack(packs)
    make_pack(
        packs,
        "demo",
        {"deploy.yaml": workflow_yaml("Deploy"), "draft-a.yaml": workflow_yaml("Draft")},
    )
    make_pack(packs, "legacy", {"old.yaml": workflow_yaml("Old")})
    write(packs / ".packsyncignore", "*/workflows/draft-*.yaml\nlegacy/\n")
    report = await service.sync_all(trigger="cli")
    assert report.outcome == "ok", report.to_dict()
    assert await _registered(pool) == {"demo.deploy"}
    legacy = next(p for p in report.packs if p.pack_ref == "legacy")
    assert legacy.outcome == "ok" and legacy.message and "legacy/" in legacy.message


@pytest.mark.both_schemas
async def test_an_ignore_rule_hiding_a_registered_file_keeps_the_row_and_reports_it(
    settings: Settings, service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    make_core_pack(packs)
    make_pack(packs, "demo", {"deploy.yaml": workflow_yaml("D"), "old.yaml": workflow_yaml("O")})
    assert (await service.sync_all(trigger="cli")).totals["created"] == 2
    write(packs / "demo" / ".packsyncignore", "workflows/old.yaml\n")

    plan = await plan_sweep(SyncService(settings, pool))
    result = await service.sync_pack("demo", trigger="cli")
    planned = next(p for p in plan.report.packs if p.pack_ref == "demo")
    assert planned.counts() == result.counts()  # planned as it then happens
    assert result.outcome == "errors" and result.deleted == 0
    (old,) = [w for w in result.workflows if w.ref == "demo.old"]
    assert old.change == "failed" and old.errors[0].code == "ignored-registered"
    assert "workflows/old.yaml" in old.errors[0].message
    assert await _registered(pool) == {"demo.deploy", "demo.old"}  # kept, not purged
    errors = await _errors(pool)
    assert errors[("demo", "workflows/old.yaml")][0]["code"] == "ignored-registered"

    (packs / "demo" / ".packsyncignore").unlink()  # the rule goes: managed again
    again = await service.sync_pack("demo", trigger="cli")
    assert again.outcome == "ok" and again.unchanged == 2
    assert await _errors(pool) == {}


async def test_a_base_rule_hiding_a_registered_pack_is_refused_not_purged(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    make_core_pack(packs)
    make_pack(packs, "demo", {"deploy.yaml": workflow_yaml("D")})
    make_pack(packs, "ops", {"backup.yaml": workflow_yaml("B")})
    await service.sync_all(trigger="cli")
    write(packs / ".packsyncignore", "ops/\n")
    report = await service.sync_all(trigger="cli")
    ops = next(p for p in report.packs if p.pack_ref == "ops")
    assert ops.outcome == "refused" and report.refused_deletes == ["ops"]
    assert ops.diagnostics[0].code == "ignored-registered"
    assert await _registered(pool) == {"demo.deploy", "ops.backup"}
    shutil.rmtree(packs / "ops")  # the folder really goes: now it is a removal
    report = await service.sync_all(trigger="cli")
    assert report.totals["deleted"] == 1 and await _registered(pool) == {"demo.deploy"}


async def test_an_unreadable_ignore_file_holds_the_pack(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    make_core_pack(packs)
    make_pack(packs, "demo", {"deploy.yaml": workflow_yaml("D"), "wip.yaml": workflow_yaml("W")})
    await service.sync_all(trigger="cli")
    (packs / "demo" / ".packsyncignore").write_bytes(b"workflows/\xff\xfe.yaml\n")
    result = await service.sync_pack("demo", trigger="cli")
    assert result.outcome == "pack-error" and result.deleted == 0
    assert result.diagnostics[0].code == "unreadable-ignore-file"
    assert result.diagnostics[0].file == str(packs / "demo" / ".packsyncignore")
    assert await _registered(pool) == {"demo.deploy", "demo.wip"}


async def test_ignore_files_wake_the_watcher(tmp_path: Path) -> None:
    base = tmp_path / "packs"
    make_pack(base, "alpha", {"one.yaml": workflow_yaml()})
    seen = Seen()
    w = FsWatcher(asyncio.get_running_loop(), seen, requested="auto", polling_interval=0.2)
    assert w.start(os.path.realpath(base)) == "inotify"
    try:
        (base / "alpha" / ".packsyncignore").write_text("workflows/one.yaml\n")
        await until(lambda: "alpha" in seen.packs)
        assert not seen.full
        seen.clear()
        (base / ".packsyncignore").write_text("alpha/\n")
        await until(lambda: bool(seen.full))
        assert seen.full == {".packsyncignore changed"}
    finally:
        w.stop()
