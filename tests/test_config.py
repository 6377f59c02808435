"""Settings precedence: defaults < YAML file < ATTUNE__ env < CLI flags."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from packsync.cli.main import main
from packsync.config import ConfigError, load_settings
from packsync.core.secrets import mask_url
from packsync.logs import configure_logging, get_logger


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("ATTUNE__"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    s = load_settings()
    assert s.packs_base_dir == Path("/opt/attune/packs")
    assert s.database_url is None
    assert (s.db_schema, s.http.host, s.http.port, s.sync_group) == (
        "attune",
        "127.0.0.1",
        9477,
        "default",
    )
    assert (s.debounce_seconds, s.debounce_max_wait_seconds) == (0.5, 5.0)
    assert s.max_file_size == 1024 * 1024 and s.max_delete_fraction == 0.5


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("packs_base_dir: /from/file\nsync_group: filegroup\nhttp:\n  port: 1111\n")
    monkeypatch.setenv("ATTUNE__SYNC_GROUP", "envgroup")
    monkeypatch.setenv("ATTUNE__HTTP__HOST", "0.0.0.0")
    s = load_settings(cfg, packs_base_dir=Path("/from/cli"))
    assert s.packs_base_dir == Path("/from/cli")  # flag beats file
    assert s.sync_group == "envgroup"  # env beats file
    assert s.http.port == 1111 and s.http.host == "0.0.0.0"  # nested, merged


def test_config_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("db_schema: other\n")
    monkeypatch.setenv("ATTUNE__CONFIG_FILE", str(cfg))
    assert load_settings().db_schema == "other"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- a\n- b\n", "must be a mapping"),
        ("a: [\n", "not valid YAML"),
        ("db_schema: 'Robert; DROP TABLE'\n", "db_schema"),
        ("max_file_size: -1\n", "max_file_size"),
        ("watcher: magic\n", "watcher"),
    ],
)
def test_bad_config_is_a_config_error(tmp_path: Path, text: str, fragment: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_settings(cfg)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "nope.yaml")


def test_cli_config_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("max_delete_fraction: 7\n")
    assert main(["validate", "--config", str(cfg)]) == 2
    assert "max_delete_fraction" in capsys.readouterr().err


def test_cli_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sync", "--no-such-flag"])
    assert exc.value.code == 2


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE__DATABASE_URL", "postgresql://attune:hunter2@db:5432/attune")
    monkeypatch.setenv("ATTUNE__API_TOKEN", "tok-s3cret")
    s = load_settings()
    assert "hunter2" not in repr(s) and "tok-s3cret" not in repr(s)
    assert s.database_url is not None and "hunter2" in s.database_url.get_secret_value()
    assert mask_url(s.database_url.get_secret_value()) == "postgresql://attune:***@db:5432/attune"


def test_logs_scrub_secrets() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    log = get_logger("test")
    log.info("connecting", url="postgresql://u:hunter2@h/db", api_token="tok-s3cret")
    logging.getLogger("asyncpg").warning("retry postgresql://u:hunter2@h/db")
    out = stream.getvalue()
    assert "hunter2" not in out and "tok-s3cret" not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["url"] == "postgresql://u:***@h/db"
    assert lines[0]["api_token"] == "***"
    assert lines[1]["logger"] == "asyncpg" and "***@h/db" in lines[1]["event"]


def test_unknown_env_variable_is_refused_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ATTUNE__DEBOUNCE_SECOND", "1")
    with pytest.raises(ConfigError, match=r"ATTUNE__DEBOUNCE_SECOND.*'ATTUNE__DEBOUNCE_SECONDS'"):
        load_settings()


def test_nested_env_names_are_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE__HTTP__PORT", "9999")
    assert load_settings().http.port == 9999
    monkeypatch.setenv("ATTUNE__HTTP__PROT", "1")
    with pytest.raises(ConfigError, match="did you mean 'ATTUNE__HTTP__PORT'"):
        load_settings()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("debounce_secnds: 1\n", "unknown key 'debounce_secnds'.*did you mean 'debounce_seconds'"),
        ("http:\n  prot: 1\n", "unknown key 'http.prot'.*did you mean 'port'"),
    ],
)
def test_unknown_config_key_is_refused(tmp_path: Path, text: str, fragment: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_settings(cfg)


def test_bad_value_names_the_variable_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE__DEBOUNCE_SECONDS", "abc")
    with pytest.raises(ConfigError, match=r"ATTUNE__DEBOUNCE_SECONDS='abc': .*number"):
        load_settings()


def test_bad_value_in_file_names_the_key_and_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("http:\n  port: 70000\n")
    with pytest.raises(ConfigError, match=rf"http\.port in config file {cfg}=70000"):
        load_settings(cfg)


@pytest.mark.parametrize(
    "url",
    ["mysql://root:hunter2@db/attune", "http://[bad:hunter2@x/", "hunter2"],
)
def test_non_postgres_url_is_a_masked_config_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    monkeypatch.setenv("ATTUNE__DATABASE_URL", url)
    assert main(["count", "demo"]) == 2
    err = capsys.readouterr().err
    assert "ATTUNE__DATABASE_URL" in err and "not a PostgreSQL URL" in err
    assert "hunter2" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_reports_unknown_env_variable_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATTUNE__DEBOUNCE_SECOND", "1")
    assert main(["validate"]) == 2
    assert "did you mean 'ATTUNE__DEBOUNCE_SECONDS'" in capsys.readouterr().err
