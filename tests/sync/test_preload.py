"""A sweep with many packs to load parses them ahead in worker processes
(pipeline/preload.py): what it stores and reports is what an inline sweep
stores and reports, and the sweep's own process parses nothing it was given."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import packsync.pipeline.load as load_module
from packsync.config import Settings
from packsync.core.results import SyncReport
from packsync.db.connection import create_pool
from packsync.db.migrate import migrate
from packsync.pipeline import preload
from packsync.sync.service import SyncService
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

pytestmark = pytest.mark.skipif(preload.worker_count() < 2, reason="needs two CPUs")

LINKED_ACTION = "name: release\nrunner_type: workflow\nworkflow_file: workflows/release.yaml\n"


@pytest.fixture
def many(packs: Path) -> Path:
    make_core_pack(packs)
    for i in range(4):
        make_pack(
            packs,
            f"p{i}",
            {"a.yaml": workflow_yaml(f"A{i}"), "b.yaml": workflow_yaml(f"B{i}")},
            actions={"release.yaml": LINKED_ACTION},
            action_workflows={"release.yaml": workflow_yaml(f"R{i}")},
        )
    (packs / "p2" / "workflows" / "bad.yaml").write_text("tasks:\n  - name: x\n    action: nope\n")
    (packs / "p3" / "workflows" / "broken.yaml").write_text("tasks: [\n")
    return packs


@pytest.fixture
async def inline_service(
    settings: Settings, pg_url: str
) -> AsyncIterator[tuple[SyncService, asyncpg.Pool]]:
    """A second target on the same server for the inline sweep."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    other = settings.model_copy(update={"db_schema": name, "state_schema": f"{name}_state"})
    pool = await create_pool(other)
    try:
        await migrate(pool, name, f"{name}_state")
        yield SyncService(other, pool), pool
    finally:
        async with pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}_state" CASCADE')
        await pool.close()


def summary(report: SyncReport) -> list[Any]:
    return [
        (
            p.pack_ref,
            p.outcome,
            p.counts(),
            [(w.ref, w.file_path, w.change) for w in p.workflows],
            sorted(d.format() for d in p.problems()),
        )
        for p in report.packs
    ]


async def stored(pool: asyncpg.Pool) -> list[Any]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT w.ref, w.label, w.definition::text AS d, w.param_schema::text AS p,"
            " a.ref AS action, a.entrypoint FROM workflow_definition w"
            " LEFT JOIN action a ON a.workflow_def = w.id ORDER BY w.ref"
        )
        errors = await conn.fetch(
            "SELECT pack_ref, file_path, errors::text FROM workflow_sync_error ORDER BY 1, 2"
        )
    return [tuple(r) for r in rows] + [tuple(r) for r in errors]


@pytest.fixture
def inline_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Files this process parsed (the workers are other processes)."""
    seen: list[str] = []
    real: Callable[..., Any] = load_module.parse_workflow

    def counting(source: Any, *args: Any) -> Any:
        seen.append(source.rel_path)
        return real(source, *args)

    monkeypatch.setattr(load_module, "parse_workflow", counting)
    return seen


@pytest.mark.usefixtures("many")
async def test_parsing_ahead_stores_and_reports_what_an_inline_sweep_does(
    service: SyncService,
    pool: asyncpg.Pool,
    inline_service: tuple[SyncService, asyncpg.Pool],
    inline_parses: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(preload, "MIN_PACKS", 10**6)
    other, other_pool = inline_service
    inline = await other.sync_all(trigger="cli")
    assert len(inline_parses) == 4 * 3 + 2
    inline_parses.clear()
    monkeypatch.setattr(preload, "MIN_PACKS", 2)
    ahead = await service.sync_all(trigger="cli")
    assert inline_parses == []  # every file came parsed from a worker
    assert summary(ahead) == summary(inline)
    assert ahead.total("created") == 12 and ahead.total("failed") == 2
    assert await stored(pool) == await stored(other_pool)


def test_validate_parses_ahead_and_reports_what_it_reports_inline(
    many: Path, inline_parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from packsync.pipeline.check import check_targets

    monkeypatch.setattr(preload, "MIN_PACKS", 10**6)
    inline = check_targets(many, [], max_file_size=1 << 20)
    assert len(inline_parses) == 4 * 3 + 2
    inline_parses.clear()
    monkeypatch.setattr(preload, "MIN_PACKS", 2)
    ahead = check_targets(many, [], max_file_size=1 << 20)
    assert inline_parses == []
    assert [d.format() for d in ahead.diagnostics] == [d.format() for d in inline.diagnostics]
    assert ahead.files_checked == inline.files_checked == 14
    assert any(d.code == "yaml-syntax" for d in ahead.diagnostics)
