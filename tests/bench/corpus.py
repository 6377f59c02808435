"""A realistic packs corpus for the benchmarks: N packs x M workflows.

Every workflow is ~1.5 KB of Attune-form YAML with 12 tasks (retries,
templates, publish, fan-out and a join), and every pack has action files: a
shell action its workflows call and a workflow action whose `workflow_file`
links one of the pack's M workflows (under actions/workflows/). A `core` pack
provides the actions the workflows reference, so the corpus validates clean.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

WORKFLOW = """\
version: "1.0"
label: {label}
description: Build, test and roll out {service}, rolling back on failure.
tags: [generated, {pack}]
parameters:
  type: object
  properties:
    service: {{type: string, default: {service}}}
    hosts: {{type: array, items: {{type: string}}}}
vars:
  attempts: 0
tasks:
  - name: checkout
    action: core.local
    input: {{cmd: "git clone {{{{ parameters.service }}}}"}}
    next:
      - when: "{{{{ succeeded() }}}}"
        do: [lint, unit]
      - when: "{{{{ failed() }}}}"
        do: [notify]
  - name: lint
    action: core.local
    next: [{{do: [build]}}]
  - name: unit
    action: core.local
    retry: {{count: 2, delay: 5}}
    next: [{{do: [build]}}]
  - name: build
    action: core.local
    join: 2
    input: {{cmd: "make image N={n}"}}
    next:
      - publish: {{image: "{{{{ result().stdout }}}}"}}
        do: [push]
  - name: push
    action: core.http
    next: [{{do: [stage]}}]
  - name: stage
    action: {pack}.notify
    with_items: "{{{{ parameters.hosts }}}}"
    input: {{text: "stage {{{{ item }}}}"}}
    next: [{{do: [smoke]}}]
  - name: smoke
    action: core.http
    timeout: 120
    next:
      - when: "{{{{ succeeded() }}}}"
        do: [approve]
      - when: "{{{{ failed() }}}}"
        publish: {{attempts: "{{{{ attempts + 1 }}}}"}}
        do: [rollback]
  - name: approve
    action: core.echo
    next: [{{do: [rollout]}}]
  - name: rollout
    action: core.local
    next:
      - when: "{{{{ succeeded() }}}}"
        do: [verify]
      - when: "{{{{ failed() }}}}"
        do: [rollback]
  - name: verify
    action: core.http
    next: [{{do: [notify]}}]
  - name: rollback
    action: core.local
    next: [{{do: [notify]}}]
  - name: notify
    action: {pack}.notify
    input: {{text: "done after {{{{ attempts }}}} retries"}}
"""

PACK = """\
ref: {pack}
label: {label}
description: Generated benchmark pack {pack}
version: 1.{minor}.0
tags: [bench]
dependencies: [core]
"""

NOTIFY_ACTION = """\
name: notify
description: Post a message to the team channel
runner_type: python-script
entry_point: notify.py
parameters:
  text:
    type: string
    required: true
"""

LINKED_ACTION = """\
name: release
label: Release {pack}
description: Release the pack's service (workflow action)
runner_type: workflow
workflow_file: workflows/release.yaml
parameters:
  service: {{type: string, required: true}}
tags: [release]
"""

CORE_ACTIONS = {
    "echo.yaml": "name: echo\nrunner_type: local-shell-cmd\nentry_point: ''\n",
    "noop.yaml": "name: noop\nrunner_type: noop\n",
    "local.yaml": "name: local\nrunner_type: local-shell-cmd\nentry_point: ''\n",
    "http.yaml": "name: http\nrunner_type: http-request\n",
}


@dataclass(frozen=True)
class Corpus:
    base: Path
    packs: int
    per_pack: int

    @property
    def workflows(self) -> int:
        return self.packs * self.per_pack

    def workflow_files(self) -> list[Path]:
        """Every workflow file (what the floor and the naive peer read)."""
        return sorted(
            [*self.base.glob("*/workflows/*.yaml"), *self.base.glob("*/actions/workflows/*.yaml")]
        )

    def pack_ref(self, i: int) -> str:
        return f"pack{i:05d}"


def workflow_text(pack: str, n: int, label: str | None = None) -> str:
    return WORKFLOW.format(
        pack=pack,
        n=n,
        label=label or f"Release train {n} of {pack}",
        service=f"svc-{pack}-{n}",
    )


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def generate(base: Path, packs: int, per_pack: int) -> Corpus:
    """Write the corpus under `base` (created). The last workflow of each pack
    (when it has two or more) is action-linked, under actions/workflows/."""
    corpus = Corpus(base, packs, per_pack)
    core = base / "core" / "actions"
    core.mkdir(parents=True)
    _write(base / "core" / "pack.yaml", PACK.format(pack="core", label="Core", minor=0))
    for name, text in CORE_ACTIONS.items():
        _write(core / name, text)
    for i in range(packs):
        ref = corpus.pack_ref(i)
        root = base / ref
        os.makedirs(root / "workflows")
        os.makedirs(root / "actions" / "workflows")
        _write(root / "pack.yaml", PACK.format(pack=ref, label=f"Pack {i}", minor=i % 50))
        _write(root / "actions" / "notify.yaml", NOTIFY_ACTION)
        standalone = per_pack - 1 if per_pack > 1 else per_pack
        for n in range(standalone):
            _write(root / "workflows" / f"wf{n:03d}.yaml", workflow_text(ref, n))
        if per_pack > 1:
            _write(root / "actions" / "release.yaml", LINKED_ACTION.format(pack=ref))
            _write(root / "actions" / "workflows" / "release.yaml", workflow_text(ref, per_pack))
    return corpus
