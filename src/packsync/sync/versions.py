"""Reading the definition history back: list, show, diff, restore.

The CLI (`packsync history|diff|restore`) and the API
(`/api/v1/workflows/{ref}/versions`) both call `VersionService`. A restore
never writes around the owner of a workflow: an API-managed one is written
back through `ApiWorkflowService` (validated again, companion action kept in
step, recorded as a new version with trigger `restore`); a file-managed one
is only rendered as the file content to put back, since the file is the
source of truth and the next sync would overwrite the database anyway.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
import yaml

from packsync.config import Settings
from packsync.db import history_queries as sql
from packsync.sync.api_workflows import ApiWorkflowService, AttuneManaged

Style = Literal["yaml", "json"]
# Top-level keys in the order a workflow file usually lists them (SPEC §3).
_TOP_KEYS = (
    "ref",
    "label",
    "description",
    "version",
    "tags",
    "parameters",
    "output",
    "vars",
    "tasks",
    "output_map",
    "cancellation_policy",
)
_INNER_KEYS = ("name", "type", "action", "input", "when", "publish", "do")


class HistoryError(Exception):
    """A named ref or version that is not in the history (CLI exit 2, HTTP 404)."""


class NoHistory(HistoryError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"workflow '{ref}' has no recorded versions")
        self.ref = ref


class NoSuchVersion(HistoryError):
    def __init__(self, ref: str, version: int) -> None:
        super().__init__(f"workflow '{ref}' has no version {version} (see `packsync history`)")
        self.ref = ref
        self.version = version


class DeletedVersion(HistoryError):
    """A deletion marker has no definition to restore."""

    def __init__(self, ref: str, version: int) -> None:
        super().__init__(
            f"version {version} of '{ref}' records its deletion; restore an earlier version"
        )
        self.ref = ref
        self.version = version


@dataclass(slots=True)
class Version:
    id: int
    ref: str
    version: int
    deleted: bool
    definition_hash: str | None
    pack_ref: str
    source: str
    file_path: str | None
    trigger: str
    sync_run_id: int | None
    git_commit: str | None
    created: datetime
    definition: dict[str, Any] | None = None

    def to_dict(self, *, definition: bool = True) -> dict[str, Any]:
        data = {
            "ref": self.ref,
            "version": self.version,
            "deleted": self.deleted,
            "definition_hash": self.definition_hash,
            "pack_ref": self.pack_ref,
            "source": self.source,
            "file_path": self.file_path,
            "trigger": self.trigger,
            "sync_run_id": self.sync_run_id,
            "git_commit": self.git_commit,
            "created": self.created.isoformat(),
        }
        if definition:
            data["definition"] = self.definition
        return data


@dataclass(slots=True)
class Restored:
    """What a restore did. `action`: `written` (a new version), `unchanged`
    (the version is already current), `file` (file-managed: nothing written;
    put `content` into `file`)."""

    ref: str
    restored_from: int
    action: Literal["written", "unchanged", "file"]
    version: Version | None = None  # the version now current (written, unchanged)
    file: str | None = None
    content: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "restored_from": self.restored_from,
            "action": self.action,
            "version": None if self.version is None else self.version.version,
            "file": self.file,
            "content": self.content,
        }


def _version(row: asyncpg.Record) -> Version:
    return Version(**dict(row))


# ---------------------------------------------------------------- rendering
def _ordered(value: Any, keys: tuple[str, ...] = _INNER_KEYS) -> Any:
    if isinstance(value, dict):
        first = [k for k in keys if k in value]
        rest = sorted(k for k in value if k not in keys)
        return {k: _ordered(value[k]) for k in [*first, *rest]}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def render(definition: dict[str, Any] | None, style: Style = "yaml") -> str:
    """A definition as stable text: the same definition always renders the
    same (jsonb's own key order is not the file's)."""
    if definition is None:
        return ""
    if style == "json":
        return json.dumps(definition, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    text: str = yaml.safe_dump(
        _ordered(definition, _TOP_KEYS),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return text


def unified_diff(old: Version, new: Version, style: Style = "yaml") -> str:
    """The change from `old` to `new` (a deletion diffs against nothing)."""
    lines = difflib.unified_diff(
        render(old.definition, style).splitlines(keepends=True),
        render(new.definition, style).splitlines(keepends=True),
        fromfile=f"{old.ref}@{old.version}",
        tofile=f"{new.ref}@{new.version}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


# ---------------------------------------------------------------- service
class VersionService:
    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool

    async def versions(self, ref: str) -> list[Version]:
        """Every kept version of `ref`, oldest first (definitions left out)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(sql.VERSIONS, ref)
        if not rows:
            raise NoHistory(ref)
        return [_version(r) for r in rows]

    async def get(self, ref: str, version: int) -> Version:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(sql.VERSION, ref, version)
            if row is None:
                if await conn.fetchrow(sql.LATEST_VERSION, ref) is None:
                    raise NoHistory(ref)
                raise NoSuchVersion(ref, version)
        return _version(row)

    async def latest(self, ref: str) -> Version:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(sql.LATEST_VERSION, ref)
        if row is None:
            raise NoHistory(ref)
        return _version(row)

    async def pair(self, ref: str, old: int | None, new: int | None) -> tuple[Version, Version]:
        """The two versions `packsync diff` compares: none given → the latest
        and the one before it; `old` only → `old` and the latest."""
        if new is not None:
            assert old is not None
            return await self.get(ref, old), await self.get(ref, new)
        latest = await self.latest(ref)
        if old is not None:
            return await self.get(ref, old), latest
        versions = await self.versions(ref)
        if len(versions) < 2:
            return latest, latest
        return await self.get(ref, versions[-2].version), latest

    async def restore(self, ref: str, version: int) -> Restored:
        """Bring `version` back as the newest (API-managed), or say what to
        write into the file (file-managed)."""
        wanted = await self.get(ref, version)
        if wanted.deleted:
            raise DeletedVersion(ref, version)
        async with self.pool.acquire() as conn:
            owner = await conn.fetchrow(sql.CURRENT_OWNER, ref)
        source = wanted.source if owner is None else owner["source"]
        if source == "attune":
            raise AttuneManaged(ref)
        if source == "file":
            pack_ref = wanted.pack_ref if owner is None else owner["pack_ref"]
            file_path = (owner and owner["file_path"]) or wanted.file_path or ""
            return Restored(
                ref,
                version,
                "file",
                file=str(self.settings.packs_base_dir / pack_ref / file_path),
                content=render(wanted.definition),
            )
        before = await self.latest(ref)
        writer = ApiWorkflowService(self.settings, self.pool)
        definition = wanted.definition or {}
        if owner is None:
            await writer.create(
                ref=ref,
                pack_ref=wanted.pack_ref,
                definition=definition,
                overrides={},
                trigger="restore",
            )
        else:
            await writer.update(ref, {"definition": definition}, trigger="restore")
        after = await self.latest(ref)
        if after.id == before.id:
            return Restored(ref, version, "unchanged", version=after)
        return Restored(ref, version, "written", version=after)
