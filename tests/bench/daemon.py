"""The daemon rows of the benchmark: a real `packsync run` process on the
corpus (real inotify, default debounce 0.5 s / max wait 5 s).

- RSS once the first sync is done, and after the edits (growth)
- idle CPU over `idle_seconds` (utime + stime from /proc)
- edit → committed row, beyond the debounce: one workflow rewritten with a
  new label, the row polled every 5 ms; p50 / p95 over `edits` edits
- storm: 10 files in each of 60 packs rewritten at once; time until every row
  is committed, and the most syncs (sync_run rows) any of those packs had
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import asyncpg
from tests.bench.corpus import Corpus, workflow_text

DEBOUNCE = 0.5
MAX_WAIT = 5.0
STORM_PACKS = 60
STORM_FILES = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _files(corpus: Corpus, ref: str) -> list[Path]:
    root = corpus.base / ref
    return sorted(root.glob("workflows/*.yaml")) + sorted(root.glob("actions/workflows/*.yaml"))


async def _wait_rows(conn: asyncpg.Connection, schema: str, label: str, n: int) -> float:
    sql = f'SELECT count(*) FROM "{schema}".workflow_definition WHERE label = $1'
    deadline = time.monotonic() + 120
    while await conn.fetchval(sql, label) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"rows labelled {label!r} never reached {n}")
        await asyncio.sleep(0.005)
    return time.perf_counter()


async def _edits(corpus: Corpus, url: str, schema: str, edits: int) -> list[float]:
    conn = await asyncpg.connect(url)
    try:
        out = []
        for i in range(edits):
            ref = corpus.pack_ref(i % corpus.packs)
            path = _files(corpus, ref)[0]
            label = f"edit {i}"
            path.write_text(workflow_text(ref, 0, label))
            start = time.perf_counter()
            done = await _wait_rows(conn, schema, label, 1)
            out.append(done - start - DEBOUNCE)
            await asyncio.sleep(DEBOUNCE + 0.2)  # the pack's debounce window closes
        return out
    finally:
        await conn.close()


async def _storm(corpus: Corpus, url: str, schema: str) -> tuple[float, int]:
    refs = [corpus.pack_ref(i) for i in range(min(STORM_PACKS, corpus.packs))]
    files = [(ref, p) for ref in refs for p in _files(corpus, ref)[:STORM_FILES]]
    conn = await asyncpg.connect(url)
    try:
        last = await conn.fetchval(f'SELECT coalesce(max(id), 0) FROM "{schema}_s".sync_run')
        start = time.perf_counter()
        for ref, path in files:
            path.write_text(workflow_text(ref, 1, "storm"))
        done = await _wait_rows(conn, schema, "storm", len(files))
        await asyncio.sleep(MAX_WAIT + 1)  # any late sync of a stormed pack shows up
        rows = await conn.fetch(
            f'SELECT pack_ref, count(*) AS n FROM "{schema}_s".sync_run '
            "WHERE id > $1 AND pack_ref = ANY($2::text[]) GROUP BY pack_ref",
            last,
            refs,
        )
        return done - start, max((r["n"] for r in rows), default=0)
    finally:
        await conn.close()


def measure_daemon(
    corpus: Corpus,
    env: dict[str, str],
    url: str,
    schema: str,
    *,
    idle_seconds: float = 60.0,
    edits: int = 30,
) -> dict[str, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "packsync", "run"],
        env={
            **os.environ,
            **env,
            "ATTUNE__HTTP__PORT": str(port),
            "ATTUNE__DEBOUNCE_SECONDS": str(DEBOUNCE),
            "ATTUNE__DEBOUNCE_MAX_WAIT_SECONDS": str(MAX_WAIT),
            "ATTUNE__LOG_LEVEL": "warning",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 600
        while not _ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("packsync run did not become ready")
            time.sleep(0.1)
        rss_ready = _rss_mb(proc.pid)
        cpu0, t0 = _proc_cpu(proc.pid), time.monotonic()
        time.sleep(idle_seconds)
        idle = (_proc_cpu(proc.pid) - cpu0) / (time.monotonic() - t0) * 100
        latencies = asyncio.run(_edits(corpus, url, schema, edits))
        rss_edits = _rss_mb(proc.pid)
        storm, syncs = asyncio.run(_storm(corpus, url, schema))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
    return {
        "latency": f"{statistics.median(latencies) * 1000:.0f} / {q[18] * 1000:.0f} ms",
        "storm": f"{storm:.2f} s",
        "storm_syncs": str(syncs),
        "rss": f"{rss_ready:.0f} / {rss_edits:.0f} MB ({(rss_edits / rss_ready - 1) * 100:+.1f} %)",
        "idle_cpu": f"{idle:.2f} % over {idle_seconds:.0f} s",
    }
