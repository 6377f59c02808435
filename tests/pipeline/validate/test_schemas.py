"""The fast path of the JSON Schema check never accepts what the meta-schema rejects."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from packsync.pipeline.validate.schemas import _plainly_valid

META = Draft202012Validator(Draft202012Validator.META_SCHEMA)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["string", "integer", "object", "strnig", "x", ""]),
    st.lists(st.sampled_from(["string", "a", "a", "null"]), max_size=3),
)
KEYS = st.sampled_from(
    ["type", "required", "minimum", "minLength", "enum", "pattern", "items", "default",
     "uniqueItems", "additionalProperties", "title", "secret", "anyOf", "$ref", "maxItems"]
)  # fmt: skip
SCHEMAS = st.recursive(
    st.dictionaries(KEYS, VALUES, max_size=4),
    lambda inner: st.one_of(
        st.dictionaries(KEYS, st.one_of(VALUES, inner), max_size=4),
        st.fixed_dictionaries(
            {
                "type": st.just("object"),
                "properties": st.dictionaries(st.text(max_size=4), inner, max_size=3),
            }
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(SCHEMAS)
def test_fast_path_agrees_with_meta_schema(schema: dict[str, Any]) -> None:
    if _plainly_valid(schema):
        assert list(META.iter_errors(schema)) == []


def test_fast_path_takes_common_schemas() -> None:
    schema = {
        "type": "object",
        "properties": {
            "host": {"type": "string", "description": "h", "secret": True},
            "n": {"type": ["integer", "null"], "minimum": 0, "default": 3},
        },
        "required": ["host"],
        "additionalProperties": False,
    }
    assert _plainly_valid(schema)
    assert not _plainly_valid({"type": "strnig"})
    assert not _plainly_valid({"anyOf": [{"type": "string"}]})  # left to the full check
