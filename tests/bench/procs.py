"""Whole processes for the benchmark: wall time, CPU time and max RSS of one
child, and the small stand-alone programs the floor and the naive peer run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    seconds: float  # wall clock
    cpu: float  # user + system CPU of the child
    max_rss_mb: float
    returncode: int
    output: str


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run one process to completion; its own rusage (os.wait4), not the
    children's maximum over the whole benchmark."""
    full_env = {**os.environ, **(env or {})}
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=full_env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    output = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        seconds=seconds,
        cpu=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        returncode=proc.returncode,
        output=output,
    )


def python(code: str, *args: str, env: dict[str, str] | None = None) -> Run:
    return run([sys.executable, "-c", code, *args], env=env)


def yaml_files(base: Path) -> list[str]:
    out: list[str] = []
    for root, dirs, files in os.walk(base):
        dirs.sort()
        out.extend(os.path.join(root, f) for f in sorted(files) if f.endswith((".yaml", ".yml")))
    return out


# The floor: every YAML file of the corpus read and parsed by libyaml into
# Python objects, on one core, nothing else (no validation, no database).
FLOOR = """
import os, sys, yaml
n = 0
for root, dirs, files in os.walk(sys.argv[1]):
    for f in files:
        if f.endswith((".yaml", ".yml")):
            with open(os.path.join(root, f), "rb") as fh:
                yaml.load(fh.read(), Loader=yaml.CSafeLoader)
            n += 1
print(n)
"""

# The straightforward approach: pure-Python yaml.safe_load of every workflow
# file and one upsert (its own transaction) per file.
NAIVE = """
import asyncio, json, os, sys, asyncpg, yaml

async def main(base, url, schema):
    conn = await asyncpg.connect(url)
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{schema}".wf '
        "(ref text PRIMARY KEY, path text, definition jsonb)"
    )
    n = 0
    for root, dirs, files in os.walk(base):
        if not root.endswith("workflows"):
            continue
        for f in files:
            if not f.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(root, f)
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
            ref = os.path.relpath(path, base).split(os.sep)[0] + "." + f.rsplit(".", 1)[0]
            await conn.execute(
                f'INSERT INTO "{schema}".wf VALUES ($1, $2, $3::jsonb) '
                "ON CONFLICT (ref) DO UPDATE SET path = $2, definition = $3::jsonb",
                ref, path, json.dumps(data, default=str),
            )
            n += 1
    await conn.close()
    print(n)

asyncio.run(main(*sys.argv[1:4]))
"""
