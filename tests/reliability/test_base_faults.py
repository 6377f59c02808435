"""The packs base directory fails under a running daemon (a real `packsync
run` process, real PostgreSQL, real folders): renamed away, replaced by an
empty folder, replaced by a file, made unreadable — before a sweep and a
quarter through one. The workflow row count is sampled all along and never
dips; /healthz stays 200; once the base is back the daemon converges.

The daemon polls with a one-hour interval here, so the sweeps are the only
syncs (each pack of a SIGHUP sweep logs one "pack synced" line: that is how a
fault is placed a quarter through it). Base flips are still noticed by the
daemon's own root check, as in production.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path

import asyncpg
import pytest

from packsync.config import Settings
from tests.reliability.support import HealthSampler, get_json, record, since, start_daemon
from tests.support.daemon import RowSampler, until
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

PACKS = 120
FILES = ("a.yaml", "b.yaml", "c.yaml")
BLIND = {
    "ATTUNE__WATCHER": "polling",
    "ATTUNE__POLLING_INTERVAL_SECONDS": "3600",
    "ATTUNE__MASS_DELETE_GRACE_SECONDS": "3600",
}


def _catalogue(base: Path, label: str) -> None:
    make_core_pack(base)
    for i in range(PACKS):
        make_pack(base, f"p{i:03d}", {name: workflow_yaml(label) for name in FILES})


def _relabel(base: Path, label: str) -> None:
    for i in range(PACKS):
        for name in FILES:
            (base / f"p{i:03d}" / "workflows" / name).write_text(workflow_yaml(label))


def _break(base: Path, away: Path, fault: str) -> None:
    if fault == "chmod-000":
        base.chmod(0)
        return
    base.rename(away)
    if fault == "empty-folder":
        base.mkdir()
    elif fault == "file":
        base.write_text("not a folder\n")


def _restore(base: Path, away: Path, fault: str) -> None:
    if fault == "chmod-000":
        base.chmod(0o755)
        return
    if base.is_dir():
        shutil.rmtree(base)
    elif base.exists():
        base.unlink()
    away.rename(base)


async def _scalar(url: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


SLOW = pytest.mark.reliability_slow
CASES = [
    pytest.param("empty-folder", "mid-sweep", id="empty-folder-mid-sweep"),  # issue 11's case
    *(
        pytest.param(fault, when, id=f"{fault}-{when}", marks=SLOW)
        for fault in ("renamed-away", "empty-folder", "file", "chmod-000")
        for when in ("before-sweep", "mid-sweep")
        if (fault, when) != ("empty-folder", "mid-sweep")
    ),
]


@pytest.mark.parametrize(("fault", "when"), CASES)
async def test_base_fault_deletes_nothing(
    settings: Settings, pg_url: str, tmp_path: Path, fault: str, when: str
) -> None:
    if fault == "chmod-000" and os.geteuid() == 0:
        pytest.skip("root reads a chmod 000 folder: run the suite as a normal user")
    base = settings.packs_base_dir
    away = tmp_path / "away"
    schema = settings.db_schema
    _catalogue(base, "v1")
    total = PACKS * len(FILES)
    daemon = await start_daemon(settings, tmp_path, **BLIND)
    try:
        assert (
            await _scalar(pg_url, f'SELECT count(*) FROM "{schema}".workflow_definition') == total
        )
        port = daemon.port
        assert port is not None
        t0 = time.time()
        async with RowSampler(pg_url, schema) as rows, HealthSampler(port) as health:
            mark = len(daemon.lines)
            if when == "mid-sweep":
                _relabel(base, "v2")  # every pack changes: one "pack synced" line each
                daemon.proc.send_signal(signal.SIGHUP)
                while len([e for e in since(daemon, "pack synced", mark)]) < PACKS // 4:
                    await asyncio.sleep(0.002)
                _break(base, away, fault)
            else:
                _break(base, away, fault)
                daemon.proc.send_signal(signal.SIGHUP)
            await until(
                lambda: any(
                    e.get("trigger") == "signal" for e in since(daemon, "full sync done", mark)
                ),
                60,
                what="the SIGHUP sweep",
            )
            await asyncio.sleep(1.0)  # the daemon's own rescan of the changed base, if any
            sweep = next(
                e for e in since(daemon, "full sync done", mark) if e.get("trigger") == "signal"
            )
            broken_rows = min(rows.samples)
            healthz_failures = list(health.failures)
            healthz_samples = health.samples
        deleted = await _scalar(
            pg_url,
            f'SELECT coalesce(sum(deleted), 0) FROM "{settings.state_schema}".sync_run '
            "WHERE started >= to_timestamp($1)",
            t0,
        )
        refused = len(sweep.get("refused_deletes", []))
        pending = (await get_json(port, "/status"))["deletion_refused"]
        assert pending is not None and pending["packs"] and pending["reason"]
        restored = time.monotonic()
        if when == "before-sweep":
            _relabel(away if fault != "chmod-000" else base, "v2")
        _restore(base, away, fault)
        if fault == "chmod-000":
            os.kill(daemon.proc.pid, signal.SIGHUP)  # same folder: nothing for the daemon to see

        async def converged() -> bool:
            n = await _scalar(
                pg_url,
                f'SELECT count(*) FROM "{schema}".workflow_definition WHERE label = $1',
                "v2",
            )
            return n == total

        await until(converged, 60, what="converged after the base came back")
        converge_s = round(time.monotonic() - restored, 2)

        async def cleared() -> bool:
            return (await get_json(port, "/status"))["deletion_refused"] is None

        await until(cleared, 30, what="the refusal cleared by a sweep of the healthy base")
        record(
            f"base {fault} {when}",
            rows_before=total,
            min_rows=broken_rows,
            deleted=deleted,
            refused_in_sweep=refused,
            healthz_samples=healthz_samples,
            healthz_failures=len(healthz_failures),
            converge_s=converge_s,
        )
        assert broken_rows == total and deleted == 0
        if when == "mid-sweep":
            assert 0 < refused < PACKS, "the fault landed inside the sweep"
        assert healthz_failures == []
        assert daemon.proc.poll() is None
    finally:
        if not base.exists() and away.exists():
            away.rename(base)
        daemon.kill()


async def test_healthz_stays_200_while_the_base_flips(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    """Liveness must not depend on the packs being there: the inotify watcher
    dies with a folder renamed away and is moved along; /healthz never fails
    (readiness may)."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"a.yaml": workflow_yaml("A")})
    daemon = await start_daemon(settings, tmp_path)
    try:
        assert daemon.port is not None
        flips = 10
        async with HealthSampler(daemon.port) as health:
            for i in range(flips):
                away = tmp_path / f"away{i}"
                base.rename(away)
                base.mkdir() if i % 2 else base.write_text("x\n")
                await asyncio.sleep(0.3)
                base.rmdir() if i % 2 else base.unlink()
                away.rename(base)
                await asyncio.sleep(0.3)
        record(
            "healthz while the base flips (inotify)",
            flips=flips,
            healthz_samples=health.samples,
            healthz_failures=len(health.failures),
        )
        assert health.samples > 100 and health.failures == []
        assert daemon.proc.poll() is None
    finally:
        daemon.kill()
