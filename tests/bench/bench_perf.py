"""Benchmark (not a test): where sync time goes, as one table with ratios.

    .venv/bin/python tests/bench/bench_perf.py [--packs 300] [--per-pack 10]
        [--storm-packs 200] [--storm-files 10] [--debounce 0.1] [--skip-daemon] [--skip-service]

Service part (`--packs` x `--per-pack` workflows, one SyncService):
cold and unchanged `sync_all`; `sync_pack` with one changed file (median over
20 packs); a "service storm" (every file of every pack rewritten, then
`sync_pack` per pack, sequentially); scan + parse + validate without the
database; read + `yaml.CSafeLoader` only; and the host action catalog, built
by listing every pack (the old per-sync cost) versus a cached lookup.

Daemon part: the real daemon in-process (real inotify) on `--storm-packs`
packs; a separate process rewrites every file of every pack (a `git
checkout`), and we time first write -> every row committed, count syncs per
pack, and sample the event loop's worst stall while it converges (synchronous
work on the loop blocks probes and the watcher).

Ratios to watch: unchanged/cold (no-op sweeps cost hashing only), per-pack
`sync_pack` in a storm / per-pack cold sweep (near 1: a single-pack sync pays
nothing that grows with the number of packs on the host), daemon storm /
service storm (what the daemon adds around the syncs).

Uses PACKSYNC_TEST_DATABASE_URL when set, else an embedded pgserver in a temp dir.
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

from tests.bench.bench_sync import generate, read_and_parse, scan_and_load  # noqa: E402
from tests.bench.benchdb import bench_database  # noqa: E402
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml  # noqa: E402

from packsync.config import Settings  # noqa: E402
from packsync.db.connection import create_pool  # noqa: E402
from packsync.db.migrate import migrate  # noqa: E402
from packsync.logs import configure_logging  # noqa: E402
from packsync.pipeline.catalog import build_catalog  # noqa: E402
from packsync.pipeline.model import ScanResult  # noqa: E402
from packsync.serve import Daemon  # noqa: E402
from packsync.sync.service import SyncService  # noqa: E402

Row = tuple[str, float, str]

# Rewrites every workflow file of the named packs, like a `git checkout`.
STORM_WRITER = """
import sys
from pathlib import Path
base, label, files = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
text = Path(sys.argv[4]).read_text().replace("__LABEL__", label)
for ref in sys.argv[5:]:
    for j in range(files):
        (base / ref / "workflows" / f"w{j}.yaml").write_text(text)
"""


def _catalog_costs(base: Path) -> tuple[float, float | None]:
    """Seconds per host catalog: listing every pack vs a cached view lookup
    (None: this checkout has no catalog cache)."""
    scan = ScanResult(base_dir=base, base_ok=True)
    n = 50
    start = time.perf_counter()
    for _ in range(n):
        build_catalog(scan)
    full = (time.perf_counter() - start) / n
    try:
        from packsync.pipeline.catalog import CatalogCache
    except ImportError:
        return full, None
    cache = CatalogCache(base, clock_ns=lambda: time.time_ns() + 60_000_000_000)
    cache.view().has_action("core.echo")
    start = time.perf_counter()
    for _ in range(n * 10):
        view = cache.view()
        view.has_action("core.echo")
        view.has_action("core.noop")
    return full, (time.perf_counter() - start) / (n * 10)


async def service_part(args: argparse.Namespace, tmp: Path, url: str) -> list[Row]:
    base = tmp / "packs"
    base.mkdir()
    files = generate(base, args.packs, args.per_pack)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        packs_base_dir=base,
        database_url=SecretStr(url),
        db_schema=schema,
        state_schema=f"{schema}_s",
        state_dir=tmp,
    )
    pool = await create_pool(settings)
    rows: list[Row] = []
    n = args.packs * args.per_pack
    try:
        await migrate(pool, schema, f"{schema}_s")
        service = SyncService(settings, pool)
        t = time.perf_counter()
        cold = await service.sync_all(trigger="cli")
        rows.append(("cold sync_all", time.perf_counter() - t, f"{cold.total('created')} created"))
        t = time.perf_counter()
        warm = await service.sync_all(trigger="reconcile")
        rows.append(
            ("unchanged sync_all", time.perf_counter() - t, f"{warm.total('unchanged')} unchanged")
        )
        one: list[float] = []
        for p in range(min(20, args.packs)):
            ref = f"pack{p:03d}"
            (base / ref / "workflows" / "wf03.yaml").write_text(workflow_yaml(f"changed {p}"))
            t = time.perf_counter()
            result = await service.sync_pack(ref, trigger="watch")
            one.append(time.perf_counter() - t)
            assert result.updated == 1, result
        rows.append(("sync_pack, 1 file changed (median)", statistics.median(one), "1 updated"))
        for p in range(args.packs):  # every file of every pack changes
            for w in range(args.per_pack):
                path = base / f"pack{p:03d}" / "workflows" / f"wf{w:02d}.yaml"
                path.write_text(workflow_yaml(f"storm {p} {w}"))
        t = time.perf_counter()
        for p in range(args.packs):
            await service.sync_pack(f"pack{p:03d}", trigger="watch")
        rows.append(
            ("service storm: sync_pack x every pack", time.perf_counter() - t, f"{n} updated")
        )
        rows.append(("scan + load_pack, no database", scan_and_load(base), "parse + validate"))
        rows.append(("read + CSafeLoader parse only", read_and_parse(files), f"{len(files)} files"))
        full, cached = _catalog_costs(base)
        rows.append(("host catalog: list every pack", full, f"{args.packs + 1} packs"))
        if cached is not None:
            rows.append(("host catalog: cached lookup (2 refs)", cached, "stamps of 1 pack"))
    finally:
        async with pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await pool.close()
    return rows


async def _wait_for(pred, timeout: float = 300.0, step: float = 0.01) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    while not await pred():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(step)
    return time.perf_counter()


class LoopLag:
    """Worst delay of a 5 ms sleep on the event loop: synchronous work there."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - start - 0.005)

    def start(self) -> None:
        self.worst = 0.0
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def daemon_part(args: argparse.Namespace, tmp: Path, url: str) -> list[Row]:
    base = tmp / "dpacks"
    make_core_pack(base)
    refs = [f"p{i:03d}" for i in range(args.storm_packs)]
    for ref in refs:
        make_pack(base, ref, {f"w{j}.yaml": workflow_yaml("v0") for j in range(args.storm_files)})
    template = tmp / "storm.yaml"
    template.write_text(workflow_yaml("__LABEL__"))
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        packs_base_dir=base,
        database_url=SecretStr(url),
        db_schema=schema,
        state_schema=f"{schema}_s",
        state_dir=tmp / "state",
        debounce_seconds=args.debounce,
        debounce_max_wait_seconds=5.0,
        reconcile_interval_seconds=3600,
        http={"host": "127.0.0.1", "port": 0},
    )
    loop = asyncio.get_running_loop()
    if loop.get_debug():  # PYTHONASYNCIODEBUG=1: log every callback over 15 ms
        loop.slow_callback_duration = 0.015
    daemon = Daemon(settings)
    task = asyncio.create_task(daemon.run())
    conn = await asyncpg.connect(url)
    rows: list[Row] = []
    total = args.storm_packs * args.storm_files
    lag = LoopLag()
    try:
        t0 = time.perf_counter()

        async def first_done() -> bool:
            return daemon.state.first_sync_done

        t1 = await _wait_for(first_done)
        rows.append(("daemon: initial full sync", t1 - t0, f"{args.storm_packs} packs"))

        async def idle() -> bool:
            return daemon.scheduler.idle()

        await _wait_for(idle)
        before = {ref: daemon.state.packs[ref].syncs for ref in refs}
        lag.start()
        start = time.perf_counter()
        writer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", STORM_WRITER, str(base), "storm", str(args.storm_files),
            str(template), *refs,
        )  # fmt: skip
        await writer.wait()
        written = time.perf_counter()

        async def converged() -> bool:
            n = await conn.fetchval(
                f"SELECT count(*) FROM \"{schema}\".workflow_definition WHERE label = 'storm'"
            )
            return bool(n == total)

        done = await _wait_for(converged)
        await _wait_for(idle)
        await lag.stop()
        syncs = [daemon.state.packs[ref].syncs - before[ref] for ref in refs]
        rows.append(("daemon storm: files written by a process", written - start, f"{total} files"))
        rows.append(
            (
                "daemon storm: first write -> all committed",
                done - start,
                f"syncs/pack {min(syncs)}/{statistics.mean(syncs):.2f}/{max(syncs)}",
            )
        )
        rows.append(("daemon storm: worst event-loop stall", lag.worst, "5 ms sleep overshoot"))
    finally:
        await lag.stop()
        await conn.close()
        daemon.request_stop()
        await task
        cleanup = await asyncpg.connect(url)
        await cleanup.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await cleanup.close()
    return rows


def _ratios(rows: dict[str, float], args: argparse.Namespace) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []

    def add(name: str, num: str, den: str, scale: float = 1.0) -> None:
        if num in rows and den in rows and rows[den] > 0:
            out.append((name, rows[num] / rows[den] * scale))

    add("unchanged / cold sync_all", "unchanged sync_all", "cold sync_all")
    add(
        "cold sync_all / scan+load (database share)",
        "cold sync_all",
        "scan + load_pack, no database",
    )
    add(
        "scan+load / read+parse (validation overhead)",
        "scan + load_pack, no database",
        "read + CSafeLoader parse only",
    )
    add(
        "service storm / cold sync_all (per-sync overhead)",
        "service storm: sync_pack x every pack",
        "cold sync_all",
    )
    add(
        "catalog: list every pack / cached lookup",
        "host catalog: list every pack",
        "host catalog: cached lookup (2 refs)",
    )
    if "daemon storm: first write -> all committed" in rows:
        per_pack_daemon = rows["daemon storm: first write -> all committed"] / args.storm_packs
        if "service storm: sync_pack x every pack" in rows:
            per_pack_service = rows["service storm: sync_pack x every pack"] / args.packs
            out.append(
                ("daemon storm / service storm, per pack", per_pack_daemon / per_pack_service)
            )
        add(
            "daemon storm / daemon initial full sync",
            "daemon storm: first write -> all committed",
            "daemon: initial full sync",
        )
    return out


async def run(args: argparse.Namespace, tmp: Path, url: str) -> list[Row]:
    rows = [] if args.skip_service else await service_part(args, tmp, url)
    if not args.skip_daemon:
        rows += await daemon_part(args, tmp, url)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", type=int, default=300)
    parser.add_argument("--per-pack", type=int, default=10)
    parser.add_argument("--storm-packs", type=int, default=200)
    parser.add_argument("--storm-files", type=int, default=10)
    parser.add_argument("--debounce", type=float, default=0.1)
    parser.add_argument("--skip-daemon", action="store_true")
    parser.add_argument("--skip-service", action="store_true")
    args = parser.parse_args()
    configure_logging("warning", "console")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with bench_database(work) as url:
            rows = asyncio.run(run(args, work, url))
    print(
        f"\nservice: {args.packs} packs x {args.per_pack} workflows; daemon storm: "
        f"{args.storm_packs} packs x {args.storm_files} files, debounce {args.debounce} s\n"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'step'.ljust(width)} | {'ms':>10} | note")
    print(f"{'-' * width}-|-{'-' * 10}-|-----")
    for name, seconds, note in rows:
        print(f"{name.ljust(width)} | {seconds * 1000:>10.3f} | {note}")
    ratios = _ratios({r[0]: r[1] for r in rows}, args)
    width = max((len(r[0]) for r in ratios), default=10)
    print(f"\n{'ratio'.ljust(width)} | value")
    print(f"{'-' * width}-|------")
    for name, value in ratios:
        print(f"{name.ljust(width)} | {value:>5.2f}")


if __name__ == "__main__":
    main()
