"""The data that flows between pipeline stages.

scan produces `ScannedPack`s (bytes already read from one resolved snapshot),
parse/validate turn each file into a `ParsedWorkflow` or `PackMeta`, and
register writes them. Everything here is plain data: no I/O, no database.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from packsync.diagnostics import Diagnostic, has_errors

# A pack ref is its folder name (SPEC §2).
PACK_REF_PATTERN = r"^[a-z][a-z0-9_-]+$"
PACK_REF = re.compile(PACK_REF_PATTERN)


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
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0].removesuffix(".workflow")
    return f"{pack_ref}.{stem}"


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


@dataclass(slots=True)
class ScanResult:
    base_dir: Path
    # False when the base directory is missing or unreadable: the deletion
    # guard then forbids every delete.
    base_ok: bool
    packs: dict[str, ScannedPack] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


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


@dataclass(slots=True)
class ActionMeta:
    ref: str  # full ref: <pack>.<name>
    file_path: str


@dataclass(slots=True)
class ParsedWorkflow:
    """The outcome of parse + validate for one workflow file.

    `definition` is the normalised form (SPEC §3) or None when the file could
    not be parsed far enough to build one.
    """

    ref: str
    pack_ref: str
    file_path: str
    content_hash: str
    definition: dict[str, Any] | None = None
    label: str | None = None
    description: str | None = None
    version: str | None = None
    param_schema: dict[str, Any] | None = None
    out_schema: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    enabled: bool = True
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.definition is not None and not has_errors(self.diagnostics)


@dataclass(slots=True)
class HostCatalog:
    """What this host knows about actions, for the action-existence check:
    pack ref → action refs defined there (actions/*.yaml and workflow refs)."""

    actions_by_pack: dict[str, set[str]] = field(default_factory=dict)

    def has_pack(self, pack_ref: str) -> bool:
        return pack_ref in self.actions_by_pack

    def has_action(self, action_ref: str) -> bool:
        pack = action_ref.split(".", 1)[0]
        return action_ref in self.actions_by_pack.get(pack, set())
