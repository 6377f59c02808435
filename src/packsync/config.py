"""Settings: defaults < YAML config file < environment (`ATTUNE__*`) < CLI flags.

Secrets are `SecretStr`, so they print as `**********` wherever a settings
object or a field ends up in a log line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "ATTUNE__"
CONFIG_FILE_ENV = "ATTUNE__CONFIG_FILE"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ConfigError(Exception):
    """Invalid configuration: the CLI maps it to exit code 2."""


def default_state_dir() -> Path:
    """XDG data dir, where the embedded PostgreSQL keeps its files."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "packsync"


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=9477, ge=0, le=65535)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    packs_base_dir: Path = Path("/opt/attune/packs")
    database_url: SecretStr | None = None
    db_schema: str = "attune"
    state_dir: Path = Field(default_factory=default_state_dir)
    skip_validation_errors: bool = True
    update_existing: bool = True
    max_file_size: int = Field(default=1024 * 1024, gt=0)
    debounce_seconds: float = Field(default=0.5, ge=0)
    debounce_max_wait_seconds: float = Field(default=5.0, ge=0)
    reconcile_interval_seconds: float = Field(default=300.0, gt=0)
    watcher: Literal["auto", "inotify", "polling"] = "auto"
    polling_interval_seconds: float = Field(default=2.0, gt=0)
    max_delete_fraction: float = Field(default=0.5, ge=0, le=1)
    mass_delete_grace_seconds: float = Field(default=600.0, ge=0)
    sync_run_history: int = Field(default=10_000, ge=1)
    # How long a pack sync waits for the pack's lock held by another process
    # before that pack is reported busy (a sweep then moves on to the next pack).
    pack_lock_timeout_seconds: float = Field(default=30.0, gt=0)
    http: HttpSettings = Field(default_factory=HttpSettings)
    api_token: SecretStr | None = None
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    sync_group: str = Field(default="default", min_length=1, max_length=200)
    # A leader that cannot renew its lease for this long (frozen, cut off) loses
    # leadership: a standby ends its session and takes over; its writes are fenced.
    leader_lease_seconds: float = Field(default=10.0, ge=1.0, le=600.0)

    @field_validator("db_schema")
    @classmethod
    def _schema_is_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError("db_schema must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init (CLI flags) > env > YAML file; no .env or secrets dir lookups.
        return (init_settings, env_settings, _YamlFileSource(settings_cls))


class _YamlFileSource(PydanticBaseSettingsSource):
    """The optional YAML config file named by `--config` or ATTUNE__CONFIG_FILE."""

    path: Path | None = None  # set by load_settings for --config

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ is overridden

    def __call__(self) -> dict[str, Any]:
        raw = _YamlFileSource.path or os.environ.get(CONFIG_FILE_ENV)
        if not raw:
            return {}
        path = Path(raw)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must be a mapping of settings")
        return data


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; `overrides` are CLI flags (None means "not given")."""
    from pydantic import ValidationError

    _YamlFileSource.path = config_file
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    finally:
        _YamlFileSource.path = None


def mask_url(url: str) -> str:
    """postgresql://user:secret@host/db → postgresql://user:***@host/db."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
