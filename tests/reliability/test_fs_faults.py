"""Layout changes under a running daemon process: 100 git-sync symlink flips
with the old worktree deleted at once (one commit removes a pack for real),
and a pack folder renamed away and back. The row count of the packs that stay
is sampled all along and never dips; real removals still happen."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import asyncpg
import pytest

from packsync.config import Settings
from tests.reliability.support import HealthSampler, record, start_daemon
from tests.support.daemon import RowSampler, until, workflows
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml


def _flip(link: Path, target: str) -> None:
    tmp = link.with_name(link.name + ".tmp")
    os.symlink(target, tmp)
    os.rename(tmp, link)  # atomic, like git-sync and the kubelet


async def _count(url: str, schema: str, where: str = "TRUE") -> int:
    conn = await asyncpg.connect(url)
    try:
        sql = f'SELECT count(*) FROM "{schema}".workflow_definition WHERE {where}'
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


@pytest.mark.reliability_slow
async def test_100_git_sync_flips_never_drop_a_row(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "git"
    first = root / ".worktrees" / "h0"
    make_core_pack(first)
    stable = [f"k{i:02d}" for i in range(30)]
    for ref in stable:
        make_pack(first, ref, {"a.yaml": workflow_yaml("v0"), "b.yaml": workflow_yaml("B")})
    make_pack(first, "doomed", {"d.yaml": workflow_yaml("D")})
    link = root / "current"
    os.symlink(".worktrees/h0", link)
    s = settings.model_copy(update={"packs_base_dir": link})
    schema = s.db_schema
    proc = await start_daemon(s, tmp_path)
    flips = 100
    try:
        assert await _count(pg_url, schema) == 2 * len(stable) + 1
        async with RowSampler(pg_url, schema) as rows:
            for n in range(1, flips + 1):
                old, new = root / ".worktrees" / f"h{n - 1}", root / ".worktrees" / f"h{n}"
                shutil.copytree(old, new, symlinks=True)
                ref = stable[n % len(stable)]
                (new / ref / "workflows" / "a.yaml").write_text(workflow_yaml(f"v{n}"))
                if n == flips // 2:
                    shutil.rmtree(new / "doomed")  # a commit that removes a pack
                _flip(link, f".worktrees/h{n}")
                shutil.rmtree(old)  # git-sync deletes the old worktree at once
                await asyncio.sleep(0.1 if n % 3 else 0.0)
            done = time.monotonic()

            async def final() -> bool:
                got = await workflows(pg_url, schema)
                want = {f"{r}.b": "B" for r in stable}
                for n in range(flips + 1):  # the last flip that edited each pack wins
                    want[f"{stable[n % len(stable)]}.a"] = f"v{n}"
                return got == want

            await until(final, 60, what="newest snapshot registered, doomed pack removed")
            converge = time.monotonic() - done
        stable_min = min(rows.samples)
        record(
            "100 git-sync flips, old worktree deleted at once, one pack removed by a commit",
            flips=flips,
            row_samples=len(rows.samples),
            min_rows=stable_min,
            stable_rows=2 * len(stable),
            converge_after_last_flip_s=round(converge, 2),
        )
        assert stable_min >= 2 * len(stable)  # the stable packs' rows never dipped
        assert proc.proc.poll() is None
    finally:
        proc.kill()


async def test_pack_folder_renamed_away_and_back(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    base = settings.packs_base_dir
    schema = settings.db_schema
    make_core_pack(base)
    refs = [f"r{i}" for i in range(10)]
    for ref in refs:
        make_pack(base, ref, {"a.yaml": workflow_yaml(ref), "b.yaml": workflow_yaml(ref)})
    proc = await start_daemon(settings, tmp_path)
    try:
        async with RowSampler(pg_url, schema) as rows:
            hidden = base / ".r3.old"
            (base / "r3").rename(hidden)  # hidden names never load: the pack is gone
            moved = time.monotonic()

            async def r3_gone() -> bool:
                return await _count(pg_url, schema, "pack_ref = 'r3'") == 0

            await until(r3_gone, 30, what="a renamed-away pack is removed")
            removed_s = time.monotonic() - moved
            hidden.rename(base / "r3")
            back = time.monotonic()

            async def r3_back() -> bool:
                return await _count(pg_url, schema, "pack_ref = 'r3'") == 2

            await until(r3_back, 30, what="renamed back: registered again")
            back_s = time.monotonic() - back
        low = min(rows.samples)
        record(
            "pack folder renamed to a hidden name and back",
            removed_s=round(removed_s, 2),
            restored_s=round(back_s, 2),
            min_rows=low,
            rows_of_other_packs=2 * (len(refs) - 1),
        )
        assert low == 2 * (len(refs) - 1)  # only r3's two rows went
        assert await _count(pg_url, schema) == 2 * len(refs)
    finally:
        proc.kill()


async def test_files_replaced_by_directories_delete_nothing(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    """A workflow file and a pack.yaml each replaced by a folder of the same
    name (a botched checkout): refused with a diagnostic, rows kept."""
    base = settings.packs_base_dir
    schema = settings.db_schema
    make_core_pack(base)
    make_pack(base, "alpha", {"a.yaml": workflow_yaml("A"), "b.yaml": workflow_yaml("B")})
    make_pack(base, "beta", {"c.yaml": workflow_yaml("C")})
    proc = await start_daemon(settings, tmp_path)
    try:
        async with RowSampler(pg_url, schema) as rows:
            a = base / "alpha" / "workflows" / "a.yaml"
            a.unlink()
            a.mkdir()
            pack_yaml = base / "beta" / "pack.yaml"
            text = pack_yaml.read_text()
            pack_yaml.unlink()
            pack_yaml.mkdir()
            mark = len(proc.lines)

            async def both_seen() -> bool:
                synced = {
                    e.get("pack") for e in proc.lines[mark:] if e.get("event") == "pack synced"
                }
                return {"alpha", "beta"} <= synced

            await until(both_seen, 30, what="both packs synced after the swap")
            await asyncio.sleep(0.5)
            during = await workflows(pg_url, schema)
            a.rmdir()
            a.write_text(workflow_yaml("A2"))
            pack_yaml.rmdir()
            pack_yaml.write_text(text)
            back = time.monotonic()

            async def converged() -> bool:
                return (await workflows(pg_url, schema)).get("alpha.a") == "A2"

            await until(converged, 30, what="converged once files are files again")
            converge = time.monotonic() - back
        record(
            "a workflow file and a pack.yaml replaced by folders",
            min_rows=min(rows.samples),
            rows_before=3,
            converge_s=round(converge, 2),
        )
        assert during == {"alpha.a": "A", "alpha.b": "B", "beta.c": "C"}
        assert min(rows.samples) == 3
    finally:
        proc.kill()


@pytest.mark.reliability_slow
async def test_slow_non_atomic_writer_never_registers_a_half_file(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    """A file written in pieces over 3 s (longer than the debounce's maximum
    wait): a half file is invalid, so the last good version stays registered;
    the finished file is registered. Labels are sampled all along."""
    base = settings.packs_base_dir
    schema = settings.db_schema
    make_core_pack(base)
    make_pack(base, "alpha", {"a.yaml": workflow_yaml("Old")})
    proc = await start_daemon(settings, tmp_path)
    seen: set[str | None] = set()
    try:

        async def sample() -> None:
            while True:
                seen.add((await workflows(pg_url, schema)).get("alpha.a"))
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        text = workflow_yaml("New").encode()
        path = base / "alpha" / "workflows" / "a.yaml"
        step = len(text) // 10 + 1
        with path.open("wb") as out:
            for i in range(0, len(text), step):
                out.write(text[i : i + step])
                out.flush()
                await asyncio.sleep(0.3)
        done = time.monotonic()

        async def new() -> bool:
            return (await workflows(pg_url, schema)).get("alpha.a") == "New"

        await until(new, 30, what="the finished file registered")
        converge = time.monotonic() - done
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        record(
            "slow non-atomic writer (10 pieces over 3 s)",
            labels_seen=sorted(str(x) for x in seen),
            converge_after_last_write_s=round(converge, 2),
        )
        assert seen <= {"Old", "New"}, seen
    finally:
        proc.kill()


@pytest.mark.reliability_slow
async def test_configmap_data_swaps_while_syncing_never_drop_a_row(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    """The kubelet's ConfigMap layout (`..data` → `..<timestamp>`, every pack
    a symlink through `..data`): 30 swaps in quick succession, the old
    snapshot deleted at once, while the daemon syncs each."""
    base = settings.packs_base_dir
    schema = settings.db_schema
    refs = [f"c{i:02d}" for i in range(20)]

    def snapshot(n: int) -> None:
        snap = base / f"..2026_01_01_00_00_00.{n}"
        make_core_pack(snap)
        for ref in refs:
            make_pack(snap, ref, {"a.yaml": workflow_yaml(f"cm{n}"), "b.yaml": workflow_yaml("B")})

    snapshot(0)
    os.symlink("..2026_01_01_00_00_00.0", base / "..data")
    for ref in ["core", *refs]:
        os.symlink(f"..data/{ref}", base / ref)
    proc = await start_daemon(settings, tmp_path)
    swaps = 30
    try:
        async with RowSampler(pg_url, schema) as rows:
            for n in range(1, swaps + 1):
                snapshot(n)
                _flip(base / "..data", f"..2026_01_01_00_00_00.{n}")
                shutil.rmtree(base / f"..2026_01_01_00_00_00.{n - 1}")
                await asyncio.sleep(0.05 if n % 2 else 0.2)
            done = time.monotonic()

            async def final() -> bool:
                got = await workflows(pg_url, schema)
                return got == {
                    **{f"{r}.a": f"cm{swaps}" for r in refs},
                    **{f"{r}.b": "B" for r in refs},
                }

            await until(final, 60, what="the last snapshot registered")
            converge = time.monotonic() - done
        record(
            "30 ConfigMap ..data swaps while syncing, old snapshot deleted at once",
            swaps=swaps,
            min_rows=min(rows.samples),
            rows=2 * len(refs),
            row_samples=len(rows.samples),
            converge_after_last_swap_s=round(converge, 2),
        )
        assert min(rows.samples) == 2 * len(refs)
        assert proc.proc.poll() is None
    finally:
        proc.kill()


@pytest.mark.reliability_slow
async def test_50000_files_appearing_in_one_pack(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    """50,000 files land in one pack at once (an unpacked archive): the inotify
    queue overflows, the daemon rescans, stays live, loses no row, and an
    edit made right after is registered."""
    base = settings.packs_base_dir
    schema = settings.db_schema
    make_core_pack(base)
    make_pack(base, "big", {"a.yaml": workflow_yaml("A")})
    make_pack(base, "other", {"o.yaml": workflow_yaml("O")})
    proc = await start_daemon(settings, tmp_path)
    try:
        assert proc.port is not None
        async with RowSampler(pg_url, schema) as rows, HealthSampler(proc.port) as health:
            started = time.monotonic()
            files = base / "big" / "files"

            def flood() -> None:  # in a thread: the samplers keep sampling
                files.mkdir()
                for i in range(50_000):
                    (files / f"f{i:05d}.txt").write_bytes(b"x\n")

            await asyncio.to_thread(flood)
            (base / "big" / "workflows" / "a.yaml").write_text(workflow_yaml("After"))
            written = time.monotonic()

            async def edited() -> bool:
                return (await workflows(pg_url, schema)).get("big.a") == "After"

            await until(edited, 120, what="the edit registered after the flood")
            converge = time.monotonic() - written
        record(
            "50,000 files appearing in one pack",
            write_s=round(written - started, 1),
            edit_registered_after_s=round(converge, 2),
            min_rows=min(rows.samples),
            healthz_failures=len(health.failures),
            healthz_samples=health.samples,
        )
        assert min(rows.samples) == 2 and health.failures == [] and health.samples > 100
        assert proc.proc.poll() is None
    finally:
        proc.kill()
