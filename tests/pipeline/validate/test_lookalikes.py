"""Look-alikes of Attune's own core pack and test fixture (written for these
tests, modelled on the shapes found in Attune's repository): packsync must
report exactly their real bugs, each at its token, and nothing else."""

from __future__ import annotations

from pathlib import Path

from packsync.core.diagnostics import Severity
from packsync.pipeline.check import check_targets

E, W = Severity.ERROR, Severity.WARNING

INSTALL = """\
ref: core.install_packs
label: Install packs
description: Download, check and register packs
version: "1.0.0"
parameters:
  packs:
    type: array
    items: {type: string}
    required: true
  skip_tests:
    type: boolean
    default: false
vars:
  - scratch: null
  - fetched: []
  - wanted: []
tasks:
  - name: prepare
    action: core.noop
    publish:
      - began: "{{ now() }}"
      - scratch: "/tmp/install-{{ uuid() }}"
    on_success: fetch
  - name: fetch
    action: core.download_packs
    input:
      packs: "{{ parameters.packs }}"
      into: "{{ workflow.scratch }}"
    publish:
      - fetched: "{{ task.fetch.result.downloaded }}"
    on_success:
      - when: "{{ task.fetch.result.count > 0 }}"
        do: deps
    on_failure: tidy
  - name: deps
    action: core.get_pack_dependencies
    input:
      paths: "{{ workflow.fetched | map(attribute='path') | list }}"
    publish:
      - wanted: "{{ task.deps.result.missing }}"
    on_success:
      - when: "{{ task.deps.result.missing | length > 0 }}"
        do: test
      - when: "{{ length(task.deps.result.missing) == 0 }}"
        do: register
  - name: test
    action: core.run_pack_tests
    input:
      paths: "{{ workflow.fetched }}"
    on_success: register
    on_failure: tidy
  - name: register
    action: core.register_packs
    input:
      paths: "{{ workflow.fetched }}"
      skip_tests: "{{ parameters.skip_tests }}"
    on_success: tidy
  - name: tidy
    action: core.noop
    input:
      message: "removing {{ workflow.scratch }}"
output_schema:
  registered:
    type: array
"""

FIXTURE = """\
name: chain
ref: test_pack.chain
description: Three echo steps
version: "1.0.0"
vars:
  - started: null
  - steps: 3
tasks:
  first:
    action: test_pack.echo
    input:
      message: "starting"
    publish:
      - started: "{{ first.result.timestamp }}"
    on-success:
      - second
  second:
    action: test_pack.echo
    input:
      message: "{{ started }} / {{ steps }}"
    on-success:
      - third
  third:
    action: test_pack.echo
    input:
      message: "done after {{ second.result.message }}"
output_map:
  finished: "{{ task.third.result.timestamp }}"
"""

ORQUESTA = """\
version: 1.0
description: branch on the command's output
input:
  - which
vars:
  - picked: null
tasks:
  run:
    action: core.local cmd="printf <% ctx(which) %>"
    next:
      - when: <% succeeded() and result().stdout = 'a' %>
        publish:
          - picked: <% result().stdout %>
        do: [left]
      - when: <% succeeded() and result().stdout = 'b' %>
        do: right
  left:
    action: core.local cmd="echo left"
  right:
    action: core.local cmd="echo right"
output:
  - picked: <% ctx(picked) %>
"""


def at(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """1-based (line, column) of `needle` (plus `offset` characters) in `text`."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def write_pack(base: Path, ref: str, actions: list[str], workflows: dict[str, str]) -> Path:
    root = base / ref
    (root / "actions").mkdir(parents=True)
    (root / "workflows").mkdir()
    (root / "pack.yaml").write_text(f"ref: {ref}\nlabel: {ref}\nversion: 1.0.0\n")
    for name in actions:
        (root / "actions" / f"{name}.yaml").write_text(f"name: {name}\nrunner_type: shell\n")
    for name, text in workflows.items():
        (root / "workflows" / f"{name}.yaml").write_text(text)
    return root


def found(base: Path, *targets: str) -> list[tuple[str, Severity, tuple[int, int]]]:
    report = check_targets(base, list(targets), max_file_size=1 << 20)
    return [(d.code, d.severity, (d.line, d.column)) for d in report.diagnostics]


def test_core_pack_lookalike_reports_exactly_its_bugs(tmp_path: Path) -> None:
    actions = ["noop", "download_packs", "get_pack_dependencies", "register_packs"]
    write_pack(tmp_path, "core", actions, {"install_packs": INSTALL})
    assert found(tmp_path, "core") == [
        ("unknown-function", E, at(INSTALL, "now()")),
        ("unknown-function", E, at(INSTALL, "uuid()")),
        # legacy `on_success: [{when: c, do}]` is stored as `succeeded() and (c)`,
        # which Attune's executor runs on every success: a real finding too
        ("outcome-condition", W, at(INSTALL, '"{{ task.fetch.result.count')),
        ("template-syntax", E, at(INSTALL, "| map")),
        ("outcome-condition", W, at(INSTALL, '"{{ task.deps.result.missing |')),
        ("template-syntax", E, at(INSTALL, "| length")),
        ("outcome-condition", W, at(INSTALL, '"{{ length(task.deps')),
        ("unknown-action", E, at(INSTALL, "core.run_pack_tests")),
        ("unknown-key", E, at(INSTALL, "output_schema")),
    ]
    report = check_targets(tmp_path, ["core"], max_file_size=1 << 20)
    messages = [d.message for d in report.diagnostics]
    assert "did you mean 'output'?" in messages[-1]
    assert "system.workflow_start" in messages[0]


def test_fixture_lookalike_reports_bare_task_names(tmp_path: Path) -> None:
    write_pack(tmp_path, "test_pack", ["echo"], {"chain": FIXTURE})
    diags = found(tmp_path, "test_pack")
    assert diags == [
        ("unknown-variable", E, at(FIXTURE, "first.result")),
        ("unknown-variable", E, at(FIXTURE, "second.result")),
    ]
    report = check_targets(tmp_path, ["test_pack"], max_file_size=1 << 20)
    assert all(
        "task.first.result" in d.message or "task.second" in d.message for d in report.diagnostics
    )


def test_orquesta_file_gets_one_diagnostic(tmp_path: Path) -> None:
    write_pack(tmp_path, "st2", [], {"branch": ORQUESTA})
    report = check_targets(tmp_path, ["st2"], max_file_size=1 << 20)
    assert [(d.code, d.line, d.column) for d in report.diagnostics] == [
        ("orquesta-dialect", *at(ORQUESTA, "- which"))
    ]
    message = report.diagnostics[0].message
    for trait in ("'input:' list", "YAQL", "inline action parameters", "'output:' list"):
        assert trait in message


def test_explicit_file_is_validated_wherever_it_is(tmp_path: Path) -> None:
    root = write_pack(tmp_path, "core", ["noop"], {})
    nested = root / "actions" / "workflows" / "tests"
    nested.mkdir(parents=True)
    text = (
        "version: '1.0'\ntasks:\n  - name: a\n    action: core.noop\n"
        "    input: {x: '{{ uuid() }}'}\n"
    )
    (nested / "probe.yaml").write_text(text)
    report = check_targets(tmp_path, [str(nested / "probe.yaml")], max_file_size=1 << 20)
    assert report.files_checked == 1
    assert [(d.code, d.line, d.column) for d in report.diagnostics] == [
        ("unknown-function", *at(text, "uuid"))
    ]
    report = check_targets(tmp_path, [str(nested)], max_file_size=1 << 20)  # the folder
    assert report.files_checked == 1 and [d.code for d in report.diagnostics] == [
        "unknown-function"
    ]
    (nested / "empty").mkdir()
    report = check_targets(tmp_path, [str(nested / "empty")], max_file_size=1 << 20)
    assert [d.code for d in report.diagnostics] == ["not-a-workflow-file"]
    (nested / "notes.txt").write_text("hello\n")
    report = check_targets(tmp_path, [str(nested / "notes.txt")], max_file_size=1 << 20)
    assert report.has_errors
    assert [d.code for d in report.diagnostics] == ["not-a-workflow-file"]
