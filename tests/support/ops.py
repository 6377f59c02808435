"""Helpers for the tests of what operators install (deploy/, systemd/, docs/)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from packsync.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

# Identifiers in PromQL that are not metric names.
_PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "le",
}
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def exported_names() -> set[str]:
    """Sample names a daemon's /metrics really carries (its registry, rendered)."""
    text = Metrics("0.0.0-test").render().decode()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, strings,
    function names and grouping labels removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery selectors
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        after = text[match.end() :].lstrip()
        if after.startswith("(") or word in _PROMQL_WORDS or word.startswith("$"):
            continue  # a function call, a keyword or a Grafana variable
        if text[match.start() - 1 : match.start()] == "$":
            continue
        names.add(word)
    return names


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def need_tool(name: str, hint: str) -> str:
    """Path of an external tool, or skip the test saying how to get it."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not installed ({hint})")
    return found


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)


def markdown_anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    anchors = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            anchors.add(slug)
    return anchors
