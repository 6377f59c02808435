"""Benchmark (not a test): sync throughput against a real PostgreSQL.

Generates 3,000 workflows in 300 packs, then prints a table: a cold
`sync_all` (everything created), an unchanged `sync_all` (hash check only, no
parse, no writes), one changed file synced through `sync_pack`, and, for
scale, the time to merely read + YAML-parse the same files with
`yaml.CSafeLoader`.

    .venv/bin/python tests/bench/bench_sync.py [--packs 300] [--per-pack 10]

Uses PACKSYNC_TEST_DATABASE_URL when set, else an embedded pgserver in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.benchdb import bench_database
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

from packsync.config import Settings
from packsync.db.connection import create_pool
from packsync.db.migrate import migrate
from packsync.pipeline.catalog import build_catalog
from packsync.pipeline.load import load_pack
from packsync.pipeline.scan import scan_base
from packsync.sync.service import SyncService


def generate(base: Path, packs: int, per_pack: int) -> list[Path]:
    make_core_pack(base)
    for p in range(packs):
        make_pack(
            base,
            f"pack{p:03d}",
            {f"wf{w:02d}.yaml": workflow_yaml(f"P{p} W{w}") for w in range(per_pack)},
        )
    return sorted(base.glob("*/workflows/*.yaml"))


def scan_and_load(base: Path) -> float:
    """The pipeline without the database: scan + parse + validate every pack."""
    start = time.perf_counter()
    scan = scan_base(base, max_file_size=1 << 20)
    catalog = build_catalog(scan)
    for scanned in scan.packs.values():
        load_pack(scanned, catalog)
    return time.perf_counter() - start


def read_and_parse(files: list[Path]) -> float:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    start = time.perf_counter()
    for path in files:
        yaml.load(path.read_bytes(), Loader=loader)
    return time.perf_counter() - start


async def run(args: argparse.Namespace, tmp: Path, url: str) -> list[tuple[str, float, str]]:
    base = tmp / "packs"
    base.mkdir()
    files = generate(base, args.packs, args.per_pack)
    settings = Settings(
        packs_base_dir=base,
        database_url=url,
        db_schema="bench",
        state_schema="bench_state",
        state_dir=tmp,
    )
    pool = await create_pool(settings)
    rows: list[tuple[str, float, str]] = []
    try:
        async with pool.acquire() as conn:
            await conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
            await conn.execute("DROP SCHEMA IF EXISTS bench_state CASCADE")
        await migrate(pool, "bench", "bench_state")
        service = SyncService(settings, pool)
        t = time.perf_counter()
        cold = await service.sync_all(trigger="cli")
        rows.append(("cold sync_all", time.perf_counter() - t, f"created {cold.total('created')}"))
        t = time.perf_counter()
        warm = await service.sync_all(trigger="reconcile")
        rows.append(
            ("unchanged sync_all", time.perf_counter() - t, f"unchanged {warm.total('unchanged')}")
        )
        (base / "pack007" / "workflows" / "wf03.yaml").write_text(workflow_yaml("changed"))
        t = time.perf_counter()
        one = await service.sync_pack("pack007", trigger="watch")
        rows.append(
            ("sync_pack, 1 file changed", time.perf_counter() - t, f"updated {one.updated}")
        )
        rows.append(("scan + load_pack, no database", scan_and_load(base), "parse + validate"))
        rows.append(("read + CSafeLoader parse only", read_and_parse(files), f"{len(files)} files"))
        async with pool.acquire() as conn:
            await conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
    finally:
        await pool.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", type=int, default=300)
    parser.add_argument("--per-pack", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_database(Path(tmp)) as url:
        rows = asyncio.run(run(args, Path(tmp), url))
    n = args.packs * args.per_pack
    print(f"\n{n} workflows in {args.packs} packs\n")
    print(f"{'step':<32} {'seconds':>9} {'workflows/s':>12}  result")
    for name, seconds, note in rows:
        rate = n / seconds if "1 file" not in name else 1 / seconds
        print(f"{name:<32} {seconds:>9.3f} {rate:>12.0f}  {note}")
    t = {name: seconds for name, seconds, _ in rows}
    cold, parse = t["cold sync_all"], t["read + CSafeLoader parse only"]
    load = t["scan + load_pack, no database"]
    print(f"\nunchanged / cold sync_all        {t['unchanged sync_all'] / cold:>9.2f}")
    print(f"cold sync_all / scan+load        {cold / load:>9.2f}  (what the database adds)")
    print(f"scan+load / read+parse           {load / parse:>9.2f}  (what validation adds)")
    per_pack = cold / args.packs
    one = t["sync_pack, 1 file changed"]
    print(f"sync_pack 1 file / cold per pack {one / per_pack:>9.2f}  (bench_perf.py: more)")


if __name__ == "__main__":
    main()
