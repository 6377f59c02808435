"""Settings: defaults < YAML config file < environment (`ATTUNE__*`) < CLI flags.

Secrets are `SecretStr`, so they print as `**********` wherever a settings
object or a field ends up in a log line. Under systemd they may also come as
credentials (`LoadCredential=database_url:…`): a file named after the setting
in `$CREDENTIALS_DIRECTORY`, used when no other source sets it.
"""

from __future__ import annotations

import contextvars
import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from packsync.core.identifiers import is_identifier
from packsync.core.secrets import mask_url

ENV_PREFIX = "ATTUNE__"
CONFIG_FILE_ENV = "ATTUNE__CONFIG_FILE"
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
# Settings that may be given as systemd credentials (files in $CREDENTIALS_DIRECTORY).
CREDENTIAL_SETTINGS = ("database_url", "api_token")


class ConfigError(Exception):
    """Invalid configuration: the CLI maps it to exit code 2."""


def default_state_dir() -> Path:
    """XDG data dir, where the embedded PostgreSQL keeps its files."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "packsync"


class HttpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=9477, ge=0, le=65535)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    packs_base_dir: Path = Path("/opt/attune/packs")
    database_url: SecretStr | None = None
    db_schema: str = "attune"
    # packsync's own state (ownership, content hashes, errors, history).
    state_schema: str = "packsync"
    # A pack folder with no Attune pack row: create the row (true) or wait with
    # a `pack-not-registered` diagnostic until Attune registers the pack (false).
    create_packs: bool = True
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
    # Versions of each workflow ref kept in `workflow_version` (0: all).
    history_keep: int = Field(default=20, ge=0)
    # How long a pack sync waits for the pack's lock held by another process
    # before that pack is reported busy (a sweep then moves on to the next pack).
    pack_lock_timeout_seconds: float = Field(default=30.0, gt=0)
    # A silent connection: each statement waits at most this long; an
    # unanswered statement's connection is abandoned within about twice this.
    db_command_timeout_seconds: float = Field(default=10.0, gt=0)
    # TCP keepalive idle time on both ends of every connection (0: off).
    db_keepalive_seconds: float = Field(default=10.0, ge=0)
    # One pack's whole transaction (lock, read, parse, write); must exceed the
    # sync time of the largest pack.
    pack_sync_timeout_seconds: float = Field(default=300.0, gt=0)
    # Longest pause between retries of a sync that failed transiently.
    retry_backoff_max_seconds: float = Field(default=5.0, gt=0)
    http: HttpSettings = Field(default_factory=HttpSettings)
    api_token: SecretStr | None = None
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    sync_group: str = Field(default="default", min_length=1, max_length=200)
    # A leader that cannot renew its lease for this long (frozen, cut off) loses
    # leadership: a standby ends its session and takes over; its writes are fenced.
    leader_lease_seconds: float = Field(default=10.0, ge=1.0, le=600.0)

    @field_validator("db_schema", "state_schema")
    @classmethod
    def _schema_is_identifier(cls, value: str) -> str:
        if not is_identifier(value):
            raise ValueError("must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            scheme = urlsplit(value.get_secret_value()).scheme
        except ValueError:
            scheme = ""
        if scheme not in _PG_SCHEMES:
            raise ValueError(
                "not a PostgreSQL URL: expected postgresql://user:password@host:5432/dbname"
            )
        return value

    @model_validator(mode="after")
    def _schemas_differ(self) -> Settings:
        if self.state_schema == self.db_schema:
            raise ValueError(
                f"state_schema must differ from db_schema ({self.db_schema!r}): packsync "
                "keeps its own tables apart from Attune's"
            )
        return self

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
        # init (CLI flags) > env > YAML file > systemd credentials; no .env lookups.
        return (
            init_settings,
            env_settings,
            *_config_file_sources(settings_cls),
            _CredentialsSource(settings_cls),
        )


_PG_SCHEMES = ("postgresql", "postgres")
_SECRETS = ("database_url", "api_token")
_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "packsync_config_file", default=None
)


def _config_file_sources(settings_cls: type[BaseSettings]) -> list[PydanticBaseSettingsSource]:
    """pydantic-settings' own YAML source for the file named by --config or the env."""
    path = config_file_path()
    if path is None:
        return []
    if not path.is_file():
        raise ConfigError(f"cannot read config file {path}: no such file")
    try:
        source = YamlConfigSettingsSource(settings_cls, yaml_file=path, yaml_file_encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    except ValueError:  # the source refuses a document that is not a mapping
        raise ConfigError(f"config file {path} must be a mapping of settings") from None
    data = source.yaml_data
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of settings")
    _refuse_unknown_keys(data, path)
    return [source]


def config_file_path() -> Path | None:
    raw = _config_file.get() or os.environ.get(CONFIG_FILE_ENV)
    return Path(raw) if raw else None


def _names(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """Each field of a settings model, with its nested model when it has one."""
    out: dict[str, type[BaseModel] | None] = {}
    for name, info in model.model_fields.items():
        ann = info.annotation
        out[name] = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return out


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _refuse_unknown_keys(data: Mapping[str, Any], path: Path) -> None:
    def walk(node: Mapping[str, Any], model: type[BaseModel], prefix: str) -> None:
        fields = _names(model)
        for key, value in node.items():
            if key not in fields:
                raise ConfigError(
                    f"unknown key {prefix + str(key)!r} in config file {path}"
                    + _suggest(str(key), fields)
                )
            nested = fields[key]
            if nested is not None and isinstance(value, Mapping):
                walk(value, nested, f"{prefix}{key}.")

    walk(data, Settings, "")


def known_env_names() -> list[str]:
    """Every ATTUNE__* variable packsync reads."""
    names = [CONFIG_FILE_ENV]
    for name, nested in _names(Settings).items():
        names.append(f"{ENV_PREFIX}{name.upper()}")
        if nested is not None:
            names += [f"{ENV_PREFIX}{name.upper()}__{sub.upper()}" for sub in _names(nested)]
    return names


def _refuse_unknown_env(environ: Mapping[str, str]) -> None:
    known = known_env_names()
    for key in sorted(environ):
        if key.upper().startswith(ENV_PREFIX) and key.upper() not in known:
            raise ConfigError(
                f"unknown environment variable {key}"
                + _suggest(key.upper(), known)
                + "; unset it or fix its name"
            )


def _env_name(loc: tuple[Any, ...]) -> str | None:
    wanted = ENV_PREFIX + "__".join(str(p).upper() for p in loc)
    return next((k for k in os.environ if k.upper() == wanted), None)


def _shown(loc: tuple[Any, ...], value: Any) -> str:
    if loc and loc[0] in _SECRETS:
        if loc[0] == "database_url" and isinstance(value, str) and "://" in value:
            return repr(mask_url(value))
        return "'***'"
    return repr(value)


def _where(loc: tuple[Any, ...], overrides: Mapping[str, Any]) -> str:
    dotted = ".".join(str(p) for p in loc) or "settings"
    if loc and loc[0] in overrides:
        return f"command-line option for {dotted}"
    env = _env_name(loc)
    if env is not None:
        return env
    path = config_file_path()
    if path is not None:
        return f"{dotted} in config file {path}"
    return dotted


def _explain(exc: ValidationError, overrides: Mapping[str, Any]) -> str:
    problems = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            problems.append(f"unknown setting {'.'.join(map(str, loc))!r}")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        problems.append(f"{_where(loc, overrides)}={_shown(loc, e.get('input'))}: {msg}")
    return "invalid configuration: " + "; ".join(problems)


class _CredentialsSource(PydanticBaseSettingsSource):
    """Secrets handed over by systemd's `LoadCredential=` (systemd.exec(5))."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ is overridden

    def __call__(self) -> dict[str, Any]:
        folder = os.environ.get(CREDENTIALS_ENV)
        if not folder:
            return {}
        found: dict[str, Any] = {}
        for name in CREDENTIAL_SETTINGS:
            path = Path(folder) / name
            try:
                value = path.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ConfigError(f"cannot read credential {path}: {exc.strerror}") from exc
            if value:  # an empty file (SetCredential= fallback) means "not set"
                found[name] = value
        return found


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; `overrides` are CLI flags (None means "not given")."""
    given = {k: v for k, v in overrides.items() if v is not None}
    _refuse_unknown_env(os.environ)
    token = _config_file.set(config_file)
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, given)) from None
    finally:
        _config_file.reset(token)
