"""Fuzzing: random and mutated workflow YAML never makes the validator raise,
and every diagnostic it returns is located. Bounded for CI; see
docs/diagnostics.md for a longer run (PACKSYNC_FUZZ_EXAMPLES)."""

from __future__ import annotations

import json
import os
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packsync.pipeline.model import FileKind, SourceFile, StaticCatalog, content_hash
from packsync.pipeline.parse import parse_pack_meta, parse_workflow, validate_definition

CATALOG = StaticCatalog({"core": {"core.echo", "core.local"}})
EXAMPLES = int(os.environ.get("PACKSYNC_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SEED = """\
version: '1.0'
parameters:
  host: {type: string, required: true}
vars:
  - count: 0
tasks:
  start:
    action: core.echo
    input: {message: "{{ parameters.host }}"}
    publish: {count: "{{ count + 1 }}"}
    on-success: [poll]
    on_failure:
      - when: "{{ count > 3 }}"
        do: stop
  poll:
    action: core.local
    retry: {count: 3, delay: 1, backoff: linear}
    with_items: "{{ range(3) }}"
    concurrency: 2
    next:
      - when: "{{ succeeded() }}"
        do: [stop]
  stop:
    action: core.echo
    join: 1
"""

KEYS = st.sampled_from(
    [
        "version", "tasks", "name", "action", "input", "next", "when", "do", "publish",
        "on_success", "on-failure", "decision", "retry", "count", "delay", "join", "type",
        "parallel", "with_items", "vars", "parameters", "output", "__chart_meta__", "<<", "ref",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        ["{{ x }}", "{{ (", "{% if %}", "core.echo", "start", "all", "{{ succeeded() }}"]
    ),
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(KEYS, st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=30,
)


def _source(
    content: bytes, rel: str = "workflows/fuzz.yaml", kind: FileKind = FileKind.WORKFLOW
) -> SourceFile:
    return SourceFile("demo", rel, f"packs/demo/{rel}", kind, content, content_hash(content))


def _assert_located(diags: list[Any], file: str, api: bool = False) -> None:
    for d in diags:
        assert d.file == file
        assert d.code and d.message is not None
        assert d.code != "internal-error", d.format()
        if api:
            assert (d.line, d.column) == (0, 0) and d.json_path.startswith("$")
        else:
            assert d.line >= 1 and d.column >= 1, d.format()


def _check_result(content: bytes) -> None:
    result = parse_workflow(_source(content), CATALOG)
    _assert_located(result.diagnostics, "packs/demo/workflows/fuzz.yaml")
    if result.definition is not None:  # plain JSON, storable as jsonb
        text = json.dumps(result.definition, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")  # no lone surrogates
        assert "\x00" not in text and "\\u0000" not in text
    assert result.ok == (
        result.definition is not None and not any(d.is_error for d in result.diagnostics)
    )


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(content: bytes) -> None:
    _check_result(content)


@FUZZ
@given(st.data())
def test_mutated_seed(data: st.DataObject) -> None:
    text = bytearray(SEED.encode())
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        pos = data.draw(st.integers(0, len(text) - 1))
        size = data.draw(st.integers(1, 30))
        if op == "delete":
            del text[pos : pos + size]
        elif op == "insert":
            text[pos:pos] = data.draw(
                st.sampled_from(
                    [
                        b"{",
                        b"[",
                        b": ",
                        b"\n  - ",
                        b"&a ",
                        b"*a",
                        b"{{",
                        b"\t",
                        b"'",
                        b"\xff",
                        b"!!python/none ",
                        b"- ",
                    ]
                )
            )
        elif op == "replace":
            text[pos : pos + 1] = data.draw(st.binary(min_size=1, max_size=3))
        else:
            text[pos:pos] = text[pos : pos + size]
        if not text:
            text = bytearray(b"x")
    _check_result(bytes(text))


@FUZZ
@given(JSONISH)
def test_random_structures_as_yaml_and_json(data: Any) -> None:
    content = yaml.safe_dump(data, allow_unicode=True).encode()
    _check_result(content)
    _meta, diags = parse_pack_meta(_source(content, "pack.yaml", FileKind.PACK))
    _assert_located(diags, "packs/demo/pack.yaml")
    api = validate_definition(
        data, pack_ref="demo", ref="demo.fuzz", display_path="api:demo.fuzz", catalog=CATALOG
    )
    _assert_located(api.diagnostics, "api:demo.fuzz", api=True)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["version", "tasks", "vars", "parameters", "output", "output_map"]),
        JSONISH,
        max_size=6,
    )
)
def test_workflow_shaped_structures(data: dict[str, Any]) -> None:
    data.setdefault("version", "1.0")
    _check_result(yaml.safe_dump(data).encode())
