"""Offline validation of packs, pack folders or single files: scan + load with
no database, for `packsync validate` in CI and pre-commit hooks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packsync.core.diagnostics import Diagnostic, error, has_errors, sort_key
from packsync.core.refs import PACK_REF
from packsync.core.text import printable
from packsync.pipeline import load, preload
from packsync.pipeline.catalog import build_catalog
from packsync.pipeline.load import LoadedPack, load_pack
from packsync.pipeline.model import FileKind, HostCatalog, ScanResult, SourceFile, content_hash
from packsync.pipeline.parse import parse_workflow
from packsync.pipeline.preload import Preloader, cached_parser
from packsync.pipeline.scan import PACK_FILE, YAML_SUFFIXES, list_pack_refs, scan_base

# pack ref → the rel paths to report, or None for the whole pack
_Wanted = dict[str, set[str] | None]


@dataclass(slots=True)
class CheckReport:
    packs: list[LoadedPack] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files_checked: int = 0
    files_ignored: int = 0  # left out by .packsyncignore rules
    packs_ignored: int = 0  # pack folders a base .packsyncignore rule leaves out

    @property
    def has_errors(self) -> bool:
        return has_errors(self.diagnostics)


def _pack_root_of(path: Path) -> Path:
    """The pack folder holding a file: the nearest parent with a pack.yaml, else
    the layout (`<pack>/workflows/x.yaml`, `<pack>/actions/workflows/x.yaml`)."""
    for parent in path.parents:
        if (parent / PACK_FILE).exists():
            return parent
    root = path.parent
    if root.name == "workflows":
        root = root.parent
        if root.name == "actions":
            root = root.parent
    return root


def _inside_pack(path: Path) -> bool:
    return any((parent / PACK_FILE).exists() for parent in path.parents)


def _yaml_file(file: Path, top: Path) -> bool:
    hidden = any(part.startswith(".") for part in file.relative_to(top).parts)
    return file.is_file() and file.name.endswith(YAML_SUFFIXES) and not hidden


def _want(wanted: _Wanted, ref: str, rel: str | None) -> None:
    if rel is None or (ref in wanted and wanted[ref] is None):
        wanted[ref] = None
    else:
        files = wanted.setdefault(ref, set())
        assert files is not None
        files.add(rel)


def resolve_targets(base_dir: Path, names: Sequence[str]) -> dict[Path, _Wanted]:
    """`validate` arguments → {packs base dir: {pack ref: files or None}}.

    A name may be a pack ref under base_dir, a pack folder, a packs base
    directory, or a file inside a pack. Raises FileNotFoundError for others.
    """
    targets: dict[Path, _Wanted] = defaultdict(dict)
    if not names:
        for ref in list_pack_refs(base_dir) or []:
            _want(targets[base_dir], ref, None)
        return targets
    for name in names:
        path = Path(name)
        if path.is_dir() and (path / PACK_FILE).exists():
            _want(targets[path.parent], path.name, None)
        elif path.is_dir() and _inside_pack(path):
            root = _pack_root_of(path / PACK_FILE)
            files = [f for f in sorted(path.rglob("*")) if _yaml_file(f, path)]
            for file in files or [path]:  # an empty folder is refused by name
                _want(targets[root.parent], root.name, file.relative_to(root).as_posix())
        elif path.is_dir():
            for ref in list_pack_refs(path) or []:
                _want(targets[path], ref, None)
        elif path.exists() or path.is_symlink():
            root = _pack_root_of(path)
            _want(targets[root.parent], root.name, path.relative_to(root).as_posix())
        elif "/" not in name and (base_dir / name).is_dir():
            _want(targets[base_dir], name, None)
        else:
            raise FileNotFoundError(name)
    return targets


def check_targets(
    base_dir: Path,
    names: Sequence[str],
    *,
    max_file_size: int,
    progress: Callable[[str, int], None] | None = None,
) -> CheckReport:
    """Validate the named packs/paths (every pack under base_dir when none).

    A file named explicitly is validated wherever it is: a file the pack scan
    does not load (e.g. `actions/workflows/tests/x.yaml`, or a file with no
    pack.yaml above it) is parsed as a workflow of its pack; anything that is
    not a YAML file is refused with an error. Never "0 files checked".
    `progress(pack_ref, packs_in_this_base)` follows each validated pack.
    """
    report = CheckReport()
    targets = resolve_targets(base_dir, names)
    if not names and list_pack_refs(base_dir) is None:
        report.diagnostics.append(
            error(str(base_dir), "base-dir-unavailable", "packs base directory is missing")
        )
    for base, wanted in targets.items():
        scan = scan_base(base, max_file_size=max_file_size, only=set(wanted))
        report.diagnostics.extend(scan.diagnostics)
        catalog = build_catalog(scan)
        whole = [ref for ref in scan.packs if wanted[ref] is None]
        ahead = _preloader(base, whole, catalog, max_file_size)
        try:
            _check_base(report, base, wanted, scan, catalog, ahead, max_file_size, progress)
        finally:
            if ahead is not None:
                ahead.close()
    report.diagnostics.sort(key=sort_key)
    return report


def _preloader(
    base: Path, refs: list[str], catalog: HostCatalog, max_file_size: int
) -> Preloader | None:
    """Many packs to validate: parse them ahead in worker processes."""
    workers = preload.worker_count()
    if len(refs) < preload.MIN_PACKS or workers < 2:
        return None
    return Preloader(base, refs, {}, max_file_size=max_file_size, workers=workers, catalog=catalog)


def _check_base(
    report: CheckReport,
    base: Path,
    wanted: _Wanted,
    scan: ScanResult,
    catalog: HostCatalog,
    ahead: Preloader | None,
    max_file_size: int,
    progress: Callable[[str, int], None] | None,
) -> None:
    for ref, scanned in scan.packs.items():
        only = wanted[ref]
        report.files_ignored += len(scanned.ignored)
        if scanned.ignored_pack is not None:
            report.packs_ignored += 1
            if only is None:
                continue
        parsed = {} if ahead is None else ahead.result(ref)
        parse = cached_parser(parsed, load.parse_workflow) if parsed else None
        loaded = load_pack(scanned, catalog, parse=parse)
        others = {PACK_FILE, *(a.rel_path for a in scanned.action_files)}
        if only is not None:
            _keep_named(loaded, base, ref, only, others, catalog, max_file_size)
            report.files_checked += len(only & others)
        report.packs.append(loaded)
        report.files_checked += len(loaded.workflows)
        report.diagnostics.extend(loaded.all_diagnostics)
        if progress is not None:
            progress(ref, len(scan.packs))


def _keep_named(
    loaded: LoadedPack,
    base: Path,
    ref: str,
    only: set[str],
    others: set[str],
    catalog: HostCatalog,
    max_size: int,
) -> None:
    """Narrow a loaded pack to the named files (plus pack.yaml's own problems),
    and validate the named files the scan does not load."""
    loaded.workflows = [w for w in loaded.workflows if w.file_path in only]
    # diagnostics name odd files by their printable form (bad-file-name)
    keep = {printable(str(base / ref / rel)) for rel in (*only, PACK_FILE)}
    loaded.diagnostics = [
        d
        for d in loaded.diagnostics
        if d.file in keep and (d.code != "pack-file-missing" or PACK_FILE in only)
    ]
    for rel in sorted(only - {w.file_path for w in loaded.workflows} - others):
        display = str(base / ref / rel)
        if (base / ref / rel).is_dir():
            loaded.diagnostics.append(
                error(display, "not-a-workflow-file", "folder holds no .yaml/.yml file")
            )
            continue
        if not rel.endswith(YAML_SUFFIXES):
            loaded.diagnostics.append(
                error(
                    display,
                    "not-a-workflow-file",
                    "only .yaml/.yml files are validated: name a workflow, action or pack.yaml",
                )
            )
            continue
        path = base / ref / rel
        if path.stat().st_size > max_size:
            loaded.diagnostics.append(
                error(display, "file-too-large", f"file is over {max_size} bytes: refused")
            )
            continue
        content = path.read_bytes()
        pack_ref = ref if PACK_REF.match(ref) else "pack"
        source = SourceFile(
            pack_ref, rel, display, FileKind.WORKFLOW, content, content_hash(content)
        )
        loaded.workflows.append(parse_workflow(source, catalog))
