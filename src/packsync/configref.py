"""The configuration reference (docs/configuration.md), generated from `Settings`.

Names, environment variables, types, defaults and bounds come from the model;
the one-line meaning comes from the field's `description` or, failing that,
from `MEANINGS` below. `python -m packsync.configref > docs/configuration.md`
regenerates the page; a test fails when it and the model disagree.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from packsync.config import CREDENTIAL_SETTINGS, ENV_PREFIX, Settings

MEANINGS: dict[str, str] = {
    "db_command_timeout_seconds": "longest wait for one statement; a silent (half-open) "
    "connection is abandoned within about twice this",
    "db_keepalive_seconds": "TCP keepalive idle time on both ends of every connection "
    "(0: off, e.g. behind PgBouncer)",
    "pack_sync_timeout_seconds": "one pack's whole sync (lock, read, parse, write) at most; "
    "set above your largest pack's sync time",
    "retry_backoff_max_seconds": "longest pause between the daemon's retries after a transient "
    "database failure (outage, read-only failover)",
    "leader_lease_seconds": "a leader that cannot renew its lease this long (frozen, cut off) "
    "loses the group; a standby takes over and the old leader's writes are refused",
    "packs_base_dir": "the packs directory (`--packs-base-dir`); a missing one deletes nothing",
    "database_url": "PostgreSQL URL, never logged; unset → embedded PostgreSQL in `state_dir`",
    "db_schema": "schema of Attune's tables (`pack`, `action`, `workflow_definition`)",
    "state_schema": "schema of packsync's own state (ownership, errors, sync runs, migrations)",
    "create_packs": "`true`: a pack folder without a `pack` row gets one from its pack.yaml; "
    "`false`: it waits with a `pack-not-registered` diagnostic",
    "state_dir": "where the embedded PostgreSQL keeps its data",
    "skip_validation_errors": "`false`: one invalid file fails its whole pack",
    "update_existing": "`false`: registered workflows are never updated, only created",
    "max_file_size": "bytes; larger files are refused with an error",
    "debounce_seconds": "quiet time before a changed pack is synced",
    "debounce_max_wait_seconds": "a busy pack is synced at the latest this long after its "
    "first event",
    "reconcile_interval_seconds": "full rescan period of the daemon",
    "watcher": "`auto` falls back to polling when inotify is unavailable or over its limits",
    "polling_interval_seconds": "stat interval of the polling watcher",
    "max_delete_fraction": "a sweep deleting more than this share of the group's packs "
    "is refused (`packsync_mass_delete_refused`)",
    "mass_delete_grace_seconds": "the daemon goes ahead once a refused mass delete has "
    "persisted this long",
    "sync_run_history": "`sync_run` rows kept",
    "history_keep": "versions of each workflow kept in `workflow_version` (`packsync history`); "
    "the oldest are pruned, 0 keeps all",
    "pack_lock_timeout_seconds": "how long a pack sync waits for a pack locked by another "
    "process; a sweep then skips it (`pack-busy`) and the daemon retries it",
    "http.host": "HTTP bind address of probes, metrics and API (`run --host`)",
    "http.port": "HTTP port (`run --port`; 0 = any free port, logged)",
    "api_token": "bearer token for `/api/v1`, never logged; unset → the API is closed",
    "log_format": "`auto`: console on a TTY, JSON otherwise",
    "log_level": "lines below this level are dropped",
    "sync_group": "leader election and pack ownership group: hosts feeding one database "
    "each own the packs of their group",
}

# Defaults computed at run time, shown as what they mean rather than this host's value.
DEFAULT_TEXT = {"state_dir": "`$XDG_DATA_HOME/packsync` (`~/.local/share/packsync`)"}

HEADER = f"""\
# Configuration reference

<!-- Generated from packsync.config.Settings by
     `python -m packsync.configref > docs/configuration.md`; do not edit by hand. -->

Sources, lowest to highest priority:

1. defaults (below);
2. systemd credentials: a file named after the setting in
   `$CREDENTIALS_DIRECTORY` ({", ".join(f"`{n}`" for n in CREDENTIAL_SETTINGS)}; see
   `systemd/packsync.service`, `LoadCredential=`); an empty file counts as unset;
3. a YAML config file: `--config FILE` or `{ENV_PREFIX}CONFIG_FILE`;
4. environment variables `{ENV_PREFIX}<NAME>`, nested with `__`
   (`{ENV_PREFIX}HTTP__PORT`);
5. command-line flags.

Secrets print as `**********` in logs and errors.

| setting | environment | type | default | meaning |
|---|---|---|---|---|
"""

FOOTER = """
Example config file:

```yaml
packs_base_dir: /opt/attune/packs
database_url: postgresql://attune:secret@db/attune
http:
  host: 0.0.0.0
  port: 9477
sync_group: edge-hosts
```
"""


def settings_fields(
    model: type[BaseModel] = Settings, prefix: str = ""
) -> Iterator[tuple[str, FieldInfo]]:
    """(dotted name, field) of every leaf setting, nested models flattened."""
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            yield from settings_fields(sub, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def meaning(name: str, field: FieldInfo) -> str | None:
    return field.description or MEANINGS.get(name)


def _type_text(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        parts = [_type_text(a) for a in get_args(annotation) if a is not type(None)]
        return " \\| ".join(parts)
    if annotation is SecretStr:
        return "secret"
    if annotation is Path:
        return "path"
    names = {bool: "bool", int: "int", float: "number", str: "string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(field: FieldInfo) -> str:
    """Constraints from the field's annotated-types metadata (Gt, Ge, Le, MinLen...)."""
    signs = (
        ("gt", ">"),
        ("ge", "≥"),
        ("lt", "<"),
        ("le", "≤"),
        ("min_length", "length ≥"),
        ("max_length", "length ≤"),
    )
    out = []
    for meta in field.metadata:
        for attr, sign in signs:
            value = getattr(meta, attr, None)
            if isinstance(value, int | float):
                out.append(f"{sign} {value}")
    return f" ({', '.join(out)})" if out else ""


def _default_text(name: str, field: FieldInfo) -> str:
    if name in DEFAULT_TEXT:
        return DEFAULT_TEXT[name]
    if field.default_factory is not None:
        return "(computed)"
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def render() -> str:
    rows = []
    for name, field in settings_fields():
        env = ENV_PREFIX + name.replace(".", "__").upper()
        kind = _type_text(field.annotation) + _bounds(field)
        text = meaning(name, field) or "**undocumented**"
        rows.append(f"| `{name}` | `{env}` | {kind} | {_default_text(name, field)} | {text} |")
    return HEADER + "\n".join(rows) + "\n" + FOOTER


def main() -> None:
    print(render(), end="")


if __name__ == "__main__":
    main()
