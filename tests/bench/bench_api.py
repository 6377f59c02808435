"""Benchmark (not a test): /api/v1 latency against a real PostgreSQL.

Registers 2,000 workflows (200 packs x 10) through file sync, then times the
API through its ASGI app (no network, so the figures are packsync + database
cost): list pages of 50 and 500, filtered lists, the detail view, creating
and deleting API workflows (validation included), and the dry-run validation
of a 10-file pack. Prints p50 / p95 / max per operation.

    .venv/bin/python tests/bench/bench_api.py [--packs 200] [--per-pack 10] [--n 200]

Uses PACKSYNC_TEST_DATABASE_URL when set, else an embedded pgserver in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pydantic import SecretStr
from tests.bench.benchdb import bench_database
from tests.support.api import build_app
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

from packsync.config import Settings
from packsync.db.connection import create_pool
from packsync.db.migrate import migrate
from packsync.sync.service import SyncService

DEFINITION = {
    "version": "1.0",
    "tasks": [
        {"name": "start", "action": "core.echo", "next": [{"do": ["done"]}]},
        {"name": "done", "action": "core.noop"},
    ],
}


async def timed(n: int, call: Callable[[int], Awaitable[httpx.Response]]) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        response = await call(i)
        out.append(time.perf_counter() - start)
        assert response.status_code < 300, response.text
    return out


def row(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    median = statistics.median(ms)
    return f"| {name:<46} | {len(ms):>5} | {median:>8.2f} | {p95:>8.2f} | {ms[-1]:>8.2f} |"


async def run(args: argparse.Namespace, tmp: Path, url: str) -> None:
    base = tmp / "packs"
    base.mkdir()
    make_core_pack(base)
    for p in range(args.packs):
        make_pack(
            base,
            f"pack{p:03d}",
            {
                f"wf{w:02d}.yaml": workflow_yaml(f"P{p} W{w}") + f"tags: [t{w}]\n"
                for w in range(args.per_pack)
            },
        )
    settings = Settings(
        packs_base_dir=base,
        database_url=url,
        db_schema="bench_api",
        state_schema="bench_api_state",
        state_dir=tmp,
        api_token=SecretStr("bench"),
    )
    pool = await create_pool(settings)
    try:
        async with pool.acquire() as conn:
            await conn.execute("DROP SCHEMA IF EXISTS bench_api CASCADE")
            await conn.execute("DROP SCHEMA IF EXISTS bench_api_state CASCADE")
        await migrate(pool, settings.db_schema, settings.state_schema)
        report = await SyncService(settings, pool).sync_all(trigger="cli")
        total = report.totals["created"]
        app = build_app(settings, pool)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://bench",
            headers={"Authorization": "Bearer bench"},
        ) as c:
            n = args.n

            def pack(i: int) -> str:
                return f"pack{i % args.packs:03d}"

            results = [
                (
                    "GET /workflows (page_size 50)",
                    await timed(
                        n, lambda i: c.get("/api/v1/workflows", params={"page": i % 40 + 1})
                    ),
                ),
                (
                    "GET /workflows (page_size 500)",
                    await timed(n // 4, lambda i: c.get("/api/v1/workflows?page_size=500")),
                ),
                (
                    "GET /workflows?tags=t3,t4&search=w3",
                    await timed(n, lambda i: c.get("/api/v1/workflows?tags=t3,t4&search=w3")),
                ),
                (
                    "GET /packs/{p}/workflows",
                    await timed(
                        n, lambda i: c.get(f"/api/v1/packs/pack{i % args.packs:03d}/workflows")
                    ),
                ),
                (
                    "GET /workflows/{ref}",
                    await timed(
                        n, lambda i: c.get(f"/api/v1/workflows/pack{i % args.packs:03d}.wf01")
                    ),
                ),
                (
                    "POST /workflows (validate + insert)",
                    await timed(
                        n,
                        lambda i: c.post(
                            "/api/v1/workflows",
                            json={"ref": f"pack000.api{i}", "definition": DEFINITION},
                        ),
                    ),
                ),
                (
                    "PUT /workflows/{ref} (label)",
                    await timed(
                        n, lambda i: c.put(f"/api/v1/workflows/pack000.api{i}", json={"label": "x"})
                    ),
                ),
                (
                    "DELETE /workflows/{ref}",
                    await timed(n, lambda i: c.delete(f"/api/v1/workflows/pack000.api{i}")),
                ),
                (
                    f"POST /packs/{{p}}/workflows/validate ({args.per_pack} files)",
                    await timed(
                        n // 4, lambda i: c.post("/api/v1/packs/pack001/workflows/validate")
                    ),
                ),
                (
                    "POST /packs/{p}/workflows/sync (unchanged)",
                    await timed(n // 4, lambda i: c.post("/api/v1/packs/pack002/workflows/sync")),
                ),
            ]
    finally:
        await pool.close()
    print(f"\n{total} workflows registered in {args.packs} packs; times in ms (ASGI, no network)\n")
    print(f"| {'operation':<46} | {'calls':>5} | {'p50':>8} | {'p95':>8} | {'max':>8} |")
    print(f"|{'-' * 48}|{'-' * 7}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    for name, samples in results:
        print(row(name, samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", type=int, default=200)
    parser.add_argument("--per-pack", type=int, default=10)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="packsync-bench-api-") as tmp,
        bench_database(Path(tmp)) as url,
    ):
        asyncio.run(run(args, Path(tmp), url))


if __name__ == "__main__":
    main()
