"""gitrev: HEAD's commit read from .git files, never by running git. Layouts
built by hand (loose and packed refs, detached HEAD, `.git` files of worktrees
and submodules), then checked against a real git where one is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from packsync.pipeline.gitrev import find_git_dir, head_commit

A = "a" * 40
B = "b" * 40
C = "0123456789abcdef" * 4  # a sha256 repository's 64 hex digits


def git(cwd: Path, *args: str) -> str:
    """Run the real git (tests only: packsync never does)."""
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def git_dir(root: Path, head: str, **files: str) -> Path:
    gd = root / ".git"
    (gd / "refs" / "heads").mkdir(parents=True)
    (gd / "HEAD").write_text(head)
    for name, text in files.items():
        path = gd / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return gd


def test_symbolic_head_with_a_loose_ref(tmp_path: Path) -> None:
    git_dir(tmp_path, "ref: refs/heads/main\n", refs__heads__main=f"{A}\n")
    pack = tmp_path / "packs" / "demo"
    pack.mkdir(parents=True)
    assert head_commit(pack) == A


def test_packed_refs_only(tmp_path: Path) -> None:
    git_dir(
        tmp_path,
        "ref: refs/heads/feature/x\n",
        **{
            "packed-refs": "# pack-refs with: peeled fully-peeled sorted \n"
            f"{B} refs/heads/feature/xy\n"
            f"{A} refs/heads/feature/x\n"
            f"^{B}\n"
            f"{B} refs/tags/v1\n"
        },
    )
    assert head_commit(tmp_path / "packs") == A  # a folder that does not exist yet


def test_a_loose_ref_wins_over_packed_refs(tmp_path: Path) -> None:
    git_dir(
        tmp_path,
        "ref: refs/heads/main\n",
        refs__heads__main=B,
        **{"packed-refs": f"{A} refs/heads/main\n"},
    )
    assert head_commit(tmp_path) == B


def test_detached_head(tmp_path: Path) -> None:
    git_dir(tmp_path, f"{A}\n", refs__heads__main=B)
    assert head_commit(tmp_path) == A
    (tmp_path / ".git" / "HEAD").write_text(C)
    assert head_commit(tmp_path) == C


def test_git_file_of_a_worktree_with_commondir(tmp_path: Path) -> None:
    main = tmp_path / "repo"
    gd = git_dir(main, "ref: refs/heads/main\n", **{"packed-refs": f"{A} refs/heads/topic\n"})
    wt_dir = gd / "worktrees" / "wt"
    wt_dir.mkdir(parents=True)
    (wt_dir / "HEAD").write_text("ref: refs/heads/topic\n")
    (wt_dir / "commondir").write_text("../..\n")
    work = tmp_path / "wt"
    (work / "packs").mkdir(parents=True)
    (work / ".git").write_text(f"gitdir: {wt_dir}\n")
    assert find_git_dir(work / "packs") == (wt_dir, gd)
    assert head_commit(work / "packs") == A


def test_relative_gitdir_of_a_submodule_and_a_detached_head(tmp_path: Path) -> None:
    modules = tmp_path / ".git" / "modules" / "packs"
    modules.mkdir(parents=True)
    (modules / "HEAD").write_text(f"{B}\n")
    sub = tmp_path / "packs"
    sub.mkdir()
    (sub / ".git").write_text("gitdir: ../.git/modules/packs\n")
    assert head_commit(sub / "demo") == B


def test_no_commit_is_none(tmp_path: Path) -> None:
    assert head_commit(tmp_path / "nowhere") is None  # in no work tree at all
    git_dir(tmp_path, "ref: refs/heads/main\n")  # unborn branch: no commit yet
    assert head_commit(tmp_path) is None
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/.invalid\n")  # reftable
    assert head_commit(tmp_path) is None


@pytest.mark.parametrize(
    "head",
    [
        "ref: ../../../etc/passwd\n",
        "ref: refs/heads/../../../../etc/hostname\n",
        "ref: /etc/hostname\n",
        "not a ref at all\n",
        "",
    ],
)
def test_a_hostile_head_is_never_followed_out(tmp_path: Path, head: str) -> None:
    git_dir(tmp_path, head)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(A)
    assert head_commit(tmp_path) is None


def test_symbolic_ref_loops_end(tmp_path: Path) -> None:
    git_dir(
        tmp_path,
        "ref: refs/heads/a\n",
        refs__heads__a="ref: refs/heads/b\n",
        refs__heads__b="ref: refs/heads/a\n",
    )
    assert head_commit(tmp_path) is None


def test_a_fifo_or_a_huge_file_never_hangs_or_is_read(tmp_path: Path) -> None:
    gd = git_dir(tmp_path, "ref: refs/heads/main\n")
    os.mkfifo(gd / "refs" / "heads" / "main")  # nobody writes: a blocking read would hang
    assert head_commit(tmp_path) is None
    (gd / "HEAD").unlink()
    os.mkfifo(gd / "HEAD")
    assert head_commit(tmp_path) is None
    (gd / "HEAD").unlink()
    (gd / "HEAD").write_text(A + "\n" * 10_000)  # over the size bound of HEAD
    assert head_commit(tmp_path) is None
    other = tmp_path / "other"
    other.mkdir()
    os.mkfifo(other / ".git")
    (gd / "HEAD").write_text(A)
    assert head_commit(other) == A  # the FIFO named .git is passed over


@pytest.mark.skipif(shutil.which("git") is None, reason="no git binary")
def test_agrees_with_git_on_real_repositories(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()

    git(repo, "init", "-q")
    (repo / "packs" / "demo").mkdir(parents=True)
    (repo / "packs" / "demo" / "pack.yaml").write_text("ref: demo\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    assert head_commit(repo / "packs" / "demo") == git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    git(repo, "pack-refs", "--all")
    assert head_commit(repo / "packs") == git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert head_commit(repo) == git(repo, "rev-parse", "HEAD")
    git(repo, "worktree", "add", "-q", "-b", "side", str(tmp_path / "side"), "HEAD")
    side = tmp_path / "side"
    git(side, "commit", "-q", "--allow-empty", "-m", "three")
    assert head_commit(side / "packs" / "demo") == git(side, "rev-parse", "HEAD")
    assert head_commit(side) != head_commit(repo)
