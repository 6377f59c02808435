# ruff: noqa: E501
"""Validation throughput (prints a table; not a test).

    .venv/bin/python tests/bench/bench_validate.py [--tasks 5000] [--files 3000]

Cases: one generated workflow with N tasks (templates, publish, transitions),
M small files, and PyYAML's plain `CSafeLoader` load of the same bytes as a
baseline for the cost of the checks on top of parsing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import yaml

from packsync.pipeline.model import FileKind, SourceFile, StaticCatalog, content_hash
from packsync.pipeline.parse import parse_workflow

CATALOG = StaticCatalog({"core": {"core.echo", "core.local", "core.http"}})


def big_workflow(tasks: int) -> bytes:
    out = [
        "version: '1.0'\nparameters:\n  host: {type: string, required: true}\n",
        "vars:\n  - total: 0\ntasks:\n",
    ]
    for i in range(tasks):
        nxt = f"t{i + 1}" if i + 1 < tasks else "done"
        out.append(
            f"  - name: t{i}\n    action: core.{'echo' if i % 2 else 'local'}\n"
            f'    input:\n      message: "{{{{ parameters.host }}}} step {i} {{{{ total }}}}"\n'
            f"    retry: {{count: 2, delay: 1}}\n"
            f'    next:\n      - when: "{{{{ succeeded() }}}}"\n'
            f'        publish: {{total: "{{{{ total + {i} }}}}"}}\n        do: [{nxt}]\n'
            f'      - when: "{{{{ failed() }}}}"\n        do: [done]\n'
        )
    out.append("  - name: done\n    action: core.echo\n    join: 1\n")
    return "".join(out).encode()


def small_workflow(i: int) -> bytes:
    return (
        f"version: '1.0'\nlabel: Small {i}\nparameters:\n  who: {{type: string, default: w{i}}}\n"
        'tasks:\n  start:\n    action: core.echo\n    input: {message: "hi {{ parameters.who }}"}\n'
        "    on-success: finish\n  finish:\n    action: core.http\n"
        f'    input: {{url: "https://example.com/{i}"}}\n'
    ).encode()


def source(i: int, content: bytes) -> SourceFile:
    rel = f"workflows/w{i}.yaml"
    return SourceFile(
        "bench", rel, f"bench/{rel}", FileKind.WORKFLOW, content, content_hash(content)
    )


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--files", type=int, default=3000)
    args = parser.parse_args()
    big = source(0, big_workflow(args.tasks))
    small = [source(i, small_workflow(i)) for i in range(args.files)]
    rows = []

    def check_big() -> None:
        result = parse_workflow(big, CATALOG)
        assert result.ok, [d.format() for d in result.diagnostics[:5]]

    def check_small() -> None:
        for f in small:
            assert parse_workflow(f, CATALOG).ok

    loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    for name, fn, files, size in [
        (f"1 workflow, {args.tasks} tasks: validate", check_big, 1, len(big.content)),
        (
            f"  baseline yaml.load ({loader.__name__})",
            lambda: yaml.load(big.content, Loader=loader),
            1,
            len(big.content),
        ),
        (
            f"{args.files} small files: validate",
            check_small,
            args.files,
            sum(len(f.content) for f in small),
        ),
        (
            "  baseline yaml.load",
            lambda: [yaml.load(f.content, Loader=loader) for f in small],
            args.files,
            sum(len(f.content) for f in small),
        ),
    ]:
        seconds = min(timed(fn) for _ in range(3))
        rows.append((name, files, size, seconds))
    print(f"{'case':<42} {'files':>6} {'bytes':>10} {'seconds':>8} {'ms/file':>8} {'MiB/s':>6}")
    for name, files, size, seconds in rows:
        print(
            f"{name:<42} {files:>6} {size:>10} {seconds:>8.3f} {seconds * 1000 / files:>8.2f} {size / seconds / 2**20:>6.2f}"
        )


if __name__ == "__main__":
    main()
