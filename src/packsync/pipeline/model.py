"""The data that flows between pipeline stages.

scan produces `ScannedPack`s (bytes already read from one resolved snapshot),
parse/validate turn each file into a `ParsedWorkflow` or `PackMeta`, and
register writes them. Everything here is plain data: no I/O, no database.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from packsync.core.diagnostics import Diagnostic, has_errors


class FileKind(StrEnum):
    PACK = "pack"  # pack.yaml
    ACTION = "action"  # actions/*.yaml
    WORKFLOW = "workflow"  # workflows/*.yaml, actions/workflows/*.yaml


def content_hash(content: bytes) -> str:
    """The identity of a file's content: sha256 of its bytes, hex."""
    return hashlib.sha256(content).hexdigest()


def file_ref(pack_ref: str, path: str) -> str:
    """`<pack>.<file stem>` with a trailing `.workflow` dropped (SPEC §2); `path`
    may be a bare file name or a rel path."""
    return f"{pack_ref}.{workflow_name(path)}"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file of a pack, read once from a resolved snapshot.

    `rel_path` (posix, relative to the pack folder) is the logical identity used
    as the database key; it never contains a resolved symlink target, so a
    git-sync or ConfigMap flip does not change it.
    """

    pack_ref: str
    rel_path: str
    display_path: str
    kind: FileKind
    content: bytes
    hash: str

    @property
    def stem_ref(self) -> str:
        return file_ref(self.pack_ref, self.rel_path)


@dataclass(slots=True)
class ScannedPack:
    """A pack folder as found on disk. `diagnostics` holds scan-level problems
    (escaping symlinks, oversized or non-regular files, a missing pack.yaml)."""

    ref: str
    root: Path
    pack_file: SourceFile | None
    workflow_files: list[SourceFile] = field(default_factory=list)
    action_files: list[SourceFile] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # rel paths of workflow files that exist but could not be read (too big,
    # not a regular file, escaping symlink...). They are "present but failing":
    # never a reason to delete the registered row.
    unreadable_workflows: dict[str, str] = field(default_factory=dict)
    # rel path → why a .packsyncignore rule left the file out (never loaded)
    ignored: dict[str, str] = field(default_factory=dict)
    # why a base .packsyncignore rule left the whole pack out (None: it is read)
    ignored_pack: str | None = None
    # the files' stat stamp taken before the read (scan.py); None: always read
    stamp: str | None = None


@dataclass(slots=True)
class ScanResult:
    base_dir: Path
    # False when the base directory is missing or unreadable: the deletion
    # guard then forbids every delete.
    base_ok: bool
    packs: dict[str, ScannedPack] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # a pack changed while it was read (its ScannedPack is in error): read again
    changed: bool = False


@dataclass(slots=True)
class PackMeta:
    """pack.yaml, checked for ref/label/version/description; extras go to meta."""

    ref: str
    label: str | None = None
    description: str | None = None
    version: str | None = None
    tags: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def workflow_name(path: str) -> str:
    """Attune's `WorkflowFile.name`: the file stem without a trailing `.workflow`."""
    return path.rsplit("/", 1)[-1].rsplit(".", 1)[0].removesuffix(".workflow")


def action_label(name: str) -> str:
    """Attune's pack loader label for an action without one (`generate_label`):
    `deploy_app` → `Deploy App`."""
    return " ".join(w[:1].upper() + w[1:] for w in name.split("_"))


@dataclass(slots=True)
class ActionMeta:
    """An action YAML, with what Attune's pack loader takes from it for the
    workflow its `workflow_file` points at (pack_registry/loader.rs)."""

    ref: str  # full ref: <pack>.<name>
    file_path: str
    label: str = ""  # `label`, else generated from the name
    description: str | None = None
    tags: list[str] | None = None  # None: no `tags` list in the file
    param_schema: Any = None  # `parameters` as written (None: absent)
    out_schema: Any = None  # `output` as written
    workflow_file: str | None = None  # `workflow_file` as written (relative to actions/)
    content_hash: str = ""

    @property
    def workflow_path(self) -> str | None:
        """The pack-relative path `workflow_file` names, or None when it has none
        or it leaves the pack."""
        if not self.workflow_file:
            return None
        path = posixpath.normpath(posixpath.join("actions", self.workflow_file))
        return None if path.startswith(("../", "/")) or path == ".." else path


@dataclass(frozen=True, slots=True)
class CompanionAction:
    """The `action` row Attune's registrar creates beside a standalone workflow
    (registrar.rs `create_companion_action`); its other columns are Attune's
    constants: runtime NULL, is_adhoc false, worker_* `{}`/`[]`, no permission sets."""

    ref: str
    label: str
    description: str | None
    entrypoint: str
    param_schema: Any
    out_schema: Any


@dataclass(slots=True)
class ParsedWorkflow:
    """The outcome of parse + validate for one workflow file.

    `definition` is what Attune's registrar stores in
    `workflow_definition.definition` (SPEC §3), or None when the file could
    not be parsed far enough to build one. `ref`, `label`, `description`,
    `version`, `param_schema`, `out_schema` and `tags` are the row's columns
    as Attune fills them: from the file (registrar.rs, label falling back to
    the file name) or, for an action-linked workflow (`action` set), from the
    action YAML first (pack_registry/loader.rs).
    """

    ref: str
    pack_ref: str
    file_path: str
    content_hash: str
    definition: dict[str, Any] | None = None
    label: str | None = None
    description: str | None = None
    version: str | None = None
    param_schema: Any = None  # JSON (SQL NULL when None)
    out_schema: Any = None
    tags: list[str] = field(default_factory=list)
    enabled: bool = True
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # the action YAML whose `workflow_file` names this file (None: standalone)
    action: ActionMeta | None = None

    @property
    def ok(self) -> bool:
        return self.definition is not None and not has_errors(self.diagnostics)

    @property
    def name(self) -> str:
        """Attune's workflow file name (stem without `.workflow`)."""
        return workflow_name(self.file_path) if self.file_path else self.ref.split(".", 1)[-1]

    @property
    def entrypoint(self) -> str:
        """The `action.entrypoint` Attune writes: the companion action's
        `workflows/<name>.workflow.yaml`, or the linked action's `workflow_file`."""
        if self.action is not None and self.action.workflow_file:
            return self.action.workflow_file
        return f"workflows/{self.name}.workflow.yaml"

    @property
    def companion(self) -> CompanionAction | None:
        """The companion action of a standalone workflow; None for an
        action-linked one (its action YAML defines the action)."""
        if self.action is not None:
            return None
        return CompanionAction(
            ref=self.ref,
            label=self.label or self.name,
            description=self.description,
            entrypoint=self.entrypoint,
            param_schema=self.param_schema,
            out_schema=self.out_schema,
        )


class HostCatalog(Protocol):
    """What validation asks about this host's actions (the action-existence
    check): which actions a pack offers, None when there is no such pack.
    Implementations subclass it for `has_pack` and `has_action`."""

    def actions_of(self, pack_ref: str) -> Collection[str] | None: ...

    def has_pack(self, pack_ref: str) -> bool:
        return self.actions_of(pack_ref) is not None

    def has_action(self, action_ref: str) -> bool:
        offered = self.actions_of(action_ref.split(".", 1)[0])
        return offered is not None and action_ref in offered


@dataclass(slots=True)
class StaticCatalog(HostCatalog):
    """A catalog given outright: pack ref → action refs (tests, one-off checks)."""

    packs: dict[str, set[str]] = field(default_factory=dict)

    def actions_of(self, pack_ref: str) -> Collection[str] | None:
        return self.packs.get(pack_ref)
