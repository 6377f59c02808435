"""The located YAML loader: positions, scalar typing, merges, and decoding."""

from __future__ import annotations

import pytest
import yaml

from packsync.pipeline import yamlsafe
from packsync.pipeline.yamlsafe import (
    MAX_DEPTH,
    YMap,
    YScalar,
    YSeq,
    child_path,
    compose,
    decode,
    from_plain,
    to_plain,
)


def _load(text: str) -> YMap:
    root, problems = compose(text)
    assert problems == []
    assert isinstance(root, YMap)
    return root


def test_positions_of_keys_and_values() -> None:
    root = _load("a: 1\nlist:\n  - x\n  - {k: v}\n")
    key, value = root.items["list"]
    assert (key.line, key.column) == (2, 1)
    assert isinstance(value, YSeq)
    assert (value.items[0].line, value.items[0].column) == (3, 5)
    inner = value.items[1]
    assert isinstance(inner, YMap)
    k, v = inner.items["k"]
    assert (k.line, k.column, v.line, v.column) == (4, 6, 4, 9)
    assert v.path == "$.list[1].k"


def test_scalar_types_follow_yaml_1_1_but_stay_json() -> None:
    root = _load("i: 010\nh: 0x1F\nf: 1.5\nb: yes\nn: ~\nd: 2024-01-31\ns: '1'\nv: 1.10\n")
    assert to_plain(root) == {
        "i": 8,
        "h": 31,
        "f": 1.5,
        "b": True,
        "n": None,
        "d": "2024-01-31",
        "s": "1",
        "v": 1.1,
    }
    assert isinstance(root.items["v"][1], YScalar) and root.items["v"][1].text == "1.10"


def test_non_string_keys_keep_their_spelling() -> None:
    assert list(to_plain(_load("1: a\ntrue: b\non: c\nnull: d\n"))) == ["1", "true", "on", "null"]


def test_merge_keys_and_quoted_merge_key() -> None:
    root = _load("base: &b {x: 1, y: 2}\nm: {<<: *b, y: 3}\nq: {'<<': 5}\n")
    assert to_plain(root)["m"] == {"y": 3, "x": 1}
    assert to_plain(root)["q"] == {"<<": 5}


def test_duplicate_key_is_reported_with_the_first_line() -> None:
    root, problems = compose("a: 1\nb: 2\na: 3\n")
    assert root is not None and to_plain(root) == {"a": 1, "b": 2}
    (p,) = problems
    assert (p.code, p.line, p.column, p.fatal) == ("duplicate-key", 3, 1, False)
    assert "line 1" in p.message


def test_depth_limit_is_exact() -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert compose(ok)[0] is not None
    root, problems = compose("[" + ok + "]")
    assert root is None and problems[0].code == "yaml-too-deep"


@pytest.mark.parametrize(
    ("content", "text", "code"),
    [
        (b"\xef\xbb\xbfa: 1\n", "a: 1\n", None),
        (b"a: 1\r\nb: 2\r\n", "a: 1\r\nb: 2\r\n", None),
        (b"a: 1\n\nb: \xff\n", None, "encoding"),
        (b"", None, "empty-file"),
        (b"\x00", None, "binary-file"),
    ],
)
def test_decode(content: bytes, text: str | None, code: str | None) -> None:
    decoded, problem = decode(content)
    assert decoded == text
    assert (problem.code if problem else None) == code


def test_encoding_position_counts_characters() -> None:
    _, problem = decode("é: \xff".encode()[:-2] + b"\xff")
    assert problem is not None and (problem.line, problem.column) == (1, 4)


def test_from_plain_round_trips_and_rejects_non_json() -> None:
    data = {"a": [1, 2.5, None, True, {"b": "c"}]}
    node = from_plain(data)
    assert to_plain(node) == data
    assert (node.line, node.column) == (0, 0)
    with pytest.raises(ValueError, match="not JSON data"):
        from_plain({"a": {1, 2}})
    with pytest.raises(ValueError, match="keys must be strings"):
        from_plain({1: "a"})
    with pytest.raises(ValueError, match="not JSON data"):
        from_plain(float("nan"))


def test_child_path_quotes_odd_keys() -> None:
    assert child_path("$", "tasks") == "$.tasks"
    assert child_path("$.t", 3) == "$.t[3]"
    assert child_path("$", "on-success") == "$['on-success']"
    assert child_path("$", "it's") == "$['it\\'s']"


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("[" * 20_000 + "]" * 20_000, "yaml-too-deep", 1),
        # past libyaml's own limit (1000 since 0.2.6) in block style: still our bound's line
        (
            "".join(" " * i + "a:\n" for i in range(1200)) + " " * 1200 + "b: 1\n",
            "yaml-too-deep",
            101,
        ),
        ("- " * 1200 + "x\n", "yaml-too-deep", 1),
        ("a: " + "{b: " * 1200 + "1" + "}" * 1200 + "\n", "yaml-too-deep", 1),
        (
            "a: &a [1, 2]\nb: &b ["
            + ", ".join(["*a"] * 10)
            + "]\n"
            + "".join(
                f"c{i}: &c{i} [" + ", ".join([f"*c{i - 1}" if i else "*b"] * 10) + "]\n"
                for i in range(8)
            ),
            "yaml-alias-limit",
            7,
        ),
        ("a: !!python/object/apply:os.system [x]\n", "yaml-tag", 1),
        ("a: 1\nb: [1, 2\n", "yaml-syntax", 2),
    ],
)
def test_pure_python_loader_gives_the_same_answers(
    monkeypatch: pytest.MonkeyPatch, text: str, code: str, line: int
) -> None:
    """Hosts without libyaml fall back to PyYAML's pure parser: same bounds, same codes."""
    results = []
    for loader in (yamlsafe._Loader, yaml.SafeLoader):
        monkeypatch.setattr(yamlsafe, "_Loader", loader)
        root, problems = compose(text)
        assert root is None
        results.append((problems[-1].code, problems[-1].line))
    assert results[0] == results[1] == (code, line)


def test_libyaml_nesting_error_is_reported_as_too_deep_at_our_bound() -> None:
    """Whatever libyaml stops on first, the answer is packsync's: code, line and column."""
    text = "x: 1\nitems: " + "[" * 1500 + "]" * 1500 + "\n"
    answers = {
        (p[-1].code, p[-1].line, p[-1].column)
        for p in (compose(text, loader)[1] for loader in (yamlsafe._Loader, yaml.SafeLoader))
    }
    assert answers == {("yaml-too-deep", 2, 7 + MAX_DEPTH)}
