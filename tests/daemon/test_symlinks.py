"""git-sync flips and ConfigMap `..data` swaps under a running daemon: rows are
keyed by logical identity, so no flip ever drops a row, and the end state is
the newest snapshot. A monitor polls the database throughout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from pathlib import Path

import asyncpg

from packsync.config import Settings
from tests.support.daemon import InProcess, fast_settings, until, workflows
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

STABLE = {"alpha.one", "beta.b"}


class RowMonitor:
    """Samples the registered refs every few ms; records any sample missing a stable ref."""

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema
        self.samples = 0
        self.missing: list[set[str]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            while True:
                rows = await conn.fetch(f'SELECT ref FROM "{self.schema}".workflow_definition')
                refs = {r["ref"] for r in rows}
                self.samples += 1
                if not refs >= STABLE:
                    self.missing.append(STABLE - refs)
                await asyncio.sleep(0.01)
        finally:
            await conn.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _flip(link: Path, target: str) -> None:
    tmp = link.with_name(link.name + ".tmp")
    os.symlink(target, tmp)
    os.rename(tmp, link)  # atomic, like git-sync and the kubelet


async def test_git_sync_flips_never_drop_a_row(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "git"
    first = root / ".worktrees" / "h0"
    make_core_pack(first)
    make_pack(first, "alpha", {"one.yaml": workflow_yaml("v0")})
    make_pack(first, "beta", {"b.yaml": workflow_yaml("B")})
    link = root / "current"
    os.symlink(".worktrees/h0", link)
    s = fast_settings(settings, packs_base_dir=link)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, 30, what="first full sync")
        monitor = RowMonitor(pg_url, s.db_schema)
        monitor.start()
        try:
            for n in range(1, 6):
                old, new = root / ".worktrees" / f"h{n - 1}", root / ".worktrees" / f"h{n}"
                shutil.copytree(old, new, symlinks=True)
                (new / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml(f"v{n}"))
                if n == 3:
                    (new / "alpha" / "workflows" / "extra.yaml").write_text(workflow_yaml("X"))
                _flip(link, f".worktrees/h{n}")
                shutil.rmtree(old)  # git-sync deletes the old worktree at once
                await asyncio.sleep(0.3 if n % 2 else 0.05)

            async def final() -> bool:
                rows = await workflows(pg_url, s.db_schema)
                return rows == {"alpha.one": "v5", "alpha.extra": "X", "beta.b": "B"}

            await until(final, 30, what="newest snapshot registered")
        finally:
            await monitor.stop()
        assert monitor.samples > 20
        assert monitor.missing == []
        assert daemon.watcher is not None and daemon.watcher.root == str(
            (root / ".worktrees" / "h5").resolve()
        )


async def test_configmap_data_swap_never_drops_a_row(settings: Settings, pg_url: str) -> None:
    base = settings.packs_base_dir

    def snapshot(name: str, label: str) -> None:
        snap = base / name
        make_core_pack(snap)
        make_pack(snap, "alpha", {"one.yaml": workflow_yaml(label)})
        make_pack(snap, "beta", {"b.yaml": workflow_yaml("B")})

    snapshot("..2026_01_01_00_00_00.1", "cm1")
    os.symlink("..2026_01_01_00_00_00.1", base / "..data")
    for ref in ("core", "alpha", "beta"):
        os.symlink(f"..data/{ref}", base / ref)
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, 30, what="first full sync")
        assert (await workflows(pg_url, s.db_schema)) == {"alpha.one": "cm1", "beta.b": "B"}
        monitor = RowMonitor(pg_url, s.db_schema)
        monitor.start()
        try:
            for n in range(2, 5):
                snapshot(f"..2026_01_01_00_00_00.{n}", f"cm{n}")
                _flip(base / "..data", f"..2026_01_01_00_00_00.{n}")
                shutil.rmtree(base / f"..2026_01_01_00_00_00.{n - 1}")

                async def swapped(label: str = f"cm{n}") -> bool:
                    return (await workflows(pg_url, s.db_schema)).get("alpha.one") == label

                await until(swapped, 30, what=f"swap {n} registered")
        finally:
            await monitor.stop()
        assert monitor.missing == []
        assert (await workflows(pg_url, s.db_schema)) == {"alpha.one": "cm4", "beta.b": "B"}
