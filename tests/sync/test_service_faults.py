"""Audit of sync semantics at the service level (what the CLI and the API
call): a killed backend, thousands of files, hostile symlinks, permissions."""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from packsync.config import Settings
from packsync.db import queries
from packsync.sync.service import SyncService
from tests.support.daemon import until
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml
from tests.support.paths import REPO


async def _labels(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        return {r[0]: r[1] for r in await conn.fetch("SELECT ref, label FROM workflow_definition")}


async def test_backend_killed_mid_transaction_is_retried_by_the_service(
    service: SyncService, pool: asyncpg.Pool, packs: Path, settings: Settings, pg_url: str
) -> None:
    """`packsync sync` / the API: the connection running the pack's transaction
    is terminated server-side; the service retries the whole pack transaction
    on a fresh connection instead of failing the command."""
    make_core_pack(packs)
    make_pack(packs, "alpha", {"one.yaml": workflow_yaml("One")})
    await service.sync_all(trigger="cli")
    (packs / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("New"))
    (packs / "alpha" / "workflows" / "two.yaml").write_text(workflow_yaml("Two"))
    admin = await asyncpg.connect(pg_url)
    try:
        blocker = admin.transaction()
        await blocker.start()
        await admin.execute(queries.PACK_XACT_LOCK, settings.db_schema, "alpha")
        task = asyncio.create_task(service.sync_pack("alpha", trigger="cli"))
        waiting: list[int] = []

        async def sync_is_waiting() -> bool:
            rows = await admin.fetch(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            waiting[:] = [r["pid"] for r in rows]
            return bool(waiting)

        await until(sync_is_waiting, what="sync inside its transaction")
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", waiting[0])
        await blocker.rollback()
    finally:
        await admin.close()
    result = await asyncio.wait_for(task, 30)
    assert result.outcome == "ok" and result.created == 1 and result.updated == 1
    assert await _labels(pool) == {"alpha.one": "New", "alpha.two": "Two"}


# ---------------------------------------------------------------- CLI helpers
def _packsync(
    *args: str, env: dict[str, str], prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE__")}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "packsync", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
        check=False,
    )


def _db_env(settings: Settings) -> dict[str, str]:
    assert settings.database_url is not None
    return {
        "ATTUNE__DATABASE_URL": settings.database_url.get_secret_value(),
        "ATTUNE__DB_SCHEMA": settings.db_schema,
        "ATTUNE__STATE_SCHEMA": settings.state_schema,
        "ATTUNE__STATE_DIR": str(settings.state_dir),
        "ATTUNE__PACKS_BASE_DIR": str(settings.packs_base_dir),
        "ATTUNE__LOG_FORMAT": "json",
        "ATTUNE__LOG_LEVEL": "debug",
    }


async def _dump(pool: asyncpg.Pool) -> str:
    """Every row of every packsync table as text."""
    parts = []
    async with pool.acquire() as conn:
        for table in ("pack", "workflow_definition", "workflow_sync_error", "sync_run"):
            rows = await conn.fetch(f"SELECT row_to_json(t)::text FROM {table} t")
            parts += [r[0] for r in rows]
    return "\n".join(parts)


# ------------------------------------------------------ symlink to /etc/passwd
async def test_symlinks_to_etc_passwd_are_never_read(
    service: SyncService, pool: asyncpg.Pool, packs: Path, settings: Settings, tmp_path: Path
) -> None:
    """Every way a pack can point at /etc/passwd: its content must never reach
    the database, the logs, the CLI output or the diagnostics."""
    marker = Path("/etc/passwd").read_text().splitlines()[0]
    assert marker.startswith("root:")
    make_core_pack(packs)
    root = make_pack(packs, "alpha", {"ok.yaml": workflow_yaml("Ok")})
    wf = root / "workflows"
    os.symlink("/etc/passwd", wf / "passwd.yaml")
    os.symlink("../../../../../../../../../../etc/passwd", wf / "relative.yaml")
    os.symlink(wf / "passwd.yaml", wf / "chain.yaml")  # a link inside base → a link out
    (root / "actions" / "workflows").mkdir(parents=True)
    os.symlink("/etc/passwd", root / "actions" / "leak.yaml")
    os.symlink("/etc/passwd", root / "actions" / "workflows" / "w.yml")
    evil = packs / "evil"
    evil.mkdir()
    os.symlink("/etc/passwd", evil / "pack.yaml")
    os.symlink("/etc", packs / "etcpack")  # a pack folder pointing outside
    nested = make_pack(packs, "nested", {})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "copy.yaml").write_text(f"version: '1'\nlabel: '{marker}'\n")
    os.symlink(outside, nested / "workflows")  # a workflows folder pointing outside

    report = await service.sync_all(trigger="cli")
    codes = {d.code for p in report.packs for d in p.diagnostics} | {
        d.code for d in report.diagnostics
    }
    assert "symlink-escape" in codes
    assert (await _labels(pool)) == {"alpha.ok": "Ok"}
    assert marker not in await _dump(pool)
    assert marker not in repr(report.to_dict())

    env = _db_env(settings)
    for args in (
        ("sync", "--format", "json"),
        ("sync", "alpha", "evil"),
        ("validate", "--format", "json"),
        ("validate", str(wf / "passwd.yaml")),
        ("validate", "--format", "github"),
    ):
        proc = _packsync(*args, env=env)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "symlink-escape" in proc.stdout + proc.stderr, args
        assert marker not in proc.stdout + proc.stderr, args
        assert "Traceback" not in proc.stderr, args
    assert marker not in await _dump(pool)


# ------------------------------------------------------ permission denied
_NO_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all")
_DAC_BITS = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _drop_dac_in_this_thread() -> None:
    """Linux capabilities are per thread: this worker thread stops bypassing
    file modes (root otherwise reads a chmod 000 folder), the rest of the
    process (the event loop and its database sockets) keeps them."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (_CapData * 2)()
    assert libc.capget(ctypes.byref(header), data) == 0
    data[0].effective &= ~_DAC_BITS
    assert libc.capset(ctypes.byref(header), data) == 0


async def test_unreadable_pack_folders_keep_their_rows(
    service: SyncService, pool: asyncpg.Pool, packs: Path, settings: Settings
) -> None:
    """chmod 000 on a pack's folders. As root, modes do not stop reads, so the
    scan threads drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (like a non-root
    daemon); the CLI's validate runs under setpriv. An unreadable folder is a
    pack in error with a located diagnostic, never a removed pack: rows stay."""
    make_core_pack(packs)
    for ref in ("alpha", "beta", "gamma"):
        make_pack(packs, ref, {"a.yaml": workflow_yaml(ref), "b.yaml": workflow_yaml(ref)})
    report = await service.sync_all(trigger="cli")
    assert report.totals["created"] == 6
    before = await _labels(pool)
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=2, initializer=_drop_dac_in_this_thread)
    loop.set_default_executor(executor)
    locked = [packs / "alpha" / "workflows", packs / "beta"]
    for folder in locked:
        folder.chmod(0)
    try:
        with pytest.raises(PermissionError):
            await asyncio.to_thread(os.listdir, packs / "beta")
        report = await service.sync_all(trigger="cli")
        by_pack = {p.pack_ref: p for p in report.packs}
        for ref in ("alpha", "beta"):
            assert by_pack[ref].outcome == "pack-error", by_pack[ref]
            codes = [d.code for d in by_pack[ref].diagnostics]
            assert "unreadable-folder" in codes and "internal-error" not in codes, codes
        assert by_pack["gamma"].outcome == "ok"
        single = await service.sync_pack("alpha", trigger="watch")
        assert single.outcome == "pack-error" and single.deleted == 0
        assert await _labels(pool) == before
        async with pool.acquire() as conn:
            errors = await conn.fetch("SELECT pack_ref, file_path FROM workflow_sync_error")
        assert {r["pack_ref"] for r in errors} == {"alpha", "beta"}
        if shutil.which("setpriv"):
            proc = _packsync("validate", env=_db_env(settings), prefix=_NO_DAC)
            assert proc.returncode == 1 and "unreadable-folder" in proc.stdout, proc.stdout
            assert "Traceback" not in proc.stderr
    finally:
        for folder in locked:
            folder.chmod(0o755)
        loop.set_default_executor(ThreadPoolExecutor())  # the loop may outlive this test
        executor.shutdown(wait=False)
    again = await service.sync_all(trigger="cli")
    assert again.outcome == "ok" and await _labels(pool) == before


# ------------------------------------------------------ thousands of files
async def test_a_pack_with_thousands_of_files(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    """Airflow stalls above ~1k files (#41806): 2,000 workflows in one pack sync
    in one transaction, a re-sync writes nothing, one edit writes one row.
    (Bounds catch hangs only; speed is in tests/bench/.)"""
    n = 2000
    make_core_pack(packs)
    make_pack(packs, "big", {f"w{i:04d}.yaml": workflow_yaml(f"W{i}") for i in range(n)})
    start = time.monotonic()
    result = await service.sync_pack("big", trigger="cli")
    assert time.monotonic() - start < 120
    assert result.outcome == "ok" and result.created == n
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM workflow_definition") == n
        xmins = await conn.fetch("SELECT ref, xmin::text FROM workflow_definition ORDER BY ref")
    again = await service.sync_pack("big", trigger="cli")
    assert again.unchanged == n and not again.changed
    (packs / "big" / "workflows" / "w1234.yaml").write_text(workflow_yaml("Edited"))
    edited = await service.sync_pack("big", trigger="cli")
    assert (edited.updated, edited.unchanged, edited.created) == (1, n - 1, 0)
    async with pool.acquire() as conn:
        now = await conn.fetch("SELECT ref, xmin::text FROM workflow_definition ORDER BY ref")
    changed = [a["ref"] for a, b in zip(xmins, now, strict=True) if a["xmin"] != b["xmin"]]
    assert changed == ["big.w1234"]


# ------------------------------------------------------ StackStorm: exit 0 after errors
def test_cli_sync_with_a_broken_file_exits_1_and_registers_the_rest(settings: Settings) -> None:
    """st2ctl reload used to exit 0 after errors: CI would pass with a broken pack."""
    packs = settings.packs_base_dir
    make_core_pack(packs)
    make_pack(packs, "alpha", {"ok.yaml": workflow_yaml("Ok"), "bad.yaml": "version: '1'\n"})
    proc = _packsync("sync", "--format", "json", env=_db_env(settings))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    alpha = next(p for p in report["packs"] if p["pack_ref"] == "alpha")
    assert (alpha["outcome"], alpha["created"], alpha["failed"]) == ("errors", 1, 1)
    bad = next(w for w in alpha["workflows"] if w["ref"] == "alpha.bad")
    assert bad["change"] == "failed" and bad["errors"][0]["code"] == "required"
    assert bad["errors"][0]["file"].endswith("workflows/bad.yaml") and bad["errors"][0]["line"] == 1


# ------------------------------------------------------ PyYAML C loader
def test_the_libyaml_loader_is_used() -> None:
    """CSafeLoader parses ~8x faster than the pure one: use it when present
    (the PyYAML wheels ship libyaml)."""
    import yaml

    from packsync.pipeline import yamlsafe

    assert yaml.__with_libyaml__
    assert yamlsafe._Loader is yaml.CSafeLoader


# ------------------------------------------------------ ConfigMap: mtimes do not change
async def test_a_change_that_keeps_the_mtime_is_still_seen(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    """A ConfigMap update keeps file mtimes: change detection must be by content
    hash, never by mtime or size."""
    make_core_pack(packs)
    path = make_pack(packs, "alpha", {"one.yaml": workflow_yaml("AAAA")}) / "workflows" / "one.yaml"
    await service.sync_all(trigger="startup")
    st = path.stat()
    path.write_text(workflow_yaml("BBBB"))  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size
    report = await service.sync_all(trigger="reconcile")
    assert report.totals["updated"] == 1
    assert await _labels(pool) == {"alpha.one": "BBBB"}


# ------------------------------------------------------ native sidecar readiness
def test_the_sidecar_manifest_keeps_the_database_out_of_pod_readiness() -> None:
    """A native sidecar's readiness decides the Pod's: probing the database
    there takes the application out of its Service on every PostgreSQL blip."""
    import yaml

    manifest = REPO / "deploy/kubernetes/packsync-sidecar.yaml"
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    containers = [
        c
        for d in docs
        for c in (d.get("spec", {}).get("template", {}).get("spec", {}).get("initContainers") or [])
        if "packsync" in c.get("name", "")
    ]
    assert containers, "the packsync native sidecar (an initContainer) is in the manifest"
    sidecar = containers[0]
    assert sidecar.get("restartPolicy") == "Always"  # a native sidecar
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert sidecar[probe]["httpGet"]["path"] == "/healthz", probe


# ------------------------------------------------------ hostile file names
async def test_hostile_file_names_are_located_errors(
    service: SyncService, pool: asyncpg.Pool, packs: Path, settings: Settings
) -> None:
    """A non-UTF-8 file name crashed `validate` with a traceback and turned the
    whole pack into an internal error; a newline in a name forged output lines;
    a symlink loop. Each is now one located error and the rest of the pack syncs."""
    make_core_pack(packs)
    root = make_pack(packs, "alpha", {"ok.yaml": workflow_yaml("Ok")})
    wf = os.fsencode(root / "workflows")
    for raw in (b"bad\xff.yaml", b"new\nline.yaml", b"tab\there.yaml"):
        with open(wf + b"/" + raw, "w") as fh:
            fh.write(workflow_yaml("Hostile"))
    os.symlink("loop2.yaml", root / "workflows" / "loop1.yaml")
    os.symlink("loop1.yaml", root / "workflows" / "loop2.yaml")
    os.mkdir(os.fsencode(packs) + b"/bad\xffpack")

    report = await service.sync_all(trigger="cli")
    alpha = next(p for p in report.packs if p.pack_ref == "alpha")
    codes = sorted(d.code for d in alpha.diagnostics)
    assert codes == ["bad-file-name"] * 3 + ["unreadable-file"] * 2, codes
    assert alpha.outcome == "errors" and alpha.created == 1
    assert "pack-ref-format" in {d.code for d in report.diagnostics}
    assert await _labels(pool) == {"alpha.ok": "Ok"}
    async with pool.acquire() as conn:
        paths = {r[0] for r in await conn.fetch("SELECT file_path FROM workflow_sync_error")}
    assert "workflows/bad\\xff.yaml" in paths and "workflows/new\\x0aline.yaml" in paths

    for args in (("validate",), ("validate", "--format", "json"), ("sync",)):
        proc = _packsync(*args, env=_db_env(settings))
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr and "internal-error" not in proc.stdout, args
        if args == ("validate",):
            for line in proc.stdout.splitlines():  # no forged lines
                assert line.startswith(str(packs)), line
            assert "bad\\xff.yaml" in proc.stdout and "new\\x0aline.yaml" in proc.stdout

    for raw in (b"bad\xff.yaml", b"new\nline.yaml"):  # named on the command line
        proc = subprocess.run(
            [sys.executable, "-m", "packsync", "validate", os.fsdecode(wf + b"/" + raw)],
            capture_output=True,
            timeout=120,
            env={**os.environ, **_db_env(settings)},
            check=False,
        )
        assert proc.returncode == 1, proc
        assert b"bad-file-name" in proc.stdout and b"Traceback" not in proc.stderr

    for raw in (b"bad\xff.yaml", b"new\nline.yaml", b"tab\there.yaml"):
        os.unlink(wf + b"/" + raw)
    fixed = await service.sync_pack("alpha", trigger="cli")
    assert sorted(d.code for d in fixed.diagnostics) == ["unreadable-file"] * 2
    async with pool.acquire() as conn:
        paths = {r[0] for r in await conn.fetch("SELECT file_path FROM workflow_sync_error")}
    assert paths == {"workflows/loop1.yaml", "workflows/loop2.yaml"}


# ------------------------------------------------------ a pack locked elsewhere
async def test_a_sweep_skips_a_pack_locked_elsewhere(
    pool: asyncpg.Pool, packs: Path, settings: Settings, pg_url: str
) -> None:
    """A sweep must not hang behind one pack another process keeps locked: that
    pack is reported `pack-busy` after pack_lock_timeout_seconds, the others sync;
    a single-pack sync raises LockNotAvailableError for its caller to retry."""
    service = SyncService(settings.model_copy(update={"pack_lock_timeout_seconds": 0.3}), pool)
    make_core_pack(packs)
    make_pack(packs, "alpha", {"one.yaml": workflow_yaml("One")})
    make_pack(packs, "beta", {"b.yaml": workflow_yaml("B")})
    admin = await asyncpg.connect(pg_url)
    try:
        blocker = admin.transaction()
        await blocker.start()
        await admin.execute(queries.PACK_XACT_LOCK, settings.db_schema, "alpha")
        report = await asyncio.wait_for(service.sync_all(trigger="cli"), 30)
        by_pack = {p.pack_ref: p for p in report.packs}
        assert by_pack["alpha"].outcome == "pack-error"
        assert [d.code for d in by_pack["alpha"].diagnostics] == ["pack-busy"]
        assert by_pack["beta"].outcome == "ok" and by_pack["beta"].created == 1
        with pytest.raises(asyncpg.LockNotAvailableError):
            await asyncio.wait_for(service.sync_pack("alpha", trigger="watch"), 30)
        await blocker.rollback()
    finally:
        await admin.close()
    assert await _labels(pool) == {"beta.b": "B"}
    again = await service.sync_all(trigger="cli")
    assert again.outcome == "ok" and await _labels(pool) == {"alpha.one": "One", "beta.b": "B"}
