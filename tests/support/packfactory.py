"""Builds real pack folders on disk for tests (shared by every test module)."""

from __future__ import annotations

import textwrap
from pathlib import Path

SIMPLE_WORKFLOW = """\
version: "1.0"
label: {label}
description: A generated workflow
tasks:
  - name: start
    action: core.echo
    input:
      message: "hello {{{{ parameters.who }}}}"
    next:
      - when: "{{{{ succeeded() }}}}"
        do: [finish]
  - name: finish
    action: core.noop
parameters:
  type: object
  properties:
    who:
      type: string
      default: world
"""


def workflow_yaml(label: str = "Demo") -> str:
    return SIMPLE_WORKFLOW.format(label=label)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text) if text.startswith("\n") else text, encoding="utf-8")
    return path


def make_pack(
    base: Path,
    ref: str,
    workflows: dict[str, str] | None = None,
    *,
    actions: dict[str, str] | None = None,
    action_workflows: dict[str, str] | None = None,
    pack_yaml: str | None = None,
) -> Path:
    """Create `<base>/<ref>/` with pack.yaml, workflows/<name>, actions/<name>,
    actions/workflows/<name>. Names include their extension (e.g. "a.yaml")."""
    root = base / ref
    write(
        root / "pack.yaml",
        pack_yaml
        if pack_yaml is not None
        else f"ref: {ref}\nlabel: {ref.title()}\nversion: 1.0.0\ndescription: test pack {ref}\n",
    )
    for name, text in (workflows or {}).items():
        write(root / "workflows" / name, text)
    for name, text in (actions or {}).items():
        write(root / "actions" / name, text)
    for name, text in (action_workflows or {}).items():
        write(root / "actions" / "workflows" / name, text)
    return root


def make_core_pack(base: Path) -> Path:
    """The `core` pack most generated workflows reference (core.echo, core.noop)."""
    return make_pack(
        base,
        "core",
        actions={
            "echo.yaml": "name: echo\nrunner_type: local-shell-cmd\nentry_point: ''\n",
            "noop.yaml": "name: noop\nrunner_type: noop\n",
        },
    )
