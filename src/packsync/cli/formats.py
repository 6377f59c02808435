"""Render diagnostics for people (text), programs (json) and GitHub Actions
(workflow commands that become annotations on the pull request)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Literal

from packsync.core.diagnostics import Diagnostic, Severity

Format = Literal["text", "json", "github"]
_RESET = "\x1b[0m"
_COLOURS = {Severity.ERROR: "\x1b[1;31m", Severity.WARNING: "\x1b[1;33m"}
_BOLD = "\x1b[1m"


def render(diagnostics: Iterable[Diagnostic], fmt: Format, *, color: bool = False) -> str:
    """All diagnostics in one string (text/github: one per line, newline-terminated)."""
    items = list(diagnostics)
    if fmt == "json":
        return json.dumps([d.to_dict() for d in items], indent=2, ensure_ascii=False) + "\n"
    if fmt == "github":
        return "".join(github_line(d) + "\n" for d in items)
    if fmt == "text":
        return "".join((_coloured(d) if color else d.format()) + "\n" for d in items)
    raise ValueError(f"unknown format {fmt!r}: use text, json or github")


def _coloured(d: Diagnostic) -> str:
    where = f"{_BOLD}{d.where}:{_RESET}"
    sev = f"{_COLOURS.get(d.severity, '')}{d.severity}{_RESET}"
    return f"{where} {sev}[{d.code}]: {d.message}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(d: Diagnostic) -> str:
    """`::error file=...,line=...,col=...,title=...::message` (GitHub's escaping rules)."""
    props = [f"file={_escape_property(d.file)}"]
    if d.line > 0:
        props.append(f"line={d.line}")
        if d.column > 0:
            props.append(f"col={d.column}")
        if d.end_line:
            props.append(f"endLine={d.end_line}")
            if d.end_column:
                props.append(f"endColumn={d.end_column}")
    props.append(f"title={_escape_property(d.code)}")
    command = "error" if d.severity is Severity.ERROR else "warning"
    return f"::{command} {','.join(props)}::{_escape_data(f'[{d.code}] {d.message}')}"


def notice_line(file: str, title: str, message: str) -> str:
    """`::notice file=...,title=...::message`: a note on a file, not a problem."""
    props = f"file={_escape_property(file)},title={_escape_property(title)}"
    return f"::notice {props}::{_escape_data(message)}"
