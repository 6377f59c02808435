"""ignore: `.packsyncignore` files in .gitignore syntax (pathspec).

One may sit in the packs base directory (patterns relative to the base:
`legacy/`, `*/workflows/draft-*.yaml`) and one in any pack folder (relative to
the pack: `workflows/wip-*.yaml`). Inside a pack its own file decides first,
as a deeper .gitignore does; when it says nothing about a file, the base's
rules do. A base rule matching a pack folder (`legacy/`) leaves the whole pack
out. `pack.yaml` is never ignored by a rule inside the pack.

Ignoring only means "not loaded": scan reads the rules (it is the only module
that touches pack files, with its safety rules) and records what it left out;
plan decides what a left-out file means for a registered row (never a
silent delete: see `ignored_registered`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pathspec

from packsync.core.diagnostics import Diagnostic, error

IGNORE_FILE = ".packsyncignore"


@functools.lru_cache(maxsize=256)
def _compile(text: str) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(text.splitlines())


@dataclass(frozen=True, slots=True)
class Rules:
    """One .packsyncignore: where it is (for messages) and its patterns."""

    where: str
    spec: pathspec.GitIgnoreSpec

    def check(self, path: str) -> tuple[bool | None, str]:
        """(True: ignored, False: re-included by a `!` rule, None: no rule
        matches; the deciding pattern)."""
        found = self.spec.check_file(path)
        if found.index is None:
            return found.include, ""
        return found.include, str(getattr(self.spec.patterns[found.index], "pattern", ""))


def parse_rules(content: bytes, where: str) -> Rules:
    """Compile an ignore file's bytes; raises UnicodeDecodeError when they are not UTF-8."""
    return Rules(where, _compile(content.decode("utf-8")))


def _reason(pattern: str, where: str) -> str:
    return f"rule '{pattern}' in {where}"


@dataclass(frozen=True, slots=True)
class PackIgnore:
    """The rules that apply inside one pack."""

    ref: str
    base: Rules | None = None
    pack: Rules | None = None

    def pack_reason(self) -> str | None:
        """Why the whole pack folder is left out (a base rule matches `<ref>/`)."""
        if self.base is None:
            return None
        ignored, pattern = self.base.check(f"{self.ref}/")
        return _reason(pattern, self.base.where) if ignored else None

    def reason(self, rel: str) -> str | None:
        """Why the pack's file `rel` is left out; None when it is loaded."""
        for rules, path in ((self.pack, rel), (self.base, f"{self.ref}/{rel}")):
            if rules is None:
                continue
            ignored, pattern = rules.check(path)
            if ignored is not None:
                return _reason(pattern, rules.where) if ignored else None
        return None


def ignored_registered(display: str, ref: str, reason: str) -> Diagnostic:
    """A registered workflow whose file an ignore rule now hides: kept, reported."""
    return error(
        display,
        "ignored-registered",
        f"workflow '{ref}' is registered but its file is now ignored ({reason}); "
        "packsync keeps the registered workflow instead of deleting it: delete the file "
        "to remove the workflow, or change the rule to manage it again",
    )


def ignored_pack_message(reason: str) -> str:
    return (
        f"the pack folder is ignored ({reason}) but the pack is registered: its rows are "
        "kept; remove the folder (or run `packsync delete`) to unregister it, or change the rule"
    )
