"""What the service operations return: plain data for the CLI, daemon and API.

`to_dict()` gives JSON-ready dicts (datetimes as ISO strings) so every front
end renders the same fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from packsync.core.diagnostics import Diagnostic, error

Change = Literal["created", "updated", "unchanged", "deleted", "failed"]
# ok: pack synced, no failing file · errors: some files failed (last good rows kept)
# pack-error: pack.yaml missing/broken, nothing registered · conflict: owned by another
# sync_group · removed: folder gone, rows deleted · refused: deletion guard said no
Outcome = Literal["ok", "errors", "pack-error", "conflict", "removed", "refused"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "errors", "pack-error", "conflict", "removed", "refused")
TRIGGERS = ("startup", "watch", "reconcile", "api", "cli", "signal")
COUNT_FIELDS = ("loaded", "created", "updated", "unchanged", "deleted", "failed")


def check_trigger(trigger: str) -> None:
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; expected one of {', '.join(TRIGGERS)}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(slots=True)
class WorkflowResult:
    ref: str
    file_path: str | None
    change: Change
    id: int | None = None
    warnings: list[Diagnostic] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "file_path": self.file_path,
            "change": self.change,
            "id": self.id,
            "warnings": [d.to_dict() for d in self.warnings],
            "errors": [d.to_dict() for d in self.errors],
        }


@dataclass(slots=True)
class PackResult:
    pack_ref: str
    outcome: Outcome = "ok"
    loaded: int = 0  # workflow files present (the others count what happened to each)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    workflows: list[WorkflowResult] = field(default_factory=list)
    message: str | None = None
    # workflow_version ids this sync appended (linked to its sync_run row)
    version_ids: list[int] = field(default_factory=list)

    @classmethod
    def in_error(
        cls,
        ref: str,
        where: str,
        code: str,
        message: str,
        *,
        outcome: Outcome = "pack-error",
        note: str | None = None,
    ) -> PackResult:
        """A pack that was not synced, for one reason located at `where`."""
        return cls(
            pack_ref=ref, outcome=outcome, message=note, diagnostics=[error(where, code, message)]
        )

    def _count(self, change: Change) -> int:
        return sum(1 for w in self.workflows if w.change == change)

    @property
    def created(self) -> int:
        return self._count("created")

    @property
    def updated(self) -> int:
        return self._count("updated")

    @property
    def unchanged(self) -> int:
        return self._count("unchanged")

    @property
    def deleted(self) -> int:
        return self._count("deleted")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def counts(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in COUNT_FIELDS}

    def problems(self) -> list[Diagnostic]:
        """The pack's own diagnostics, then each failing file's, once each."""
        found = list(self.diagnostics)
        for w in self.workflows:
            if w.errors:
                found += [*w.errors, *w.warnings]
        return list(dict.fromkeys(found))

    @property
    def has_errors(self) -> bool:
        return self.outcome in ("errors", "pack-error", "conflict") or any(
            d.is_error for d in self.diagnostics
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack_ref": self.pack_ref,
            "outcome": self.outcome,
            "loaded": self.loaded,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
            "message": self.message,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "workflows": [w.to_dict() for w in self.workflows],
        }


@dataclass(slots=True)
class SyncReport:
    packs: list[PackResult] = field(default_factory=list)
    # Sweep-level problems (missing base dir, invalid pack folder names...).
    diagnostics: list[Diagnostic] = field(default_factory=list)
    base_ok: bool = True
    # Packs whose removal the deletion guard refused, and why.
    refused_deletes: list[str] = field(default_factory=list)
    refused_reason: str | None = None

    def total(self, name: str) -> int:
        return sum(int(getattr(p, name)) for p in self.packs)

    @property
    def totals(self) -> dict[str, int]:
        return {name: self.total(name) for name in COUNT_FIELDS}

    @property
    def outcome(self) -> str:
        """Worst outcome of the sweep, for the sync_run row and exit codes."""
        outcomes = {p.outcome for p in self.packs}
        for candidate in ("refused", "conflict", "pack-error", "errors"):
            if candidate in outcomes:
                return candidate
        if not self.base_ok:
            return "refused"
        return "ok"

    @property
    def has_errors(self) -> bool:
        return any(p.has_errors for p in self.packs) or any(d.is_error for d in self.diagnostics)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "totals": self.totals,
            "base_ok": self.base_ok,
            "refused_deletes": list(self.refused_deletes),
            "refused_reason": self.refused_reason,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "packs": [p.to_dict() for p in self.packs],
        }


@dataclass(slots=True)
class WorkflowSummary:
    id: int
    ref: str
    pack_ref: str
    label: str | None
    description: str | None
    version: str | None
    tags: list[str]
    enabled: bool
    source: str
    file_path: str | None
    created: datetime
    updated: datetime
    # The file currently fails validation (the registered row is the last good one).
    failing: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in asdict(self).items()}


@dataclass(slots=True)
class WorkflowDetail(WorkflowSummary):
    param_schema: dict[str, Any] | None = None
    out_schema: dict[str, Any] | None = None
    definition: dict[str, Any] = field(default_factory=dict)
    content_hash: str | None = None
    # Current located diagnostics of the file (Diagnostic.to_dict() form), if failing.
    sync_errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class FailingFile:
    """A workflow file that fails validation, with its located diagnostics."""

    pack_ref: str
    file_path: str
    errors: list[dict[str, Any]]


@dataclass(frozen=True)
class WorkflowFilter:
    """Which registered workflows a listing returns: `tags` any of; `search` a
    case-insensitive substring of ref, label or description; `limit` None = all."""

    pack: str | None = None
    tags: Sequence[str] = ()
    enabled: bool | None = None
    search: str | None = None
    limit: int | None = None
    offset: int = 0


class PackOwnedElsewhere(Exception):
    """The pack is registered by another sync_group; this host must not touch it."""

    def __init__(self, ref: str, owner: str) -> None:
        super().__init__(f"pack '{ref}' is registered by sync_group '{owner}'; not touching it")
        self.ref = ref
        self.owner = owner
