"""The daemon process and its database fail: kill -9 at random moments of an
initial sync, every connection terminated during an edit storm, PostgreSQL
stopped and restarted while files change. Real `packsync run` processes, real
PostgreSQL, real folders."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from packsync.config import Settings
from tests.reliability.support import HealthSampler, record, start_daemon
from tests.support.daemon import DaemonProcess, OwnServer, daemon_env, safe_workflows, until
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

PER_PACK = 4


async def _per_pack(url: str, schema: str) -> dict[str, int]:
    """Workflow rows of every registered pack (0 for a pack row without any)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            f'SELECT p.ref, count(w.id) AS n FROM "{schema}".pack p '
            f'LEFT JOIN "{schema}".workflow_definition w ON w.pack = p.id '
            "WHERE p.ref <> 'core' GROUP BY p.ref"
        )
    except asyncpg.UndefinedTableError:
        return {}
    finally:
        await conn.close()
    return {r["ref"]: int(r["n"]) for r in rows}


@pytest.mark.reliability_slow
async def test_kill_9_at_random_moments_of_an_initial_sync_leaves_no_partial_pack(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    base = settings.packs_base_dir
    schema = settings.db_schema
    make_core_pack(base)
    packs = 200
    for i in range(packs):
        make_pack(
            base, f"p{i:03d}", {f"w{j}.yaml": workflow_yaml(f"w{j}") for j in range(PER_PACK)}
        )
    rng = random.Random(11)
    env = daemon_env(settings)
    kills, partial, progress = 0, 0, []
    for _ in range(6):
        before = len(await _per_pack(pg_url, schema))
        if before == packs:
            break
        proc = DaemonProcess(env, tmp_path)
        try:

            async def moved(before: int = before) -> bool:
                return len(await _per_pack(pg_url, schema)) > before

            await until(moved, 60, what="the sync under way")
            await asyncio.sleep(rng.uniform(0.0, 0.6))
        finally:
            proc.kill()  # SIGKILL
        kills += 1
        counts = await _per_pack(pg_url, schema)
        progress.append(len(counts))
        partial += sum(1 for n in counts.values() if n != PER_PACK)
        assert all(n == PER_PACK for n in counts.values()), counts
    started = time.monotonic()
    proc = await start_daemon(settings, tmp_path)
    try:
        counts = await _per_pack(pg_url, schema)
        converge = time.monotonic() - started
    finally:
        proc.kill()
    record(
        "kill -9 at random moments of a 200-pack initial sync",
        kills=kills,
        packs_after_each_kill=progress,
        partial_packs=partial,
        restart_to_complete_s=round(converge, 2),
    )
    assert kills >= 2 and partial == 0
    assert counts == {f"p{i:03d}": PER_PACK for i in range(packs)}


async def test_every_connection_terminated_during_an_edit_storm_converges(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    base = settings.packs_base_dir
    schema = settings.db_schema
    make_core_pack(base)
    refs = [f"s{i:02d}" for i in range(20)]
    for ref in refs:
        make_pack(base, ref, {"a.yaml": workflow_yaml("start")})
    proc = await start_daemon(settings, tmp_path)
    admin = await asyncpg.connect(pg_url)
    rng = random.Random(7)
    final: dict[str, str] = {}
    terminated = 0
    try:

        async def storm() -> None:
            for n in range(200):
                ref = rng.choice(refs)
                label = f"edit {n}"
                (base / ref / "workflows" / "a.yaml").write_text(workflow_yaml(label))
                final[f"{ref}.a"] = label
                await asyncio.sleep(0.02)

        writer = asyncio.create_task(storm())
        for _ in range(10):
            await asyncio.sleep(0.4)
            terminated += await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'packsync' AND pid <> pg_backend_pid()"
            )
        await writer
        stopped = time.monotonic()

        async def converged() -> bool:
            got = await safe_workflows(pg_url, schema)
            return got is not None and all(got.get(k) == v for k, v in final.items())

        await until(converged, 60, what="converged after the storm")
        converge = time.monotonic() - stopped
        record(
            "every packsync connection terminated 10 times during a 200-edit storm",
            backends_terminated=terminated,
            converge_after_storm_s=round(converge, 2),
            rows=len(await safe_workflows(pg_url, schema) or {}),
        )
        assert terminated >= 10
        assert len(await safe_workflows(pg_url, schema) or {}) == len(refs)
        assert proc.proc.poll() is None
    finally:
        await admin.close()
        proc.kill()


@pytest.mark.reliability_slow
async def test_postgresql_stopped_and_restarted_while_files_change(
    settings: Settings, own_pg: OwnServer, tmp_path: Path
) -> None:
    base = settings.packs_base_dir
    s = settings.model_copy(update={"database_url": SecretStr(own_pg.url)})
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    make_pack(base, "beta", {"b.yaml": workflow_yaml("B")})
    proc = await start_daemon(s, tmp_path)
    try:
        assert proc.port is not None
        async with HealthSampler(proc.port) as health:
            own_pg.stop()
            down = time.monotonic()
            (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("During"))
            make_pack(base, "gamma", {"g.yaml": workflow_yaml("G")})
            await asyncio.sleep(8)
            own_pg.start()
            up = time.monotonic()

            async def converged() -> bool:
                got = await safe_workflows(own_pg.url, s.db_schema)
                return got == {"alpha.one": "During", "beta.b": "B", "gamma.g": "G"}

            await until(converged, 90, what="caught up after the restart")
            converge = time.monotonic() - up
        record(
            "PostgreSQL stopped 8 s while files changed, then restarted",
            outage_s=round(up - down, 1),
            converge_after_restart_s=round(converge, 2),
            healthz_samples=health.samples,
            healthz_failures=len(health.failures),
        )
        assert health.failures == [] and health.samples > 100
        assert proc.proc.poll() is None
    finally:
        proc.kill()
