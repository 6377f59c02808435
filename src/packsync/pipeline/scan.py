"""scan: the packs directory → `ScannedPack`s, every byte read once.

Safety lives here because this is the only module that touches pack files:
a symlink that resolves outside the base directory is never followed, FIFOs,
sockets and devices are never opened (opening a FIFO blocks), and no file
larger than `max_file_size` is read. Each refusal is a diagnostic, never an
exception.

Identity is logical: rel paths are built from the names as listed, never from
resolved targets, so git-sync and ConfigMap symlink flips keep row keys stable
(the Airflow #42542 / Grafana #80055 trap). The base directory is resolved once
per scan and the scan is retried if it points elsewhere afterwards, or if the
folder at that path or the pack's own folder is another one (renamed away and
replaced), so a pack is always read from one snapshot: a base swapped in the
middle of a read never makes a pack's files look removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from collections.abc import Collection, Iterator
from pathlib import Path

from packsync.core.diagnostics import Diagnostic, error
from packsync.core.refs import PACK_REF, PACK_REF_CODE, pack_ref_message
from packsync.core.text import printable
from packsync.pipeline.ignore import IGNORE_FILE, PackIgnore, Rules, parse_rules
from packsync.pipeline.model import FileKind, ScannedPack, ScanResult, SourceFile, content_hash

YAML_SUFFIXES = (".yaml", ".yml")
PACK_FILE = "pack.yaml"
# (subfolder, kind) in the order refs are claimed: standalone workflows first.
WORKFLOW_DIRS = ("workflows", "actions/workflows")
_SNAPSHOT_ATTEMPTS = 3
# A file changed less than this long before a scan gets no stamp: a second
# change within the same timestamp tick (or a skewed network filesystem
# clock) would leave its mtime and ctime as they were.
RACY_NS = 2_000_000_000


def is_hidden(name: str) -> bool:
    """Editor temp files, VCS folders and ConfigMap `..data` internals never load."""
    return (
        name.startswith((".", "#"))
        or name.endswith(("~", ".swp", ".swx", ".tmp"))
        or name in ("__pycache__",)
    )


def _file_name_problem(name: str) -> str | None:
    """Names that cannot become a ref, a stored file_path or one line of output."""
    if name.encode("utf-8", "surrogateescape").decode("utf-8", "replace") != name:
        return "is not valid UTF-8"
    if printable(name) != name:
        return "contains control characters (a newline would forge output lines)"
    return None


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


_ESCAPE = "symlink resolves outside the packs base directory; refusing to follow it"
_DANGLING = (
    "symlink points to a file that does not exist; fix or remove the link "
    "(a workflow registered from it is kept meanwhile)"
)


def _fd_path(fd: int) -> str | None:
    """The path an open descriptor refers to (Linux /proc), None elsewhere."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _read_regular(path: Path, real_root: str, max_size: int) -> bytes:
    """Read a file only if it is a regular file inside `real_root` and small enough."""
    try:
        real = os.path.realpath(path)
    except OSError as exc:  # a component was swapped while being resolved
        raise _Refused("unreadable-file", f"cannot resolve path: {exc.strerror}") from exc
    if not _within(real, real_root):
        raise _Refused("symlink-escape", _ESCAPE)
    try:
        # O_NONBLOCK: a FIFO swapped in after a stat must not block the open.
        # O_NOFOLLOW: nor may a symlink swapped in for the resolved file be followed.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        if os.path.islink(path):  # listed, but its target is missing: not a removal
            raise _Refused("dangling-symlink", _DANGLING) from None
        raise
    except OSError as exc:
        raise _Refused("unreadable-file", f"cannot open file: {exc.strerror}") from exc
    try:
        # A folder on the resolved path may have become a symlink between the
        # realpath and the open: check where the descriptor really points.
        opened = _fd_path(fd)
        if opened is not None and not _within(opened, real_root):
            raise _Refused("symlink-escape", _ESCAPE)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Refused(
                "not-a-regular-file",
                "not a regular file (FIFO, socket, device or folder); only regular YAML files load",
            )
        if st.st_size > max_size:
            raise _Refused(
                "file-too-large",
                f"file is {st.st_size} bytes, over the max_file_size limit of {max_size} bytes",
            )
        chunks: list[bytes] = []
        remaining = max_size + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_size:
            raise _Refused(
                "file-too-large", f"file grew over the max_file_size limit of {max_size} bytes"
            )
        return data
    except OSError as exc:
        raise _Refused("unreadable-file", f"cannot read file: {exc.strerror}") from exc
    finally:
        os.close(fd)


class _Changed(Exception):
    """A folder or file seen a moment ago is gone: the tree changed (or was swapped
    away and back) while this pack was read. Read it again; never trust the half."""


def _unreadable_folder(exc: OSError) -> _Refused:
    # An unreadable folder is not an empty one: its files must not look removed.
    return _Refused(
        "unreadable-folder",
        f"cannot list folder: {exc.strerror or exc}; fix its permissions "
        "(registered workflows of this pack are kept meanwhile)",
    )


def _open_dir(name: str | Path, dir_fd: int | None = None) -> int | None:
    """A descriptor on the folder (symlinks followed); None when there is no such
    folder. Listings go through held descriptors, so a base renamed away and back
    mid-read can never make a folder that is there look empty or absent."""
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise _unreadable_folder(exc) from exc


def _list_fd(fd: int) -> list[str]:
    try:
        return sorted(os.listdir(fd))
    except OSError as exc:
        raise _unreadable_folder(exc) from exc


class _PackReader:
    """Reads one pack folder into a ScannedPack.

    The pack folder and its sub-folders are opened once and every listing and
    existence check goes through those descriptors: what is listed is the folder
    that was there when the read began, whatever happens to the path. Files are
    read by path (so symlinks are resolved and checked); a file listed but not
    found by path means the tree moved, and the read starts again."""

    def __init__(
        self,
        base_dir: Path,
        real_base: str,
        ref: str,
        max_size: int,
        identity: tuple[int, int] | None = None,
        base_fd: int | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.real_base = real_base
        self.ref = ref
        self.max_size = max_size
        self.identity = identity  # the pack folder the caller's snapshot saw
        self.base_fd = base_fd  # the base folder held for the read, if any
        self.logical_root = base_dir / ref
        # Every read goes through the resolved base, so one scan reads one
        # snapshot even while a git-sync link is renamed over mid-scan.
        self.real_root = Path(real_base) / ref
        self.pack = ScannedPack(ref=ref, root=self.logical_root, pack_file=None)
        self.folders: dict[str, int] = {}  # sub-folder → descriptor held for the read
        self.where = str(self.logical_root)  # the folder a refusal is reported on
        self.rule_texts: list[bytes] = []  # the .packsyncignore files read
        self.ignore = PackIgnore(ref)

    def display(self, rel: str) -> str:
        return str(self.logical_root / rel)

    def read(self, rel: str, kind: FileKind) -> SourceFile | None:
        try:
            content = _read_regular(self.real_root / rel, self.real_base, self.max_size)
        except FileNotFoundError:
            raise _Changed from None  # listed, then gone
        except _Refused as refused:
            self.pack.diagnostics.append(error(self.display(rel), refused.code, refused.message))
            if kind is FileKind.WORKFLOW:
                self.pack.unreadable_workflows[rel] = refused.code
            return None
        return SourceFile(
            pack_ref=self.ref,
            rel_path=rel,
            display_path=self.display(rel),
            kind=kind,
            content=content,
            hash=content_hash(content),
        )

    def yaml_names(self, sub: str, *, quiet: bool = False) -> list[str]:
        """The YAML files the scan reads in a sub-folder; `quiet`: every one,
        unreadable names included, without reporting them."""
        names = []
        fd = self.folders.get(sub)
        if not quiet:
            self.where = self.display(sub)
        for n in [] if fd is None else _list_fd(fd):
            if not n.endswith(YAML_SUFFIXES) or is_hidden(n):
                continue
            if quiet:
                names.append(n)
                continue
            reason = self.ignore.reason(f"{sub}/{n}")
            if reason is not None:
                self.pack.ignored[f"{sub}/{n}"] = reason
                continue
            problem = _file_name_problem(n)
            if problem is not None:
                self.pack.diagnostics.append(
                    error(
                        printable(self.display(f"{sub}/{n}")),
                        "bad-file-name",
                        f"file name {problem}; rename the file (it is not loaded)",
                    )
                )
                if sub in WORKFLOW_DIRS:  # a row registered under that name is kept
                    self.pack.unreadable_workflows[f"{sub}/{n}"] = "bad-file-name"
                continue
            names.append(n)
        return names

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        """The pack's folders held and its ignore rules read, for one read (or
        one stamp); the descriptors are closed on the way out."""
        try:
            self._open_folders()
            self._read_rules()
            yield
        finally:
            for fd in self.folders.values():
                os.close(fd)
            self.folders.clear()

    def scan(self) -> ScannedPack:
        """The pack, or a pack in error (no pack file: nothing registered, rows
        kept) when one of its folders cannot be listed."""
        try:
            with self.opened():
                if self.ignore.pack_reason() is not None:
                    self.pack.ignored_pack = self.ignore.pack_reason()
                    return self.pack
                return self._scan()
        except _Refused as refused:
            return ScannedPack(
                ref=self.ref,
                root=self.logical_root,
                pack_file=None,
                diagnostics=[error(self.where, refused.code, refused.message)],
            )

    def _open_folders(self) -> None:
        if self.base_fd is None:
            root = _open_dir(self.real_root)
        else:
            root = _open_dir(self.ref, dir_fd=self.base_fd)
        if root is None:
            raise _Changed  # the pack folder was there a moment ago
        self.folders[""] = root
        st = os.fstat(root)
        if self.identity is not None and (st.st_dev, st.st_ino) != self.identity:
            raise _Changed  # another folder stands at the path now
        for sub in ("actions", *WORKFLOW_DIRS):
            parent, _, name = sub.rpartition("/")
            parent_fd = self.folders.get(parent)
            if parent_fd is None:
                continue
            self.where = self.display(sub)
            fd = _open_dir(name, dir_fd=parent_fd)
            if fd is not None:
                self.folders[sub] = fd

    def _read_rules(self) -> None:
        """The base's and the pack's .packsyncignore. One that exists but cannot
        be read (too large, escaping link, not UTF-8) puts the pack in error:
        files it would leave out must not be registered meanwhile."""
        base = self._rules(Path(self.real_base), self.base_fd, self.base_dir / IGNORE_FILE)
        self.ignore = PackIgnore(self.ref, base)
        if self.ignore.pack_reason() is None:
            pack = self._rules(self.real_root, self.folders[""], self.logical_root / IGNORE_FILE)
            self.ignore = PackIgnore(self.ref, base, pack)

    def _rules(self, real_dir: Path, dir_fd: int | None, shown: Path) -> Rules | None:
        try:
            if dir_fd is None:
                os.lstat(real_dir / IGNORE_FILE)
            else:
                os.stat(IGNORE_FILE, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError:
            pass  # there but not reachable: the read says why
        self.where = str(shown)
        try:
            content = _read_regular(real_dir / IGNORE_FILE, self.real_base, self.max_size)
        except FileNotFoundError:
            raise _Changed from None  # seen, then gone
        self.rule_texts.append(content)  # part of the stat stamp
        try:
            return parse_rules(content, str(shown))
        except UnicodeDecodeError:
            raise _Refused(
                "unreadable-ignore-file",
                "the ignore file is not UTF-8 text; fix it (the pack is held meanwhile: "
                "nothing new is registered, nothing is deleted)",
            ) from None

    def _has_pack_file(self) -> bool:
        try:
            os.stat(PACK_FILE, dir_fd=self.folders[""], follow_symlinks=False)
        except FileNotFoundError:
            return False
        except OSError:
            return True  # there but not reachable: the read says why
        return True

    def stamp(self) -> str | None:
        """The stat stamp of what this pack's scan reads: every folder's identity
        and every listed YAML file's name, device, inode, size, mtime_ns and
        ctime_ns (symlinks followed). Equal stamps mean a read would read the
        same bytes. None when any file was changed within `RACY_NS` (a change
        in the same clock tick would not show) or cannot be stat'ed: such a
        pack is always read."""
        limit = time.time_ns() - RACY_NS
        parts: list[str] = [f"max_file_size\0{self.max_size}"]
        # the .packsyncignore rules in force (read before the stamp): an edit to
        # them changes what is read even when no YAML file moved
        parts += [f"ignore\0{content_hash(text)}" for text in self.rule_texts]
        for sub, fd in sorted(self.folders.items()):
            st = os.fstat(fd)
            parts.append(f"{sub}/\0{st.st_dev}\0{st.st_ino}")
            names = [PACK_FILE] if sub == "" else self.yaml_names(sub, quiet=True)
            for name in names:
                try:
                    st = os.stat(name, dir_fd=fd)
                except FileNotFoundError:
                    if sub == "":
                        continue  # no pack.yaml: a pack in error, never skipped
                    return None
                except OSError:
                    return None
                if st.st_mtime_ns > limit or st.st_ctime_ns > limit:
                    return None
                parts.append(
                    f"{sub}/{name}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}"
                    f"\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_mode}"
                )
        return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()

    def _scan(self) -> ScannedPack:
        pack = self.pack
        pack.stamp = self.stamp()  # before any read: a later change makes it stale
        if self._has_pack_file():
            pack.pack_file = self.read(PACK_FILE, FileKind.PACK)
        else:
            pack.diagnostics.append(
                error(
                    self.display(PACK_FILE),
                    "pack-file-missing",
                    f"pack folder '{self.ref}' has no pack.yaml; add one with 'ref: {self.ref}'",
                )
            )
        for name in self.yaml_names("actions"):
            source = self.read(f"actions/{name}", FileKind.ACTION)
            if source is not None:
                pack.action_files.append(source)
        for sub in WORKFLOW_DIRS:
            for name in self.yaml_names(sub):
                source = self.read(f"{sub}/{name}", FileKind.WORKFLOW)
                if source is not None:
                    pack.workflow_files.append(source)
        return pack


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


_Snapshot = tuple[str, tuple[int, int] | None, tuple[int, int] | None]


def _snapshot(base_dir: Path, ref: str | None = None) -> _Snapshot | None:
    """What a scan must find unchanged afterwards to count as one snapshot: the
    resolved base path AND the folder there (a base renamed away and replaced
    keeps its path), and the pack folder's identity. None: base unusable."""
    real = _real_base(base_dir)
    if real is None:
        return None
    pack = None if ref is None else _identity(os.path.join(real, ref))
    return real, _identity(real), pack


def _real_base(base_dir: Path) -> str | None:
    try:
        real = os.path.realpath(base_dir, strict=True)
    except OSError:
        return None
    return real if os.path.isdir(real) and os.access(real, os.R_OK | os.X_OK) else None


def bad_pack_folder_name(base_dir: Path, name: str) -> Diagnostic:
    """A folder under the base whose name cannot be a pack ref."""
    return error(
        printable(str(base_dir / name)),
        PACK_REF_CODE,
        pack_ref_message(printable(name), "pack folder name"),
    )


def _pack_folder_problem(base_dir: Path, real_base: str, ref: str) -> Diagnostic | None:
    path = base_dir / ref  # for the message; checks go through the resolved base
    if not PACK_REF.match(ref):
        return bad_pack_folder_name(base_dir, ref)
    try:
        real = os.path.realpath(os.path.join(real_base, ref))
    except OSError:  # swapped while being resolved: treat as outside, report it
        real = ""
    if not _within(real, real_base):
        return error(
            str(path),
            "symlink-escape",
            "pack folder is a symlink that resolves outside the packs base directory",
        )
    return None


def list_pack_refs(base_dir: Path) -> list[str] | None:
    """Pack folder names under the base dir (valid or not); None if the base is unusable."""
    real = _real_base(base_dir)
    return None if real is None else _list_refs(real)


def _list_refs(base: str | int) -> list[str] | None:
    """The base's sub-folder names; `base` a path or a held descriptor."""
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return None
    return [n for n in names if not is_hidden(n) and _is_dir(n, base)]


def _is_dir(name: str, base: str | int) -> bool:
    try:
        if isinstance(base, int):
            return stat.S_ISDIR(os.stat(name, dir_fd=base).st_mode)
        return stat.S_ISDIR(os.stat(os.path.join(base, name)).st_mode)
    except OSError:
        return False


def _hold_base(snapshot: _Snapshot) -> int | None:
    """A descriptor on the base folder the snapshot identified; None when another
    folder stands at its path already (the caller reads again)."""
    try:
        fd = _open_dir(snapshot[0])
    except _Refused:
        return None
    if fd is not None:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) == snapshot[1]:
            return fd
        os.close(fd)
    return None


def _scan_once(
    base_dir: Path, real_base: str, base_fd: int, max_file_size: int, only: Collection[str] | None
) -> ScanResult:
    result = ScanResult(base_dir=base_dir, base_ok=True)
    refs = _list_refs(base_fd)
    if refs is None:
        result.base_ok = False
        return result
    for ref in refs:
        if only is not None and ref not in only:
            continue
        problem = _pack_folder_problem(base_dir, real_base, ref)
        if problem is not None:
            result.diagnostics.append(problem)
            continue
        try:
            reader = _PackReader(base_dir, real_base, ref, max_file_size, base_fd=base_fd)
            result.packs[ref] = reader.scan()
        except _Changed:
            result.packs[ref] = _changed_pack(base_dir, ref)
            result.changed = True
    return result


def _changed_pack(base_dir: Path, ref: str) -> ScannedPack:
    """A pack that kept changing while read: in error, so its rows are kept."""
    return ScannedPack(
        ref=ref,
        root=base_dir / ref,
        pack_file=None,
        diagnostics=[
            error(
                str(base_dir / ref),
                "pack-changed",
                "the pack changed while it was read (files or folders vanished mid-read); "
                "registered rows are kept and it is read again on the next sync",
            )
        ],
    )


def _base_unavailable(base_dir: Path) -> Diagnostic:
    return error(
        str(base_dir),
        "base-dir-unavailable",
        "packs base directory is missing or unreadable; nothing is synced "
        "or deleted until it returns",
    )


def scan_base(
    base_dir: Path, *, max_file_size: int, only: Collection[str] | None = None
) -> ScanResult:
    """Scan every pack (or only those named). `base_ok` is False when the base
    directory is missing or unreadable: then nothing may be deleted."""
    result: ScanResult | None = None
    for _ in range(_SNAPSHOT_ATTEMPTS):
        before = _snapshot(base_dir)
        if before is None:
            return ScanResult(
                base_dir=base_dir, base_ok=False, diagnostics=[_base_unavailable(base_dir)]
            )
        base_fd = _hold_base(before)
        if base_fd is None:
            continue  # swapped between the snapshot and the open: read again
        try:
            result = _scan_once(base_dir, before[0], base_fd, max_file_size, only)
        finally:
            os.close(base_fd)
        if _snapshot(base_dir) == before and not result.changed:
            return result
    if result is None:  # never held one base folder long enough to read it
        return ScanResult(
            base_dir=base_dir, base_ok=False, diagnostics=[_base_unavailable(base_dir)]
        )
    return result  # still flipping: the last complete snapshot read


def scan_pack(base_dir: Path, ref: str, *, max_file_size: int) -> ScannedPack | None:
    """Scan one pack; None when its folder is gone (a removed pack).

    Raises `BaseDirUnavailable` when the base directory itself is missing, or
    keeps changing under every attempt: neither is evidence that a pack or a
    file was removed.
    """
    changed: ScannedPack | None = None
    for _ in range(_SNAPSHOT_ATTEMPTS):
        before = _snapshot(base_dir, ref)
        if before is None:
            raise BaseDirUnavailable(str(base_dir))
        base_fd = _hold_base(before)
        if base_fd is None:
            continue  # swapped between the snapshot and the open: read again
        try:
            pack, churned = _scan_held(base_dir, before, base_fd, ref, max_file_size)
        finally:
            os.close(base_fd)
        if _snapshot(base_dir, ref) == before:
            if not churned:
                return pack
            changed = pack
    # Still changing under every attempt: no snapshot, so no evidence of anything.
    if changed is not None:
        return changed  # the pack churned, the base held: a pack in error, rows kept
    raise BaseDirUnavailable(str(base_dir))


def _scan_held(
    base_dir: Path, snapshot: _Snapshot, base_fd: int, ref: str, max_file_size: int
) -> tuple[ScannedPack | None, bool]:
    """One attempt at one pack in the held base: (pack or None if absent, churned)."""
    real = snapshot[0]
    if not _is_dir(ref, base_fd):
        return None, False
    problem = _pack_folder_problem(base_dir, real, ref)
    if problem is not None:
        return ScannedPack(
            ref=ref, root=base_dir / ref, pack_file=None, diagnostics=[problem]
        ), False
    reader = _PackReader(base_dir, real, ref, max_file_size, identity=snapshot[2], base_fd=base_fd)
    try:
        return reader.scan(), False
    except _Changed:
        return _changed_pack(base_dir, ref), True


def pack_stamps(base_dir: Path, refs: Collection[str], *, max_file_size: int) -> dict[str, str]:
    """The stat stamp of each named pack as a scan would take it, reading no
    YAML file (only the .packsyncignore rules, which decide what a scan reads):
    one snapshot of the base, folders listed through held descriptors, one
    stat per file. Packs without a stamp are left out (see `stamp`); so
    is every pack when the base changed meanwhile."""
    before = _snapshot(base_dir)
    if before is None:
        return {}
    base_fd = _hold_base(before)
    if base_fd is None:
        return {}
    stamps: dict[str, str] = {}
    try:
        for ref in refs:
            reader = _PackReader(base_dir, before[0], ref, max_file_size, base_fd=base_fd)
            try:
                with reader.opened():
                    stamp = reader.stamp()
            except (_Changed, _Refused):
                stamp = None
            if stamp is not None:
                stamps[ref] = stamp
    finally:
        os.close(base_fd)
    return stamps if _snapshot(base_dir) == before else {}


class BaseDirUnavailable(Exception):
    """The packs base directory is missing or unreadable: delete nothing."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"packs base directory {path} is missing or unreadable; nothing is synced or deleted"
        )
        self.path = path


__all__ = [
    "BaseDirUnavailable",
    "bad_pack_folder_name",
    "is_hidden",
    "list_pack_refs",
    "pack_stamps",
    "scan_base",
    "scan_pack",
]
