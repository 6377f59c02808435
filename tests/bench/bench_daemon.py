"""Daemon benchmark: edit → committed-row latency and storm convergence.

    .venv/bin/python tests/bench/bench_daemon.py [--edits 30] [--packs 50] [--files 10]

Uses PACKSYNC_TEST_DATABASE_URL, or a throw-away embedded PostgreSQL. Runs the
real daemon in-process (real inotify, default debounce settings unless
--debounce is given) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.benchdb import bench_database  # noqa: E402
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml  # noqa: E402

from packsync.config import Settings  # noqa: E402
from packsync.logs import configure_logging  # noqa: E402
from packsync.serve import Daemon  # noqa: E402


async def wait_for(pred, timeout: float = 120.0, step: float = 0.005) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    while not await pred():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(step)
    return time.perf_counter()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench(args: argparse.Namespace, url: str, work: Path) -> list[tuple[str, str]]:
    base = work / "packs"
    make_core_pack(base)
    refs = [f"p{i:03d}" for i in range(args.packs)]
    for ref in refs:
        make_pack(base, ref, {f"w{j}.yaml": workflow_yaml("v0") for j in range(args.files)})
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        packs_base_dir=base,
        database_url=SecretStr(url),
        db_schema=schema,
        state_schema=f"{schema}_s",
        state_dir=work / "state",
        debounce_seconds=args.debounce,
        debounce_max_wait_seconds=args.max_wait,
        reconcile_interval_seconds=3600,
        http={"host": "127.0.0.1", "port": 0},
    )
    daemon = Daemon(settings)
    task = asyncio.create_task(daemon.run())
    conn = await asyncpg.connect(url)
    rows: list[tuple[str, str]] = []
    try:
        t0 = time.perf_counter()

        async def first_done() -> bool:
            return daemon.state.first_sync_done

        t1 = await wait_for(first_done)
        rows.append(
            (f"initial full sync ({args.packs} packs x {args.files} files)", f"{t1 - t0:.2f} s")
        )

        latencies: list[float] = []
        target = base / refs[0] / "workflows" / "w0.yaml"
        for i in range(args.edits):
            label = f"edit-{i}"
            start = time.perf_counter()
            target.write_text(workflow_yaml(label))

            async def committed(label: str = label) -> bool:
                got = await conn.fetchval(
                    f'SELECT label FROM "{schema}".workflow_definition WHERE ref = $1',
                    f"{refs[0]}.w0",
                )
                return bool(got == label)

            latencies.append((await wait_for(committed)) - start)
            await asyncio.sleep(0.05)
        rows.append(
            (
                f"edit -> committed row, p50 ({args.edits} edits)",
                f"{statistics.median(latencies) * 1000:.0f} ms",
            )
        )
        rows.append(("edit -> committed row, p95", f"{pct(latencies, 0.95) * 1000:.0f} ms"))
        rows.append(("edit -> committed row, max", f"{max(latencies) * 1000:.0f} ms"))

        await wait_for(lambda: _idle(daemon))
        before = {ref: daemon.state.packs[ref].syncs for ref in refs}
        start = time.perf_counter()
        for ref in refs:  # a `git checkout` rewriting every file of every pack
            for j in range(args.files):
                (base / ref / "workflows" / f"w{j}.yaml").write_text(workflow_yaml("storm"))
        written = time.perf_counter()
        total = args.packs * args.files

        async def converged() -> bool:
            n = await conn.fetchval(
                f"SELECT count(*) FROM \"{schema}\".workflow_definition WHERE label = 'storm'"
            )
            return bool(n == total)

        done = await wait_for(converged, step=0.02)
        await wait_for(lambda: _idle(daemon))
        syncs = [daemon.state.packs[ref].syncs - before[ref] for ref in refs]
        rows.append((f"storm: {total} files written in", f"{written - start:.2f} s"))
        rows.append(("storm: first write -> all rows committed", f"{done - start:.2f} s"))
        rows.append(
            (
                "storm: syncs per pack (min / mean / max)",
                f"{min(syncs)} / {statistics.mean(syncs):.2f} / {max(syncs)}",
            )
        )
    finally:
        await conn.close()
        daemon.request_stop()
        await task
        cleanup = await asyncpg.connect(url)
        await cleanup.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await cleanup.close()
    return rows


async def _idle(daemon: Daemon) -> bool:
    return daemon.scheduler.idle()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--packs", type=int, default=50)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--debounce", type=float, default=0.5)
    parser.add_argument("--max-wait", type=float, default=5.0)
    args = parser.parse_args()
    configure_logging("warning", "console")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with bench_database(work) as url:
            rows = asyncio.run(bench(args, url, work))
    print(f"\npacksync daemon benchmark (debounce {args.debounce} s, max wait {args.max_wait} s)")
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)} | value")
    print(f"{'-' * width}-|-------")
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")


if __name__ == "__main__":
    main()
