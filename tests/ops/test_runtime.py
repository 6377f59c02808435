"""What operators depend on at run time: systemd credentials for secrets,
journald priorities on log lines, and the refused-mass-delete gauge."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from packsync.config import Settings, load_settings
from packsync.logs import configure_logging, get_logger, is_journal_stream
from tests.support.daemon import InProcess, fast_settings, until, workflows
from tests.support.packfactory import make_pack, workflow_yaml

# -- systemd credentials ------------------------------------------------------


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "creds"
    folder.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(folder))
    for name in ("ATTUNE__DATABASE_URL", "ATTUNE__API_TOKEN", "ATTUNE__CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    return folder


def test_database_url_from_systemd_credential(credentials: Path) -> None:
    (credentials / "database_url").write_text("postgresql://u:s3cret@db/attune\n")
    (credentials / "api_token").write_text("tok")
    settings = load_settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql://u:s3cret@db/attune"
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "tok"
    assert "s3cret" not in repr(settings)


def test_environment_wins_over_credential(
    credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (credentials / "database_url").write_text("postgresql://from-credential/db")
    monkeypatch.setenv("ATTUNE__DATABASE_URL", "postgresql://from-env/db")
    settings = load_settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql://from-env/db"


def test_no_credential_file_leaves_the_embedded_default(credentials: Path) -> None:
    assert load_settings().database_url is None


# -- journald priorities --------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_three(stream: io.TextIOBase) -> list[str]:
    configure_logging("debug", "json", stream=stream)  # type: ignore[arg-type]
    log = get_logger("packsync.test")
    log.debug("d")
    log.warning("careful", pack="alpha")
    logging.getLogger("asyncpg").error("stdlib error")
    stream.flush()
    stream.seek(0)
    return stream.read().splitlines()


def test_journal_stream_lines_carry_syslog_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    with (tmp_path / "journal").open("w+", encoding="utf-8") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert is_journal_stream(stream)
        lines = _log_three(stream)
    assert [line[:3] for line in lines] == ["<7>", "<4>", "<3>"]
    event = json.loads(lines[1][3:])
    assert event["event"] == "careful" and event["level"] == "warning"


def test_other_streams_get_no_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    """JOURNAL_STREAM inherited by a child whose stderr is something else
    (a pipe, a file): no prefix, the lines stay plain JSON."""
    with (tmp_path / "other").open("w+", encoding="utf-8") as stream:
        monkeypatch.setenv("JOURNAL_STREAM", "1:2")
        assert not is_journal_stream(stream)
        lines = _log_three(stream)
    assert len(lines) == 3 and all(json.loads(line) for line in lines)


# -- packsync_mass_delete_refused -----------------------------------------------


async def test_refused_mass_delete_sets_gauge_and_status(settings: Settings, pg_url: str) -> None:
    base = settings.packs_base_dir
    for ref in ("alpha", "beta", "gamma"):
        make_pack(base, ref, {"a.yaml": workflow_yaml(ref)})
    s = fast_settings(settings, mass_delete_grace_seconds=3600.0)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        gauge = daemon.metrics.mass_delete_refused
        assert gauge._value.get() == 0
        moved = base.parent / "moved"
        moved.mkdir()
        for ref in ("alpha", "beta", "gamma"):
            shutil.move(base / ref, moved / ref)
        daemon.request_reconcile("signal")
        await until(lambda: gauge._value.get() == 1, what="gauge set by the refusal")
        async with httpx.AsyncClient(timeout=5) as client:
            port = daemon.state.http_port
            status = (await client.get(f"http://127.0.0.1:{port}/status")).json()
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        assert status["deletion_refused"]["packs"] == ["alpha", "beta", "gamma"]
        assert "packsync_mass_delete_refused 1.0" in text
        assert set(await workflows(pg_url, s.db_schema)) == {"alpha.a", "beta.a", "gamma.a"}

        for ref in ("alpha", "beta", "gamma"):  # the packs come back: nothing pending
            shutil.move(moved / ref, base / ref)
        daemon.request_reconcile("signal")
        await until(lambda: gauge._value.get() == 0, what="gauge cleared")
        assert daemon.state.status()["deletion_refused"] is None


async def test_mass_delete_confirmed_by_the_cli_clears_the_gauge(
    settings: Settings, pg_url: str
) -> None:
    """`packsync sync --allow-mass-delete` in another process deletes the packs:
    the daemon's next sweep no longer sees them, and the gauge drops to 0."""
    from packsync.db.connection import create_pool
    from packsync.sync.service import SyncService

    base = settings.packs_base_dir
    for ref in ("alpha", "beta", "gamma"):
        make_pack(base, ref, {"a.yaml": workflow_yaml(ref)})
    s = fast_settings(settings, mass_delete_grace_seconds=3600.0)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        gauge = daemon.metrics.mass_delete_refused
        for ref in ("alpha", "beta", "gamma"):
            shutil.rmtree(base / ref)
        daemon.request_reconcile("signal")
        await until(lambda: gauge._value.get() == 1, what="gauge set by the refusal")

        pool = await create_pool(s)
        try:
            report = await SyncService(s, pool).sync_all(trigger="cli", allow_mass_delete=True)
        finally:
            await pool.close()
        assert report.totals["deleted"] == 3
        daemon.request_reconcile("signal")
        await until(lambda: gauge._value.get() == 0, what="gauge cleared by the next sweep")
        assert await workflows(pg_url, s.db_schema) == {}


def test_process_collector_is_registered() -> None:
    from packsync.metrics import Metrics

    text = Metrics("1.2.3").render().decode()
    assert "packsync_mass_delete_refused 0.0" in text
    if Path("/proc/self/stat").exists():
        assert "process_resident_memory_bytes" in text
        assert "process_start_time_seconds" in text
