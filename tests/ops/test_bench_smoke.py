"""The benchmark (tests/bench/run.py) runs end to end on a tiny corpus, so it
cannot rot: every row of its table is there, and a no-op resync writes no row."""

from __future__ import annotations

from pathlib import Path

from tests.bench.corpus import generate
from tests.bench.run import _rows, bench, render


def test_the_corpus_has_realistic_workflows_and_action_files(tmp_path: Path) -> None:
    corpus = generate(tmp_path / "packs", 2, 3)
    files = corpus.workflow_files()
    assert len(files) == corpus.workflows == 6
    text = files[0].read_text()
    assert text.count("  - name: ") == 12
    assert 1200 <= len(text.encode()) <= 2000
    assert (tmp_path / "packs" / "pack00001" / "actions" / "release.yaml").is_file()
    assert (tmp_path / "packs" / "pack00001" / "actions" / "workflows" / "release.yaml").is_file()


def test_the_bench_prints_every_measure_and_a_noop_writes_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    results = bench([6], 3, pg_url, tmp_path)
    (result,) = results
    assert result.workflows == 6 and result.packs == 2
    assert result.noop_writes == 0
    assert result.noop_history == 1  # the sweep's own sync_run row
    assert result.cold is not None and result.noop is not None and result.validate is not None
    table = render(results, "test machine").splitlines()
    for name, _, _ in _rows():
        (line,) = [line for line in table if line.startswith(f"| {name} |")]
        assert "—" not in line, line
    assert "| no-op row writes (+ sync_run history rows) | 0 | 0 (+1) |" in table
