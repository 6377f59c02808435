# ruff: noqa: E501
"""Text, JSON and GitHub renderings of diagnostics."""

from __future__ import annotations

import json

import pytest

from packsync.cli.formats import render
from packsync.core.diagnostics import Diagnostic, Severity, error, warning

DIAGS = [
    error("packs/demo/workflows/deploy.yaml", "unknown-task", "task 'step2' transitions to undefined task 'stpe3' (did you mean 'step3'?)", 14, 7, json_path="$.tasks[1].next[0].do[0]", end_line=14, end_column=12),
    warning("packs/demo/workflows/a,b:c.yaml", "unknown-pack", "100% sure:\nline two, with comma", 3, 5),
    Diagnostic("api:demo.x", 0, 0, "required", Severity.ERROR, "needs tasks", json_path="$"),
]  # fmt: skip


def test_text() -> None:
    out = render(DIAGS, "text")
    lines = out.splitlines()
    assert lines[0] == (
        "packs/demo/workflows/deploy.yaml:14:7: error[unknown-task]: task 'step2' transitions "
        "to undefined task 'stpe3' (did you mean 'step3'?)"
    )
    assert lines[1].startswith(
        "packs/demo/workflows/a,b:c.yaml:3:5: warning[unknown-pack]: 100% sure:"
    )
    assert "\x1b[" not in out
    assert out.endswith("\n")


def test_text_colour() -> None:
    out = render(DIAGS[:2], "text", color=True)
    assert "\x1b[1;31merror\x1b[0m[unknown-task]" in out
    assert "\x1b[1;33mwarning\x1b[0m[unknown-pack]" in out


def test_json_round_trip() -> None:
    data = json.loads(render(DIAGS, "json"))
    assert [Diagnostic.from_dict(d) for d in data] == DIAGS
    assert set(data[0]) >= {
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "code",
        "severity",
        "message",
        "json_path",
    }
    assert data[0]["severity"] == "error"


def test_github_annotations_and_escaping() -> None:
    lines = render(DIAGS, "github").splitlines()
    assert lines[0] == (
        "::error file=packs/demo/workflows/deploy.yaml,line=14,col=7,endLine=14,endColumn=12,"
        "title=unknown-task::[unknown-task] task 'step2' transitions to undefined task 'stpe3' "
        "(did you mean 'step3'?)"
    )
    assert lines[1] == (
        "::warning file=packs/demo/workflows/a%2Cb%3Ac.yaml,line=3,col=5,title=unknown-pack::"
        "[unknown-pack] 100%25 sure:%0Aline two, with comma"
    )
    assert lines[2] == "::error file=api%3Ademo.x,title=required::[required] needs tasks"


def test_empty_and_unknown_format() -> None:
    assert render([], "text") == ""
    assert json.loads(render([], "json")) == []
    with pytest.raises(ValueError, match="unknown format"):
        render(DIAGS, "xml")  # type: ignore[arg-type]


def test_a_diagnostic_without_a_line_names_only_the_path() -> None:
    from packsync.core.diagnostics import error

    d = error("/nonexistent/packs", "base-dir-unavailable", "packs base directory is missing")
    assert (
        d.format()
        == "/nonexistent/packs: error[base-dir-unavailable]: packs base directory is missing"
    )
    assert error("f.yaml", "c", "m", 3).format() == "f.yaml:3: error[c]: m"
