"""The commit a folder's git work tree has checked out, read from the files
under `.git` — never by running git.

Handles a `.git` directory, a `.git` file (`gitdir: ...`, as worktrees,
submodules and git-sync write), a worktree's `commondir`, symbolic and
detached HEAD, loose refs and `packed-refs`. Anything else (a reftable
repository, an unborn branch, an unreadable or odd file) is "no commit":
history records NULL rather than guessing.

The `.git` found may sit above the packs directory: it is read (metadata
only), never executed. Every file is opened non-blocking and read only when
it is a regular file, with a size bound, so a FIFO or a device named `.git`
cannot hang the daemon.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

_SMALL = 4096  # HEAD, a loose ref, a `.git` file, commondir
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_REF_NAME = re.compile(r"^refs/[A-Za-z0-9._/+-]+$")
_MAX_SYMREF_DEPTH = 5


def head_commit(path: str | os.PathLike[str]) -> str | None:
    """HEAD's commit sha of the work tree holding `path`, or None when there
    is none (not in a work tree, no commit yet, a layout this reader does not
    know)."""
    found = find_git_dir(path)
    if found is None:
        return None
    git_dir, common_dir = found
    return resolve_head(git_dir, common_dir)


def find_git_dir(path: str | os.PathLike[str]) -> tuple[Path, Path] | None:
    """(git dir, common dir) of the nearest `.git` at or above `path`. The walk
    is lexical (a symlinked packs directory is looked through, as a shell
    would); a missing folder (a pack just removed) is walked past."""
    current = os.path.abspath(os.fspath(path))
    while True:
        found = _git_dir_at(os.path.join(current, ".git"))
        if found is not None:
            return found, _common_dir(found)
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _git_dir_at(candidate: str) -> Path | None:
    try:
        st = os.stat(candidate)
    except (OSError, ValueError):
        return None
    if stat.S_ISDIR(st.st_mode):
        return Path(candidate) if _is_git_dir(Path(candidate)) else None
    if not stat.S_ISREG(st.st_mode):
        return None
    text = _read_small(Path(candidate))
    if text is None or not text.startswith("gitdir:"):
        return None
    target = text[len("gitdir:") :].strip()
    if not target:
        return None
    # A relative gitdir is relative to the folder holding the `.git` file.
    git_dir = Path(os.path.normpath(os.path.join(os.path.dirname(candidate), target)))
    return git_dir if _is_git_dir(git_dir) else None


def _is_git_dir(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path / "HEAD").st_mode)
    except (OSError, ValueError):
        return False


def _common_dir(git_dir: Path) -> Path:
    """A linked worktree's git dir names the repository's shared one in
    `commondir` (branches and packed-refs live there)."""
    text = _read_small(git_dir / "commondir")
    if not text:
        return git_dir
    common = Path(os.path.normpath(os.path.join(git_dir, text.strip())))
    return common if common.is_dir() else git_dir


def resolve_head(git_dir: Path, common_dir: Path | None = None) -> str | None:
    common = common_dir or git_dir
    text = _read_small(git_dir / "HEAD")
    for _ in range(_MAX_SYMREF_DEPTH):
        if text is None:
            return None
        text = text.strip()
        if _SHA.match(text):
            return text  # detached HEAD, or a ref's value
        if not text.startswith("ref:"):
            return None
        name = text[len("ref:") :].strip()
        if not _safe_ref(name):
            return None
        # Per-worktree refs live in the worktree's git dir, the rest in the common one.
        text = _read_small(git_dir / name)
        if text is None and common != git_dir:
            text = _read_small(common / name)
        if text is None:
            return _packed_ref(common, name)
    return None


def _safe_ref(name: str) -> bool:
    """A ref name that stays inside the git dir (`refs/...`, no `..`)."""
    return bool(_REF_NAME.match(name)) and ".." not in name and "//" not in name


def _packed_ref(common: Path, name: str) -> str | None:
    fd = _open_regular(common / "packed-refs")
    if fd is None:
        return None
    wanted = name.encode("utf-8")
    with os.fdopen(fd, "rb") as lines:
        for line in lines:
            if line.startswith((b"#", b"^")):
                continue
            sha, _, ref = line.rstrip(b"\r\n").partition(b" ")
            if ref == wanted:
                value = sha.decode("ascii", "replace")
                return value if _SHA.match(value) else None
    return None


def _open_regular(path: Path) -> int | None:
    """A descriptor on `path` if it is a regular file (never blocks on a FIFO)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError):
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _read_small(path: Path) -> str | None:
    fd = _open_regular(path)
    if fd is None:
        return None
    try:
        data = os.read(fd, _SMALL + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > _SMALL:
        return None
    return data.decode("utf-8", "replace")
