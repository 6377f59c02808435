"""The packsync benchmark: one Markdown table, every measure side by side.

    .venv/bin/python -m tests.bench.run [--sizes 3000,10000] [--huge] [--per-pack 10]
        [--daemon] [--keep DIR]

For each size (workflows; `--per-pack` workflows per pack, `--huge` adds
100,000) a fresh corpus (tests/bench/corpus.py) is generated and measured as
whole processes against one database (PACKSYNC_TEST_DATABASE_URL, else a
throw-away embedded PostgreSQL):

- floor: read + `yaml.load(CSafeLoader)` of every YAML file, one process, one core
- naive peer: pure-Python `yaml.safe_load` + one upsert per workflow file
- cold sync: `packsync sync` into empty schemas (migrations included)
- no-op resync: `packsync sync` again, nothing changed; its row writes are the
  pg_stat_user_tables n_tup_ins/upd/del deltas of every table but the
  `sync_run` history (one row per sweep, by design: SPEC §5)
- validate: `packsync validate` of the whole base directory
- max RSS of each packsync process (os.wait4)
- `--daemon`: `packsync run` on the corpus: edit → committed row latency
  beyond the debounce (p50/p95), a storm (10 files in each of 60 packs),
  idle CPU over `--idle-seconds` and RSS after the first sync

Ratios are computed inside one run, so the machine's speed cancels out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from tests.bench import procs
from tests.bench.benchdb import bench_database
from tests.bench.corpus import Corpus, generate

from packsync.pipeline import scan

_WRITES = """
SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint
FROM pg_stat_user_tables WHERE schemaname = ANY($1::text[]) AND relname <> 'sync_run'
"""
_HISTORY = """
SELECT coalesce(sum(n_tup_ins), 0)::bigint
FROM pg_stat_user_tables WHERE schemaname = ANY($1::text[]) AND relname = 'sync_run'
"""


@dataclass
class SizeResult:
    workflows: int
    packs: int
    floor: procs.Run | None = None
    naive: procs.Run | None = None
    cold: procs.Run | None = None
    noop: procs.Run | None = None
    noop_writes: int = -1
    noop_history: int = -1
    validate: procs.Run | None = None
    daemon: dict[str, str] = field(default_factory=dict)


async def _counter(url: str, sql: str, schemas: list[str]) -> int:
    """A pg_stat counter once it settles: a backend's statistics are flushed
    when it exits, a moment after its client disconnected."""
    conn = await asyncpg.connect(url)
    try:
        last = -1
        for _ in range(40):
            value = int(await conn.fetchval(sql, schemas))
            if value == last:
                return value
            last = value
            await asyncio.sleep(0.25)
        return last
    finally:
        await conn.close()


def counter(url: str, sql: str, schemas: list[str]) -> int:
    return asyncio.run(_counter(url, sql, schemas))


async def _drop(url: str, schemas: list[str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        for schema in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def packsync_env(corpus: Corpus, url: str, schema: str, state: Path) -> dict[str, str]:
    return {
        "ATTUNE__PACKS_BASE_DIR": str(corpus.base),
        "ATTUNE__DATABASE_URL": url,
        "ATTUNE__DB_SCHEMA": schema,
        "ATTUNE__STATE_SCHEMA": f"{schema}_s",
        "ATTUNE__STATE_DIR": str(state),
        "ATTUNE__LOG_FORMAT": "json",
    }


def packsync(*args: str, env: dict[str, str]) -> procs.Run:
    return procs.run([sys.executable, "-m", "packsync", *args], env=env)


def _check(run: procs.Run, what: str) -> procs.Run:
    if run.returncode != 0:
        raise RuntimeError(f"{what} exited {run.returncode}:\n{run.output[-3000:]}")
    return run


def measure_size(
    workflows: int,
    per_pack: int,
    url: str,
    work: Path,
    *,
    daemon: bool = False,
    skip: frozenset[str] = frozenset(),
    **opts: float,
) -> SizeResult:
    packs = max(1, workflows // per_pack)
    base = work / f"packs{workflows}"
    corpus = generate(base, packs, per_pack)
    written = time.monotonic()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    schemas = [schema, f"{schema}_s"]
    env = packsync_env(corpus, url, schema, work / "state")
    result = SizeResult(workflows=corpus.workflows, packs=packs)
    try:
        result.floor = _check(procs.python(procs.FLOOR, str(base)), "floor")
        if "naive" not in skip:
            naive = procs.python(procs.NAIVE, str(base), url, f"{schema}_naive")
            result.naive = _check(naive, "naive")
        # Files written within scan.RACY_NS of a sync get no stat stamp (and
        # the next sync records it): a no-op is measured on settled files.
        racy = getattr(scan, "RACY_NS", 2e9) / 1e9
        time.sleep(max(0.0, racy + 0.1 - (time.monotonic() - written)))
        result.cold = _check(packsync("sync", env=env), "cold sync")
        before = counter(url, _WRITES, schemas)
        history = counter(url, _HISTORY, schemas)
        result.noop = _check(packsync("sync", env=env), "no-op sync")
        result.noop_writes = counter(url, _WRITES, schemas) - before
        result.noop_history = counter(url, _HISTORY, schemas) - history
        if "validate" not in skip:
            result.validate = _check(packsync("validate", env=env), "validate")
        if daemon:
            from tests.bench.daemon import measure_daemon

            result.daemon = measure_daemon(corpus, env, url, schema, **opts)
    finally:
        asyncio.run(_drop(url, [*schemas, f"{schema}_naive"]))
        shutil.rmtree(base, ignore_errors=True)
    return result


# (measure, goal, cell) rows of the table; a cell is a function of one size.
def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def _s(run: procs.Run | None) -> str:
    """Wall clock (CPU time of the process and its workers)."""
    return "—" if run is None else f"{run.seconds:.2f} s ({run.cpu:.2f})"


def _rows() -> list[tuple[str, str, object]]:
    def sec(r: procs.Run | None) -> float | None:
        return None if r is None else r.seconds

    def cpu(r: procs.Run | None) -> float | None:
        return None if r is None else r.cpu

    return [
        ("packs / workflows", "", lambda r: f"{r.packs:,} / {r.workflows:,}"),
        ("floor: read + CSafeLoader, 1 core", "", lambda r: _s(r.floor)),
        ("naive peer: safe_load + upsert per file", "", lambda r: _s(r.naive)),
        ("packsync cold sync", "", lambda r: _s(r.cold)),
        ("no-op resync", "", lambda r: _s(r.noop)),
        (
            "no-op row writes (+ sync_run history rows)",
            "0",
            lambda r: f"{r.noop_writes} (+{r.noop_history})",
        ),
        ("packsync validate", "", lambda r: _s(r.validate)),
        ("**cold ÷ floor**", "≤ 1.0", lambda r: _ratio(sec(r.cold), sec(r.floor))),
        ("**naive ÷ cold**", "≥ 10", lambda r: _ratio(sec(r.naive), sec(r.cold))),
        ("**no-op ÷ cold**", "≤ 0.05", lambda r: _ratio(sec(r.noop), sec(r.cold))),
        ("**validate ÷ floor**", "≤ 1.5", lambda r: _ratio(sec(r.validate), sec(r.floor))),
        ("cold ÷ floor, CPU time", "", lambda r: _ratio(cpu(r.cold), cpu(r.floor))),
        ("no-op ÷ cold, CPU time", "", lambda r: _ratio(cpu(r.noop), cpu(r.cold))),
        (
            "max RSS: cold / no-op / validate",
            "≤ 500 MB",
            lambda r: (
                " / ".join(
                    f"{x.max_rss_mb:.0f}" for x in (r.cold, r.noop, r.validate) if x is not None
                )
                + " MB"
            ),
        ),
        ("cold ms per workflow", "", lambda r: f"{r.cold.seconds * 1000 / r.workflows:.2f}"),
    ]


_DAEMON_ROWS = [
    ("daemon: edit → row beyond debounce, p50 / p95", "p95 ≤ 100 ms", "latency"),
    ("daemon: storm 10 files x 60 packs, converged", "≤ max_wait + 1 s", "storm"),
    ("daemon: syncs per pack in the storm (max)", "≤ 2", "storm_syncs"),
    ("daemon: RSS after first sync / after edits", "≤ 150 MB; +≤ 5 %", "rss"),
    ("daemon: idle CPU", "≤ 0.5 %", "idle_cpu"),
]


def render(results: list[SizeResult], machine: str) -> str:
    head = ["measure", "goal", *(f"{r.workflows:,} wf" for r in results)]
    lines = [f"_{machine}_", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, goal, cell in _rows():
        cells = [cell(r) for r in results]  # type: ignore[operator]
        lines.append("| " + " | ".join([name, goal, *cells]) + " |")
    if any(r.daemon for r in results):
        for name, goal, key in _DAEMON_ROWS:
            cells = [r.daemon.get(key, "—") for r in results]
            lines.append("| " + " | ".join([name, goal, *cells]) + " |")
    return "\n".join(lines)


def machine() -> str:
    import platform

    import yaml
    import yaml._yaml

    libyaml = yaml.__with_libyaml__ and yaml._yaml.get_version_string()  # type: ignore[attr-defined]
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PyYAML {yaml.__version__} (libyaml {libyaml}), {platform.machine()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load average at the end {os.getloadavg()[0]:.1f}; cells: wall s (CPU s)"
    )


def bench(
    sizes: list[int],
    per_pack: int,
    url: str,
    work: Path,
    *,
    daemon: bool = False,
    skip: frozenset[str] = frozenset(),
    **opts: float,
) -> list[SizeResult]:
    return [measure_size(n, per_pack, url, work, daemon=daemon, skip=skip, **opts) for n in sizes]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3000,10000", help="workflow counts, comma-separated")
    parser.add_argument("--huge", action="store_true", help="add 100,000 workflows")
    parser.add_argument("--per-pack", type=int, default=10)
    parser.add_argument("--daemon", action="store_true", help="daemon latency/storm/idle rows")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--skip", default="", help="measures to leave out: naive,validate")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.huge:
        sizes.append(100_000)
    work = Path(tempfile.mkdtemp(prefix="packsync-bench-"))
    try:
        with bench_database(work) as url:
            results = bench(
                sizes,
                args.per_pack,
                url,
                work,
                daemon=args.daemon,
                skip=frozenset(args.skip.split(",")),
                idle_seconds=args.idle_seconds,
                edits=args.edits,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(render(results, machine()))


if __name__ == "__main__":
    main()
